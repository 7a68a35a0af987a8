//! The wire error codes of PROTOCOL.md §4: one enum, one string per code.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident => $wire:literal, )*) => {
        /// A wire error code, carried by `error` frames and failed `rpc.response`s.
        ///
        /// On the wire it is the dotted string (`"room.full"`); in Rust it is this
        /// enum, so that no code ever matches on error strings. The set is exactly
        /// the one of PROTOCOL.md §4.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in the order of PROTOCOL.md §4.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            /// The dotted wire string, e.g. `"protocol.bad_frame"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( ErrorCode::$variant => $wire, )*
                }
            }

            /// Parses a wire string; `None` for anything that is not exactly a code.
            pub fn from_wire(s: &str) -> Option<ErrorCode> {
                match s {
                    $( $wire => Some(ErrorCode::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    /// The frame could not be decoded: syntax, a wrong field type, a missing
    /// field, a bad id, a limit other than size.
    BadFrame => "protocol.bad_frame",
    /// The envelope's `v` is not `1`.
    UnsupportedVersion => "protocol.unsupported_version",
    /// The envelope's `t` is not a message type this side accepts.
    UnknownType => "protocol.unknown_type",
    /// The frame is larger than the configured frame size limit.
    TooLarge => "protocol.too_large",
    /// None of the codecs offered in the handshake is supported.
    NoCommonCodec => "protocol.no_common_codec",
    /// The first frame of a connection was not a handshake.
    HandshakeRequired => "protocol.handshake_required",
    /// The handshake token (or the attach pair) is not valid.
    AuthInvalidToken => "auth.invalid_token",
    /// The handshake token has expired.
    AuthExpired => "auth.expired",
    /// The token's `project_id` claim differs from the handshake's.
    AuthProjectMismatch => "auth.project_mismatch",
    /// The room does not exist.
    RoomNotFound => "room.not_found",
    /// The room has no free seat.
    RoomFull => "room.full",
    /// The room is locked by its plugin.
    RoomLocked => "room.locked",
    /// The session is not a member of the room the frame is about.
    RoomNotMember => "room.not_member",
    /// No plugin defines the requested room type.
    RoomUnknownType => "room.unknown_type",
    /// The plugin refused the join.
    RoomRejected => "room.rejected",
    /// The plugin failed (trap, budget, bad output) while handling the request.
    RoomPluginError => "room.plugin_error",
    /// The room has closed.
    RoomClosed => "room.closed",
    /// A matchmaking request has a missing or invalid field.
    MatchmakingInvalid => "matchmaking.invalid",
    /// The session already has a ticket queued for that room type.
    MatchmakingAlreadyQueued => "matchmaking.already_queued",
    /// The session sends faster than its rate limit.
    RateLimited => "rate.limited",
    /// The server is shutting down and accepts no new work.
    ServerDraining => "server.draining",
    /// The server is over capacity.
    ServerOverloaded => "server.overloaded",
}

impl ErrorCode {
    /// Whether the server closes the connection after sending this code,
    /// whatever the phase: `auth.*`, `protocol.no_common_codec` and
    /// `protocol.handshake_required`.
    ///
    /// Two more rules close a connection and are the session's to apply: any
    /// failure of the handshake itself, and repeated `protocol.*` errors beyond
    /// the session's limit (see [`ErrorCode::is_protocol`]).
    pub const fn closes_connection(self) -> bool {
        matches!(
            self,
            ErrorCode::AuthInvalidToken
                | ErrorCode::AuthExpired
                | ErrorCode::AuthProjectMismatch
                | ErrorCode::NoCommonCodec
                | ErrorCode::HandshakeRequired
        )
    }

    /// Whether this is a `protocol.*` code: the client sent something malformed.
    /// A session counts these to close connections that keep doing it.
    pub const fn is_protocol(self) -> bool {
        matches!(
            self,
            ErrorCode::BadFrame
                | ErrorCode::UnsupportedVersion
                | ErrorCode::UnknownType
                | ErrorCode::TooLarge
                | ErrorCode::NoCommonCodec
                | ErrorCode::HandshakeRequired
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string given to [`ErrorCode::from_str`] is not a wire error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code {0:?}")]
pub struct UnknownErrorCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::from_wire(s).ok_or_else(|| UnknownErrorCode(s.to_owned()))
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CodeVisitor;
        impl Visitor<'_> for CodeVisitor {
            type Value = ErrorCode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an error code string such as \"room.full\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ErrorCode, E> {
                ErrorCode::from_wire(v).ok_or_else(|| {
                    E::custom(format_args!(
                        "unknown error code {:?}",
                        crate::error::snippet(v)
                    ))
                })
            }
        }
        deserializer.deserialize_str(CodeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_string() {
        assert_eq!(ErrorCode::ALL.len(), 22);
        for &code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            assert_eq!(code.to_string(), code.as_str());
            let json = serde_json::to_string(&code).expect("serializes");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).ok(), Some(code));
        }
    }

    #[test]
    fn unknown_strings_are_rejected() {
        assert!("room.ful".parse::<ErrorCode>().is_err());
        assert!("ROOM.FULL".parse::<ErrorCode>().is_err());
        assert!(serde_json::from_str::<ErrorCode>("\"nope\"").is_err());
        assert!(serde_json::from_str::<ErrorCode>("3").is_err());
    }

    #[test]
    fn closing_codes_are_auth_and_fatal_handshake_codes() {
        let closing: Vec<&str> = ErrorCode::ALL
            .iter()
            .filter(|c| c.closes_connection())
            .map(|c| c.as_str())
            .collect();
        assert_eq!(
            closing,
            [
                "protocol.no_common_codec",
                "protocol.handshake_required",
                "auth.invalid_token",
                "auth.expired",
                "auth.project_mismatch"
            ]
        );
        for &code in ErrorCode::ALL {
            assert_eq!(code.is_protocol(), code.as_str().starts_with("protocol."));
        }
    }
}
