//! The contract between the Arbiter plugin host and a WASM room plugin.
//!
//! Both sides depend on this crate: the host (`arbiter-plugin-host`, wasmtime) and
//! the guest SDK (`arbiter-plugin-sdk`). A plugin written in another language
//! follows `docs/plugin-abi.md`, which describes exactly what is here.
//!
//! # Shape of a call
//!
//! Every hook is one crossing in each direction:
//!
//! 1. the host asks the guest for an input buffer with [`EXPORT_ALLOC`]`(len)`,
//! 2. writes the hook's input there as a MessagePack map (the `*Input` types, e.g. [`MessageInput`]),
//! 3. calls the hook export (`arbiter_on_*`) with `(ptr, len)`,
//! 4. the hook returns an `i64` packing `(out_ptr << 32) | out_len`; the bytes at
//!    `out_ptr` are one MessagePack [`HookOutput`] holding everything the hook did:
//!    its state ops, its messages, lock/metadata/close requests.
//!
//! The output buffer belongs to the guest and stays valid until its next call.
//! No host call per state op: ops are batched in the output.
//!
//! # Versioning
//!
//! The ABI version is carried by the import module name, [`IMPORT_MODULE`]
//! (`arbiter_v1`). The host refuses a module that imports from another
//! `arbiter_v*` module (version mismatch), from any other module (unknown import),
//! or that lacks one of [`REQUIRED_EXPORTS`].
//!
//! # Determinism
//!
//! A plugin gets time only from its inputs (`now_ms`, `dt_ms`) and randomness only
//! from [`IMPORT_RANDOM_U64`], a per-room generator seeded by the host. A room's run
//! is therefore reproducible from its inputs and its seed.

mod hooks;
mod rng;

pub use hooks::{
    Client, CreateInput, DisposeInput, HookOutput, JoinInput, LeaveInput, MessageInput, OutMessage,
    RestoreInput, Settings, Target, TickInput,
};
pub use rng::RoomRng;

/// The ABI version this crate describes.
pub const ABI_VERSION: u32 = 1;

/// Prefix of every Arbiter import module name; the version number follows it.
pub const IMPORT_MODULE_PREFIX: &str = "arbiter_v";

/// The import module a v1 plugin imports host functions from.
pub const IMPORT_MODULE: &str = "arbiter_v1";

/// Host import `random_u64() -> i64`: the next value of the room's seeded generator.
pub const IMPORT_RANDOM_U64: &str = "random_u64";

/// Host import `log(level: i32, ptr: i32, len: i32)`: a UTF-8 log line from the
/// plugin. Levels: 0 error, 1 warn, 2 info, 3 debug, 4 trace. The host truncates
/// and rate-limits it.
pub const IMPORT_LOG: &str = "log";

/// The guest's exported linear memory.
pub const EXPORT_MEMORY: &str = "memory";

/// Export `arbiter_alloc(len: i32) -> i32`: a pointer to a guest buffer of at
/// least `len` bytes for the next hook input. The guest may reuse one buffer.
pub const EXPORT_ALLOC: &str = "arbiter_alloc";

/// Hook exports, each `(ptr: i32, len: i32) -> i64` returning `(out_ptr << 32) | out_len`.
pub mod exports {
    /// Room creation: input [`crate::CreateInput`], output carries [`crate::Settings`].
    pub const ON_CREATE: &str = "arbiter_on_create";
    /// A client asks to join: input [`crate::JoinInput`]; output `reject` refuses it.
    pub const ON_JOIN: &str = "arbiter_on_join";
    /// A client left: input [`crate::LeaveInput`].
    pub const ON_LEAVE: &str = "arbiter_on_leave";
    /// A client message: input [`crate::MessageInput`].
    pub const ON_MESSAGE: &str = "arbiter_on_message";
    /// A tick: input [`crate::TickInput`].
    pub const ON_TICK: &str = "arbiter_on_tick";
    /// The room is going away: input [`crate::DisposeInput`].
    pub const ON_DISPOSE: &str = "arbiter_on_dispose";
    /// The host rebuilt the instance (after a failed hook) and hands it the
    /// committed state: input [`crate::RestoreInput`].
    pub const ON_RESTORE: &str = "arbiter_on_restore";
}

/// Every export a v1 plugin must have.
pub const REQUIRED_EXPORTS: &[&str] = &[
    EXPORT_MEMORY,
    EXPORT_ALLOC,
    exports::ON_CREATE,
    exports::ON_JOIN,
    exports::ON_LEAVE,
    exports::ON_MESSAGE,
    exports::ON_TICK,
    exports::ON_DISPOSE,
    exports::ON_RESTORE,
];

/// Packs a guest output location into the `i64` a hook returns.
pub const fn pack_ptr_len(ptr: u32, len: u32) -> i64 {
    (((ptr as u64) << 32) | len as u64) as i64
}

/// Splits a hook's `i64` return value into `(ptr, len)`.
pub const fn unpack_ptr_len(packed: i64) -> (u32, u32) {
    let v = packed as u64;
    ((v >> 32) as u32, v as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptr_len_round_trips() {
        for (p, l) in [(0, 0), (1, 2), (u32::MAX, u32::MAX), (0x8000_0000, 7)] {
            assert_eq!(unpack_ptr_len(pack_ptr_len(p, l)), (p, l));
        }
    }

    #[test]
    fn import_module_carries_the_version() {
        assert_eq!(
            IMPORT_MODULE,
            format!("{IMPORT_MODULE_PREFIX}{ABI_VERSION}")
        );
    }
}
