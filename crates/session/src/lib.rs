//! The session layer of an Arbiter server, sans-IO: everything between a
//! connection's bytes and a routed client frame that does not need a socket or
//! a clock of its own (PROTOCOL.md §3, §4, §9).
//!
//! The runtime's session task owns the IO and calls these pieces:
//!
//! 1. Once at startup, [`Verifier::new`] from the [`AuthConfig`]: a bad key
//!    fails here ([`SessionError`]), not on the first handshake.
//! 2. On the first frame of a connection, [`accept_handshake`]: decodes either
//!    handshake form, negotiates the [`Codec`](arbiter_protocol::Codec) and
//!    verifies the token. [`Accepted`] carries the codec, the [`Identity`]
//!    (user and project) and the resume pair if any; [`Rejected`] carries the
//!    `error` frame to send before closing.
//! 3. For a new session, [`new_session_id`] and [`new_resume_token`]; to
//!    resume, compare the stored token with [`tokens_match`] (constant time).
//! 4. For every later frame, [`Inbound::handle`]: rate limit ([`TokenBucket`]),
//!    codec/transport check, decode with [`Limits`](arbiter_protocol::Limits),
//!    `ping` answered locally. It says whether to route the frame, reply, or
//!    reply and close ([`InboundOutcome`]).
//! 5. [`Liveness`] tracks the heartbeat: feed it every inbound frame and
//!    suspend the session at [`Liveness::deadline`].
//!
//! Time is always a parameter (`Instant` for rate and heartbeat, Unix time for
//! token expiry and `pong`), so every rule here is tested without sleeping.
//!
//! # Decisions where the protocol page is silent
//!
//! - JWT: HS256 and EdDSA may both be configured; the token header's `alg`
//!   picks the key, any other `alg` (`none` included) is `auth.invalid_token`.
//!   `exp` is required (integer or decimal NumericDate), `nbf` is honoured when
//!   present, `aud`/`iss` are not checked. A missing `sub` or `project_id`
//!   claim is `auth.invalid_token`; a different `project_id` is
//!   `auth.project_mismatch`. `sub` is at most 256 bytes. Reasons never echo
//!   the token.
//! - `project_id` must be 1 to 128 characters of `[A-Za-z0-9._:-]` in both
//!   auth modes (`protocol.bad_frame` otherwise): it keys rooms, queues and
//!   logs.
//! - Rate-limited frames are dropped with `error rate.limited` (no rid, no
//!   decoding) and do not count as protocol errors. The `protocol.*` error
//!   count is per connection and never decays.
//! - A `ping` with a `rid` gets its `pong` with the same `rid`.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use arbiter_protocol::{ClientMessage, Codec, Limits, ServerMessage};
//! use arbiter_session::{
//!     AuthConfig, Inbound, InboundOutcome, Liveness, SessionConfig, Verifier,
//!     accept_handshake, new_resume_token, new_session_id, tokens_match,
//! };
//!
//! let config = SessionConfig { auth: AuthConfig::Disabled, ..SessionConfig::default() };
//! let verifier = Verifier::new(&config.auth)?;
//!
//! // The first frame.
//! let hello = br#"{"v":1,"t":"handshake","rid":"h","p":{"v":1,"codecs":["json"],"project_id":"demo"}}"#;
//! let accepted = accept_handshake(hello, &verifier, 1_700_000_000)?;
//! assert_eq!(accepted.codec, Codec::Json);
//! assert_eq!(accepted.identity.project_id, "demo");
//! assert!(accepted.resume.is_none());
//!
//! // A new session: the runtime stores these and sends them in `handshake.ok`.
//! let session_id = new_session_id();
//! let resume_token = new_resume_token();
//! assert!(session_id.as_str().starts_with("s_"));
//! assert!(tokens_match(&resume_token, &resume_token.clone()));
//!
//! // Later frames.
//! let now = Instant::now();
//! let mut inbound = Inbound::new(accepted.codec, Limits::default(), &config, now);
//! let mut liveness = Liveness::new(config.heartbeat, now);
//! let ping = br#"{"v":1,"t":"ping","p":{"ts":42}}"#;
//! liveness.on_traffic(now);
//! match inbound.handle(ping, true, now, 1_700_000_000_123) {
//!     InboundOutcome::Reply(frame) => match frame.msg {
//!         ServerMessage::Pong(pong) => assert_eq!(pong.server_ts, 1_700_000_000_123),
//!         other => panic!("unexpected {other:?}"),
//!     },
//!     other => panic!("unexpected {other:?}"),
//! }
//! let join = br#"{"v":1,"t":"room.join_or_create","rid":"c-1","p":{"room_type":"arena"}}"#;
//! assert!(matches!(
//!     inbound.handle(join, true, now, 0),
//!     InboundOutcome::Frame(f) if matches!(f.msg, ClientMessage::RoomJoinOrCreate(_))
//! ));
//! assert_eq!(liveness.deadline(), now + 2 * Duration::from_secs(15));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod auth;
mod config;
mod error;
mod handshake;
mod inbound;
mod liveness;
mod rate;
mod secrets;

pub use auth::{Identity, MAX_USER_ID_LEN, Verifier};
pub use config::{AuthConfig, JwtConfig, SessionConfig};
pub use error::{AuthError, SessionError};
pub use handshake::{Accepted, MAX_PROJECT_ID_LEN, Rejected, accept_handshake};
pub use inbound::{Inbound, InboundOutcome};
pub use liveness::Liveness;
pub use rate::TokenBucket;
pub use secrets::{
    RESUME_TOKEN_BYTES, SESSION_ID_RANDOM_CHARS, new_resume_token, new_session_id, tokens_match,
};
