//! Where each partition this member reads stands, and moving it: the next position to
//! read, seeks librdkafka has not taken yet, ends reached, out-of-range moves the next
//! batch must report, and the group commit of what the lake stored.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::batch::Position;
use crate::control::SourceCounters;
use crate::error::IngestError;
use crate::rebalance::{SourceContext, Start};
use crate::record::RawRecord;

/// The source's consumer, whose positions these are.
type SourceConsumer = BaseConsumer<SourceContext>;

/// The reading state of every partition assigned to this member.
#[derive(Debug)]
pub(crate) struct Positions {
    topic: String,
    /// Next position to read, per assigned partition.
    next: HashMap<i32, Position>,
    /// Seeks librdkafka did not take yet, retried on every turn.
    pending: HashMap<i32, Position>,
    at_end: HashSet<i32>,
    /// Stored offsets that were out of range, per partition moved by the policy.
    resets: HashMap<i32, i64>,
}

/// A record taken into the batch: where its partition's run started, and the stored
/// offset the policy moved the partition away from (reported once, with its next batch).
pub(crate) struct Accepted {
    pub(crate) from: Position,
    pub(crate) reset_from: Option<i64>,
}

impl Positions {
    pub(crate) fn new(topic: String) -> Self {
        Self {
            topic,
            next: HashMap::new(),
            pending: HashMap::new(),
            at_end: HashSet::new(),
            resets: HashMap::new(),
        }
    }

    /// Partition `p` is assigned to this member.
    pub(crate) fn holds(&self, p: i32) -> bool {
        self.next.contains_key(&p)
    }

    /// The next position of each assigned partition (for the log).
    pub(crate) fn next(&self) -> &HashMap<i32, Position> {
        &self.next
    }

    /// An assigned partition starts where the group's assignment put it.
    pub(crate) fn start(&mut self, start: &Start, counters: &SourceCounters) {
        let p = start.partition;
        self.next.insert(p, start.position);
        self.pending.remove(&p);
        self.at_end.remove(&p);
        if let Some(from) = start.reset_from {
            self.note_reset(p, from, counters);
        }
    }

    /// Revoked partitions are their new owner's: forget everything about them.
    pub(crate) fn revoke(&mut self, parts: &HashSet<i32>) {
        for p in parts {
            self.next.remove(p);
            self.pending.remove(p);
            self.at_end.remove(p);
            self.resets.remove(p);
        }
    }

    /// Partition `p` has nothing more to read for now.
    pub(crate) fn reached_end(&mut self, p: i32) {
        self.at_end.insert(p);
    }

    /// Every assigned partition is at its end and every seek was taken.
    pub(crate) fn all_at_end(&self) -> bool {
        self.pending.is_empty() && self.next.keys().all(|p| self.at_end.contains(p))
    }

    /// Take `record` if it is the next one of a partition this member reads, moving
    /// that partition past it.
    pub(crate) fn advance(&mut self, record: &RawRecord) -> Option<Accepted> {
        let p = record.partition;
        let &from = self.next.get(&p)?; // None: revoked meanwhile
        if self.pending.contains_key(&p) {
            return None; // to be read again from elsewhere
        }
        if let Position::Offset(next) = from
            && record.offset < next
        {
            return None; // fetched before a seek
        }
        self.at_end.remove(&p);
        let reset_from = self.resets.remove(&p);
        self.next.insert(p, Position::Offset(record.offset + 1));
        Some(Accepted { from, reset_from })
    }

    /// Move partition `p` to `position`. Right after an assignment librdkafka may not
    /// take a seek yet: it is then retried on every turn of the loop, and the
    /// partition's records are refused until it succeeds.
    pub(crate) fn seek(&mut self, consumer: &SourceConsumer, p: i32, position: Position) {
        self.at_end.remove(&p);
        let sought = consumer.seek(
            &self.topic,
            p,
            position.to_offset(),
            Duration::from_millis(500),
        );
        match sought {
            Ok(()) => {
                self.pending.remove(&p);
                self.next.insert(p, position);
            }
            Err(e) => {
                tracing::debug!("seek partition {p} to {position:?} not taken yet: {e}");
                self.pending.insert(p, position);
            }
        }
    }

    /// Try again the seeks librdkafka did not take; drop those of revoked partitions.
    pub(crate) fn retry_seeks(&mut self, consumer: &SourceConsumer) {
        let pending: Vec<(i32, Position)> = self.pending.iter().map(|(&p, &o)| (p, o)).collect();
        for (p, position) in pending {
            if self.holds(p) {
                self.seek(consumer, p, position);
            } else {
                self.pending.remove(&p);
            }
        }
    }

    /// Commit the group's offsets of the partitions still ours (the group refuses
    /// commits for the others); a failure is logged, lag tools being its only reader.
    pub(crate) fn commit_group(&self, consumer: &SourceConsumer, offsets: &BTreeMap<i32, i64>) {
        let mut tpl = TopicPartitionList::new();
        for (&p, &o) in offsets.iter().filter(|(p, _)| self.holds(**p)) {
            let _ = tpl.add_partition_offset(&self.topic, p, Offset::Offset(o));
        }
        if tpl.count() == 0 {
            return;
        }
        // Synchronous: one round trip per lake commit, and the last one is not lost
        // when the consumer closes right after.
        if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
            tracing::warn!("consumer group commit: {e}");
        }
    }

    /// A fetch found its offset outside the log (retention removed records while we
    /// read). librdkafka does not say which partition, and stops fetching it: check
    /// every partition against the log's bounds, apply the policy where one is out of
    /// range, and seek the others to where they are, which restarts their fetch.
    pub(crate) fn recover_out_of_range(
        &mut self,
        consumer: &SourceConsumer,
        counters: &SourceCounters,
    ) -> Result<(), IngestError> {
        let positions: Vec<(i32, Position)> = self.next.iter().map(|(&p, &pos)| (p, pos)).collect();
        for (p, position) in positions {
            let Position::Offset(stored) = position else {
                self.seek(consumer, p, position);
                continue;
            };
            let start = consumer.context().start(consumer, p, Some(stored))?;
            if let Some(from) = start.reset_from {
                self.note_reset(p, from, counters);
                let topic = &self.topic;
                tracing::warn!("partition {p} of {topic}: moved to {:?}", start.position);
            }
            self.seek(consumer, p, start.position);
        }
        Ok(())
    }

    /// Partition `p` was moved away from its stored offset `from` by the policy: the
    /// next batch says so, for the writer's check.
    fn note_reset(&mut self, p: i32, from: i64, counters: &SourceCounters) {
        self.resets.insert(p, from);
        counters.out_of_range_resets.fetch_add(1, Ordering::Relaxed);
    }
}
