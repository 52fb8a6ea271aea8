//! A micro-batch: records in offset order per partition, and where each partition's
//! records start and end.

use std::collections::{BTreeMap, HashSet};

use rdkafka::Offset;

use crate::record::RawRecord;

/// Where reading a partition started: its log start, or an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The first offset the log still holds.
    Beginning,
    /// This offset.
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
#[derive(Debug, Default, Clone)]
pub struct MicroBatch {
    /// The records, in offset order within each partition.
    pub records: Vec<RawRecord>,
    /// Bytes of payloads, keys and headers (what was read).
    pub bytes: usize,
    /// Bytes the records take in memory (what the memory budget counts).
    pub memory: usize,
    /// The consumer's position for the partition before its first record in this batch:
    /// every record the log holds from there on up to `next_offsets` is in the batch.
    pub starts: BTreeMap<i32, Position>,
    /// The next offset to read per partition, once this batch is stored.
    pub next_offsets: BTreeMap<i32, i64>,
    /// Partitions whose stored offset was out of range and that were moved, by the
    /// spec's `on_offset_out_of_range` policy, away from this stored offset.
    pub resets: BTreeMap<i32, i64>,
    /// The name a partition's records are stored under when it is not a partition of the
    /// spec's topic: the landing source numbers the objects of a run as partitions, and
    /// names each by its key and ETag here.
    pub streams: BTreeMap<i32, String>,
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

    /// The batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn recount(&mut self) {
        self.bytes = self.records.iter().map(RawRecord::size).sum();
        self.memory = self.records.iter().map(RawRecord::memory).sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> MicroBatch {
        let mut b = MicroBatch::default();
        for (p, o) in [(0, 5), (1, 0), (0, 6), (1, 1), (0, 7)] {
            let pos = if o == 5 {
                Position::Offset(5)
            } else {
                Position::Beginning
            };
            b.push(RawRecord::new(p, o, vec![b'x'; 10]), pos);
        }
        b
    }

    #[test]
    fn a_batch_knows_where_each_partition_starts_and_ends() {
        let b = batch();
        assert_eq!(b.starts[&0], Position::Offset(5));
        assert_eq!(b.starts[&1], Position::Beginning);
        assert_eq!(b.next_offsets[&0], 8);
        assert_eq!(b.next_offsets[&1], 2);
        assert_eq!(b.bytes, 50);
    }

    #[test]
    fn trimming_keeps_the_rest_of_a_partition_and_moves_its_start() {
        let mut b = batch();
        b.trim_before(0, 7);
        assert_eq!(b.records.len(), 3);
        assert_eq!(b.starts[&0], Position::Offset(7));
        assert_eq!(b.next_offsets[&0], 8);
        b.trim_before(1, 2);
        assert!(!b.starts.contains_key(&1) && !b.next_offsets.contains_key(&1));
        assert_eq!(b.bytes, 10);
    }

    #[test]
    fn dropping_a_partition_forgets_it() {
        let mut b = batch();
        b.drop_partitions(&HashSet::from([0]));
        assert!(b.records.iter().all(|r| r.partition == 1));
        assert!(!b.starts.contains_key(&0) && !b.next_offsets.contains_key(&0));
        assert_eq!(b.bytes, 20);
    }
}
