//! The catalog of message types (`t`), with their direction and whether they
//! are requests answered by `rpc.response`.

use std::fmt;
use std::str::FromStr;

/// Who sends a message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Sent by clients only.
    ClientToServer,
    /// Sent by servers only.
    ServerToClient,
    /// Sent both ways (`room.message`, `room.message.bytes`).
    Both,
}

impl Direction {
    /// Whether a client may send this type.
    pub const fn from_client(self) -> bool {
        matches!(self, Direction::ClientToServer | Direction::Both)
    }

    /// Whether a server may send this type.
    pub const fn from_server(self) -> bool {
        matches!(self, Direction::ServerToClient | Direction::Both)
    }
}

macro_rules! message_types {
    ($( $(#[$doc:meta])* $variant:ident => $wire:literal, $dir:ident; )*) => {
        /// A wire message type, the envelope's `t`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum MessageType {
            $( $(#[$doc])* $variant, )*
        }

        impl MessageType {
            /// Every message type of protocol v1.
            pub const ALL: &'static [MessageType] = &[ $( MessageType::$variant, )* ];

            /// The wire string, e.g. `"room.join_or_create"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( MessageType::$variant => $wire, )*
                }
            }

            /// Parses a wire string; `None` if it is not a v1 type.
            pub fn from_wire(s: &str) -> Option<MessageType> {
                match s {
                    $( $wire => Some(MessageType::$variant), )*
                    _ => None,
                }
            }

            /// Who sends this type.
            pub const fn direction(self) -> Direction {
                match self {
                    $( MessageType::$variant => Direction::$dir, )*
                }
            }
        }
    };
}

message_types! {
    /// C→S, first frame only: start or resume a session.
    Handshake => "handshake", ClientToServer;
    /// S→C: the handshake is accepted.
    HandshakeOk => "handshake.ok", ServerToClient;
    /// S→C: a frame failed before it could be routed, or a non-request failed.
    Error => "error", ServerToClient;
    /// C→S: heartbeat.
    Ping => "ping", ClientToServer;
    /// S→C: heartbeat answer.
    Pong => "pong", ServerToClient;
    /// C→S request: join a room, or create it.
    RoomJoinOrCreate => "room.join_or_create", ClientToServer;
    /// C→S request: leave a room.
    RoomLeave => "room.leave", ClientToServer;
    /// C→S request: list rooms.
    RoomList => "room.list", ClientToServer;
    /// S→C: the answer to a request.
    RpcResponse => "rpc.response", ServerToClient;
    /// Both: a custom room message.
    RoomMessage => "room.message", Both;
    /// Both: a custom binary room message (base64 on the wire).
    RoomMessageBytes => "room.message.bytes", Both;
    /// S→C: a room has ended.
    RoomClosed => "room.closed", ServerToClient;
    /// C→S request: set this client's presence in a room.
    PresenceSet => "presence.set", ClientToServer;
    /// S→C: the full presence of a room.
    PresenceState => "presence.state", ServerToClient;
    /// S→C: presence changes.
    PresenceDiff => "presence.diff", ServerToClient;
    /// S→C: a room's full state.
    StateSnapshot => "state.snapshot", ServerToClient;
    /// S→C: one tick of state changes.
    StatePatch => "state.patch", ServerToClient;
    /// C→S: the client has applied the state up to a `seq`.
    StateAck => "state.ack", ClientToServer;
    /// C→S request: ask for a fresh snapshot.
    StateResync => "state.resync", ClientToServer;
    /// C→S request: queue for a match.
    MatchmakingEnqueue => "matchmaking.enqueue", ClientToServer;
    /// C→S request: leave matchmaking queues.
    MatchmakingDequeue => "matchmaking.dequeue", ClientToServer;
    /// S→C: a match was made; take the reserved seat.
    MatchFound => "match.found", ServerToClient;
    /// S→C: a ticket expired without a match.
    MatchTimeout => "match.timeout", ServerToClient;
    /// C→S, first frame of a QUIC connection: attach it to a WebSocket session.
    SessionAttach => "session.attach", ClientToServer;
    /// S→C: the QUIC connection is attached.
    SessionAttachOk => "session.attach.ok", ServerToClient;
}

impl MessageType {
    /// Whether this type is a request: it is answered by exactly one
    /// `rpc.response` carrying the same `rid` (PROTOCOL.md §4).
    pub const fn is_request(self) -> bool {
        matches!(
            self,
            MessageType::RoomJoinOrCreate
                | MessageType::RoomLeave
                | MessageType::RoomList
                | MessageType::MatchmakingEnqueue
                | MessageType::MatchmakingDequeue
                | MessageType::StateResync
                | MessageType::PresenceSet
        )
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string given to [`MessageType::from_str`] is not a v1 message type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown message type {0:?}")]
pub struct UnknownMessageType(pub String);

impl FromStr for MessageType {
    type Err = UnknownMessageType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MessageType::from_wire(s).ok_or_else(|| UnknownMessageType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &ty in MessageType::ALL {
            assert!(seen.insert(ty.as_str()), "duplicate {ty}");
            assert_eq!(ty.as_str().parse::<MessageType>(), Ok(ty));
        }
        assert_eq!(MessageType::ALL.len(), 25);
        assert!("room.Message".parse::<MessageType>().is_err());
    }

    #[test]
    fn requests_are_the_seven_of_the_spec() {
        let requests: Vec<_> = MessageType::ALL.iter().filter(|t| t.is_request()).collect();
        assert_eq!(requests.len(), 7);
        assert!(
            requests
                .iter()
                .all(|t| t.direction() == Direction::ClientToServer)
        );
    }
}
