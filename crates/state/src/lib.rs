//! The authoritative state document of a room and the operations that change it.
//!
//! (skeleton: the helper completes this crate)

pub use serde_json::Value;

mod op;
pub use op::PatchOp;
