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

impl PatchOp {
    /// A `set` op.
    pub fn set(path: impl Into<String>, value: Value) -> Self {
        PatchOp::Set {
            path: path.into(),
            value,
        }
    }

    /// A `del` op.
    pub fn del(path: impl Into<String>) -> Self {
        PatchOp::Del { path: path.into() }
    }

    /// The op's JSON Pointer path.
    pub fn path(&self) -> &str {
        match self {
            PatchOp::Set { path, .. } | PatchOp::Del { path } => path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_shape() {
        let set = PatchOp::set("/players/s_ab/x", json!(3.5));
        assert_eq!(
            serde_json::to_value(&set).unwrap(),
            json!({"op": "set", "path": "/players/s_ab/x", "value": 3.5})
        );
        let del = PatchOp::del("/players/s_cd");
        assert_eq!(
            serde_json::to_value(&del).unwrap(),
            json!({"op": "del", "path": "/players/s_cd"})
        );
        assert_eq!(del.path(), "/players/s_cd");
        let back: PatchOp = serde_json::from_str(r#"{"op":"del","path":"/a"}"#).unwrap();
        assert_eq!(back, PatchOp::del("/a"));
        assert!(serde_json::from_str::<PatchOp>(r#"{"op":"add","path":"/a"}"#).is_err());
        assert!(serde_json::from_str::<PatchOp>(r#"{"op":"del","path":"/a","x":1}"#).is_err());
    }
}
