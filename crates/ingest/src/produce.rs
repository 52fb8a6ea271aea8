//! Producing records to Kafka as fast as the broker takes them.
//!
//! Blocking (librdkafka's queue and flush): call it from a thread of its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use crate::client::{CONNECT_TIMEOUT, config};
use crate::error::IngestError;
use crate::record::RawRecord;

/// Counts acknowledged and failed deliveries.
#[derive(Default)]
struct Deliveries {
    acked: AtomicU64,
    failed: AtomicU64,
    first_error: std::sync::Mutex<Option<rdkafka::error::KafkaError>>,
    /// Keys of the records that were not delivered, in delivery-report order.
    failed_keys: std::sync::Mutex<Vec<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.acked.fetch_add(1, Ordering::Relaxed),
            Err((e, message)) => {
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| e.clone());
                }
                if let Ok(mut keys) = self.failed_keys.lock() {
                    use rdkafka::message::Message;
                    let key = message
                        .key()
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default();
                    keys.push(key.into_owned());
                }
                self.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// What a produce call delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceStats {
    /// Records the broker acknowledged.
    pub acked: u64,
    /// Records that were not delivered.
    pub failed: u64,
    /// Bytes of payloads, keys and headers sent.
    pub bytes: u64,
}

/// Send every (key, payload) to `topic`, calling `progress(acked)` now and then, and
/// wait until the broker acknowledged them all.
pub fn produce_all<I>(
    brokers: &str,
    topic: &str,
    records: I,
    progress: impl FnMut(u64),
) -> Result<ProduceStats, IngestError>
where
    I: IntoIterator<Item = (String, Vec<u8>)>,
{
    let records = records.into_iter().map(|(key, payload)| RawRecord {
        key: Some(key.into_bytes()),
        ..RawRecord::new(0, 0, payload)
    });
    produce_records(brokers, topic, records, progress)
}

/// Send records as they are — key, headers and payload, null kept distinct from empty
/// (the partition and offset they had are not kept: the topic's partitioner decides) —
/// calling `progress(acked)` now and then, and wait until the broker acknowledged all.
pub fn produce_records<I>(
    brokers: &str,
    topic: &str,
    records: I,
    progress: impl FnMut(u64),
) -> Result<ProduceStats, IngestError>
where
    I: IntoIterator<Item = RawRecord>,
{
    produce_records_with(brokers, topic, &[], records, progress)
}

/// [`produce_records`] with more producer settings (`enable.idempotence`, say).
pub fn produce_records_with<I>(
    brokers: &str,
    topic: &str,
    settings: &[(&str, &str)],
    records: I,
    mut progress: impl FnMut(u64),
) -> Result<ProduceStats, IngestError>
where
    I: IntoIterator<Item = RawRecord>,
{
    let mut client = config(brokers);
    for (key, value) in settings {
        client.set(*key, *value);
    }
    let producer: ThreadedProducer<Deliveries> = client
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "500000")
        .set("message.timeout.ms", "60000")
        .create_with_context(Deliveries::default())
        .map_err(|source| IngestError::Unreachable {
            brokers: brokers.to_string(),
            source,
        })?;
    // Fail fast, naming the broker, rather than queueing into the void.
    producer
        .client()
        .fetch_metadata(Some(topic), CONNECT_TIMEOUT)
        .map_err(|source| IngestError::Unreachable {
            brokers: brokers.to_string(),
            source,
        })?;
    let mut bytes = 0u64;
    for (i, raw) in records.into_iter().enumerate() {
        bytes += raw.size() as u64;
        let mut headers = OwnedHeaders::new_with_capacity(raw.headers.len());
        for (name, value) in &raw.headers {
            headers = headers.insert(Header {
                key: name,
                value: value.as_deref(),
            });
        }
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic);
        if !raw.headers.is_empty() {
            record = record.headers(headers);
        }
        if let Some(key) = &raw.key {
            record = record.key(key.as_slice());
        }
        if let Some(payload) = &raw.payload {
            record = record.payload(payload.as_slice());
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(IngestError::kafka(format!("produce to {topic}"))(e)),
            }
        }
        if i % 10_000 == 0 {
            progress(producer.context().acked.load(Ordering::Relaxed));
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .map_err(IngestError::kafka(format!("flush to {topic}")))?;
    let ctx = producer.context();
    let stats = ProduceStats {
        acked: ctx.acked.load(Ordering::Relaxed),
        failed: ctx.failed.load(Ordering::Relaxed),
        bytes,
    };
    progress(stats.acked);
    // A failed delivery always records its error first, so `first` is set when any failed.
    let first = ctx.first_error.lock().ok().and_then(|e| e.clone());
    if let (true, Some(first)) = (stats.failed > 0, first) {
        let mut keys = ctx
            .failed_keys
            .lock()
            .map(|k| k.clone())
            .unwrap_or_default();
        keys.sort_by_key(|k| k.parse::<u64>().unwrap_or(u64::MAX));
        return Err(IngestError::NotDelivered {
            topic: topic.to_string(),
            brokers: brokers.to_string(),
            failed: stats.failed,
            total: stats.failed + stats.acked,
            first: Box::new(first),
            keys: first_keys(&keys),
        });
    }
    Ok(stats)
}

/// The first keys of records not delivered, and how many more: a message that names a
/// thousand keys names none readably.
fn first_keys(keys: &[String]) -> String {
    const SHOWN: usize = 10;
    let shown = keys[..keys.len().min(SHOWN)].join(", ");
    match keys.len().saturating_sub(SHOWN) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}
