//! [`RoomPlugin`]: one room's long-lived instance, its typed hooks, and the
//! poison → restore cycle after a failure.

use std::io::Cursor;
use std::sync::Arc;

use arbiter_plugin_abi::{
    CreateInput, DisposeInput, EXPORT_ALLOC, EXPORT_MEMORY, HookOutput, JoinInput, LeaveInput,
    MessageInput, RestoreInput, Settings, TickInput, unpack_ptr_len,
};
use arbiter_state::Value;
use serde::{Deserialize, Serialize};
use wasmtime::{Memory, PoolConcurrencyLimitError, Store, Trap, TypedFunc};

use crate::budget::thread_cpu_ns;
use crate::error::{BadOutput, Hook, PluginError};
use crate::host::{Plugin, Shared};
use crate::imports::HostState;
use crate::limits::Denied;

/// Deepest MessagePack nesting accepted in a hook output. Room state documents
/// are shallow; a cap keeps a hostile output from exhausting the host stack.
const MAX_OUTPUT_DEPTH: usize = 128;

type HookFn = TypedFunc<(i32, i32), i64>;

/// A failed instantiation, handing back the store data (and its generator).
type StartError = Box<(PluginError, HostState)>;

/// A live instance: its store and cached export handles.
struct Live {
    store: Store<HostState>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    hooks: [HookFn; 7],
}

/// Counters of one room's plugin activity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomStats {
    /// Hook calls made (failed ones included).
    pub hooks: u64,
    /// Runtime failures (see [`PluginError::is_runtime_failure`]).
    pub errors: u32,
    /// Instances built after the first (one per [`RoomPlugin::restore`]).
    pub rebuilds: u32,
    /// Plugin log lines dropped by the rate limit.
    pub log_lines_dropped: u64,
    /// Fuel the last hook used (fuel budget modes only).
    pub last_hook_fuel: Option<u64>,
}

/// One room's plugin instance: a long-lived store, never rebuilt per call.
///
/// Every hook writes its input into guest memory, runs under the hook budget
/// and decodes the guest's [`HookOutput`]. The host does not apply the output:
/// the room does, with [`RoomPlugin::commit`] or [`crate::apply_output`].
///
/// After any runtime failure the instance is *poisoned*: it is dropped at once
/// (its memory with it), the error is counted, and every hook answers
/// [`PluginError::RestoreRequired`] until the room calls
/// [`RoomPlugin::restore`] with its committed state, which builds a fresh
/// instance and runs `arbiter_on_restore`. The room's random generator carries
/// over.
pub struct RoomPlugin {
    plugin: Plugin,
    /// The instance, or `None` while poisoned.
    live: Option<Live>,
    /// The store data of a poisoned instance, kept for the next one.
    parked: Option<HostState>,
    /// Reused buffer for encoded hook inputs.
    input: Vec<u8>,
    stats: RoomStats,
}

impl std::fmt::Debug for RoomPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomPlugin")
            .field("room_type", &self.plugin.room_type())
            .field("poisoned", &self.live.is_none())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn shared(plugin: &Plugin) -> &Shared {
    &plugin.inner.shared
}

impl RoomPlugin {
    pub(crate) fn new(plugin: Plugin, room: &str, seed: u64) -> Result<Self, PluginError> {
        let sh = shared(&plugin);
        let state = HostState::new(
            Arc::from(room),
            plugin.inner.room_type.clone(),
            seed,
            &sh.config,
        );
        let live = Live::start(&plugin, state).map_err(|e| e.0)?;
        Ok(Self {
            plugin,
            live: Some(live),
            parked: None,
            input: Vec::with_capacity(1024),
            stats: RoomStats::default(),
        })
    }

    /// The room id this instance serves.
    pub fn room(&self) -> &str {
        match (&self.live, &self.parked) {
            (Some(live), _) => &live.store.data().room,
            (None, Some(state)) => &state.room,
            (None, None) => "",
        }
    }

    /// The plugin (room type) this room runs.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// True after a runtime failure, until [`RoomPlugin::restore`] succeeds.
    pub fn needs_restore(&self) -> bool {
        self.live.is_none()
    }

    /// Runtime failures so far.
    pub fn errors(&self) -> u32 {
        self.stats.errors
    }

    /// True once [`RoomPlugin::errors`] reaches [`crate::Limits::max_errors`].
    /// The host only counts: the room decides to close (PROTOCOL `room.closed`).
    pub fn error_budget_exceeded(&self) -> bool {
        self.stats.errors >= shared(&self.plugin).config.limits.max_errors
    }

    /// Activity counters.
    pub fn stats(&self) -> RoomStats {
        let mut s = self.stats;
        s.log_lines_dropped = self.state().map_or(0, |st| st.log.dropped_total);
        s
    }

    fn state(&self) -> Option<&HostState> {
        match (&self.live, &self.parked) {
            (Some(live), _) => Some(live.store.data()),
            (None, parked) => parked.as_ref(),
        }
    }

    /// `arbiter_on_create`: the room's settings (defaults when the plugin
    /// returns none) and the hook's output.
    pub fn create(&mut self, input: &CreateInput) -> Result<(Settings, HookOutput), PluginError> {
        let mut out = self.call(Hook::Create, input)?;
        let settings = out.settings.take().unwrap_or_default();
        Ok((settings, out))
    }

    /// `arbiter_on_join`; `output.reject` refuses the client.
    pub fn join(&mut self, input: &JoinInput) -> Result<HookOutput, PluginError> {
        self.call(Hook::Join, input)
    }

    /// `arbiter_on_leave`.
    pub fn leave(&mut self, input: &LeaveInput) -> Result<HookOutput, PluginError> {
        self.call(Hook::Leave, input)
    }

    /// `arbiter_on_message`.
    pub fn message(&mut self, input: &MessageInput) -> Result<HookOutput, PluginError> {
        self.call(Hook::Message, input)
    }

    /// `arbiter_on_tick`.
    pub fn tick(&mut self, input: &TickInput) -> Result<HookOutput, PluginError> {
        self.call(Hook::Tick, input)
    }

    /// `arbiter_on_dispose`.
    pub fn dispose(&mut self, input: &DisposeInput) -> Result<HookOutput, PluginError> {
        self.call(Hook::Dispose, input)
    }

    /// Drops the current instance (if any), builds a fresh one and runs
    /// `arbiter_on_restore` with the room's committed state and clients.
    /// Call it after a runtime failure, before the next hook. A failure here
    /// counts like any other and leaves the room needing another restore.
    pub fn restore(&mut self, input: &RestoreInput) -> Result<HookOutput, PluginError> {
        self.encode(Hook::Restore, input)?;
        let state = match (self.live.take(), self.parked.take()) {
            (Some(live), _) => live.store.into_data(),
            (None, Some(state)) => state,
            // Unreachable by construction; rebuild the state rather than panic.
            (None, None) => {
                let sh = shared(&self.plugin);
                HostState::new(
                    Arc::from(input.room.as_str()),
                    self.plugin.inner.room_type.clone(),
                    0,
                    &sh.config,
                )
            }
        };
        self.stats.rebuilds += 1;
        match Live::start(&self.plugin, state) {
            Ok(live) => self.live = Some(live),
            Err(failed) => {
                let (err, state) = *failed;
                self.parked = Some(state);
                if err.is_runtime_failure() {
                    self.stats.errors += 1;
                }
                self.report(&err);
                return Err(err);
            }
        }
        self.run_encoded(Hook::Restore)
    }

    /// Applies `output.ops` to the committed `state`, all or nothing. If they do
    /// not apply, `state` is untouched, the failure is counted and the instance
    /// is poisoned (its memory may already reflect the refused changes).
    pub fn commit(&mut self, state: &mut Value, output: &HookOutput) -> Result<(), PluginError> {
        match crate::apply_output(state, output) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.poison();
                self.report(&e);
                Err(e)
            }
        }
    }

    fn encode<I: Serialize>(&mut self, hook: Hook, input: &I) -> Result<(), PluginError> {
        self.input.clear();
        rmp_serde::encode::write_named(&mut self.input, input).map_err(|e| {
            PluginError::Encode {
                hook,
                reason: e.to_string(),
            }
        })?;
        let limit = shared(&self.plugin).config.limits.memory_bytes;
        if self.input.len() > limit {
            return Err(PluginError::InputTooLarge {
                hook,
                len: self.input.len(),
                limit,
            });
        }
        Ok(())
    }

    fn call<I: Serialize>(&mut self, hook: Hook, input: &I) -> Result<HookOutput, PluginError> {
        if self.live.is_none() {
            return Err(PluginError::RestoreRequired { hook });
        }
        self.encode(hook, input)?;
        self.run_encoded(hook)
    }

    /// Runs `hook` on the live instance with the input in `self.input`.
    fn run_encoded(&mut self, hook: Hook) -> Result<HookOutput, PluginError> {
        let Some(live) = self.live.as_mut() else {
            return Err(PluginError::RestoreRequired { hook });
        };
        self.stats.hooks += 1;
        let sh = shared(&self.plugin);
        let result = live.run(sh, hook, &self.input);
        if sh.config.budget.uses_fuel() {
            self.stats.last_hook_fuel = live
                .store
                .get_fuel()
                .ok()
                .map(|left| sh.fuel_per_hook.saturating_sub(left));
        }
        let result = result.and_then(|out| match out.error {
            Some(message) => Err(PluginError::PluginReported { hook, message }),
            None => Ok(out),
        });
        if let Err(e) = &result {
            self.poison();
            self.report(e);
        }
        result
    }

    /// Logs a failure for operators (the caller decides what the room does).
    fn report(&self, err: &PluginError) {
        tracing::warn!(
            target: "arbiter::plugin",
            room = self.room(), room_type = self.plugin.room_type(), errors = self.stats.errors,
            error = %err, "plugin failed; instance dropped until restore"
        );
    }

    /// Counts a failure and drops the instance, keeping its store data.
    fn poison(&mut self) {
        self.stats.errors += 1;
        if let Some(live) = self.live.take() {
            let mut state = live.store.into_data();
            state.memory = None;
            self.parked = Some(state);
        }
    }
}

/// Arms the per-hook budget on a store.
fn arm(store: &mut Store<HostState>, sh: &Shared) -> Result<(), PluginError> {
    if sh.config.budget.uses_epoch() {
        // Nearly every hook ends before the next tick; see `budget.rs`.
        sh.activity.mark();
        store.data_mut().budget.reset();
        store.set_epoch_deadline(1);
    }
    if sh.config.budget.uses_fuel() {
        store
            .set_fuel(sh.fuel_per_hook)
            .map_err(|e| PluginError::Setup {
                source: crate::error::boxed(e),
            })?;
    }
    Ok(())
}

impl Live {
    /// Instantiates the plugin into a fresh store holding `state`. On failure
    /// the state is handed back so the room keeps its generator.
    fn start(plugin: &Plugin, mut state: HostState) -> Result<Live, StartError> {
        let sh = shared(plugin);
        state.memory = None;
        let _ = state.limiter.take_denied();
        let mut store = Store::new(&sh.engine, state);
        store.limiter(|s| &mut s.limiter);
        if sh.config.budget.uses_epoch() {
            store.epoch_deadline_callback(|mut ctx| {
                Ok(ctx.data_mut().budget.on_deadline(thread_cpu_ns()))
            });
        }
        if let Err(e) = arm(&mut store, sh) {
            return Err(Box::new((e, store.into_data())));
        }
        let instance = match plugin.inner.pre.instantiate(&mut store) {
            Ok(i) => i,
            Err(e) if e.is::<PoolConcurrencyLimitError>() => {
                let err = PluginError::InstanceLimit {
                    reason: e.to_string(),
                };
                return Err(Box::new((err, store.into_data())));
            }
            Err(e) => {
                let err = classify(e, Hook::Start, store.data_mut(), sh);
                return Err(Box::new((err, store.into_data())));
            }
        };
        // The loader checked every export's presence and type.
        let exports = (|| {
            let memory = instance.get_memory(&mut store, EXPORT_MEMORY)?;
            let alloc = instance
                .get_typed_func::<i32, i32>(&mut store, EXPORT_ALLOC)
                .ok()?;
            let mut hooks = Vec::with_capacity(7);
            for hook in Hook::EXPORTED {
                hooks.push(instance.get_typed_func(&mut store, hook.name()).ok()?);
            }
            let hooks: [HookFn; 7] = hooks.try_into().ok()?;
            Some((memory, alloc, hooks))
        })();
        let Some((memory, alloc, hooks)) = exports else {
            let err = PluginError::Trap {
                hook: Hook::Start,
                code: None,
                message: "exports changed after validation".into(),
            };
            return Err(Box::new((err, store.into_data())));
        };
        store.data_mut().memory = Some(memory);
        Ok(Live {
            store,
            memory,
            alloc,
            hooks,
        })
    }

    /// One hook crossing: alloc, write input, call, bounds-check, decode.
    fn run(&mut self, sh: &Shared, hook: Hook, input: &[u8]) -> Result<HookOutput, PluginError> {
        arm(&mut self.store, sh)?;
        let _ = self.store.data_mut().limiter.take_denied();
        let Some(idx) = hook.export_index() else {
            return Err(PluginError::Encode {
                hook,
                reason: "not a hook export".into(),
            });
        };
        let len = u32::try_from(input.len()).unwrap_or(u32::MAX);
        let ptr = self
            .alloc
            .call(&mut self.store, len as i32)
            .map_err(|e| classify(e, hook, self.store.data_mut(), sh))?;
        if self
            .memory
            .write(&mut self.store, ptr as u32 as usize, input)
            .is_err()
        {
            let memory = self.memory.data_size(&self.store);
            let reason = BadOutput::InputBuffer {
                ptr: ptr as u32,
                len,
                memory,
            };
            return Err(PluginError::BadOutput { hook, reason });
        }
        let packed = self.hooks[idx]
            .call(&mut self.store, (ptr, len as i32))
            .map_err(|e| classify(e, hook, self.store.data_mut(), sh))?;
        let (out_ptr, out_len) = unpack_ptr_len(packed);
        let data = self.memory.data(&self.store);
        decode_output(data, out_ptr, out_len, sh.config.limits.max_output_bytes)
            .map_err(|reason| PluginError::BadOutput { hook, reason })
    }
}

/// Bounds-checks and decodes one `HookOutput` from guest memory.
pub(crate) fn decode_output(
    mem: &[u8],
    ptr: u32,
    len: u32,
    max: usize,
) -> Result<HookOutput, BadOutput> {
    if len as usize > max {
        return Err(BadOutput::TooLarge { len, max });
    }
    let start = ptr as usize;
    let bytes = mem
        .get(start..start + len as usize)
        .ok_or(BadOutput::OutOfBounds {
            ptr,
            len,
            memory: mem.len(),
        })?;
    // Borrowing reader: no copy of strings through an intermediate buffer.
    let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
    de.set_max_depth(MAX_OUTPUT_DEPTH);
    let out = HookOutput::deserialize(&mut de).map_err(|e| BadOutput::Malformed(e.to_string()))?;
    // The borrowing reader does not expose its position: reading one more
    // value must hit the end of the slice; anything else means trailing bytes.
    match serde::de::IgnoredAny::deserialize(&mut de) {
        Err(rmp_serde::decode::Error::InvalidMarkerRead(e))
            if e.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            Ok(out)
        }
        _ => Err(BadOutput::TrailingBytes {
            extra: trailing_len(bytes),
        }),
    }
}

/// Bytes after the first MessagePack value of `bytes` (error path only).
fn trailing_len(bytes: &[u8]) -> usize {
    let mut de = rmp_serde::Deserializer::new(Cursor::new(bytes));
    de.set_max_depth(MAX_OUTPUT_DEPTH);
    match serde::de::IgnoredAny::deserialize(&mut de) {
        Ok(_) => bytes.len().saturating_sub(de.position() as usize),
        Err(_) => 0,
    }
}

/// Turns a wasmtime call error into the typed error, most specific cause first.
fn classify(err: wasmtime::Error, hook: Hook, state: &mut HostState, sh: &Shared) -> PluginError {
    let trap = err.downcast_ref::<Trap>().copied();
    if matches!(trap, Some(Trap::Interrupt | Trap::OutOfFuel)) {
        let _ = state.limiter.take_denied();
        return PluginError::BudgetExhausted {
            hook,
            budget: sh.config.limits.hook_budget,
        };
    }
    let limits = &sh.config.limits;
    match state.limiter.take_denied() {
        Some(Denied::Memory { requested }) => PluginError::MemoryLimit {
            hook,
            limit: limits.memory_bytes,
            requested,
        },
        Some(Denied::Table { requested }) => PluginError::TableLimit {
            hook,
            limit: limits.table_elements,
            requested,
        },
        None => PluginError::Trap {
            hook,
            code: trap,
            message: match trap {
                Some(t) => t.to_string(),
                None => format!("{err:#}"),
            },
        },
    }
}
