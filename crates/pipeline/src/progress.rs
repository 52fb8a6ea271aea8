//! What a run has done so far, for a progress display and the run's summary.

use std::time::Duration;

/// Counters a progress display or a summary reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Records received from Kafka (a record read again after a re-seek counts again).
    pub read: u64,
    /// Bytes of those records' payloads, keys and headers.
    pub read_bytes: u64,
    /// Rows committed to the sink table (the steps' output).
    pub written: u64,
    /// Rows written to the database sinks (`[[sinks]]`), all of them together.
    pub database_rows: u64,
    /// Transactions committed to the database sinks.
    pub database_commits: u64,
    /// Records produced to the Kafka sinks (`[[sinks]]` of kind `kafka`).
    pub produced: u64,
    /// Rows dropped because the lake table held their `dedupe_by` identity already.
    pub duplicates: u64,
    /// Records stored in the dead-letter table.
    pub dead_letters: u64,
    /// Delta commits made to the sink table.
    pub commits: u64,
    /// Parquet files those commits added.
    pub files: u64,
    /// Bytes of the Parquet files those commits added.
    pub bytes: u64,
    /// Records dropped because a commit (this process's or another's) already holds them.
    pub already_stored: u64,
    /// Partitions re-read because a batch did not continue where the table stands.
    pub reseeks: u64,
    /// Commits lost to a concurrent writer and retried.
    pub conflicts: u64,
    /// Rewrites of the table that widened column types (`on_type_mismatch = "widen"`).
    pub widenings: u64,
    /// Partitions compacted after writes (`[sink.compaction]`).
    pub compactions: u64,
    /// Where the writer's time went: decoding JSON, running the steps (and fitting
    /// their output to the table), and writing files and committing.
    pub decode_time: Duration,
    /// Time spent running the steps and fitting their output to the table.
    pub steps_time: Duration,
    /// Time spent writing files and committing to the sink table.
    pub commit_time: Duration,
}
