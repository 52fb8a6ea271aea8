//! The writer's side of a running Kafka source: the handle it steers the reading thread
//! with, and the counters of what the source handled without stopping.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc as std_mpsc;

use crate::batch::Position;

/// What the writer asks of the source.
#[derive(Debug)]
pub(crate) enum Command {
    /// Forget what is buffered for a partition and read it again from a position (a
    /// batch was refused because it did not continue where the table stands).
    Reseek(i32, Position),
    /// Record the group's offsets after a lake commit, for lag tools.
    CommitGroup(BTreeMap<i32, i64>),
    /// The writer is done with one more batch.
    Processed,
}

/// The writer's handle on a running source.
#[derive(Clone)]
pub struct SourceControl {
    tx: std_mpsc::Sender<Command>,
}

impl SourceControl {
    /// A handle and the end the reading thread takes its commands from.
    pub(crate) fn channel() -> (Self, std_mpsc::Receiver<Command>) {
        let (tx, rx) = std_mpsc::channel();
        (Self { tx }, rx)
    }

    /// A handle that reaches no source: for batches that come from memory, where
    /// nothing is re-read and there is no group to commit to.
    pub fn detached() -> Self {
        let (tx, _) = std_mpsc::channel();
        Self { tx }
    }

    /// Re-read partition `p` from `position`, dropping what is buffered for it.
    pub fn reseek(&self, p: i32, position: Position) {
        let _ = self.tx.send(Command::Reseek(p, position));
    }

    /// Write the consumer group's offsets (lag tools only: failing loses nothing).
    pub fn commit_group(&self, next_offsets: &BTreeMap<i32, i64>) {
        let _ = self.tx.send(Command::CommitGroup(next_offsets.clone()));
    }

    /// Tell the source a batch is fully handled (stored, or refused with a reseek): a
    /// source that ran dry waits for this before calling the topic drained.
    pub fn processed(&self) {
        let _ = self.tx.send(Command::Processed);
    }
}

/// Counters of events the source handled without stopping.
#[derive(Debug, Default)]
pub struct SourceCounters {
    /// Group membership changes (assignments and revocations) applied.
    pub rebalances: AtomicU64,
    /// Partitions moved away from their stored offset by the out-of-range policy.
    pub out_of_range_resets: AtomicU64,
    /// Consumer errors librdkafka retries by itself.
    pub transient_errors: AtomicU64,
    /// Per partition, what librdkafka's statistics said last (every second).
    pub partitions: std::sync::Mutex<BTreeMap<i32, PartitionMetrics>>,
}

/// One partition as the consumer sees it: from librdkafka's statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionMetrics {
    /// The log's end (high watermark) on the broker.
    pub high_watermark: i64,
    /// Records between the next one the source reads and the log's end.
    pub lag: i64,
    /// Records the consumer has received from the broker so far.
    pub received: u64,
    /// Bytes waiting in the consumer's prefetch queue.
    pub prefetched_bytes: u64,
}

impl SourceCounters {
    /// The partitions' latest metrics.
    pub fn partition_metrics(&self) -> BTreeMap<i32, PartitionMetrics> {
        self.partitions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}
