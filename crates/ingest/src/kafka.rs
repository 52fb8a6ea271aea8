//! The Kafka source: a member of the pipeline's consumer group, reading the partitions
//! the group assigns it from the offsets the lake says come next, and cutting the stream
//! into micro-batches.
//!
//! Scale-out is Kafka's own: N processes of one pipeline share a topic's partitions.
//! The lake, not the group, holds the resume points: on every assignment the source asks
//! an [`OffsetStore`] (the lake's `txn` versions) where each new partition stands and
//! starts it there. Each micro-batch says where every partition's part of it started, so
//! that the writer can check, in the snapshot its commit is based on, that the batch
//! continues exactly where the table stands (see `pipelab-pipeline`).
//!
//! The consumer runs on a thread of its own: rdkafka's poll and commit calls block,
//! and a blocking call on a tokio worker that an in-process broker also uses would
//! never return. The writer talks to it through [`SourceControl`].
//!
//! This module connects the source and gets it its partitions; the reading loop is in
//! `reader`, the partitions' positions in `positions`, the drained check in `drain`.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rdkafka::TopicPartitionList;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tokio::sync::mpsc;

use crate::batch::MicroBatch;
use crate::client::{CONNECT_TIMEOUT, reader_config};
use crate::error::IngestError;
use crate::options::{
    Assignment, DEFAULT_SESSION_TIMEOUT_MS, EMBEDDED_CLUSTER_ID, OffsetStore, SourceOptions,
    StopReason, fetch_limits,
};
use crate::reader::Reader;
use crate::rebalance::{SourceContext, topic_partitions};

pub use crate::control::{SourceControl, SourceCounters};

/// A connected Kafka source, holding its partitions; [`KafkaSource::spawn`] starts
/// reading them.
pub struct KafkaSource {
    opts: SourceOptions,
    consumer: BaseConsumer<SourceContext>,
    counters: Arc<SourceCounters>,
    /// Every partition is read without the group (the resolved [`Assignment::All`]):
    /// partitions added to the topic are assigned by the reader itself.
    reads_all: bool,
}

impl KafkaSource {
    /// Connect, check the topic exists and join the group. Blocking: call it off the
    /// async runtime.
    pub fn connect(opts: SourceOptions, store: Arc<dyn OffsetStore>) -> Result<Self, IngestError> {
        let counters = Arc::<SourceCounters>::default();
        let consumer = create_consumer(&opts, store, counters.clone())?;
        let partitions = topic_partitions(&consumer, &opts.brokers, &opts.topic)?;
        let assignment = resolve(opts.assignment, &consumer, &opts.topic);
        match assignment {
            Assignment::Auto | Assignment::Group => consumer
                .subscribe(&[&opts.topic])
                .map_err(IngestError::kafka("subscribe"))?,
            Assignment::All => {
                // The same start positions as a group assignment, applied at once.
                let mut tpl = TopicPartitionList::new();
                for p in partitions {
                    tpl.add_partition(&opts.topic, p);
                }
                consumer.context().assign(&consumer, &mut tpl, false);
            }
        }
        Ok(Self {
            opts,
            consumer,
            counters,
            reads_all: assignment == Assignment::All,
        })
    }

    /// The topic read.
    pub fn topic(&self) -> &str {
        &self.opts.topic
    }

    /// The counters of events handled without stopping, shared with the reading thread.
    pub fn counters(&self) -> Arc<SourceCounters> {
        self.counters.clone()
    }

    /// Read on a thread of its own, sending micro-batches to `tx`.
    pub fn spawn(
        self,
        tx: mpsc::Sender<MicroBatch>,
        stop: Arc<AtomicBool>,
    ) -> Result<(SourceControl, JoinHandle<Result<StopReason, IngestError>>), IngestError> {
        let (control, commands) = SourceControl::channel();
        let Self {
            opts,
            consumer,
            counters,
            reads_all,
        } = self;
        let handle = std::thread::Builder::new()
            .name("kafka-source".into())
            .spawn(move || {
                Reader::new(opts, consumer, counters, reads_all, tx, commands, stop).run()
            })
            .map_err(|source| IngestError::Thread {
                what: "Kafka consumer",
                source,
            })?;
        Ok((control, handle))
    }
}

/// The source's client settings: a reader of positions it sets itself, in the group,
/// quick to notice new partitions and dead members; then the prefetch limits, then the
/// user's own settings, which override all of these.
fn client_config(opts: &SourceOptions) -> ClientConfig {
    // Positions come from the lake on every assignment; an offset outside the log must
    // never move silently (see OutOfRange): `reader_config` makes it an error.
    let mut config = reader_config(&opts.brokers, &opts.group_id);
    config
        // Partitions added to the topic are seen within seconds, not minutes.
        .set("topic.metadata.refresh.interval.ms", "5000")
        .set("session.timeout.ms", DEFAULT_SESSION_TIMEOUT_MS.to_string())
        .set("heartbeat.interval.ms", "1000")
        // Lag, high watermarks and the prefetch queue per partition, for the live view.
        .set("statistics.interval.ms", "1000");
    if let Some(bytes) = opts.prefetch_bytes {
        for (key, value) in fetch_limits(bytes, opts.max_record_bytes) {
            config.set(key, value.to_string());
        }
    }
    for (k, v) in &opts.extra {
        config.set(k, v);
    }
    config
}

/// The consumer, its context starting assigned partitions at the store's resume points.
fn create_consumer(
    opts: &SourceOptions,
    store: Arc<dyn OffsetStore>,
    counters: Arc<SourceCounters>,
) -> Result<BaseConsumer<SourceContext>, IngestError> {
    let context = SourceContext {
        topic: opts.topic.clone(),
        store,
        counters,
        on_out_of_range: opts.on_out_of_range,
        events: Mutex::new(Vec::new()),
    };
    client_config(opts)
        .create_with_context(context)
        .map_err(|source| IngestError::Unreachable {
            brokers: opts.brokers.clone(),
            source,
        })
}

/// `Auto` made definite: `All` on pipelab's embedded broker (its group coordinator can
/// stop assigning partitions), `Group` elsewhere.
fn resolve(
    assignment: Assignment,
    consumer: &BaseConsumer<SourceContext>,
    topic: &str,
) -> Assignment {
    if assignment != Assignment::Auto {
        return assignment;
    }
    let cluster = consumer.client().fetch_cluster_id(CONNECT_TIMEOUT);
    if cluster.as_deref() != Some(EMBEDDED_CLUSTER_ID) {
        return Assignment::Group;
    }
    tracing::info!(
        "embedded broker: reading every partition of '{topic}' without the consumer \
         group (set assignment = \"group\" to use it anyway)"
    );
    Assignment::All
}
