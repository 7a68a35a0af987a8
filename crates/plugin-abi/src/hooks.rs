//! Hook inputs and the one output type, as MessagePack maps with string keys.

use arbiter_state::PatchOp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A connected client as the plugin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// The session id (`s_…`), the key under which rooms usually store players.
    pub session_id: String,
    /// The authenticated user id (JWT `sub`), or the session id when auth is off.
    pub user_id: String,
}

/// Input of `arbiter_on_create`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateInput {
    /// The room id.
    pub room: String,
    /// The room type (the plugin's name).
    pub room_type: String,
    /// The `options` of the `room.join_or_create` (or the match) that created it.
    #[serde(default)]
    pub options: Value,
    /// Host time in milliseconds since the Unix epoch.
    pub now_ms: u64,
}

/// Input of `arbiter_on_join`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinInput {
    /// Who joins.
    pub client: Client,
    /// The join request's `options`.
    #[serde(default)]
    pub options: Value,
    /// Host time in milliseconds since the Unix epoch.
    pub now_ms: u64,
}

/// Input of `arbiter_on_leave`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaveInput {
    /// Who left.
    pub client: Client,
    /// True when the client asked to leave; false when its session expired or
    /// the server removed it.
    pub consented: bool,
    /// Host time in milliseconds since the Unix epoch.
    pub now_ms: u64,
}

/// Input of `arbiter_on_message`: exactly one of `data` and `bytes` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageInput {
    /// The sender.
    pub client: Client,
    /// The message's `type` (`input.type`).
    #[serde(rename = "type")]
    pub kind: String,
    /// `room.message`'s `data` (`input.data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// `room.message.bytes`'s decoded payload, as MessagePack bin.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    pub bytes: Option<Vec<u8>>,
    /// Host time in milliseconds since the Unix epoch.
    pub now_ms: u64,
}

/// Input of `arbiter_on_tick`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickInput {
    /// Milliseconds since the previous tick (or since creation).
    pub dt_ms: u64,
    /// Host time in milliseconds since the Unix epoch.
    pub now_ms: u64,
}

/// Input of `arbiter_on_dispose`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisposeInput {
    /// Host time in milliseconds since the Unix epoch.
    pub now_ms: u64,
}

/// Input of `arbiter_on_restore`: everything a fresh instance needs to go on
/// from the room's last committed state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreInput {
    /// The room id.
    pub room: String,
    /// The room type.
    pub room_type: String,
    /// The options the room was created with.
    #[serde(default)]
    pub options: Value,
    /// The committed state document.
    pub state: Value,
    /// The clients currently in the room.
    pub clients: Vec<Client>,
    /// Host time in milliseconds since the Unix epoch.
    pub now_ms: u64,
}

/// Room settings a plugin returns from `arbiter_on_create`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Seats in the room; 0 means no limit.
    #[serde(default)]
    pub max_clients: u32,
    /// Ticks per second; 0 makes the room event-driven (one patch per batch of inputs).
    #[serde(default)]
    pub tick_rate: u32,
    /// Public metadata shown by `room.list`.
    #[serde(default = "empty_object")]
    pub metadata: Value,
    /// `room.message` types this room sends and receives with unreliable intent.
    #[serde(default)]
    pub unreliable: Vec<String>,
    /// Whether the matchmaker may fill seats freed in a matched room.
    #[serde(default)]
    pub backfill: bool,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_clients: 0,
            tick_rate: 0,
            metadata: empty_object(),
            unreliable: Vec::new(),
            backfill: false,
        }
    }
}

/// Who a plugin message goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "session_id", rename_all = "snake_case")]
pub enum Target {
    /// Every client in the room.
    All,
    /// One client.
    One(String),
    /// Every client but one.
    AllBut(String),
}

/// A message a plugin sends: a `room.message` (with `data`) or a
/// `room.message.bytes` (with `bytes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutMessage {
    /// Recipients.
    pub to: Target,
    /// The message's `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// JSON payload, for `room.message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Binary payload, for `room.message.bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    pub bytes: Option<Vec<u8>>,
    /// Send with unreliable intent (may be dropped; may travel as a datagram).
    #[serde(default)]
    pub unreliable: bool,
    /// The client this message originated from, shown as `from` to recipients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// Everything one hook did, returned in one crossing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HookOutput {
    /// State changes, applied in order and atomically (all or none).
    #[serde(default)]
    pub ops: Vec<PatchOp>,
    /// Messages to clients.
    #[serde(default)]
    pub messages: Vec<OutMessage>,
    /// `Some(true)` locks the room against new joins, `Some(false)` unlocks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<bool>,
    /// Replaces the room's public metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Closes the room with this reason after the hook's changes are sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<String>,
    /// From `arbiter_on_join` only: refuse the join with this reason (`room.rejected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject: Option<String>,
    /// From `arbiter_on_create` only: the room's settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Settings>,
    /// A plugin-level error the hook reports about itself (counts against the
    /// room's error budget; the hook's ops are discarded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_round_trips_as_a_msgpack_map() {
        let out = HookOutput {
            ops: vec![PatchOp::Set {
                path: "/x".into(),
                value: 1.into(),
            }],
            messages: vec![OutMessage {
                to: Target::AllBut("s_1".into()),
                kind: "hit".into(),
                data: Some(serde_json::json!({ "dmg": 3 })),
                bytes: None,
                unreliable: true,
                from: None,
            }],
            lock: Some(true),
            ..Default::default()
        };
        let bytes = rmp_serde::to_vec_named(&out).unwrap();
        // A map, not a positional array.
        assert_eq!(bytes[0] & 0xf0, 0x80);
        let back: HookOutput = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, out);
    }

    #[test]
    fn settings_default_when_fields_missing() {
        let bytes = rmp_serde::to_vec_named(&serde_json::json!({ "tick_rate": 20 })).unwrap();
        let s: Settings = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(s.tick_rate, 20);
        assert_eq!(s.max_clients, 0);
        assert!(s.metadata.is_object());
    }
}
