//! The one error type of the crate, [`PluginError`], and what it refers to.

use std::path::PathBuf;
use std::time::Duration;

use arbiter_plugin_abi::exports;

/// A boxed error source (wasmtime's own error type is not `std::error::Error`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The guest call an error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    /// Instantiation itself: data and element segments, the start function.
    Start,
    /// `arbiter_on_create`.
    Create,
    /// `arbiter_on_join`.
    Join,
    /// `arbiter_on_leave`.
    Leave,
    /// `arbiter_on_message`.
    Message,
    /// `arbiter_on_tick`.
    Tick,
    /// `arbiter_on_dispose`.
    Dispose,
    /// `arbiter_on_restore`.
    Restore,
}

impl Hook {
    /// The seven hook exports, in the order the instance caches them.
    pub(crate) const EXPORTED: [Hook; 7] = [
        Hook::Create,
        Hook::Join,
        Hook::Leave,
        Hook::Message,
        Hook::Tick,
        Hook::Dispose,
        Hook::Restore,
    ];

    /// The export name (`"start"` for [`Hook::Start`], which has none).
    pub fn name(self) -> &'static str {
        match self {
            Hook::Start => "start",
            Hook::Create => exports::ON_CREATE,
            Hook::Join => exports::ON_JOIN,
            Hook::Leave => exports::ON_LEAVE,
            Hook::Message => exports::ON_MESSAGE,
            Hook::Tick => exports::ON_TICK,
            Hook::Dispose => exports::ON_DISPOSE,
            Hook::Restore => exports::ON_RESTORE,
        }
    }

    /// Position in [`Hook::EXPORTED`] (`None` for [`Hook::Start`]).
    pub(crate) fn export_index(self) -> Option<usize> {
        Hook::EXPORTED.iter().position(|h| *h == self)
    }
}

impl std::fmt::Display for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a hook's output (or the input buffer the guest handed out) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadOutput {
    /// `(ptr, len)` does not lie inside the guest's memory.
    #[error("output {ptr:#x}+{len} lies outside the {memory}-byte linear memory")]
    OutOfBounds {
        /// Output pointer.
        ptr: u32,
        /// Output length.
        len: u32,
        /// Linear memory size at the time.
        memory: usize,
    },
    /// The output is longer than [`crate::Limits::max_output_bytes`].
    #[error("output of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Output length.
        len: u32,
        /// The limit.
        max: usize,
    },
    /// The bytes are not one MessagePack `HookOutput` map.
    #[error("output is not a MessagePack HookOutput: {0}")]
    Malformed(String),
    /// A valid `HookOutput` followed by more bytes.
    #[error("{extra} trailing bytes after the HookOutput")]
    TrailingBytes {
        /// How many bytes follow the value.
        extra: usize,
    },
    /// `arbiter_alloc(len)` returned a buffer outside the guest's memory.
    #[error("arbiter_alloc({len}) returned {ptr:#x}, outside the {memory}-byte linear memory")]
    InputBuffer {
        /// Returned pointer.
        ptr: u32,
        /// Requested length.
        len: u32,
        /// Linear memory size at the time.
        memory: usize,
    },
}

/// Everything that can go wrong loading or running a plugin.
///
/// Load errors (the first group) come from [`crate::PluginHost::load`] and the
/// registry. Run errors (`Trap` to `PluginReported`, and `BadOps` from
/// [`crate::RoomPlugin::commit`]) poison the room's instance: it is dropped and
/// the room must call [`crate::RoomPlugin::restore`] before the next hook.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The plugin imports from `arbiter_vN` with N ≠ the host's ABI version.
    #[error("plugin `{plugin}` wants ABI `{wanted}`, this host runs `{host}`")]
    AbiVersionMismatch {
        /// Room type (file stem) or the name the bytes were loaded under.
        plugin: String,
        /// The import module the plugin asked for, e.g. `arbiter_v2`.
        wanted: String,
        /// The import module this host provides, `arbiter_v1`.
        host: &'static str,
    },
    /// An import the host does not provide (another module, e.g. WASI, or an
    /// unknown name in `arbiter_v1`), or a known import with the wrong type.
    #[error("plugin `{plugin}` imports `{module}.{name}`, which the host does not provide{detail}")]
    UnknownImport {
        /// Room type.
        plugin: String,
        /// Import module.
        module: String,
        /// Import name.
        name: String,
        /// Extra explanation (empty, or `" with this type; expected …"`).
        detail: String,
    },
    /// A required export is missing or has the wrong type.
    #[error("plugin `{plugin}` lacks export `{name}` ({expected}){found}")]
    MissingExport {
        /// Room type.
        plugin: String,
        /// The export name.
        name: &'static str,
        /// What the host expects, e.g. `func(i32, i32) -> i64`.
        expected: &'static str,
        /// Empty, or `"; found …"` when present with the wrong type.
        found: String,
    },
    /// The module asks for more than the room limits allow at start
    /// (initial memory, table size or count).
    #[error("plugin `{plugin}` needs {what} at start, over the limit of {limit}")]
    ModuleTooLarge {
        /// Room type.
        plugin: String,
        /// What is too large.
        what: &'static str,
        /// The configured limit.
        limit: u64,
    },
    /// The bytes are not a valid module for this host (malformed, or using a
    /// disabled WebAssembly feature such as threads or memory64).
    #[error("plugin `{plugin}` is not a valid module: {source}")]
    InvalidModule {
        /// Room type.
        plugin: String,
        /// wasmtime's explanation.
        #[source]
        source: BoxError,
    },
    /// Reading a plugin or directory failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A plugin file name is not a usable room type.
    #[error("{path}: `{room_type}` is not a valid room type (1-128 of A-Z a-z 0-9 . _ : -)")]
    BadRoomType {
        /// The file.
        path: PathBuf,
        /// Its stem.
        room_type: String,
    },
    /// The engine configuration was refused, or the epoch thread failed to start.
    #[error("plugin host setup failed: {source}")]
    Setup {
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// The guest trapped (unreachable, out-of-bounds access, stack overflow…).
    #[error("plugin trapped in {hook}: {message}")]
    Trap {
        /// Where.
        hook: Hook,
        /// wasmtime's trap code, when the failure was a wasm trap.
        code: Option<wasmtime::Trap>,
        /// Human-readable description.
        message: String,
    },
    /// The hook ran past its execution budget and was interrupted.
    #[error("plugin hook {hook} exceeded its execution budget of {budget:?}")]
    BudgetExhausted {
        /// Where.
        hook: Hook,
        /// The configured budget.
        budget: Duration,
    },
    /// The guest failed after the host refused to grow its memory past the limit.
    #[error("plugin hook {hook} hit the memory limit ({requested} bytes requested, limit {limit})")]
    MemoryLimit {
        /// Where.
        hook: Hook,
        /// The limit in bytes.
        limit: usize,
        /// The size the guest asked to grow to.
        requested: usize,
    },
    /// The guest failed after the host refused to grow a table past the limit.
    #[error(
        "plugin hook {hook} hit the table limit ({requested} elements requested, limit {limit})"
    )]
    TableLimit {
        /// Where.
        hook: Hook,
        /// The limit in elements.
        limit: usize,
        /// The size the guest asked to grow to.
        requested: usize,
    },
    /// The hook returned an output the host refuses.
    #[error("plugin hook {hook} returned a bad output: {reason}")]
    BadOutput {
        /// Where.
        hook: Hook,
        /// What is wrong with it.
        #[source]
        reason: BadOutput,
    },
    /// The hook reported an error itself (`HookOutput.error`); its output is discarded.
    #[error("plugin hook {hook} reported an error: {message}")]
    PluginReported {
        /// Where.
        hook: Hook,
        /// The plugin's message.
        message: String,
    },
    /// The hook's ops do not apply to the committed state; none were applied.
    #[error("plugin hook ops rejected: {source}")]
    BadOps {
        /// Why `arbiter_state::apply` refused them.
        #[source]
        source: arbiter_state::ApplyError,
    },
    /// A hook was called on a poisoned instance; call
    /// [`crate::RoomPlugin::restore`] first. Not counted as an error.
    #[error("plugin instance must be restored before calling {hook}")]
    RestoreRequired {
        /// The hook that was refused.
        hook: Hook,
    },
    /// The pooling allocator has no free slot ([`crate::AllocationStrategy::Pooling`]
    /// `max_rooms` live instances). A host capacity limit: not counted.
    #[error("no free plugin instance slot: {reason}")]
    InstanceLimit {
        /// wasmtime's explanation, naming the limit.
        reason: String,
    },
    /// A hook input larger than the plugin's whole memory limit (e.g. a
    /// restore of a huge state). Not sent, not counted.
    #[error("the input of {hook} is {len} bytes, over the plugin memory limit of {limit}")]
    InputTooLarge {
        /// The hook.
        hook: Hook,
        /// Encoded input size.
        len: usize,
        /// [`crate::Limits::memory_bytes`].
        limit: usize,
    },
    /// The host could not encode a hook input (not the plugin's fault; not counted).
    #[error("cannot encode the input of {hook}: {reason}")]
    Encode {
        /// The hook.
        hook: Hook,
        /// Encoder message.
        reason: String,
    },
}

impl PluginError {
    /// True for errors raised while running a plugin (which poison the instance
    /// and count against the room's error budget), false for load/setup errors,
    /// host capacity and input errors, and [`PluginError::RestoreRequired`].
    pub fn is_runtime_failure(&self) -> bool {
        matches!(
            self,
            PluginError::Trap { .. }
                | PluginError::BudgetExhausted { .. }
                | PluginError::MemoryLimit { .. }
                | PluginError::TableLimit { .. }
                | PluginError::BadOutput { .. }
                | PluginError::PluginReported { .. }
                | PluginError::BadOps { .. }
        )
    }
}

/// Turns wasmtime's error into a boxed `std::error::Error`, keeping the chain.
pub(crate) fn boxed(err: wasmtime::Error) -> BoxError {
    err.into_boxed_dyn_error()
}
