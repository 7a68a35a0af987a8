//! Committing a hook's state ops to the room's state document.

use arbiter_plugin_abi::HookOutput;
use arbiter_state::Value;

use crate::error::PluginError;

/// Applies `output.ops` to `state` in order, all or nothing, via
/// [`arbiter_state::apply`]. On error `state` is exactly as before.
///
/// Prefer [`crate::RoomPlugin::commit`], which also poisons the instance when
/// the ops are refused (the guest's own memory already reflects them).
pub fn apply_output(state: &mut Value, output: &HookOutput) -> Result<(), PluginError> {
    arbiter_state::apply(state, &output.ops).map_err(|source| PluginError::BadOps { source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter_state::PatchOp;
    use serde_json::json;

    #[test]
    fn applies_all_or_nothing() {
        let mut state = json!({ "n": 1 });
        let good = HookOutput {
            ops: vec![
                PatchOp::Set {
                    path: "/n".into(),
                    value: json!(2),
                },
                PatchOp::Set {
                    path: "/m".into(),
                    value: json!([]),
                },
            ],
            ..HookOutput::default()
        };
        apply_output(&mut state, &good).unwrap();
        assert_eq!(state, json!({ "n": 2, "m": [] }));
        let bad = HookOutput {
            ops: vec![
                PatchOp::Set {
                    path: "/n".into(),
                    value: json!(3),
                },
                PatchOp::Del {
                    path: "/missing/x".into(),
                },
            ],
            ..HookOutput::default()
        };
        let err = apply_output(&mut state, &bad).unwrap_err();
        assert!(matches!(err, PluginError::BadOps { .. }), "{err}");
        assert_eq!(state, json!({ "n": 2, "m": [] }));
    }
}
