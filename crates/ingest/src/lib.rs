//! Ingest: the Kafka source, micro-batching, JSON decoding to Arrow with schema
//! inference, dead-letter records, and the clickstream load generator.
//!
//! This crate knows nothing about Parquet paths or lake tables: it hands the
//! pipeline runner micro-batches of raw records and decodes them to Arrow.

mod batch;
pub mod client;
mod control;
mod dead_letter;
pub mod decode;
mod drain;
pub mod error;
mod fit;
mod flat;
pub mod generate;
mod infer;
pub mod kafka;
mod lines;
pub mod names;
mod options;
mod positions;
pub mod produce;
mod reader;
mod rebalance;
pub mod record;
pub mod topic_read;
mod widen;

pub use batch::{MicroBatch, Position};
pub use control::PartitionMetrics;
pub use dead_letter::DeadLetter;
pub use decode::{Decoded, JsonDecoder};
pub use error::{IngestError, StoreError};
pub use fit::TypePolicy;
pub use kafka::{KafkaSource, SourceControl, SourceCounters};
pub use lines::LinesDecoder;
pub use names::{DuplicateKeys, FieldNames, NameRules};
pub use options::{
    Assignment, EMBEDDED_CLUSTER_ID, OffsetStore, OutOfRange, SourceOptions, StopReason,
};
pub use record::RawRecord;
pub use topic_read::{PartitionRange, TopicReader};
