//! Ingest: the Kafka source, micro-batching, JSON decoding to Arrow with schema
//! inference, dead-letter records, and the clickstream load generator.
//!
//! This crate knows nothing about Parquet paths or lake tables: it hands the
//! pipeline runner micro-batches of raw records and decodes them to Arrow.

pub mod decode;
pub mod error;
mod flat;
pub mod generate;
pub mod kafka;
pub mod names;
pub mod produce;
pub mod topic_read;

pub use decode::{DeadLetter, Decoded, JsonDecoder, TypePolicy};
pub use error::{IngestError, StoreError};
pub use kafka::{
    Assignment, KafkaSource, MicroBatch, OffsetStore, OutOfRange, Position, RawRecord,
    SourceControl, SourceOptions, StopReason,
};
pub use names::{DuplicateKeys, FieldNames, NameRules};
pub use topic_read::{PartitionRange, TopicReader};
