//! Guest SDK for Arbiter room plugins (skeleton: being written).
