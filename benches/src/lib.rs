//! Arbiter's benchmarks: criterion micro-benchmarks under `benches/` (run with
//! `cargo bench -p arbiter-benches`). See `docs/benchmarks.md`.
