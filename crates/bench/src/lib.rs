//! The benchmarks behind `pipelab bench …`: each measures one of pipelab's paths beside
//! a peer (Python with pyarrow and deltalake, DuckDB, Trino's client) on the same data in
//! the same run, prints the ratio and writes its results under `bench-results/`.
//!
//! The peers are Python scripts in `python/`, built into the binary so that a benchmark
//! runs wherever `pipelab` does; the interpreter is the caller's (`--python`).

mod error;
mod peer;
mod results;

pub mod federation;
pub mod freshness;
pub mod ingest;
pub mod landing;
pub mod partitions;
pub mod ship;
pub mod sinks;

pub use error::BenchError;
