//! The raw WASM boundary behind `export_room!`: host imports and the functions the
//! generated exports call. All of the SDK's `unsafe` lives here.

use std::cell::RefCell;
use std::thread::LocalKey;

use arbiter_plugin_abi::pack_ptr_len;

use crate::ctx::{HostEnv, Level};
use crate::room::Room;
use crate::runtime::{Hook, Runtime};

mod imports {
    // The module name must be a literal; it is `arbiter_plugin_abi::IMPORT_MODULE`,
    // which `cargo xtask plugins` checks in every built plugin.
    #[link(wasm_import_module = "arbiter_v1")]
    unsafe extern "C" {
        /// `random_u64() -> i64`: takes nothing, touches no guest memory.
        #[link_name = "random_u64"]
        pub(super) safe fn host_random_u64() -> i64;
        /// `log(level: i32, ptr: i32, len: i32)`: on wasm32 a pointer and a
        /// `usize` are both `i32`.
        #[link_name = "log"]
        pub(super) fn host_log(level: i32, ptr: *const u8, len: usize);
    }
}

/// The host imports, as the runtime's [`HostEnv`].
struct WasmHost;

impl HostEnv for WasmHost {
    fn random_u64(&mut self) -> u64 {
        imports::host_random_u64() as u64
    }

    fn log(&mut self, level: Level, message: &str) {
        // SAFETY: `message` is a live, initialised UTF-8 buffer of exactly
        // `message.len()` bytes for the whole call. The host only reads (copies) it
        // before returning, and never keeps the pointer.
        unsafe { imports::host_log(level as i32, message.as_ptr(), message.len()) }
    }
}

/// The per-instance runtime, created on the first call into the instance. Also
/// routes panic messages to the host's log before the panic traps.
pub fn new_runtime<R: Room>() -> RefCell<Runtime<R>> {
    std::panic::set_hook(Box::new(|info| {
        WasmHost.log(Level::Error, &format!("plugin panicked: {info}"));
    }));
    RefCell::new(Runtime::new())
}

/// `arbiter_alloc(len) -> ptr`: the input buffer, grown to at least `len` bytes.
/// The same buffer is returned every time (its address changes only when it grows).
pub fn alloc<R: Room>(runtime: &'static LocalKey<RefCell<Runtime<R>>>, len: i32) -> i32 {
    runtime.with(|cell| {
        let mut rt = cell.borrow_mut();
        // An `i32` length is read as unsigned; a length the instance cannot
        // allocate aborts, which traps (the host's limit was hit).
        let buffer = rt.input_buffer(len as u32 as usize);
        buffer.as_mut_ptr() as usize as i32
    })
}

/// `arbiter_on_*(ptr, len) -> (out_ptr << 32) | out_len`.
///
/// The input must be the first `len` bytes of the buffer `arbiter_alloc` returned:
/// the runtime reads its own buffer (no raw pointer is dereferenced) and refuses
/// any other location with an error output. The output stays in the runtime's
/// output buffer until the next call.
pub fn hook<R: Room>(
    runtime: &'static LocalKey<RefCell<Runtime<R>>>,
    hook: Hook,
    ptr: i32,
    len: i32,
) -> i64 {
    runtime.with(|cell| {
        let mut rt = cell.borrow_mut();
        let len = len as u32 as usize;
        let ours = rt.input.as_ptr() as usize == ptr as u32 as usize && len <= rt.input.len();
        let output = if ours {
            rt.call_in_place(hook, len, &mut WasmHost)
        } else {
            rt.fail("the hook input is not in the buffer returned by arbiter_alloc")
        };
        // wasm32 addresses and lengths fit in 32 bits.
        pack_ptr_len(output.as_ptr() as usize as u32, output.len() as u32)
    })
}
