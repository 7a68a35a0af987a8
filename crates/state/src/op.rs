//! A single state change, as it travels in `state.patch` and across the plugin ABI.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One change to the state document, addressed by an RFC 6901 JSON Pointer.
///
/// On the wire: `{ "op": "set", "path": "/players/s_ab/x", "value": 3.5 }` or
/// `{ "op": "del", "path": "/players/s_cd" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum PatchOp {
    /// Create or replace the value at `path` (its parent must exist; a final `-`
    /// token appends to an array).
    Set {
        /// RFC 6901 JSON Pointer.
        path: String,
        /// The new value.
        value: Value,
    },
    /// Remove an object key or an array element.
    Del {
        /// RFC 6901 JSON Pointer.
        path: String,
    },
}
