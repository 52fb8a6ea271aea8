//! The ingest stage's errors ([`IngestError`]): each names the broker, topic or record.

use thiserror::Error;

/// Errors of the ingest stage. Each names the broker, topic or record it concerns.
#[derive(Debug, Error)]
pub enum IngestError {
    /// No broker answered when a client was created or first asked for metadata.
    #[error("cannot reach Kafka at {brokers}: {source}")]
    Unreachable {
        /// The bootstrap brokers that were tried, as configured.
        brokers: String,
        /// librdkafka's error.
        source: rdkafka::error::KafkaError,
    },
    /// The topic to read is not in the cluster's metadata.
    #[error("topic '{topic}' does not exist on Kafka at {brokers}")]
    UnknownTopic {
        /// The bootstrap brokers asked.
        brokers: String,
        /// The topic that was not found.
        topic: String,
    },
    /// A Kafka call failed once connected (subscribe, assign, seek, watermarks, produce,
    /// flush, read).
    #[error("Kafka error ({context}): {source}")]
    Kafka {
        /// What was being done, e.g. `flush to clicks` or `watermarks of partition 3 of clicks`.
        context: String,
        /// librdkafka's error.
        source: rdkafka::error::KafkaError,
    },
    /// A partition's stored offset is no longer in the log, and the out-of-range policy is
    /// `fail`.
    #[error(
        "topic '{topic}' partition {partition}: the stored offset {stored} is outside the log \
         (offsets {low} to {high} are available; retention removed records, or the topic was \
         re-created). Set `on_offset_out_of_range = \"earliest\"` or `\"latest\"` in the \
         spec's [source] to move on, knowing records were skipped"
    )]
    OffsetOutOfRange {
        /// The topic read.
        topic: String,
        /// The partition whose stored offset is outside the log.
        partition: i32,
        /// The offset the lake says comes next for the partition.
        stored: i64,
        /// The first offset the log still holds.
        low: i64,
        /// The offset the partition's next record will get (the end of the log).
        high: i64,
    },
    /// A record takes more memory than `max_record_bytes` allows, so no batch could hold it.
    #[error(
        "topic '{topic}' partition {partition} offset {offset}: the record takes {bytes} bytes \
         of memory, more than a batch may hold ({limit} bytes, an eighth of the spec's \
         `memory_budget_mb`); raise `memory_budget_mb` to read it"
    )]
    RecordTooLarge {
        /// The topic read.
        topic: String,
        /// The record's partition.
        partition: i32,
        /// The record's offset in its partition.
        offset: i64,
        /// Bytes the record takes in memory, its struct and header entries included.
        bytes: usize,
        /// The most bytes one record may take: an eighth of `memory_budget_mb`.
        limit: usize,
    },
    /// Arrow could not build a record batch from records that passed the type checks.
    #[error("cannot decode records into Arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Some records were not acknowledged by the broker after the producer flushed.
    #[error(
        "{failed} of {total} records were not delivered to {topic} at {brokers}; first error: \
         {first}; keys of the records not delivered: {keys}"
    )]
    NotDelivered {
        /// The topic produced to.
        topic: String,
        /// The bootstrap brokers produced to.
        brokers: String,
        /// Records whose delivery failed.
        failed: u64,
        /// Records sent: acknowledged plus failed.
        total: u64,
        /// The first delivery error reported.
        #[source]
        first: Box<rdkafka::error::KafkaError>,
        /// Keys of the records not delivered, joined with `, `, numeric keys in order.
        keys: String,
    },
    /// A thread (the Kafka consumer's) could not be spawned.
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        /// What the thread does, as the message names it (`Kafka consumer`).
        what: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The consumer group gave this member no partition of the topic before the join timeout.
    #[error(
        "the consumer group '{group}' on {brokers} assigned no partitions of topic '{topic}' \
         within {waited_secs} s (its coordinator keeps rebalancing); set \
         `assignment = \"all\"` in the spec's [source] to read without the group"
    )]
    NeverAssigned {
        /// The consumer group's id.
        group: String,
        /// The bootstrap brokers of the group.
        brokers: String,
        /// The topic subscribed to.
        topic: String,
        /// Seconds waited for an assignment before giving up.
        waited_secs: u64,
    },
    /// The offset store (the lake) failed to say where partitions resume or how far they are
    /// stored.
    #[error(
        "cannot read where the assigned partitions of topic '{topic}' stand in the lake: {source}"
    )]
    ResumePoints {
        /// The topic whose partitions were asked about.
        topic: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
}

/// The landing source's errors: each names the location and, where one is to blame, the
/// object.
#[derive(Debug, Error)]
pub enum LandingError {
    /// Listing the landing location, or reading an object, failed.
    #[error("landing location {location}: {what}: {source}")]
    Store {
        /// The landing location, as the spec names it.
        location: String,
        /// What was being done, e.g. `listing` or `reading object us/2026-12-01.jsonl`.
        what: String,
        /// object_store's error.
        source: object_store::Error,
    },
    /// An object is larger than one micro-batch may hold: it is read whole, so it
    /// cannot be read within the memory budget.
    #[error(
        "landing location {location}: object {key} is {size} bytes, more than a batch may \
         hold ({limit} bytes, an eighth of the spec's `memory_budget_mb`); raise \
         `memory_budget_mb` or split the object"
    )]
    ObjectTooLarge {
        /// The landing location.
        location: String,
        /// The object's key under the location.
        key: String,
        /// Its size in bytes.
        size: u64,
        /// The most bytes one batch may hold.
        limit: usize,
    },
    /// Asking which objects are already stored failed (the lake's error).
    #[error("landing location {location}: checking which objects are stored: {source}")]
    Ledger {
        /// The landing location.
        location: String,
        /// The store's error.
        source: StoreError,
    },
}

impl LandingError {
    /// True when the user can fix it (an object too large for the budget).
    pub fn is_user_fixable(&self) -> bool {
        match self {
            LandingError::ObjectTooLarge { .. } => true,
            LandingError::Store { source, .. } => matches!(
                source,
                object_store::Error::NotFound { .. }
                    | object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. }
            ),
            LandingError::Ledger { .. } => false,
        }
    }
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
