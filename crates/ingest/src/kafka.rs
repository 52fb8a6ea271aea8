//! The Kafka source: a consumer assigned to every partition of a topic at the
//! offsets the lake says come next, cutting the stream into micro-batches.
//!
//! The consumer runs on a thread of its own: rdkafka's poll and commit calls block,
//! and a blocking call on a tokio worker that an in-process broker also uses would
//! never return.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::error::IngestError;

/// How long to wait for the broker before calling it unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One Kafka record, as read.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: Option<i64>,
    pub payload: Vec<u8>,
}

/// A micro-batch: records in offset order per partition, plus for each partition
/// the next offset to read once this batch is safely stored.
#[derive(Debug, Default)]
pub struct MicroBatch {
    pub records: Vec<RawRecord>,
    pub bytes: usize,
    pub next_offsets: BTreeMap<i32, i64>,
}

impl MicroBatch {
    fn push(&mut self, record: RawRecord) {
        self.bytes += record.payload.len();
        self.next_offsets
            .insert(record.partition, record.offset + 1);
        self.records.push(record);
    }
}

/// Why the source stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `until_idle`: every partition reached its end.
    Drained,
    /// `max_records` were read.
    Limit,
    /// Asked to stop, or the receiver went away.
    Stopped,
}

#[derive(Debug, Clone)]
pub struct SourceOptions {
    pub brokers: String,
    pub topic: String,
    pub group_id: String,
    pub flush_rows: usize,
    pub flush_bytes: usize,
    pub flush_interval: Duration,
    /// Stop when every partition is at its end (instead of waiting for more).
    pub until_idle: bool,
    /// Stop after this many records.
    pub max_records: Option<u64>,
    /// Extra librdkafka settings, passed through as they are.
    pub extra: Vec<(String, String)>,
}

impl SourceOptions {
    pub fn new(
        brokers: impl Into<String>,
        topic: impl Into<String>,
        group_id: impl Into<String>,
    ) -> Self {
        Self {
            brokers: brokers.into(),
            topic: topic.into(),
            group_id: group_id.into(),
            flush_rows: 100_000,
            flush_bytes: 64 << 20,
            flush_interval: Duration::from_secs(5),
            until_idle: false,
            max_records: None,
            extra: Vec::new(),
        }
    }
}

pub struct KafkaSource {
    opts: SourceOptions,
    consumer: Arc<BaseConsumer<SourceContext>>,
    partitions: Vec<i32>,
}

impl KafkaSource {
    /// Connect and look the topic up. Blocking: call it off the async runtime.
    pub fn connect(opts: SourceOptions) -> Result<Self, IngestError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &opts.brokers)
            // rdkafka wants a group even for assign(); the group's offsets are only
            // written for lag tools, never read back: the lake holds the truth.
            .set("group.id", &opts.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest")
            .set("socket.connection.setup.timeout.ms", "10000");
        for (k, v) in &opts.extra {
            config.set(k, v);
        }
        let consumer: BaseConsumer<SourceContext> = config
            .create_with_context(SourceContext)
            .map_err(|source| IngestError::Unreachable {
                brokers: opts.brokers.clone(),
                source,
            })?;
        let partitions = topic_partitions(&consumer, &opts.brokers, &opts.topic)?;
        Ok(Self {
            opts,
            consumer: Arc::new(consumer),
            partitions,
        })
    }

    pub fn partitions(&self) -> &[i32] {
        &self.partitions
    }

    pub fn topic(&self) -> &str {
        &self.opts.topic
    }

    /// A handle that records consumer-group offsets after a lake commit.
    pub fn group_committer(&self) -> GroupCommitter {
        GroupCommitter {
            consumer: self.consumer.clone(),
            topic: self.opts.topic.clone(),
        }
    }

    /// Read from `start` (next offset per partition; a partition absent from the map
    /// starts at its beginning) on a thread of its own, sending micro-batches to `tx`.
    pub fn spawn(
        self,
        start: &HashMap<i32, i64>,
        tx: mpsc::Sender<MicroBatch>,
        stop: Arc<AtomicBool>,
    ) -> Result<JoinHandle<Result<StopReason, IngestError>>, IngestError> {
        let mut tpl = TopicPartitionList::new();
        for &p in &self.partitions {
            let offset = start
                .get(&p)
                .map_or(Offset::Beginning, |&o| Offset::Offset(o));
            tpl.add_partition_offset(&self.opts.topic, p, offset)
                .map_err(IngestError::kafka("assign"))?;
        }
        self.consumer
            .assign(&tpl)
            .map_err(IngestError::kafka("assign"))?;
        let handle = std::thread::Builder::new()
            .name("kafka-source".into())
            .spawn(move || self.run(tx, stop))
            .map_err(|e| IngestError::Other(format!("cannot start the consumer thread: {e}")))?;
        Ok(handle)
    }

    fn run(
        self,
        tx: mpsc::Sender<MicroBatch>,
        stop: Arc<AtomicBool>,
    ) -> Result<StopReason, IngestError> {
        let opts = &self.opts;
        let mut batch = MicroBatch::default();
        let mut batch_started = Instant::now();
        let mut at_end: HashSet<i32> = HashSet::new();
        let mut read: u64 = 0;
        let send = |batch: &mut MicroBatch| -> bool {
            if batch.records.is_empty() {
                return true;
            }
            tx.blocking_send(std::mem::take(batch)).is_ok()
        };
        loop {
            if stop.load(Ordering::Relaxed) {
                send(&mut batch);
                return Ok(StopReason::Stopped);
            }
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    if batch.records.is_empty() {
                        batch_started = Instant::now();
                    }
                    at_end.remove(&m.partition());
                    batch.push(RawRecord {
                        partition: m.partition(),
                        offset: m.offset(),
                        timestamp_ms: m.timestamp().to_millis(),
                        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    });
                    read += 1;
                    if opts.max_records.is_some_and(|max| read >= max) {
                        send(&mut batch);
                        return Ok(StopReason::Limit);
                    }
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    at_end.insert(p);
                }
                Some(Err(e)) => {
                    // librdkafka reports transient trouble (a broker restarting) here
                    // and retries by itself; log it and keep going.
                    tracing::warn!("kafka consumer: {e}");
                }
                None => {}
            }
            let full = batch.records.len() >= opts.flush_rows || batch.bytes >= opts.flush_bytes;
            let due = !batch.records.is_empty() && batch_started.elapsed() >= opts.flush_interval;
            let drained = opts.until_idle && at_end.len() == self.partitions.len();
            if (full || due || drained) && !send(&mut batch) {
                return Ok(StopReason::Stopped);
            }
            if drained {
                return Ok(StopReason::Drained);
            }
        }
    }
}

/// librdkafka also reports the end of a partition as a client-wide error, which the
/// default context logs at error level on every drain; the source handles the end of a
/// partition through `poll`, so only real errors are logged here.
pub struct SourceContext;

impl ClientContext for SourceContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let end_of_partition = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !end_of_partition {
            tracing::error!("librdkafka: {error}: {reason}");
        }
    }
}

impl ConsumerContext for SourceContext {}

/// Writes the consumer group's offsets after the lake committed, so that lag tools
/// (kafka-consumer-groups, kcat) see the pipeline's progress.
#[derive(Clone)]
pub struct GroupCommitter {
    consumer: Arc<BaseConsumer<SourceContext>>,
    topic: String,
}

impl GroupCommitter {
    pub fn commit(&self, next_offsets: &BTreeMap<i32, i64>) -> Result<(), IngestError> {
        let mut tpl = TopicPartitionList::new();
        for (&p, &o) in next_offsets {
            tpl.add_partition_offset(&self.topic, p, Offset::Offset(o))
                .map_err(IngestError::kafka("group commit"))?;
        }
        self.consumer
            .commit(&tpl, CommitMode::Async)
            .map_err(IngestError::kafka("group commit"))
    }
}

fn topic_partitions(
    consumer: &BaseConsumer<SourceContext>,
    brokers: &str,
    topic: &str,
) -> Result<Vec<i32>, IngestError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), CONNECT_TIMEOUT)
        .map_err(|source| IngestError::Unreachable {
            brokers: brokers.to_string(),
            source,
        })?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(IngestError::UnknownTopic {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
        });
    }
    Ok(partitions)
}
