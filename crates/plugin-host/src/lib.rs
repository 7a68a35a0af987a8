//! Runs Arbiter room plugins (WebAssembly, ABI `arbiter_v1`) under wasmtime,
//! with per-room memory and time limits.
//!
//! # When to use what
//!
//! | need | use |
//! |---|---|
//! | one runtime per process (engine, epoch ticker, module cache) | [`PluginHost::new`] with a [`HostConfig`] |
//! | every `<room_type>.wasm` of a directory | [`PluginRegistry::load_dir`] |
//! | one plugin from bytes or a file | [`PluginHost::load`], [`PluginHost::load_file`] → [`Plugin`] |
//! | a room's long-lived instance | [`Plugin::instantiate`] → [`RoomPlugin`] |
//! | run a hook | [`RoomPlugin::create`], `join`, `leave`, `message`, `tick`, `dispose` |
//! | commit a hook's ops to the room state, all or nothing | [`RoomPlugin::commit`] (or [`apply_output`]) |
//! | recover after a failed hook | [`RoomPlugin::restore`] with the committed state |
//!
//! # Model
//!
//! One wasmtime `Engine` is shared by every plugin. A plugin is compiled once
//! (or read from the on-disk cache), checked against the ABI (imports exactly
//! `arbiter_v1.random_u64` and `arbiter_v1.log`; every export of
//! [`arbiter_plugin_abi::REQUIRED_EXPORTS`] with its type; initial memory within
//! the limit) and pre-linked. A room gets one `Store` + instance for its whole
//! life; each hook is one crossing: the host asks the guest for an input buffer,
//! writes the MessagePack input, calls the hook under the execution budget, and
//! bounds-checks and decodes the guest's `HookOutput`.
//!
//! The host never applies ops itself and never lets a failure leak state: a hook
//! that traps, runs past its budget, hits the memory limit, returns a bad output
//! or reports an error yields a typed [`PluginError`]; nothing of its output
//! reaches the room; the instance is dropped. The room then calls
//! [`RoomPlugin::restore`] with its *committed* state and clients, which builds a
//! fresh instance and runs `arbiter_on_restore`, before any other hook. Failures
//! are counted; [`RoomPlugin::error_budget_exceeded`] tells the room when to
//! close. A plugin reaches nothing but its two imports: no WASI, no clock, no
//! files, no network; time comes from hook inputs, randomness from a per-room
//! generator seeded by the caller, which survives restores.
//!
//! `docs/plugin-host.md` is the operator's guide: limits, defaults, failure
//! behaviour, the cache, and the epoch-versus-fuel measurements.
//!
//! # Example
//!
//! ```
//! use arbiter_plugin_abi::{CreateInput, RestoreInput, TickInput};
//! use arbiter_plugin_host::{HostConfig, PluginError, PluginHost};
//! use serde_json::json;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // A minimal plugin in WAT: `arbiter_on_tick` sets /ticks to 1, every other
//! # // hook returns an empty output.
//! # let mp = |v: serde_json::Value| rmp_serde::to_vec_named(&v).unwrap();
//! # let esc = |b: &[u8]| b.iter().map(|x| format!("\\{x:02x}")).collect::<String>();
//! # let (empty, tick) = (mp(json!({})), mp(json!({ "ops": [{ "op": "set", "path": "/ticks", "value": 1 }] })));
//! # let hook = |name: &str, ptr: u32, len: usize| format!(
//! #     r#"(func (export "arbiter_on_{name}") (param i32 i32) (result i64) (i64.const {}))"#,
//! #     arbiter_plugin_abi::pack_ptr_len(ptr, len as u32));
//! # let hooks: String = ["create", "join", "leave", "message", "dispose", "restore"]
//! #     .iter().map(|h| hook(h, 0, empty.len())).collect();
//! # let wasm = wat::parse_str(format!(r#"(module (memory (export "memory") 2)
//! #     (func (export "arbiter_alloc") (param i32) (result i32) (i32.const 65536))
//! #     (data (i32.const 0) "{}") (data (i32.const 256) "{}") {hooks} {})"#,
//! #     esc(&empty), esc(&tick), hook("tick", 256, tick.len())))?;
//! let host = PluginHost::new(HostConfig { cache_dir: None, ..HostConfig::default() })?;
//! let plugin = host.load("demo", &wasm)?;
//! let mut room = plugin.instantiate("demo-1", 42)?;
//!
//! // The room owns the committed state; the plugin only proposes ops.
//! let mut state = json!({});
//! let (settings, out) = room.create(&CreateInput {
//!     room: "demo-1".into(),
//!     room_type: "demo".into(),
//!     options: json!({}),
//!     now_ms: 0,
//! })?;
//! room.commit(&mut state, &out)?;
//! assert_eq!(settings.tick_rate, 0);
//!
//! match room.tick(&TickInput { dt_ms: 50, now_ms: 50 }) {
//!     Ok(out) => room.commit(&mut state, &out)?,
//!     Err(e @ PluginError::BudgetExhausted { .. }) | Err(e @ PluginError::Trap { .. }) => {
//!         // Nothing was applied. Rebuild from the committed state, then go on.
//!         eprintln!("{e}");
//!         room.restore(&RestoreInput {
//!             room: "demo-1".into(),
//!             room_type: "demo".into(),
//!             options: json!({}),
//!             state: state.clone(),
//!             clients: vec![],
//!             now_ms: 50,
//!         })?;
//!     }
//!     Err(e) => return Err(e.into()),
//! }
//! assert_eq!(state, json!({ "ticks": 1 }));
//! # Ok(())
//! # }
//! ```

mod apply;
mod budget;
mod cache;
mod config;
mod engine;
mod error;
mod host;
mod imports;
mod instance;
mod limits;
mod loader;
mod registry;

pub use apply::apply_output;
pub use arbiter_plugin_abi::RoomRng;
pub use cache::ModuleSource;
pub use config::{
    AllocationStrategy, BudgetMode, DEFAULT_FUEL_PER_MS, HostConfig, Limits, LogLimits,
    MemoryStrategy,
};
pub use error::{BadOutput, BoxError, Hook, PluginError};
pub use host::{Plugin, PluginHost};
pub use instance::{RoomPlugin, RoomStats};
pub use registry::{PluginRegistry, is_valid_room_type};
pub use wasmtime::Trap;

#[cfg(test)]
mod tests {
    use super::*;

    /// The room actor moves its `RoomPlugin` between threads; hosts and plugins
    /// are shared by every room.
    #[test]
    fn thread_safety() {
        fn send<T: Send>() {}
        fn send_sync<T: Send + Sync>() {}
        send::<RoomPlugin>();
        send_sync::<PluginHost>();
        send_sync::<Plugin>();
        send_sync::<PluginRegistry>();
        send_sync::<PluginError>();
    }
}
