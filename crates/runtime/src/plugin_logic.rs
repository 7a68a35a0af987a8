//! The plugin host as the rooms' [`RoomLogic`], with hook timings and errors
//! recorded in the metrics.

use std::sync::Arc;
use std::time::Instant;

use arbiter_plugin_abi::{
    CreateInput, DisposeInput, HookOutput, JoinInput, LeaveInput, MessageInput, RestoreInput,
    Settings, TickInput,
};
use arbiter_plugin_host::{PluginError, RoomPlugin};
use arbiter_room::{LogicError, RoomLogic};
use prometheus::Histogram;
use serde_json::Value;

use crate::metrics::Metrics;

/// One room's plugin instance.
pub struct PluginLogic {
    plugin: RoomPlugin,
    metrics: Arc<Metrics>,
    room_type: String,
    timers: [Histogram; 7],
}

const HOOKS: [&str; 7] = [
    "create", "join", "leave", "message", "tick", "dispose", "restore",
];

impl PluginLogic {
    /// Wraps a room's plugin instance; hook timings and errors go to `metrics`.
    pub fn new(plugin: RoomPlugin, room_type: &str, metrics: Arc<Metrics>) -> PluginLogic {
        let timers = HOOKS.map(|h| {
            metrics
                .plugin_hook_duration_seconds
                .with_label_values(&[room_type, h])
        });
        PluginLogic {
            plugin,
            metrics,
            room_type: room_type.to_owned(),
            timers,
        }
    }

    fn timed<T>(
        &mut self,
        idx: usize,
        f: impl FnOnce(&mut RoomPlugin) -> Result<T, PluginError>,
    ) -> Result<T, LogicError> {
        let start = Instant::now();
        let result = f(&mut self.plugin);
        self.timers[idx].observe(start.elapsed().as_secs_f64());
        result.map_err(|e| self.error(HOOKS[idx], e))
    }

    fn error(&self, hook: &'static str, e: PluginError) -> LogicError {
        let kind = error_kind(&e);
        self.metrics
            .plugin_errors_total
            .with_label_values(&[self.room_type.as_str(), kind])
            .inc();
        LogicError {
            hook,
            kind,
            message: e.to_string(),
        }
    }
}

/// A bounded label for an error (metrics).
fn error_kind(e: &PluginError) -> &'static str {
    match e {
        PluginError::Trap { .. } => "trap",
        PluginError::BudgetExhausted { .. } => "budget",
        PluginError::MemoryLimit { .. } => "memory",
        PluginError::TableLimit { .. } => "table",
        PluginError::BadOutput { .. } => "bad_output",
        PluginError::PluginReported { .. } => "reported",
        PluginError::BadOps { .. } => "bad_ops",
        PluginError::RestoreRequired { .. } => "restore_required",
        PluginError::InputTooLarge { .. } => "input_too_large",
        _ => "other",
    }
}

impl RoomLogic for PluginLogic {
    fn create(&mut self, input: &CreateInput) -> Result<(Settings, HookOutput), LogicError> {
        self.timed(0, |p| p.create(input))
    }
    fn join(&mut self, input: &JoinInput) -> Result<HookOutput, LogicError> {
        self.timed(1, |p| p.join(input))
    }
    fn leave(&mut self, input: &LeaveInput) -> Result<HookOutput, LogicError> {
        self.timed(2, |p| p.leave(input))
    }
    fn message(&mut self, input: &MessageInput) -> Result<HookOutput, LogicError> {
        self.timed(3, |p| p.message(input))
    }
    fn tick(&mut self, input: &TickInput) -> Result<HookOutput, LogicError> {
        self.timed(4, |p| p.tick(input))
    }
    fn dispose(&mut self, input: &DisposeInput) -> Result<HookOutput, LogicError> {
        self.timed(5, |p| p.dispose(input))
    }
    fn restore(&mut self, input: &RestoreInput) -> Result<HookOutput, LogicError> {
        self.timed(6, |p| p.restore(input))
    }
    fn needs_restore(&self) -> bool {
        self.plugin.needs_restore()
    }
    fn commit(&mut self, state: &mut Value, output: &HookOutput) -> Result<(), LogicError> {
        self.plugin
            .commit(state, output)
            .map_err(|e| self.error("commit", e))
    }
}
