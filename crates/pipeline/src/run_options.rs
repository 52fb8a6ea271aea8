//! What a run is asked to do beyond its spec ([`RunOptions`]), what it shows while it
//! runs ([`RunMetrics`]) and what it did ([`RunReport`]), whatever its source.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use pipelab_ingest::StopReason;

use crate::memory::MemoryPeak;
use crate::progress::Progress;

/// Called with the run's counters after each batch is handled.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Called once a second with what the live view shows.
pub type MetricsFn = Arc<dyn Fn(&RunMetrics) + Send + Sync>;

/// A running pipeline as an operator watches it: sampled once a second.
#[derive(Debug, Clone)]
pub struct RunMetrics {
    /// Time since the run started.
    pub elapsed: Duration,
    /// The counters as of the last batch handled.
    pub progress: Progress,
    /// Per partition: log end, lag, records received, prefetched bytes (librdkafka's
    /// statistics).
    pub partitions: BTreeMap<i32, pipelab_ingest::PartitionMetrics>,
    /// The memory budget (`memory_budget_mb`), in bytes.
    pub budget_bytes: usize,
    /// Bytes of records held now: the prefetch queues and the batches read but not yet
    /// committed.
    pub buffered_bytes: u64,
    /// Kafka errors librdkafka retried and commits retried after a conflict.
    pub retries: u64,
}

/// How to run a pipeline beyond its spec: when to stop, overrides and a progress callback.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Stop once every assigned partition has been read to its end.
    pub until_idle: bool,
    /// Stop after reading this many records (and committing them).
    pub max_records: Option<u64>,
    /// Set to stop at the next batch boundary (Ctrl-C).
    pub stop: Arc<AtomicBool>,
    /// Called with the counters after every batch.
    pub on_progress: Option<ProgressFn>,
    /// Called once a second with the live view's numbers.
    pub on_metrics: Option<MetricsFn>,
    /// Overrides the spec's brokers (`--brokers`).
    pub brokers: Option<String>,
    /// Overrides the spec's lake location (`--lake`).
    pub lake: Option<String>,
    /// Storage options for an S3 lake (endpoint, keys); AWS_* variables also work.
    pub storage_options: HashMap<String, String>,
}

/// What a finished run did and why it stopped.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The run's counters at its end.
    pub progress: Progress,
    /// Why the Kafka source stopped.
    pub stop: StopReason,
    /// Wall-clock time the run took.
    pub elapsed: Duration,
    /// Where each partition this process was assigned started (next offset, from the
    /// lake's `txn` actions; absent: from the beginning).
    pub resumed_from: BTreeMap<i32, i64>,
    /// The sink table's version at the end; `None` when the table does not exist.
    pub table_version: Option<i64>,
    /// The lake written to: its directory for a local lake, else its URL.
    pub lake: String,
    /// Consumer-group rebalances this member took part in.
    pub rebalances: u64,
    /// Partitions moved by `on_offset_out_of_range`.
    pub out_of_range_resets: u64,
    /// Consumer errors librdkafka retried by itself (a broker restarting, say).
    pub transient_errors: u64,
    /// The process's memory peak during the run, where the system tells it.
    pub memory: Option<MemoryPeak>,
    /// A landing source's objects: read, and found stored already.
    pub objects: Option<ObjectCounts>,
}

/// What a landing source did with the objects it listed.
#[derive(Debug, Clone, Copy, Default)]
pub struct ObjectCounts {
    /// Objects read and handed to the sinks.
    pub read: u64,
    /// Objects listed that the lake held already (from an earlier run, or another
    /// process).
    pub already_stored: u64,
    /// Bytes of the objects read.
    pub bytes: u64,
}
