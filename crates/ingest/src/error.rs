//! The ingest stage's errors ([`IngestError`]): each names the broker, topic or record.

use thiserror::Error;

/// Errors of the ingest stage. Each names the broker, topic or record it concerns.
#[derive(Debug, Error)]
pub enum IngestError {
    #[error("cannot reach Kafka at {brokers}: {source}")]
    Unreachable {
        brokers: String,
        source: rdkafka::error::KafkaError,
    },
    #[error("topic '{topic}' does not exist on Kafka at {brokers}")]
    UnknownTopic { brokers: String, topic: String },
    #[error("Kafka error ({context}): {source}")]
    Kafka {
        context: String,
        source: rdkafka::error::KafkaError,
    },
    #[error(
        "topic '{topic}' partition {partition}: the stored offset {stored} is outside the log \
         (offsets {low} to {high} are available; retention removed records, or the topic was \
         re-created). Set `on_offset_out_of_range = \"earliest\"` or `\"latest\"` in the \
         spec's [source] to move on, knowing records were skipped"
    )]
    OffsetOutOfRange {
        topic: String,
        partition: i32,
        stored: i64,
        low: i64,
        high: i64,
    },
    #[error(
        "topic '{topic}' partition {partition} offset {offset}: the record takes {bytes} bytes \
         of memory, more than a batch may hold ({limit} bytes, an eighth of the spec's \
         `memory_budget_mb`); raise `memory_budget_mb` to read it"
    )]
    RecordTooLarge {
        topic: String,
        partition: i32,
        offset: i64,
        bytes: usize,
        limit: usize,
    },
    #[error("cannot decode JSON into Arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error(
        "{failed} of {total} records were not delivered to {topic} at {brokers}; first error: \
         {first}; keys of the records not delivered: {keys}"
    )]
    NotDelivered {
        topic: String,
        brokers: String,
        failed: u64,
        total: u64,
        #[source]
        first: Box<rdkafka::error::KafkaError>,
        keys: String,
    },
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the consumer group '{group}' on {brokers} assigned no partitions of topic '{topic}' \
         within {waited_secs} s (its coordinator keeps rebalancing); set \
         `assignment = \"all\"` in the spec's [source] to read without the group"
    )]
    NeverAssigned {
        group: String,
        brokers: String,
        topic: String,
        waited_secs: u64,
    },
    #[error(
        "cannot read where the assigned partitions of topic '{topic}' stand in the lake: {source}"
    )]
    ResumePoints {
        topic: String,
        #[source]
        source: StoreError,
    },
}

/// An `OffsetStore`'s error: the store (the lake) is not this crate's.
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

impl IngestError {
    /// True when the user can fix this in the spec or the input (a topic name, an
    /// offset policy, the memory budget); false when Kafka or the store failed.
    pub fn is_user_fixable(&self) -> bool {
        match self {
            IngestError::UnknownTopic { .. }
            | IngestError::OffsetOutOfRange { .. }
            | IngestError::RecordTooLarge { .. } => true,
            IngestError::Unreachable { .. }
            | IngestError::Kafka { .. }
            | IngestError::Arrow(_)
            | IngestError::NotDelivered { .. }
            | IngestError::Thread { .. }
            | IngestError::NeverAssigned { .. }
            | IngestError::ResumePoints { .. } => false,
        }
    }

    pub(crate) fn kafka(
        context: impl Into<String>,
    ) -> impl FnOnce(rdkafka::error::KafkaError) -> Self {
        let context = context.into();
        move |source| IngestError::Kafka { context, source }
    }
}
