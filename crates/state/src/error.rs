//! The crate's typed errors: malformed pointers, failed patches, bad checksum text.
//!
//! [`ApplyErrorKind`] is the one enum that explains why a state change was refused;
//! [`ApplyError`] wraps it with the position of the offending op. The two small
//! parse errors ([`PointerError`], [`ChecksumParseError`]) and [`NotAnObject`]
//! exist so that callers parsing untrusted text get a precise reason.

use thiserror::Error;

/// Why a string is not a valid RFC 6901 JSON Pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PointerError {
    /// A non-empty pointer must start with `/` (the empty string is the root).
    #[error("a JSON Pointer must be empty or start with '/'")]
    MissingLeadingSlash,
    /// `~` must be followed by `0` (for `~`) or `1` (for `/`).
    #[error("invalid escape at byte {offset}: '~' must be followed by '0' or '1'")]
    BadEscape {
        /// Byte offset of the offending `~` in the pointer.
        offset: usize,
    },
}

/// Why one patch op could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApplyErrorKind {
    /// The op's `path` is not a valid JSON Pointer.
    #[error("bad pointer: {0}")]
    BadPointer(#[from] PointerError),
    /// A token before the last one names nothing (missing key, index past the end,
    /// or `-`): `set` never creates intermediate containers.
    #[error("the parent of the target does not exist")]
    ParentMissing,
    /// The path walks into a value that is neither an object nor an array.
    #[error("the path goes through a {found}, which has no children")]
    NotAContainer {
        /// JSON type of the value in the way (`"string"`, `"number"`...).
        found: &'static str,
    },
    /// A token addressing an array element is not a canonical decimal index
    /// (digits only, no leading zero, fits in `usize`).
    #[error("array index {token:?} is not a decimal integer without leading zeros")]
    BadIndex {
        /// The offending (unescaped) token.
        token: String,
    },
    /// The array index is not below the array's length (`set` replaces an existing
    /// element; append with `-`).
    #[error("index {index} out of range for an array of length {len}")]
    IndexOutOfRange {
        /// The requested index.
        index: usize,
        /// The array's length.
        len: usize,
    },
    /// `-` (append) appears where it cannot: in `del`, or not as the last token.
    #[error("'-' (append) is only valid as the last token of a set")]
    AppendNotAllowed,
    /// `del` of an object key that is not there.
    #[error("no such key to delete")]
    NotFound,
    /// `set ""` with a value that is not an object: the root must stay an object.
    #[error("the root can only be replaced by an object, not a {found}")]
    RootNotObject {
        /// JSON type of the rejected value.
        found: &'static str,
    },
    /// `del ""`: the root cannot be deleted.
    #[error("the root cannot be deleted")]
    RootDelete,
}

/// A patch was refused; the document is exactly as it was before the call.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("op {index} ({op} {path:?}) failed: {kind}")]
pub struct ApplyError {
    /// Zero-based position of the failing op in the slice passed to `apply`.
    pub index: usize,
    /// `"set"` or `"del"`.
    pub op: &'static str,
    /// The op's path, as given.
    pub path: String,
    /// What went wrong.
    pub kind: ApplyErrorKind,
}

/// A checksum string is not exactly 16 lowercase hexadecimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("a state checksum is exactly 16 lowercase hex digits")]
pub struct ChecksumParseError;

/// A state document must be a JSON object at its root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("a state document must be an object, not a {found}")]
pub struct NotAnObject {
    /// JSON type of the rejected value.
    pub found: &'static str,
}

/// JSON type name of a value, for error messages.
pub(crate) fn type_name(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
