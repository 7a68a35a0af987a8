//! A single state change, as it travels in `state.patch` and across the plugin ABI.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One change to the state document, addressed by an RFC 6901 JSON Pointer.
///
/// On the wire: `{ "op": "set", "path": "/players/s_ab/x", "value": 3.5 }` or
/// `{ "op": "del", "path": "/players/s_cd" }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
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

    /// Roughly what the op weighs on the wire: the length of its canonical
    /// JSON (`{"op":"set","path":…,"value":…}`). Rooms compare it with their
    /// state's canonical length to decide whether replaying patches is still
    /// cheaper than sending a snapshot.
    pub fn weight(&self) -> usize {
        match self {
            PatchOp::Set { path, value } => 31 + path.len() + crate::canonical_len(value),
            PatchOp::Del { path } => 22 + path.len(),
        }
    }

    /// The op's JSON Pointer path.
    pub fn path(&self) -> &str {
        match self {
            PatchOp::Set { path, .. } | PatchOp::Del { path } => path,
        }
    }
}

/// Decodes `{ op, path, value? }` with its keys in any order, straight from
/// the map: serde's derive for internally tagged enums first buffers the
/// whole map into an intermediate tree, which was a visible share of a room's
/// work (every op of every plugin call is decoded). Unknown or duplicate keys,
/// a `set` without `value` and a `del` with one are errors, as before.
impl<'de> Deserialize<'de> for PatchOp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OpVisitor)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Field {
    Op,
    Path,
    Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Set,
    Del,
}

struct OpVisitor;

impl<'de> Visitor<'de> for OpVisitor {
    type Value = PatchOp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a patch op: { op: \"set\" | \"del\", path, value }")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PatchOp, A::Error> {
        let (mut kind, mut path, mut value) = (None, None, None);
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Op if kind.is_none() => kind = Some(map.next_value::<Kind>()?),
                Field::Path if path.is_none() => path = Some(map.next_value::<String>()?),
                Field::Value if value.is_none() => value = Some(map.next_value::<Value>()?),
                Field::Op => return Err(de::Error::duplicate_field("op")),
                Field::Path => return Err(de::Error::duplicate_field("path")),
                Field::Value => return Err(de::Error::duplicate_field("value")),
            }
        }
        let kind = kind.ok_or_else(|| de::Error::missing_field("op"))?;
        let path = path.ok_or_else(|| de::Error::missing_field("path"))?;
        match (kind, value) {
            (Kind::Set, Some(value)) => Ok(PatchOp::Set { path, value }),
            (Kind::Set, None) => Err(de::Error::missing_field("value")),
            (Kind::Del, None) => Ok(PatchOp::Del { path }),
            (Kind::Del, Some(_)) => Err(de::Error::unknown_field("value", &["op", "path"])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn weight_is_the_canonical_length() {
        for op in [
            PatchOp::set("/players/s_ab/x", json!(3.5)),
            PatchOp::set("/a", json!({"b": [1, "two", null]})),
            PatchOp::del("/players/s_cd"),
        ] {
            let text = crate::canonical_json(&serde_json::to_value(&op).unwrap());
            assert_eq!(op.weight(), text.len(), "{text}");
        }
    }

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

    #[test]
    fn decoding_rules() {
        let ok = |s: &str| serde_json::from_str::<PatchOp>(s);
        assert_eq!(
            ok(r#"{"value":null,"path":"/a","op":"set"}"#).unwrap(),
            PatchOp::set("/a", Value::Null),
            "keys in any order; a null value is a value"
        );
        for bad in [
            r#"{"op":"set","path":"/a"}"#,
            r#"{"op":"del","path":"/a","value":1}"#,
            r#"{"path":"/a","value":1}"#,
            r#"{"op":"set","value":1}"#,
            r#"{"op":"set","op":"set","path":"/a","value":1}"#,
            r#"{"op":"set","path":"/a","path":"/b","value":1}"#,
            r#"{"op":"set","path":"/a","value":1,"value":2}"#,
            r#"{"op":"SET","path":"/a","value":1}"#,
            r#"{"op":"set","path":3,"value":1}"#,
            r#"["set","/a",1]"#,
            r#""set""#,
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        // The same through MessagePack, as plugin output and patches travel.
        let op = PatchOp::set("/players/s_ab/x", serde_json::json!(3.5));
        let bytes = rmp_serde::to_vec_named(&op).unwrap();
        assert_eq!(rmp_serde::from_slice::<PatchOp>(&bytes).unwrap(), op);
    }
}
