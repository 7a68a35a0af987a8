//! Serde helpers for payload fields: base64 bytes, and nested structs that must
//! come from objects (maps), never positional arrays.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use arbiter_state::{PatchOp, Value};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serializer};

use crate::envelope::ObjectOnly;

/// `Vec<u8>` as standard base64 with padding (RFC 4648 §4), in both codecs.
pub(crate) mod base64_bytes {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        struct B64;
        impl Visitor<'_> for B64 {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a standard base64 string with padding")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
                STANDARD.decode(v).map_err(|e| {
                    E::custom(format_args!(
                        "data_b64 is not standard base64 with padding ({e})"
                    ))
                })
            }
        }
        deserializer.deserialize_str(B64)
    }
}

/// A `T` that must be read from an object.
struct Obj<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(ObjectOnly::<T>(PhantomData))
            .map(Obj)
    }
}

/// `Option<T>` whose value, when present, must be an object.
pub(crate) fn opt_object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Obj<T>>::deserialize(deserializer)?.map(|o| o.0))
}

/// `Option<Vec<T>>` whose elements, when present, must be objects.
pub(crate) fn opt_vec_of_objects<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<Obj<T>>>::deserialize(deserializer)?
        .map(|v| v.into_iter().map(|o| o.0).collect()))
}

/// `BTreeMap<K, V>` whose values must be objects.
pub(crate) fn map_of_objects<'de, D, K, V>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    Ok(BTreeMap::<K, Obj<V>>::deserialize(deserializer)?
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

/// `state.patch` ops, read without the buffering of a derived internally-tagged
/// enum (this is the client's hot path): each op is a map of `op`, `path` and
/// (for `set`) `value`, in any order; other keys are errors, as in
/// [`PatchOp`]'s own deserializer.
pub(crate) fn patch_ops<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<PatchOp>, D::Error> {
    struct Ops;
    impl<'de> Visitor<'de> for Ops {
        type Value = Vec<PatchOp>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of ops")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<PatchOp>, A::Error> {
            let mut ops = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
            while let Some(WireOp(op)) = seq.next_element()? {
                ops.push(op);
            }
            Ok(ops)
        }
    }
    deserializer.deserialize_seq(Ops)
}

struct WireOp(PatchOp);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum OpField {
    Op,
    Path,
    Value,
}

#[derive(Clone, Copy)]
enum OpKind {
    Set,
    Del,
}

impl<'de> Deserialize<'de> for OpKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KindVisitor;
        impl Visitor<'_> for KindVisitor {
            type Value = OpKind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"set\" or \"del\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OpKind, E> {
                match v {
                    "set" => Ok(OpKind::Set),
                    "del" => Ok(OpKind::Del),
                    other => Err(E::unknown_variant(other, &["set", "del"])),
                }
            }
        }
        deserializer.deserialize_str(KindVisitor)
    }
}

impl<'de> Deserialize<'de> for WireOp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OpVisitor)
    }
}

struct OpVisitor;

impl<'de> Visitor<'de> for OpVisitor {
    type Value = WireOp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an op object {op, path, value?}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireOp, A::Error> {
        let mut kind: Option<OpKind> = None;
        let mut path: Option<String> = None;
        let mut value: Option<Value> = None;
        while let Some(field) = map.next_key::<OpField>()? {
            let duplicate = match field {
                OpField::Op => kind.replace(map.next_value()?).is_some(),
                OpField::Path => path.replace(map.next_value()?).is_some(),
                OpField::Value => value.replace(map.next_value()?).is_some(),
            };
            if duplicate {
                return Err(de::Error::custom("duplicate field in op"));
            }
        }
        let Some(kind) = kind else {
            return Err(de::Error::missing_field("op"));
        };
        let Some(path) = path else {
            return Err(de::Error::missing_field("path"));
        };
        match (kind, value) {
            (OpKind::Set, Some(value)) => Ok(WireOp(PatchOp::Set { path, value })),
            (OpKind::Set, None) => Err(de::Error::missing_field("value")),
            (OpKind::Del, None) => Ok(WireOp(PatchOp::Del { path })),
            (OpKind::Del, Some(_)) => Err(de::Error::unknown_field("value", &["op", "path"])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Inner {
        a: u32,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Outer {
        #[serde(default, deserialize_with = "opt_object")]
        one: Option<Inner>,
        #[serde(default, deserialize_with = "opt_vec_of_objects")]
        many: Option<Vec<Inner>>,
        #[serde(with = "base64_bytes")]
        bytes: Vec<u8>,
    }

    #[test]
    fn nested_structs_must_be_objects() {
        let ok: Outer =
            serde_json::from_str(r#"{"one":{"a":1},"many":[{"a":2}],"bytes":"AQI="}"#).expect("ok");
        assert_eq!(ok.one, Some(Inner { a: 1 }));
        assert_eq!(ok.bytes, vec![1, 2]);
        assert!(serde_json::from_str::<Outer>(r#"{"one":[1],"bytes":""}"#).is_err());
        assert!(serde_json::from_str::<Outer>(r#"{"many":[[2]],"bytes":""}"#).is_err());
    }

    #[derive(Deserialize, Debug)]
    struct Patch {
        #[serde(deserialize_with = "patch_ops")]
        ops: Vec<PatchOp>,
    }

    #[test]
    fn patch_ops_read_like_patch_op() {
        let json = r#"{"ops":[{"value":1,"path":"/a","op":"set"},{"op":"del","path":"/b"},{"op":"set","path":"/c","value":null}]}"#;
        let patch: Patch = serde_json::from_str(json).expect("valid");
        let derived: Vec<PatchOp> = serde_json::from_str(
            r#"[{"value":1,"path":"/a","op":"set"},{"op":"del","path":"/b"},{"op":"set","path":"/c","value":null}]"#,
        )
        .expect("valid");
        assert_eq!(patch.ops, derived);
        for bad in [
            r#"{"ops":[{"op":"add","path":"/a","value":1}]}"#,
            r#"{"ops":[{"op":"set","path":"/a"}]}"#,
            r#"{"ops":[{"op":"del","path":"/a","value":1}]}"#,
            r#"{"ops":[{"op":"del"}]}"#,
            r#"{"ops":[{"path":"/a"}]}"#,
            r#"{"ops":[{"op":"del","path":"/a","x":1}]}"#,
            r#"{"ops":[{"op":"del","path":"/a","path":"/b"}]}"#,
            r#"{"ops":[["del","/a"]]}"#,
            r#"{"ops":{"op":"del","path":"/a"}}"#,
        ] {
            assert!(serde_json::from_str::<Patch>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base64_must_be_padded_standard() {
        for bad in ["AQI", "AQ-_", "A", "AQI=="] {
            let json = format!(r#"{{"bytes":"{bad}"}}"#);
            assert!(serde_json::from_str::<Outer>(&json).is_err(), "{bad}");
        }
        let encoded = serde_json::to_string(&Outer {
            one: None,
            many: None,
            bytes: vec![0xff, 0xfe],
        })
        .expect("ok");
        assert!(encoded.contains(r#""bytes":"//4=""#), "{encoded}");
    }
}
