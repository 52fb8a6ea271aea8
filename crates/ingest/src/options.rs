//! How a Kafka source is set up: where it reads, when it cuts a batch, how it gets its
//! partitions, where they resume, and what librdkafka may buffer.

use std::collections::HashMap;
use std::time::Duration;

use crate::error::StoreError;

/// Why the source stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `until_idle`: every assigned partition reached its end.
    Drained,
    /// `max_records` were read.
    Limit,
    /// Asked to stop, or the receiver went away.
    Stopped,
}

/// What to do when the stored offset of a partition is outside the log (retention
/// deleted it, or the topic was re-created).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutOfRange {
    /// Stop the run, naming topic, partition, stored and available offsets.
    #[default]
    Fail,
    /// Move to the oldest offset still in the log (logged and counted).
    Earliest,
    /// Move to the end of the log (logged and counted).
    Latest,
}

/// The cluster id of pipelab's embedded broker (`pipelab devstack`).
pub const EMBEDDED_CLUSTER_ID: &str = "pipelab";

/// How a source gets its partitions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Assignment {
    /// `Group`, except on pipelab's embedded broker: its consumer-group coordinator
    /// (tansu 0.6) can keep a departed member as leader after members leave or are
    /// killed, and then never assigns partitions again; there `All` is used.
    #[default]
    Auto,
    /// Subscribe as a member of the consumer group: N processes share the partitions,
    /// and partitions added to the topic are picked up while running.
    Group,
    /// Read every partition the topic has at start, without the group coordinator (for
    /// a broker whose coordinator misbehaves). Several such processes each read all of
    /// it; the commit guard still stores every record once.
    All,
}

/// Where each partition stands in the store of record (the lake's `txn` versions).
/// Called on the consumer thread; may block.
pub trait OffsetStore: Send + Sync {
    /// The next offset to read per partition; absent for a partition nothing was
    /// stored from.
    fn resume(&self, partitions: &[i32]) -> Result<HashMap<i32, i64>, StoreError>;
    /// Offsets below which every record is stored or dead-lettered, whoever stored it
    /// (`--until-idle` ends when these reach the end of every partition).
    fn handled(&self, partitions: &[i32]) -> Result<HashMap<i32, i64>, StoreError>;
}

/// A member killed with SIGKILL holds its partitions until its session expires: 10 s
/// rather than librdkafka's 45 s, so a restart resumes soon.
pub(crate) const DEFAULT_SESSION_TIMEOUT_MS: u64 = 10_000;

/// Everything a Kafka source is told: where it reads, when it cuts a batch and stops,
/// and how it gets its partitions.
#[derive(Clone)]
pub struct SourceOptions {
    /// The bootstrap brokers, `host:port[,host:port…]`.
    pub brokers: String,
    /// The topic read.
    pub topic: String,
    /// The consumer group the source joins (and commits to, for lag tools).
    pub group_id: String,
    /// A batch is cut when it holds this many records.
    pub flush_rows: usize,
    /// A batch is cut when its records take this many bytes of memory.
    pub flush_bytes: usize,
    /// A batch is cut when its first record is this old.
    pub flush_interval: Duration,
    /// librdkafka's prefetch queue (`queued.max.messages.kbytes`), in bytes; `None`
    /// leaves librdkafka's default (64 MiB).
    pub prefetch_bytes: Option<usize>,
    /// A record taking more memory than this stops the run with a message naming it.
    pub max_record_bytes: usize,
    /// Stop when every assigned partition is at its end (instead of waiting for more).
    pub until_idle: bool,
    /// Stop after this many records.
    pub max_records: Option<u64>,
    /// What to do when a partition's stored offset is outside the log.
    pub on_out_of_range: OutOfRange,
    /// How partitions come to this process: from the consumer group, or all of them.
    pub assignment: Assignment,
    /// Extra librdkafka settings, passed through as they are.
    pub extra: Vec<(String, String)>,
}

impl SourceOptions {
    /// Options with the flush thresholds given; everything else at its default.
    pub fn new(
        brokers: impl Into<String>,
        topic: impl Into<String>,
        group_id: impl Into<String>,
        flush: (usize, usize, Duration),
    ) -> Self {
        Self {
            brokers: brokers.into(),
            topic: topic.into(),
            group_id: group_id.into(),
            flush_rows: flush.0,
            flush_bytes: flush.1,
            flush_interval: flush.2,
            prefetch_bytes: None,
            max_record_bytes: usize::MAX,
            until_idle: false,
            max_records: None,
            on_out_of_range: OutOfRange::Fail,
            assignment: Assignment::Group,
            extra: Vec::new(),
        }
    }

    /// The group session timeout in force: `session.timeout.ms` from `extra` when it is
    /// given (it overrides pipelab's), else [`DEFAULT_SESSION_TIMEOUT_MS`].
    pub(crate) fn session_timeout_ms(&self) -> u64 {
        self.extra
            .iter()
            .find(|(k, _)| k == "session.timeout.ms")
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .unwrap_or(DEFAULT_SESSION_TIMEOUT_MS)
    }
}

/// librdkafka's prefetch queue and fetch sizes for a memory share. A partition's fetch
/// must be able to hold a record a bit larger than the largest one accepted, so that such
/// a record arrives and is named: a broker without KIP-74 (tansu 0.6) answers a fetch
/// too small for the next record with nothing, and the partition would wait forever.
pub(crate) fn fetch_limits(
    prefetch_bytes: usize,
    max_record_bytes: usize,
) -> [(&'static str, usize); 4] {
    const MAX_FETCH: usize = 512 << 20;
    let per_partition = max_record_bytes.saturating_mul(2).clamp(1 << 20, MAX_FETCH);
    let fetch_max = prefetch_bytes.clamp(per_partition, MAX_FETCH);
    [
        ("queued.max.messages.kbytes", (prefetch_bytes / 1024).max(1)),
        ("fetch.message.max.bytes", per_partition),
        ("fetch.max.bytes", fetch_max),
        // librdkafka requires room for a whole fetch response plus its framing.
        (
            "receive.message.max.bytes",
            (fetch_max + 512).max(100_000_000),
        ),
    ]
}
