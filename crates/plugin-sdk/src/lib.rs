//! Write an Arbiter room's game logic in Rust and ship it as a WASM plugin.
//!
//! A room type is a crate that implements [`Room`] and calls [`export_room!`]. Built
//! for `wasm32-unknown-unknown` (`cargo xtask plugins`), it becomes
//! `<room_type>.wasm`, which the server loads; built for the host, the same crate
//! unit-tests its room with [`testing::Harness`], no WASM involved.
//!
//! # When to use what
//!
//! | you want to | use |
//! |---|---|
//! | define the room | [`Room`]: `create` and `restore` required, the other hooks optional |
//! | read and write the state | [`Ctx::state`] → [`State::get`], [`State::get_as`], [`State::set`], [`State::set_json`], [`State::del`] |
//! | build a path from keys | [`pointer!`]`("players", sid, "x")` (escapes `/` and `~`) |
//! | handle a frequent message cheaply | override [`Room::message_data`]: [`Data::decode`] reads only the fields your type names |
//! | answer a player's mistake | [`Ctx::send_error`] (a `room.message` `error` `{ reason }`), then `Ok(())` |
//! | report a bug in the room | return `Err(`[`Error`]`)`: everything the hook did is discarded |
//! | message clients | [`Ctx::send_to`], [`Ctx::broadcast`], [`Ctx::broadcast_except`], or [`Message`] for bytes and unreliable |
//! | time, randomness, logs | [`Ctx::now_ms`], [`Ctx::dt_ms`], [`Ctx::random_u64`], [`Ctx::log`] |
//! | room-level requests | [`Ctx::lock`], [`Ctx::unlock`], [`Ctx::set_metadata`], [`Ctx::close`] |
//! | test the room natively | [`testing::Harness`] |
//!
//! # Example
//!
//! ```
//! use arbiter_plugin_sdk::{export_room, pointer, Client, Ctx, Result, RestoreInfo, Room, Settings};
//! use serde_json::{json, Value};
//!
//! /// Every player has a score; `score` adds one to the sender's.
//! struct Scores;
//!
//! impl Room for Scores {
//!     fn create(ctx: &mut Ctx<'_>, _options: &Value) -> Result<(Self, Settings)> {
//!         ctx.state().set("/scores", json!({}))?;
//!         Ok((Scores, Settings { max_clients: 4, ..Settings::default() }))
//!     }
//!
//!     fn restore(_info: &RestoreInfo<'_>) -> Result<Self> {
//!         Ok(Scores) // nothing private: the state is all there is
//!     }
//!
//!     fn join(&mut self, ctx: &mut Ctx<'_>, client: &Client, _options: &Value) -> Result<arbiter_plugin_sdk::Join> {
//!         ctx.state().set(pointer!("scores", client.session_id), 0)?;
//!         Ok(arbiter_plugin_sdk::Join::Accept)
//!     }
//!
//!     fn message(&mut self, ctx: &mut Ctx<'_>, client: &Client, kind: &str, _data: &Value) -> Result {
//!         if kind != "score" {
//!             ctx.send_error(&client.session_id, format!("unknown message type {kind}"));
//!             return Ok(());
//!         }
//!         let path = pointer!("scores", client.session_id);
//!         let score: i64 = ctx.state().get_as(&path)?;
//!         ctx.state().set(path, score + 1)?;
//!         Ok(())
//!     }
//! }
//!
//! export_room!(Scores);
//!
//! // Natively, the harness plays the host:
//! use arbiter_plugin_sdk::testing::Harness;
//! let mut room = Harness::<Scores>::create(json!({})).unwrap();
//! room.join("s_a").unwrap();
//! room.message("s_a", "score", Value::Null).unwrap();
//! assert_eq!(room.state(), &json!({ "scores": { "s_a": 1 } }));
//! let step = room.message("s_a", "dance", Value::Null).unwrap();
//! assert_eq!(step.errors_to("s_a"), ["unknown message type dance"]);
//! ```
//!
//! # How a call runs
//!
//! The host writes the hook's input (MessagePack) into a buffer the plugin
//! allocated, calls `arbiter_on_<hook>`, and reads back one `HookOutput`: the
//! state ops, messages and requests of the hook, applied atomically. The
//! message hook, the hot one, reads its input in place: the sender is the
//! member's own [`Client`] and `data` stays encoded until the room decodes it. The SDK keeps
//! a mirror of the state so that a hook reads its own writes; a hook that returns
//! `Err` has its ops rolled back in the mirror and the room rebuilt with
//! [`Room::restore`], and the host sees only the error. A panic traps the instance;
//! the host then restores a fresh one. `docs/plugin-abi.md` has the byte-level
//! contract; `docs/plugins.md` walks through a whole plugin.
//!
//! Plugin authors write no `unsafe`: the raw pointer work of the ABI is inside the
//! SDK (the `wasm` module, compiled only for `wasm32`).

mod ctx;
mod error;
mod input;
mod room;
mod runtime;
mod state;
pub mod testing;
#[cfg(target_arch = "wasm32")]
mod wasm;

/// The ABI crate, for the types the hooks exchange.
pub use arbiter_plugin_abi as abi;
pub use arbiter_plugin_abi::{Client, OutMessage, Settings, Target};
pub use arbiter_state::pointer::{PointerBuf, escape_token};
pub use arbiter_state::{PatchOp, Value};
pub use ctx::{Ctx, Level, Message};
pub use error::{Error, Result};
pub use input::Data;
pub use room::{Join, RestoreInfo, Room};
pub use state::{PathToken, State};

/// Support for the macros; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::runtime::{Hook, Runtime};
    #[cfg(target_arch = "wasm32")]
    pub use crate::wasm::{alloc, hook, new_runtime};
}

/// Builds a JSON Pointer (`String`) from tokens, escaping `~` and `/` in each:
/// `pointer!("players", sid, "x")` is `"/players/<sid>/x"`. Tokens are strings or
/// integers (array indices); `pointer!()` is the root `""`.
#[macro_export]
macro_rules! pointer {
    () => {
        ::std::string::String::new()
    };
    ($($token:expr),+ $(,)?) => {{
        // One allocation for the usual path (a few short keys).
        let mut path = ::std::string::String::with_capacity(64);
        $( $crate::PathToken::append_to(&$token, &mut path); )+
        path
    }};
}

/// Exports a [`Room`] type as the plugin's hooks.
///
/// On `wasm32` it generates `arbiter_alloc` and every `arbiter_on_*` export over
/// one per-instance runtime. On other targets it only checks that the type is a
/// `Room`, so the crate builds and tests natively. Use it once per plugin crate.
///
/// The generated exports carry `#[unsafe(no_mangle)]` (exports need fixed names)
/// with `#[allow(unsafe_code)]`, so a plugin crate can keep `#![deny(unsafe_code)]`.
#[macro_export]
macro_rules! export_room {
    ($room:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            ::std::thread_local! {
                static RUNTIME: ::core::cell::RefCell<$crate::__private::Runtime<$room>> =
                    $crate::__private::new_runtime::<$room>();
            }
    $crate::export_room!(@alloc RUNTIME);
    $crate::export_room!(@hook RUNTIME, arbiter_on_create, Create);
    $crate::export_room!(@hook RUNTIME, arbiter_on_join, Join);
    $crate::export_room!(@hook RUNTIME, arbiter_on_leave, Leave);
    $crate::export_room!(@hook RUNTIME, arbiter_on_message, Message);
    $crate::export_room!(@hook RUNTIME, arbiter_on_tick, Tick);
    $crate::export_room!(@hook RUNTIME, arbiter_on_dispose, Dispose);
    $crate::export_room!(@hook RUNTIME, arbiter_on_restore, Restore);
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            fn assert_room<R: $crate::Room>() {}
            let _ = assert_room::<$room>;
        };
    };
    (@alloc $rt:ident) => {
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        extern "C" fn arbiter_alloc(len: i32) -> i32 {
            $crate::__private::alloc(&$rt, len)
        }
    };
    (@hook $rt:ident, $name:ident, $hook:ident) => {
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        extern "C" fn $name(ptr: i32, len: i32) -> i64 {
            $crate::__private::hook(&$rt, $crate::__private::Hook::$hook, ptr, len)
        }
    };
}
