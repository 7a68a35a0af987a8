//! `rpc.response`: the one answer every request gets.

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error_code::ErrorCode;
use crate::ids::{RoomId, TicketId};
use crate::serde_util::opt_vec_of_objects;

/// `rpc.response`: `{ ok: true, …fields of the request kind }` or
/// `{ ok: false, code, reason }`, with the request's `rid` in the envelope.
///
/// The payload does not name the request it answers (the `rid` does), so the
/// success shape is recognised by its fields: see [`RpcOk`].
#[derive(Debug, Clone, PartialEq)]
pub enum RpcResponse {
    /// `ok: true`.
    Ok(RpcOk),
    /// `ok: false`.
    Err {
        /// Why the request failed.
        code: ErrorCode,
        /// A sentence a developer can act on.
        reason: String,
    },
}

/// The fields of a successful `rpc.response`, per request kind.
#[derive(Debug, Clone, PartialEq)]
pub enum RpcOk {
    /// `{ ok: true }`: `room.leave`, `presence.set`, `state.resync`.
    Done,
    /// `{ ok, room, room_type, created }`: `room.join_or_create`.
    Joined(Joined),
    /// `{ ok, rooms: [...] }`: `room.list`.
    Rooms(Vec<RoomInfo>),
    /// `{ ok, ticket }`: `matchmaking.enqueue`.
    Enqueued {
        /// The new ticket.
        ticket: TicketId,
    },
    /// `{ ok, removed }`: `matchmaking.dequeue`.
    Dequeued {
        /// How many tickets were removed (0 when none was queued).
        removed: u32,
    },
}

/// The answer to `room.join_or_create`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The room joined.
    pub room: RoomId,
    /// Its type.
    pub room_type: String,
    /// Whether this request created it.
    pub created: bool,
}

/// One room in the answer to `room.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomInfo {
    /// The room id.
    pub room: RoomId,
    /// Its type.
    pub room_type: String,
    /// Clients currently in it.
    pub clients: u32,
    /// Its seat count; `null` when the room type has no limit.
    #[serde(default)]
    pub max_clients: Option<u32>,
    /// Whether its plugin locked it.
    #[serde(default)]
    pub locked: bool,
    /// Its public metadata, from the plugin.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

impl Serialize for RpcResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = match self {
            RpcResponse::Err { .. } => 3,
            RpcResponse::Ok(RpcOk::Done) => 1,
            RpcResponse::Ok(RpcOk::Joined(_)) => 4,
            RpcResponse::Ok(_) => 2,
        };
        let mut map = serializer.serialize_map(Some(len))?;
        match self {
            RpcResponse::Err { code, reason } => {
                map.serialize_entry("ok", &false)?;
                map.serialize_entry("code", code)?;
                map.serialize_entry("reason", reason)?;
            }
            RpcResponse::Ok(ok) => {
                map.serialize_entry("ok", &true)?;
                match ok {
                    RpcOk::Done => {}
                    RpcOk::Joined(j) => {
                        map.serialize_entry("room", &j.room)?;
                        map.serialize_entry("room_type", &j.room_type)?;
                        map.serialize_entry("created", &j.created)?;
                    }
                    RpcOk::Rooms(rooms) => map.serialize_entry("rooms", rooms)?,
                    RpcOk::Enqueued { ticket } => map.serialize_entry("ticket", ticket)?,
                    RpcOk::Dequeued { removed } => map.serialize_entry("removed", removed)?,
                }
            }
        }
        map.end()
    }
}

/// Every field any `rpc.response` may have.
#[derive(Deserialize)]
struct RpcWire {
    ok: bool,
    #[serde(default)]
    code: Option<ErrorCode>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    room: Option<RoomId>,
    #[serde(default)]
    room_type: Option<String>,
    #[serde(default)]
    created: Option<bool>,
    #[serde(default, deserialize_with = "opt_vec_of_objects")]
    rooms: Option<Vec<RoomInfo>>,
    #[serde(default)]
    ticket: Option<TicketId>,
    #[serde(default)]
    removed: Option<u32>,
}

impl RpcWire {
    fn into_response(self) -> Result<RpcResponse, &'static str> {
        if !self.ok {
            return match (self.code, self.reason) {
                (Some(code), Some(reason)) => Ok(RpcResponse::Err { code, reason }),
                _ => Err("a response with ok: false needs `code` and `reason`"),
            };
        }
        let joined = self.room.is_some() || self.room_type.is_some() || self.created.is_some();
        let kinds = usize::from(joined)
            + usize::from(self.rooms.is_some())
            + usize::from(self.ticket.is_some())
            + usize::from(self.removed.is_some());
        if kinds > 1 {
            return Err("a response mixes the fields of several request kinds");
        }
        let ok = match (self.room, self.room_type, self.created) {
            (Some(room), Some(room_type), Some(created)) => RpcOk::Joined(Joined {
                room,
                room_type,
                created,
            }),
            (None, None, None) => match (self.rooms, self.ticket, self.removed) {
                (Some(rooms), _, _) => RpcOk::Rooms(rooms),
                (_, Some(ticket), _) => RpcOk::Enqueued { ticket },
                (_, _, Some(removed)) => RpcOk::Dequeued { removed },
                (None, None, None) => RpcOk::Done,
            },
            _ => return Err("a join response needs `room`, `room_type` and `created`"),
        };
        Ok(RpcResponse::Ok(ok))
    }
}

impl<'de> Deserialize<'de> for RpcResponse {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        RpcWire::deserialize(deserializer)?
            .into_response()
            .map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<RpcResponse, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn shapes_are_recognised_by_their_fields() {
        assert_eq!(parse(r#"{"ok":true}"#), Ok(RpcResponse::Ok(RpcOk::Done)));
        assert_eq!(
            parse(r#"{"ok":true,"removed":2}"#),
            Ok(RpcResponse::Ok(RpcOk::Dequeued { removed: 2 }))
        );
        assert!(matches!(
            parse(r#"{"ok":true,"room":"a","room_type":"arena","created":false}"#),
            Ok(RpcResponse::Ok(RpcOk::Joined(_)))
        ));
        assert!(matches!(
            parse(r#"{"ok":false,"code":"room.full","reason":"full"}"#),
            Ok(RpcResponse::Err {
                code: ErrorCode::RoomFull,
                ..
            })
        ));
    }

    #[test]
    fn incomplete_or_mixed_shapes_are_rejected() {
        for bad in [
            r#"{"ok":false,"code":"room.full"}"#,
            r#"{"ok":false,"reason":"x"}"#,
            r#"{"ok":true,"room":"a"}"#,
            r#"{"ok":true,"ticket":"t1","removed":1}"#,
            r#"{"ok":true,"rooms":[["a","arena",1,8,false,{}]]}"#,
            r#"{"ok":"yes"}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
