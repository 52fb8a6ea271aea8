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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::batch::{MicroBatch, Position};
use crate::client::CONNECT_TIMEOUT;
use crate::error::IngestError;
use crate::options::{
    Assignment, EMBEDDED_CLUSTER_ID, OffsetStore, SourceOptions, StopReason, fetch_limits,
};
use crate::rebalance::{GroupEvent, SourceContext, topic_partitions};
use crate::record::RawRecord;

/// A member killed with SIGKILL holds its partitions until its session expires: 10 s
/// rather than librdkafka's 45 s, so a restart resumes soon.
const DEFAULT_SESSION_TIMEOUT_MS: u64 = 10_000;

/// How often a reader of every partition looks for partitions added to the topic: the
/// interval the group's members refresh metadata at (`topic.metadata.refresh.interval.ms`).
const PARTITION_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// How long a group member may wait for its first assignment before the run stops:
/// a broker whose coordinator never settles must not leave a run hanging silently.
const GROUP_JOIN_TIMEOUT: Duration = Duration::from_secs(60);

/// What the writer asks of the source.
#[derive(Debug)]
enum Command {
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
    pub rebalances: AtomicU64,
    pub out_of_range_resets: AtomicU64,
    pub transient_errors: AtomicU64,
}

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
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &opts.brokers)
            .set("group.id", &opts.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            // Positions come from the lake on every assignment; an offset outside the
            // log must never move silently (see OutOfRange).
            .set("auto.offset.reset", "error")
            // Partitions added to the topic are seen within seconds, not minutes.
            .set("topic.metadata.refresh.interval.ms", "5000")
            .set("session.timeout.ms", DEFAULT_SESSION_TIMEOUT_MS.to_string())
            .set("heartbeat.interval.ms", "1000")
            .set("socket.connection.setup.timeout.ms", "10000");
        if let Some(bytes) = opts.prefetch_bytes {
            for (key, value) in fetch_limits(bytes, opts.max_record_bytes) {
                config.set(key, value.to_string());
            }
        }
        for (k, v) in &opts.extra {
            config.set(k, v);
        }
        let context = SourceContext {
            topic: opts.topic.clone(),
            store,
            on_out_of_range: opts.on_out_of_range,
            events: Mutex::new(Vec::new()),
        };
        let consumer: BaseConsumer<SourceContext> =
            config
                .create_with_context(context)
                .map_err(|source| IngestError::Unreachable {
                    brokers: opts.brokers.clone(),
                    source,
                })?;
        let partitions = topic_partitions(&consumer, &opts.brokers, &opts.topic)?;
        let assignment = match opts.assignment {
            Assignment::Auto => {
                let embedded = consumer
                    .client()
                    .fetch_cluster_id(CONNECT_TIMEOUT)
                    .as_deref()
                    == Some(EMBEDDED_CLUSTER_ID);
                if embedded {
                    tracing::info!(
                        "embedded broker: reading every partition of '{}' without the consumer \
                         group (set assignment = \"group\" to use it anyway)",
                        opts.topic
                    );
                    Assignment::All
                } else {
                    Assignment::Group
                }
            }
            other => other,
        };
        let reads_all = assignment == Assignment::All;
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
            counters: Arc::default(),
            reads_all,
        })
    }

    pub fn topic(&self) -> &str {
        &self.opts.topic
    }

    pub fn counters(&self) -> Arc<SourceCounters> {
        self.counters.clone()
    }

    /// Read on a thread of its own, sending micro-batches to `tx`.
    pub fn spawn(
        self,
        tx: mpsc::Sender<MicroBatch>,
        stop: Arc<AtomicBool>,
    ) -> Result<(SourceControl, JoinHandle<Result<StopReason, IngestError>>), IngestError> {
        let (ctl_tx, ctl_rx) = std_mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("kafka-source".into())
            .spawn(move || Reader::new(self, tx, ctl_rx, stop).run())
            .map_err(|source| IngestError::Thread {
                what: "Kafka consumer",
                source,
            })?;
        Ok((SourceControl { tx: ctl_tx }, handle))
    }
}

/// The consumer thread's state.
struct Reader {
    source: KafkaSource,
    tx: mpsc::Sender<MicroBatch>,
    commands: std_mpsc::Receiver<Command>,
    batch: MicroBatch,
    batch_started: Instant,
    /// Next position to read, per assigned partition.
    positions: HashMap<i32, Position>,
    /// Stored offsets that were out of range, per partition moved by the policy.
    resets: HashMap<i32, i64>,
    at_end: HashSet<i32>,
    /// An assignment was received and no revocation is pending.
    assigned: bool,
    read: u64,
    /// Batches handed to the writer, and batches it said it is done with.
    sent: u64,
    processed: u64,
    /// Seeks librdkafka did not take yet, retried on every turn.
    pending: HashMap<i32, Position>,
    last_topic_check: Option<Instant>,
    /// When the reader last looked for partitions added to the topic (`reads_all`).
    last_partition_check: Instant,
    /// Since when this member's own partitions are done while others are not.
    waiting_since: Option<Instant>,
    started: Instant,
    assigned_once: bool,
    stop: Arc<AtomicBool>,
}

impl Reader {
    fn new(
        source: KafkaSource,
        tx: mpsc::Sender<MicroBatch>,
        commands: std_mpsc::Receiver<Command>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        Self {
            source,
            tx,
            commands,
            batch: MicroBatch::default(),
            batch_started: Instant::now(),
            positions: HashMap::new(),
            resets: HashMap::new(),
            at_end: HashSet::new(),
            assigned: false,
            read: 0,
            sent: 0,
            processed: 0,
            pending: HashMap::new(),
            last_topic_check: None,
            last_partition_check: Instant::now(),
            waiting_since: None,
            started: Instant::now(),
            assigned_once: false,
            stop,
        }
    }

    fn run(mut self) -> Result<StopReason, IngestError> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                self.send();
                return Ok(StopReason::Stopped);
            }
            self.handle_commands()?;
            if !self.assigned_once && self.started.elapsed() > GROUP_JOIN_TIMEOUT {
                return Err(IngestError::NeverAssigned {
                    group: self.source.opts.group_id.clone(),
                    brokers: self.source.opts.brokers.clone(),
                    topic: self.source.opts.topic.clone(),
                    waited_secs: GROUP_JOIN_TIMEOUT.as_secs(),
                });
            }
            self.pick_up_new_partitions(false)?;
            if self.poll_once(Duration::from_millis(100))? {
                self.send();
                // Let the writer finish so the group's lag offsets land too.
                self.wait_for_writer()?;
                return Ok(StopReason::Limit);
            }
            let opts = &self.source.opts;
            let full = self.batch.records.len() >= opts.flush_rows
                || self.batch.memory >= opts.flush_bytes;
            let due = !self.batch.is_empty() && self.batch_started.elapsed() >= opts.flush_interval;
            let own_done = opts.until_idle && self.is_drained();
            if (full || due || own_done) && !self.send() {
                return Ok(StopReason::Stopped);
            }
            // Drained only once the writer has handled every batch without sending a
            // partition back to be read again, and the whole topic is stored.
            if own_done && self.wait_for_writer()? && self.topic_done()? {
                return Ok(StopReason::Drained);
            }
        }
    }

    /// Poll once and handle what came: group changes, a record, an end of partition or
    /// an error. True when `max_records` is reached.
    fn poll_once(&mut self, timeout: Duration) -> Result<bool, IngestError> {
        enum Polled {
            Record(RawRecord),
            End(i32),
            Error(KafkaError),
        }
        let polled = match self.source.consumer.poll(timeout) {
            Some(Ok(m)) => Some(Polled::Record(crate::record::raw_record(&m))),
            Some(Err(KafkaError::PartitionEOF(p))) => Some(Polled::End(p)),
            Some(Err(e)) => Some(Polled::Error(e)),
            None => None,
        };
        // Assignments (made in poll's rebalance callback, or at start without a group)
        // first: an end of partition or a record that follows one belongs to it.
        self.handle_group_events()?;
        match polled {
            Some(Polled::Record(record)) => {
                if let Err(e) = self.check_size(&record) {
                    // Store what came before it, so a restart stops at this record only.
                    self.send();
                    self.wait_for_writer()?;
                    return Err(e);
                }
                if !self.accept(record) {
                    return Ok(false);
                }
                self.read += 1;
                return Ok(self
                    .source
                    .opts
                    .max_records
                    .is_some_and(|max| self.read >= max));
            }
            Some(Polled::End(p)) => {
                self.at_end.insert(p);
            }
            Some(Polled::Error(e)) => self.consumer_error(e)?,
            None => {}
        }
        Ok(false)
    }

    /// Wait until the writer has handled every batch sent; false when it asked for a
    /// partition to be read again meanwhile, a record arrived, or the run is stopping.
    fn wait_for_writer(&mut self) -> Result<bool, IngestError> {
        let mut reseeks = Vec::new();
        let mut more = false;
        while self.processed < self.sent && !more {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
            match self.commands.recv_timeout(Duration::from_millis(100)) {
                Ok(Command::Processed) => self.processed += 1,
                Ok(Command::CommitGroup(offsets)) => self.commit_group(&offsets),
                Ok(Command::Reseek(p, position)) => reseeks.push((p, position)),
                Err(std_mpsc::RecvTimeoutError::Timeout) => {
                    // Keep serving the group while the writer commits; a record that
                    // arrives means the topic was not drained after all.
                    let before = self.read;
                    self.poll_once(Duration::ZERO)?;
                    more = self.read > before;
                }
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return Ok(false),
            }
        }
        for &(p, position) in &reseeks {
            self.reseek(p, position)?;
        }
        // A rebalance while waiting may have brought partitions not read to their end.
        Ok(!more && reseeks.is_empty() && self.is_drained())
    }

    /// Reading every partition without the group: assign the partitions the topic gained
    /// since (from the lake's resume points, as at the start). Looked for every few seconds
    /// (the group's own metadata refresh interval), or `now`. True when some were added.
    fn pick_up_new_partitions(&mut self, now: bool) -> Result<bool, IngestError> {
        if !self.source.reads_all
            || (!now && self.last_partition_check.elapsed() < PARTITION_CHECK_INTERVAL)
        {
            return Ok(false);
        }
        self.last_partition_check = Instant::now();
        let topic = self.source.opts.topic.clone();
        let consumer = &self.source.consumer;
        let partitions = match topic_partitions(consumer, &self.source.opts.brokers, &topic) {
            Ok(partitions) => partitions,
            // The periodic look is retried on the next turn: a broker that is briefly
            // away is no reason to stop (librdkafka reconnects on its own).
            Err(e) if !now => {
                tracing::warn!("looking for new partitions of '{topic}': {e}");
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let mut tpl = TopicPartitionList::new();
        for p in partitions
            .iter()
            .filter(|p| !self.positions.contains_key(p))
        {
            tpl.add_partition(&topic, *p);
        }
        if tpl.count() == 0 {
            return Ok(false);
        }
        tracing::info!("topic '{topic}' gained partitions: assigning {tpl:?}");
        consumer.context().assign(consumer, &mut tpl, true);
        self.handle_group_events()?;
        Ok(true)
    }

    fn is_drained(&self) -> bool {
        self.assigned
            && self.pending.is_empty()
            && self.positions.keys().all(|p| self.at_end.contains(p))
    }

    /// Every partition of the topic is stored up to its end, whoever stored it: a member
    /// whose own partitions are done still waits for those of a killed member (they come
    /// to it when the dead member's session expires) and of slower ones.
    fn topic_done(&mut self) -> Result<bool, IngestError> {
        if self
            .last_topic_check
            .is_some_and(|t| t.elapsed() < Duration::from_millis(500))
        {
            return Ok(false);
        }
        self.last_topic_check = Some(Instant::now());
        if self.pick_up_new_partitions(true)? {
            return Ok(false);
        }
        let topic = self.source.opts.topic.clone();
        let consumer = &self.source.consumer;
        let partitions = topic_partitions(consumer, &self.source.opts.brokers, &topic)?;
        let handled = consumer
            .context()
            .store
            .handled(&partitions)
            .map_err(|source| IngestError::ResumePoints {
                topic: topic.clone(),
                source,
            })?;
        for p in partitions {
            let (low, high) = consumer
                .fetch_watermarks(&topic, p, CONNECT_TIMEOUT)
                .map_err(IngestError::kafka(format!(
                    "watermarks of partition {p} of {topic}"
                )))?;
            let stored = handled.get(&p).copied();
            if stored.is_some_and(|h| h >= high) || (stored.is_none() && low == high) {
                continue;
            }
            if self.positions.contains_key(&p) {
                // Ours, read to its end and every batch handled, yet not stored: a
                // commit was lost (a store whose create-if-absent is not atomic). The
                // guard would notice on the next batch; there is none, so read again.
                tracing::warn!(
                    "partition {p} of {topic}: read to offset {high} but stored up to \
                     {stored:?}; reading it again"
                );
                self.reseek(p, stored.map_or(Position::Beginning, Position::Offset))?;
                return Ok(false);
            }
            return Ok(self.give_up_waiting(p, stored, high));
        }
        Ok(true)
    }

    /// Waiting for partitions this member does not hold ends after three session
    /// timeouts with no change of assignment: by then a dead member's partitions would
    /// have come to a live one, so nobody reads them (a broker that lost track of an
    /// assignment): say so, and leave them to the next run.
    fn give_up_waiting(&mut self, p: i32, stored: Option<i64>, high: i64) -> bool {
        let topic = &self.source.opts.topic;
        let Some(since) = self.waiting_since else {
            tracing::info!(
                "own partitions done; waiting for partition {p} of {topic} (held by another \
                 member, or by a dead one until its session expires)"
            );
            self.waiting_since = Some(Instant::now());
            return false;
        };
        let session = self
            .source
            .opts
            .extra
            .iter()
            .find(|(k, _)| k == "session.timeout.ms")
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .unwrap_or(DEFAULT_SESSION_TIMEOUT_MS);
        if since.elapsed() < Duration::from_millis(3 * session) {
            return false;
        }
        tracing::warn!(
            "partition {p} of {topic} is stored up to {stored:?} of {high} and no member has \
             read it for {:.0} s; stopping here, a later run continues it",
            since.elapsed().as_secs_f64()
        );
        true
    }

    /// A record larger than the memory budget lets a batch hold can never be stored
    /// within it: stop, naming it (truncating it would lose it, and as a dead letter it
    /// would take the same memory).
    fn check_size(&self, record: &RawRecord) -> Result<(), IngestError> {
        let (limit, bytes) = (self.source.opts.max_record_bytes, record.memory());
        if bytes <= limit {
            return Ok(());
        }
        Err(IngestError::RecordTooLarge {
            topic: self.source.opts.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            bytes,
            limit,
        })
    }

    /// Add a record to the batch if it is the next one of a partition this member reads.
    fn accept(&mut self, record: RawRecord) -> bool {
        let p = record.partition;
        let Some(&position) = self.positions.get(&p) else {
            return false; // revoked meanwhile
        };
        if self.pending.contains_key(&p) {
            return false; // to be read again from elsewhere
        }
        if let Position::Offset(next) = position
            && record.offset < next
        {
            return false; // fetched before a seek
        }
        if self.batch.is_empty() {
            self.batch_started = Instant::now();
        }
        self.at_end.remove(&p);
        if let Some(from) = self.resets.remove(&p) {
            self.batch.resets.insert(p, from);
        }
        self.positions
            .insert(p, Position::Offset(record.offset + 1));
        self.batch.push(record, position);
        true
    }

    /// Hand the batch to the writer; false when the writer is gone.
    fn send(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        self.sent += 1;
        self.tx
            .blocking_send(std::mem::take(&mut self.batch))
            .is_ok()
    }

    fn handle_commands(&mut self) -> Result<(), IngestError> {
        self.retry_seeks();
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Reseek(p, position) => self.reseek(p, position)?,
                Command::CommitGroup(offsets) => self.commit_group(&offsets),
                Command::Processed => self.processed += 1,
            }
        }
        Ok(())
    }

    fn reseek(&mut self, p: i32, position: Position) -> Result<(), IngestError> {
        if !self.positions.contains_key(&p) {
            return Ok(()); // no longer ours: its new owner starts from the lake
        }
        self.batch.drop_partitions(&HashSet::from([p]));
        self.seek(p, position);
        tracing::info!(
            "partition {p} of {}: re-reading from {position:?}",
            self.source.opts.topic
        );
        Ok(())
    }

    /// Move partition `p` to `position`. Right after an assignment librdkafka may not
    /// take a seek yet: it is then retried on every turn of the loop, and the
    /// partition's records are refused until it succeeds.
    fn seek(&mut self, p: i32, position: Position) {
        self.at_end.remove(&p);
        let sought = self.source.consumer.seek(
            &self.source.opts.topic,
            p,
            position.to_offset(),
            Duration::from_millis(500),
        );
        match sought {
            Ok(()) => {
                self.pending.remove(&p);
                self.positions.insert(p, position);
            }
            Err(e) => {
                tracing::debug!("seek partition {p} to {position:?} not taken yet: {e}");
                self.pending.insert(p, position);
            }
        }
    }

    fn retry_seeks(&mut self) {
        let pending: Vec<(i32, Position)> = self.pending.iter().map(|(&p, &o)| (p, o)).collect();
        for (p, position) in pending {
            if self.positions.contains_key(&p) {
                self.seek(p, position);
            } else {
                self.pending.remove(&p);
            }
        }
    }

    fn commit_group(&self, offsets: &BTreeMap<i32, i64>) {
        let mut tpl = TopicPartitionList::new();
        for (&p, &o) in offsets {
            // Only partitions still ours: the group refuses commits for the others.
            if self.positions.contains_key(&p) {
                let _ = tpl.add_partition_offset(&self.source.opts.topic, p, Offset::Offset(o));
            }
        }
        if tpl.count() == 0 {
            return;
        }
        // Synchronous: one round trip per lake commit, and the last one is not lost
        // when the consumer closes right after.
        if let Err(e) = self.source.consumer.commit(&tpl, CommitMode::Sync) {
            tracing::warn!("consumer group commit: {e}");
        }
    }

    fn handle_group_events(&mut self) -> Result<(), IngestError> {
        let events = std::mem::take(
            &mut *self
                .source
                .consumer
                .context()
                .events
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for event in events {
            self.source
                .counters
                .rebalances
                .fetch_add(1, Ordering::Relaxed);
            // A new assignment restarts the wait for the rest of the topic.
            self.waiting_since = None;
            match event {
                GroupEvent::Assigned(starts) => {
                    for start in starts {
                        let p = start.partition;
                        self.positions.insert(p, start.position);
                        self.pending.remove(&p);
                        self.at_end.remove(&p);
                        if let Some(from) = start.reset_from {
                            self.note_reset(p, from);
                        }
                    }
                    self.assigned = true;
                    self.assigned_once = true;
                    tracing::info!(
                        "assigned {} partitions of {}: {:?}",
                        self.positions.len(),
                        self.source.opts.topic,
                        self.positions
                    );
                }
                GroupEvent::Revoked(parts) => {
                    tracing::info!("revoked partitions {parts:?} of {}", self.source.opts.topic);
                    let parts: HashSet<i32> = parts.into_iter().collect();
                    // Buffered records of a revoked partition are its new owner's now.
                    self.batch.drop_partitions(&parts);
                    for p in &parts {
                        self.positions.remove(p);
                        self.pending.remove(p);
                        self.at_end.remove(p);
                        self.resets.remove(p);
                    }
                    self.assigned = !self.positions.is_empty();
                }
                GroupEvent::Failed(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// A consumer error: an out-of-range offset goes by the policy, a fatal error stops
    /// the run, a transient one is counted (librdkafka retries by itself).
    fn consumer_error(&mut self, e: KafkaError) -> Result<(), IngestError> {
        let code = e.rdkafka_error_code();
        if matches!(
            code,
            Some(RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange)
        ) {
            return self.recover_out_of_range();
        }
        let fatal = matches!(e, KafkaError::MessageConsumptionFatal(_))
            || matches!(
                code,
                Some(
                    RDKafkaErrorCode::UnknownTopicOrPartition
                        | RDKafkaErrorCode::UnknownTopic
                        | RDKafkaErrorCode::TopicAuthorizationFailed
                        | RDKafkaErrorCode::GroupAuthorizationFailed
                        | RDKafkaErrorCode::Fatal
                )
            );
        if fatal {
            return Err(IngestError::Kafka {
                context: format!("consuming topic '{}'", self.source.opts.topic),
                source: e,
            });
        }
        self.source
            .counters
            .transient_errors
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!("kafka consumer (retrying): {e}");
        Ok(())
    }

    /// A fetch found its offset outside the log (retention removed records while we
    /// read). librdkafka does not say which partition, and stops fetching it: check
    /// every partition against the log's bounds, apply the policy where one is out of
    /// range, and seek the others to where they are, which restarts their fetch.
    fn recover_out_of_range(&mut self) -> Result<(), IngestError> {
        let topic = self.source.opts.topic.clone();
        let positions: Vec<(i32, Position)> =
            self.positions.iter().map(|(&p, &pos)| (p, pos)).collect();
        for (p, position) in positions {
            let Position::Offset(stored) = position else {
                self.seek(p, position);
                continue;
            };
            let start =
                self.source
                    .consumer
                    .context()
                    .start(&self.source.consumer, p, Some(stored))?;
            if let Some(from) = start.reset_from {
                self.note_reset(p, from);
                tracing::warn!("partition {p} of {topic}: moved to {:?}", start.position);
            }
            self.seek(p, start.position);
        }
        Ok(())
    }

    /// Partition `p` was moved away from its stored offset `from` by the policy: the
    /// next batch says so, for the writer's check.
    fn note_reset(&mut self, p: i32, from: i64) {
        self.resets.insert(p, from);
        self.source
            .counters
            .out_of_range_resets
            .fetch_add(1, Ordering::Relaxed);
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

    #[test]
    fn null_and_empty_are_told_apart_in_size() {
        let mut r = RawRecord::new(0, 0, Vec::new());
        assert_eq!(r.size(), 0);
        r.payload = None;
        r.key = Some(b"k".to_vec());
        r.headers = vec![("h".into(), None)];
        assert_eq!(r.size(), 2);
    }
}
