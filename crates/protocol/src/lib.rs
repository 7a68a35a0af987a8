//! Arbiter wire protocol v1 (skeleton: being written).
