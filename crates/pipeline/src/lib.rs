//! Pipeline spec (TOML, in the spirit of Vector's source/transform/sink config) and
//! the runner that wires a Kafka source through SQL steps into a lake table with
//! exactly-once offsets.

mod dead_letters;
mod decoding;
mod dedupe;
pub mod error;
mod guard;
mod landing;
mod memory;
mod offsets;
mod progress;
pub mod quality;
mod run_options;
pub mod runner;
mod setup;
mod sink_spec;
mod source_spec;
pub mod spec;
mod topics;
mod writer;

pub use dead_letters::replayable;
pub use error::{PipelineError, SpecError};
pub use memory::MemoryPeak;
pub use progress::Progress;
pub use run_options::ObjectCounts;
pub use runner::{RunMetrics, RunOptions, RunReport, run, store_batches};
pub use spec::{
    DatabaseSinkSpec, KafkaSinkSpec, KafkaSourceSpec, LakeSinkSpec, MemoryBudget, OnOutOfRange,
    PipelineSpec, StepSpec,
};
