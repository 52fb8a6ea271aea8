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
    #[error("{0}")]
    Other(String),
}

impl IngestError {
    pub(crate) fn kafka(
        context: impl Into<String>,
    ) -> impl FnOnce(rdkafka::error::KafkaError) -> Self {
        let context = context.into();
        move |source| IngestError::Kafka { context, source }
    }
}
