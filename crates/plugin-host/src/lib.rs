//! Runs Arbiter room plugins under wasmtime (skeleton: being written).
