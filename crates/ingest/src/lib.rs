//! Ingest: the Kafka source, micro-batching, JSON decoding to Arrow with schema
//! inference, dead-letter records, the landing source (objects under an object-store
//! prefix), and the clickstream load generator.
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
pub mod landing;
mod lines;
pub mod names;
pub mod object_records;
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
pub use error::{IngestError, LandingError, StoreError};
pub use fit::TypePolicy;
pub use kafka::{KafkaSource, SourceControl, SourceCounters};
pub use landing::{LandingCounters, LandingOptions, LandingSource, object_stream};
pub use lines::LinesDecoder;
pub use names::{DuplicateKeys, FieldNames, NameRules};
pub use object_records::{ObjectFormat, REFUSED_HEADER};
pub use options::{
    Assignment, EMBEDDED_CLUSTER_ID, OffsetStore, OutOfRange, SourceOptions, StopReason,
};
pub use record::RawRecord;
pub use topic_read::{PartitionRange, TopicReader};
