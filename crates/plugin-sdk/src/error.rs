//! [`Error`]: what a hook returns when it cannot do its job.
//!
//! A hook that returns `Err` reports a *plugin* failure: the SDK throws away
//! everything the hook did (state writes, messages, lock and metadata changes),
//! rebuilds the room from the last committed state with [`crate::Room::restore`],
//! and sends the host only `HookOutput.error` with this error's text. The host
//! counts it against the room's error budget.
//!
//! A *player's* mistake (an illegal move, a bad field) is not an `Error`: answer the
//! player with a message ([`crate::Ctx::send_error`]) and return `Ok(())`.

use arbiter_state::ApplyErrorKind;

/// Why a hook failed. Its `Display` text is what the host logs and counts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A state write was refused (missing parent, bad index, bad pointer...).
    /// Nothing was written; earlier writes of the hook still stand until it returns.
    #[error("cannot {op} {path:?}: {kind}")]
    StateOp {
        /// `"set"` or `"del"`.
        op: &'static str,
        /// The pointer as given.
        path: String,
        /// Why the document refused it.
        kind: ApplyErrorKind,
    },
    /// A typed read found nothing at the path.
    #[error("no value at {path:?} in the state")]
    Missing {
        /// The pointer as given.
        path: String,
    },
    /// A typed read found a value of the wrong shape.
    #[error("the value at {path:?} has an unexpected shape: {source}")]
    Shape {
        /// The pointer as given.
        path: String,
        /// What serde could not convert.
        source: serde_json::Error,
    },
    /// A value could not be turned into JSON (a `Serialize` impl failed, or a map
    /// key is not a string).
    #[error("cannot convert to JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A message's `data` does not fit the type given to [`crate::Data::decode`].
    /// Usually a player's mistake: answer it (or fall back to
    /// [`crate::Room::message`]) rather than return it.
    #[error("the message data does not fit: {0}")]
    Data(String),
    /// The host handed the plugin an input it cannot decode (a host/ABI mismatch).
    #[error("undecodable hook input: {0}")]
    Input(String),
    /// A hook other than create or restore ran before the room existed, or after a
    /// failed restore left it without one.
    #[error("the room is not initialised (create or restore has not succeeded)")]
    NoRoom,
    /// `arbiter_on_restore` received a state whose root is not an object.
    #[error("the state to restore is not an object")]
    StateNotObject,
    /// Anything the room itself wants to report, made with [`Error::msg`].
    #[error("{0}")]
    Custom(String),
}

impl Error {
    /// A plugin error with a free-form message.
    pub fn msg(message: impl std::fmt::Display) -> Self {
        Error::Custom(message.to_string())
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::Custom(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::Custom(message.to_owned())
    }
}

/// The result type of every hook.
pub type Result<T = (), E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_well() {
        let e = Error::StateOp {
            op: "set",
            path: "/a/b".into(),
            kind: ApplyErrorKind::ParentMissing,
        };
        assert_eq!(
            e.to_string(),
            r#"cannot set "/a/b": the parent of the target does not exist"#
        );
        assert_eq!(Error::msg(format_args!("x = {}", 3)).to_string(), "x = 3");
        assert_eq!(Error::from("boom").to_string(), "boom");
    }
}
