//! [`StateDoc`]: a state document whose root is an object, by construction.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{ApplyError, NotAnObject, type_name};
use crate::{Checksum, PatchOp};

/// A room's state document: a JSON value whose root is always an object.
///
/// Every way in checks the root (construction, deserialization) and every change
/// goes through [`StateDoc::apply`], which refuses to replace the root with a
/// non-object, so holders never re-check. Serializes as the bare object.
#[derive(Debug, Clone, PartialEq)]
pub struct StateDoc(Value);

impl StateDoc {
    /// An empty document, `{}`.
    pub fn new() -> Self {
        StateDoc(Value::Object(Map::new()))
    }

    /// Wraps an object map.
    pub fn from_map(map: Map<String, Value>) -> Self {
        StateDoc(Value::Object(map))
    }

    /// The document as a value (always [`Value::Object`]).
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// The root object's members.
    pub fn as_map(&self) -> &Map<String, Value> {
        match &self.0 {
            Value::Object(map) => map,
            // The invariant makes this arm dead; an empty map keeps it panic-free.
            _ => empty_map(),
        }
    }

    /// Unwraps into the value (always [`Value::Object`]).
    pub fn into_value(self) -> Value {
        self.0
    }

    /// Applies `ops` atomically (see [`crate::apply`]).
    pub fn apply(&mut self, ops: &[PatchOp]) -> Result<(), ApplyError> {
        crate::apply(&mut self.0, ops)
    }

    /// Applies one op (see [`crate::apply_one`]).
    pub fn apply_one(&mut self, op: &PatchOp) -> Result<(), ApplyError> {
        crate::apply_one(&mut self.0, op)
    }

    /// The ops that turn `self` into `target` (see [`crate::diff`]).
    pub fn diff(&self, target: &StateDoc) -> Vec<PatchOp> {
        crate::diff(&self.0, &target.0)
    }

    /// The checksum of the document (see [`crate::checksum`]).
    pub fn checksum(&self) -> Checksum {
        crate::checksum(&self.0)
    }

    /// The canonical JSON text of the document (see [`crate::canonical_json`]).
    pub fn canonical_json(&self) -> String {
        crate::canonical_json(&self.0)
    }
}

fn empty_map() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

impl Default for StateDoc {
    fn default() -> Self {
        Self::new()
    }
}

impl TryFrom<Value> for StateDoc {
    type Error = NotAnObject;

    fn try_from(value: Value) -> Result<Self, NotAnObject> {
        if value.is_object() {
            Ok(StateDoc(value))
        } else {
            Err(NotAnObject {
                found: type_name(&value),
            })
        }
    }
}

impl From<Map<String, Value>> for StateDoc {
    fn from(map: Map<String, Value>) -> Self {
        Self::from_map(map)
    }
}

impl From<StateDoc> for Value {
    fn from(doc: StateDoc) -> Value {
        doc.0
    }
}

impl AsRef<Value> for StateDoc {
    fn as_ref(&self) -> &Value {
        &self.0
    }
}

impl Serialize for StateDoc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for StateDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::<String, Value>::deserialize(deserializer).map(StateDoc::from_map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn root_stays_an_object() {
        let mut doc = StateDoc::new();
        let set = |path: &str, value| PatchOp::Set {
            path: path.into(),
            value,
        };
        doc.apply(&[set("/counter", json!(1))]).unwrap();
        assert!(doc.apply_one(&set("", json!(7))).is_err());
        assert!(
            doc.apply_one(&PatchOp::Del {
                path: String::new()
            })
            .is_err()
        );
        assert_eq!(doc.as_value(), &json!({"counter": 1}));
        assert_eq!(doc.as_map().len(), 1);
    }

    #[test]
    fn conversions_check_the_root() {
        assert_eq!(
            StateDoc::try_from(json!([1])),
            Err(NotAnObject { found: "array" })
        );
        let doc = StateDoc::try_from(json!({"a": 1})).unwrap();
        assert_eq!(serde_json::to_string(&doc).unwrap(), r#"{"a":1}"#);
        assert!(serde_json::from_str::<StateDoc>("[]").is_err());
        let back: StateDoc = serde_json::from_str(r#"{"a":1}"#).unwrap();
        assert_eq!(back, doc);
        assert_eq!(back.checksum(), crate::checksum(&json!({"a": 1})));
        assert_eq!(back.canonical_json(), r#"{"a":1}"#);
        assert!(doc.diff(&back).is_empty());
    }
}
