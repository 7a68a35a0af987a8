//! The room's game logic, behind a trait: the plugin host is the production
//! implementation; plain Rust implementations serve tests.

use arbiter_plugin_abi::{
    CreateInput, DisposeInput, HookOutput, JoinInput, LeaveInput, MessageInput, RestoreInput,
    Settings, TickInput,
};
use serde_json::Value;

/// Why a hook produced nothing usable. The room discards the hook's output,
/// counts the error and, past its budget, closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{hook} hook failed ({kind}): {message}")]
pub struct LogicError {
    /// The hook that failed (`create`, `join`, …).
    pub hook: &'static str,
    /// A short, bounded label for metrics (`trap`, `budget`, `bad_ops`, …).
    pub kind: &'static str,
    /// What happened, for logs.
    pub message: String,
}

/// One hook per room event, mirroring the plugin ABI: each returns the hook's
/// whole output (ops, messages, lock, metadata, close).
///
/// After any error the implementation may need [`RoomLogic::restore`] with the
/// room's committed state before the next hook ([`RoomLogic::needs_restore`]).
pub trait RoomLogic {
    /// Room creation: settings and initial output.
    fn create(&mut self, input: &CreateInput) -> Result<(Settings, HookOutput), LogicError>;
    /// A client asks to join; `output.reject` refuses it.
    fn join(&mut self, input: &JoinInput) -> Result<HookOutput, LogicError>;
    /// A client left.
    fn leave(&mut self, input: &LeaveInput) -> Result<HookOutput, LogicError>;
    /// A client sent a `room.message` or `room.message.bytes`.
    fn message(&mut self, input: &MessageInput) -> Result<HookOutput, LogicError>;
    /// A tick of a ticking room.
    fn tick(&mut self, input: &TickInput) -> Result<HookOutput, LogicError>;
    /// The room is closing.
    fn dispose(&mut self, input: &DisposeInput) -> Result<HookOutput, LogicError>;
    /// Rebuild the logic from the committed state after a failure.
    fn restore(&mut self, input: &RestoreInput) -> Result<HookOutput, LogicError>;
    /// True when the next hook must be preceded by [`RoomLogic::restore`].
    fn needs_restore(&self) -> bool;
    /// Applies a hook's ops to the committed state, all or nothing. The default
    /// applies them with [`arbiter_state::apply`]; an implementation that mirrors
    /// the state (the plugin host) overrides it to invalidate its mirror when the
    /// ops do not apply.
    fn commit(&mut self, state: &mut Value, output: &HookOutput) -> Result<(), LogicError> {
        arbiter_state::apply(state, &output.ops).map_err(|e| LogicError {
            hook: "commit",
            kind: "bad_ops",
            message: e.to_string(),
        })
    }
}
