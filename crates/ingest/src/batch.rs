//! A micro-batch: records in offset order per partition, and where each partition's
//! records start and end.

use std::collections::{BTreeMap, HashSet};

use rdkafka::Offset;

use crate::record::RawRecord;

/// Where reading a partition started: its log start, or an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Beginning,
    Offset(i64),
}

impl Position {
    pub(crate) fn to_offset(self) -> Offset {
        match self {
            Position::Beginning => Offset::Beginning,
            Position::Offset(o) => Offset::Offset(o),
        }
    }
}

/// A micro-batch: records in offset order per partition, plus for each partition where
/// its records start and the next offset to read once this batch is safely stored.
#[derive(Debug, Default)]
pub struct MicroBatch {
    pub records: Vec<RawRecord>,
    /// Bytes of payloads, keys and headers (what was read).
    pub bytes: usize,
    /// Bytes the records take in memory (what the memory budget counts).
    pub memory: usize,
    /// The consumer's position for the partition before its first record in this batch:
    /// every record the log holds from there on up to `next_offsets` is in the batch.
    pub starts: BTreeMap<i32, Position>,
    pub next_offsets: BTreeMap<i32, i64>,
    /// Partitions whose stored offset was out of range and that were moved, by the
    /// spec's `on_offset_out_of_range` policy, away from this stored offset.
    pub resets: BTreeMap<i32, i64>,
}

impl MicroBatch {
    /// A batch of records already in memory (benchmarks, tests), each partition's run
    /// continuing the previous batch: a partition starting at offset 0 starts at the
    /// log's beginning.
    pub fn from_records(records: impl IntoIterator<Item = RawRecord>) -> Self {
        let mut batch = Self::default();
        for record in records {
            let position = match record.offset {
                0 => Position::Beginning,
                o => Position::Offset(o),
            };
            batch.push(record, position);
        }
        batch
    }

    pub(crate) fn push(&mut self, record: RawRecord, position: Position) {
        self.starts.entry(record.partition).or_insert(position);
        self.bytes += record.size();
        self.memory += record.memory();
        self.next_offsets
            .insert(record.partition, record.offset + 1);
        self.records.push(record);
    }

    /// Drop every record of these partitions (revoked, or re-sought).
    pub fn drop_partitions(&mut self, partitions: &HashSet<i32>) {
        if !self
            .records
            .iter()
            .any(|r| partitions.contains(&r.partition))
        {
            return;
        }
        self.records.retain(|r| !partitions.contains(&r.partition));
        self.recount();
        for p in partitions {
            self.starts.remove(p);
            self.next_offsets.remove(p);
            self.resets.remove(p);
        }
    }

    /// Keep only records of partition `p` at or after `offset` (the ones before are
    /// already stored by an earlier commit); the partition then starts at `offset`.
    pub fn trim_before(&mut self, p: i32, offset: i64) {
        self.records
            .retain(|r| r.partition != p || r.offset >= offset);
        self.recount();
        if self.records.iter().any(|r| r.partition == p) {
            self.starts.insert(p, Position::Offset(offset));
        } else {
            self.starts.remove(&p);
            self.next_offsets.remove(&p);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn recount(&mut self) {
        self.bytes = self.records.iter().map(RawRecord::size).sum();
        self.memory = self.records.iter().map(RawRecord::memory).sum();
    }
}
