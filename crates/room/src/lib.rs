//! The room state machine (sans-IO): members and seats, the plugin hooks, the
//! authoritative state and its patches, seq and checksums, the patch history
//! for resume, acks, snapshots and presence.
//!
//! # How a driver uses it
//!
//! The runtime owns one [`Room`] per room actor and calls one method per
//! event, passing the current Unix time in milliseconds: [`Room::join`],
//! [`Room::leave`], [`Room::message`], [`Room::presence_set`], [`Room::ack`],
//! [`Room::resync`], [`Room::suspend`] / [`Room::resume`], [`Room::tick`] at the
//! plugin's tick rate (or [`Room::flush`] after each batch of inputs for an
//! event-driven room) and [`Room::close`]. After each call it takes the
//! [`Output`]s with [`Room::drain_output`] and delivers them in order.
//!
//! Every hook's ops are applied to the committed state at once, all or
//! nothing, and collected for the next patch: a tick sends at most one
//! `state.patch` holding every change since the previous one. A failed hook
//! changes nothing, counts against the room's error budget (closing the room
//! with `room.closed` when it runs out), and the logic is restored from the
//! committed state before its next hook.
//!
//! The game logic sits behind [`RoomLogic`]; the runtime implements it with the
//! WASM plugin host, tests with plain Rust.
//!
//! # Example
//!
//! ```
//! use arbiter_plugin_abi::{HookOutput, Settings};
//! use arbiter_room::{JoinRequest, LogicError, Output, Room, RoomConfig, RoomInit, RoomLogic};
//! use arbiter_protocol::{RoomId, ServerMessage, SessionId};
//! use arbiter_state::PatchOp;
//! use serde_json::{Value, json};
//!
//! /// Counts joins in `/joins`.
//! struct Joins(u64);
//! impl RoomLogic for Joins {
//!     fn create(&mut self, _: &arbiter_plugin_abi::CreateInput) -> Result<(Settings, HookOutput), LogicError> {
//!         let ops = vec![PatchOp::Set { path: "/joins".into(), value: json!(0) }];
//!         Ok((Settings { tick_rate: 20, ..Settings::default() }, HookOutput { ops, ..HookOutput::default() }))
//!     }
//!     fn join(&mut self, _: &arbiter_plugin_abi::JoinInput) -> Result<HookOutput, LogicError> {
//!         self.0 += 1;
//!         let ops = vec![PatchOp::Set { path: "/joins".into(), value: json!(self.0) }];
//!         Ok(HookOutput { ops, ..HookOutput::default() })
//!     }
//!     fn leave(&mut self, _: &arbiter_plugin_abi::LeaveInput) -> Result<HookOutput, LogicError> { Ok(HookOutput::default()) }
//!     fn message(&mut self, _: &arbiter_plugin_abi::MessageInput) -> Result<HookOutput, LogicError> { Ok(HookOutput::default()) }
//!     fn tick(&mut self, _: &arbiter_plugin_abi::TickInput) -> Result<HookOutput, LogicError> { Ok(HookOutput::default()) }
//!     fn dispose(&mut self, _: &arbiter_plugin_abi::DisposeInput) -> Result<HookOutput, LogicError> { Ok(HookOutput::default()) }
//!     fn restore(&mut self, _: &arbiter_plugin_abi::RestoreInput) -> Result<HookOutput, LogicError> { Ok(HookOutput::default()) }
//!     fn needs_restore(&self) -> bool { false }
//! }
//!
//! let init = RoomInit { id: RoomId::new("demo-1")?, room_type: "demo".into(), options: Value::Null, now_ms: 0 };
//! let mut room = Room::create(init, Joins(0), RoomConfig::default())?;
//! let alice = SessionId::new("s_alice")?;
//! room.join(JoinRequest { session: alice.clone(), user_id: "alice".into(), options: Value::Null, rid: None, created: true }, 0);
//! // rpc.response, state.snapshot (seq 1: the join's change was flushed first), presence.state.
//! let kinds: Vec<_> = room.drain_output().filter_map(|o| match o {
//!     Output::Send { frame, .. } => Some(frame.frame().msg.message_type().as_str()),
//!     _ => None,
//! }).collect();
//! assert_eq!(kinds, ["rpc.response", "state.snapshot", "presence.state"]);
//! assert_eq!(room.state(), &json!({ "joins": 1 }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod history;
mod logic;
mod members;
mod output;
mod room;

pub use config::{RoomConfig, matches_type};
pub use logic::{LogicError, RoomLogic};
pub use members::{JoinOutcome, JoinRequest, MessageBody};
pub use output::{Delivery, Output};
pub use room::{Room, RoomInit};
