//! What a harness call reports: the committed [`Step`], or why nothing was.

use arbiter_plugin_abi::OutMessage;
use arbiter_state::PatchOp;

/// A message as delivered: the message and the session ids it reached (resolved
/// against the room's members after the hook was committed).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Who received it.
    pub recipients: Vec<String>,
    /// What the plugin sent.
    pub message: OutMessage,
}

impl Delivery {
    /// Whether `session_id` received it.
    pub fn reached(&self, session_id: &str) -> bool {
        self.recipients.iter().any(|r| r == session_id)
    }
}

/// What one successful hook committed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Step {
    /// The state ops, as the host would put them in the next patch.
    pub ops: Vec<PatchOp>,
    /// The messages, with their recipients.
    pub deliveries: Vec<Delivery>,
}

impl Step {
    /// The messages `session_id` received from this hook, in order.
    pub fn messages_to(&self, session_id: &str) -> Vec<&OutMessage> {
        self.deliveries
            .iter()
            .filter(|d| d.reached(session_id))
            .map(|d| &d.message)
            .collect()
    }

    /// The `reason` of each `error` message `session_id` received (the reference
    /// rooms' answer to a bad request).
    pub fn errors_to(&self, session_id: &str) -> Vec<&str> {
        self.messages_to(session_id)
            .into_iter()
            .filter(|m| m.kind == "error")
            .filter_map(|m| m.data.as_ref()?.get("reason")?.as_str())
            .collect()
    }

    /// Whether the hook changed nothing and sent nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.deliveries.is_empty()
    }
}

/// Why a hook's output was thrown away. In every case the harness, like the
/// host, discarded all of it and restored a fresh instance from the committed
/// state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookFailure {
    /// The hook returned `Err` (its text is `HookOutput.error`).
    #[error("the hook reported an error: {0}")]
    Reported(String),
    /// The hook panicked (a trap, in WASM).
    #[error("the hook panicked: {0}")]
    Panicked(String),
    /// The output broke the ABI: undecodable, a field the hook may not set, or
    /// ops the committed state refuses.
    #[error("the hook's output is invalid: {0}")]
    BadOutput(String),
}

/// Why a harness call did not run or did not commit.
///
/// The testing module has its own error type (besides [`crate::Error`], which
/// hooks return) because these describe the *host's* answers, for test code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// The room is at `max_clients` (`room.full`).
    #[error("the room is full ({max} clients)")]
    Full {
        /// The room's `max_clients`.
        max: u32,
    },
    /// The room is locked (`room.locked`).
    #[error("the room is locked")]
    Locked,
    /// The join hook refused the client (`room.rejected`).
    #[error("the join was rejected: {0}")]
    Rejected(String),
    /// The room closed (plugin `close`, dispose, or a failed restore).
    #[error("the room is closed: {0}")]
    Closed(String),
    /// The session is not in the room (`room.not_member`).
    #[error("{0} is not in the room")]
    NotMember(String),
    /// The session is already in the room.
    #[error("{0} is already in the room")]
    AlreadyMember(String),
    /// `tick()` on an event-driven room (tick rate 0); use `tick_by`.
    #[error("the room does not tick (tick_rate is 0)")]
    NotTicking,
    /// A hook failed; the instance was restored.
    #[error("{hook} failed: {failure}")]
    Hook {
        /// The export that failed.
        hook: &'static str,
        /// How.
        failure: HookFailure,
    },
}

impl HarnessError {
    /// The failure, if this is a failed hook.
    pub fn failure(&self) -> Option<&HookFailure> {
        match self {
            HarnessError::Hook { failure, .. } => Some(failure),
            _ => None,
        }
    }
}

/// Resolves a message's target against the members.
pub(crate) fn recipients(message: &OutMessage, members: &[String]) -> Vec<String> {
    use arbiter_plugin_abi::Target;
    match &message.to {
        Target::All => members.to_vec(),
        Target::One(sid) => members.iter().filter(|m| *m == sid).cloned().collect(),
        Target::AllBut(sid) => members.iter().filter(|m| *m != sid).cloned().collect(),
    }
}

/// Text of a panic payload.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
