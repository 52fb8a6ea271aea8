//! Reading a topic as it is now: the records of each partition from one offset up to
//! another, with no consumer group and nothing committed. This is what a SQL table over
//! a topic scans (the kafka catalog of `pipelab query`), the way Trino's Kafka connector
//! reads a split.
//!
//! Blocking (librdkafka's poll): call it from a thread of its own.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::TopicPartitionList;

use crate::client::{CONNECT_TIMEOUT, QuietContext, reader_config};
use crate::error::IngestError;
use crate::record::{RawRecord, raw_record};

/// A partition's records from `from` (inclusive) to `to` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRange {
    /// The partition read.
    pub partition: i32,
    /// The first offset read.
    pub from: i64,
    /// The offset reading stops before (its record is not read).
    pub to: i64,
}

/// How long a read may go without a record or an end of partition before it is called
/// stuck: a broker that went away mid-read.
const STALL: Duration = Duration::from_secs(30);

/// A consumer that reads ranges of partitions; no group, no commits.
pub struct TopicReader {
    consumer: BaseConsumer<QuietContext>,
    brokers: String,
}

impl TopicReader {
    /// A reader of the Kafka at `brokers`; fails when no broker answers.
    pub fn connect(brokers: &str) -> Result<Self, IngestError> {
        let unreachable = |source| IngestError::Unreachable {
            brokers: brokers.to_string(),
            source,
        };
        // librdkafka wants a group id even for assigned partitions; it is never joined
        // (no subscribe) and nothing is committed to it. An offset outside the log
        // (retention moved it) is an error, not a jump.
        let consumer: BaseConsumer<QuietContext> = reader_config(brokers, "pipelab-topic-reader")
            .set("queued.max.messages.kbytes", "16384")
            .create_with_context(QuietContext)
            .map_err(unreachable)?;
        consumer
            .fetch_metadata(None, CONNECT_TIMEOUT)
            .map_err(unreachable)?;
        Ok(Self {
            consumer,
            brokers: brokers.to_string(),
        })
    }

    /// The topics and their partitions, internal topics (`__consumer_offsets`, …) left out.
    pub fn topics(&self) -> Result<Vec<(String, Vec<i32>)>, IngestError> {
        let metadata = self
            .consumer
            .fetch_metadata(None, CONNECT_TIMEOUT)
            .map_err(self.unreachable())?;
        let mut topics: Vec<(String, Vec<i32>)> = metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none() && !t.name().starts_with("__"))
            .map(|t| {
                let mut partitions: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
                partitions.sort_unstable();
                (t.name().to_string(), partitions)
            })
            .collect();
        topics.sort();
        Ok(topics)
    }

    /// The partitions of `topic`, or `None` when there is no such topic.
    pub fn partitions(&self, topic: &str) -> Result<Option<Vec<i32>>, IngestError> {
        let metadata = self
            .consumer
            .fetch_metadata(Some(topic), CONNECT_TIMEOUT)
            .map_err(self.unreachable())?;
        let mut partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        partitions.sort_unstable();
        Ok((!partitions.is_empty()).then_some(partitions))
    }

    /// The first offset a partition holds and the offset its next record will get.
    pub fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), IngestError> {
        self.consumer
            .fetch_watermarks(topic, partition, CONNECT_TIMEOUT)
            .map_err(|source| IngestError::Kafka {
                context: format!("offsets of topic '{topic}' partition {partition}"),
                source,
            })
    }

    /// Every partition of `topic` from its first offset to the offset its next record
    /// will get now: the topic as it is at this moment.
    pub fn snapshot(
        &self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<Vec<PartitionRange>, IngestError> {
        partitions
            .iter()
            .map(|&partition| {
                let (from, to) = self.watermarks(topic, partition)?;
                Ok(PartitionRange {
                    partition,
                    from,
                    to,
                })
            })
            .collect()
    }

    /// Read `ranges` of `topic`, handing `each` the records in chunks of at most `chunk`
    /// (in offset order within a partition). Stops early when `each` returns false.
    pub fn read(
        &self,
        topic: &str,
        ranges: &[PartitionRange],
        chunk: usize,
        mut each: impl FnMut(Vec<RawRecord>) -> bool,
    ) -> Result<(), IngestError> {
        let mut ends: HashMap<i32, i64> = ranges
            .iter()
            .filter(|r| r.from < r.to)
            .map(|r| (r.partition, r.to))
            .collect();
        if ends.is_empty() {
            return Ok(());
        }
        let mut assignment = TopicPartitionList::new();
        for range in ranges.iter().filter(|r| r.from < r.to) {
            assignment
                .add_partition_offset(topic, range.partition, Offset::Offset(range.from))
                .map_err(self.kafka(topic, "assign"))?;
        }
        self.consumer
            .assign(&assignment)
            .map_err(self.kafka(topic, "assign"))?;
        let result = self.read_assigned(topic, &mut ends, chunk, &mut each);
        let _ = self.consumer.unassign();
        result
    }

    fn read_assigned(
        &self,
        topic: &str,
        ends: &mut HashMap<i32, i64>,
        chunk: usize,
        each: &mut impl FnMut(Vec<RawRecord>) -> bool,
    ) -> Result<(), IngestError> {
        let mut records = Vec::with_capacity(chunk);
        let mut last_progress = Instant::now();
        while !ends.is_empty() {
            match self.consumer.poll(Duration::from_millis(100)) {
                None => {
                    if last_progress.elapsed() > STALL {
                        return Err(IngestError::Kafka {
                            context: format!(
                                "reading topic '{topic}': nothing from partition(s) {:?} in {} s",
                                ends.keys().collect::<Vec<_>>(),
                                STALL.as_secs()
                            ),
                            source: KafkaError::MessageConsumption(
                                rdkafka::types::RDKafkaErrorCode::RequestTimedOut,
                            ),
                        });
                    }
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    last_progress = Instant::now();
                    ends.remove(&p);
                }
                Some(Err(e)) => return Err(self.kafka(topic, "read")(e)),
                Some(Ok(m)) => {
                    last_progress = Instant::now();
                    let Some(&end) = ends.get(&m.partition()) else {
                        continue;
                    };
                    if m.offset() >= end {
                        ends.remove(&m.partition());
                        continue;
                    }
                    if m.offset() + 1 >= end {
                        ends.remove(&m.partition());
                    }
                    records.push(raw_record(&m));
                    if records.len() >= chunk
                        && !each(std::mem::replace(&mut records, Vec::with_capacity(chunk)))
                    {
                        return Ok(());
                    }
                }
            }
        }
        if !records.is_empty() {
            each(records);
        }
        Ok(())
    }

    fn unreachable(&self) -> impl Fn(KafkaError) -> IngestError + '_ {
        move |source| IngestError::Unreachable {
            brokers: self.brokers.clone(),
            source,
        }
    }

    fn kafka<'a>(&self, topic: &'a str, what: &'a str) -> impl Fn(KafkaError) -> IngestError + 'a {
        move |source| IngestError::Kafka {
            context: format!("{what} topic '{topic}'"),
            source,
        }
    }
}
