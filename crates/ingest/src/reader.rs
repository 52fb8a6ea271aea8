//! The reading loop of a Kafka source, on a thread of its own: it polls the consumer,
//! fills a micro-batch until it is full, due or the topic is drained, hands it to the
//! writer, and between polls applies group changes, consumer errors and the writer's
//! commands.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::mpsc;

use crate::batch::{MicroBatch, Position};
use crate::control::{Command, SourceCounters};
use crate::drain::{Drain, Verdict};
use crate::error::IngestError;
use crate::options::{SourceOptions, StopReason};
use crate::positions::Positions;
use crate::rebalance::{GroupEvent, SourceContext, Start, topic_partitions};
use crate::record::{RawRecord, raw_record};

/// How often a reader of every partition looks for partitions added to the topic: the
/// interval the group's members refresh metadata at (`topic.metadata.refresh.interval.ms`).
const PARTITION_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// How long a group member may wait for its first assignment before the run stops:
/// a broker whose coordinator never settles must not leave a run hanging silently.
const GROUP_JOIN_TIMEOUT: Duration = Duration::from_secs(60);

/// The consumer thread's state.
pub(crate) struct Reader {
    opts: SourceOptions,
    consumer: BaseConsumer<SourceContext>,
    counters: Arc<SourceCounters>,
    /// Every partition is read without the group: partitions added to the topic are
    /// assigned by the reader itself.
    reads_all: bool,
    tx: mpsc::Sender<MicroBatch>,
    commands: std_mpsc::Receiver<Command>,
    batch: MicroBatch,
    batch_started: Instant,
    positions: Positions,
    drain: Drain,
    /// An assignment was received and no revocation is pending.
    assigned: bool,
    read: u64,
    /// Batches handed to the writer, and batches it said it is done with.
    sent: u64,
    processed: u64,
    /// When the reader last looked for partitions added to the topic (`reads_all`).
    last_partition_check: Instant,
    started: Instant,
    assigned_once: bool,
    stop: Arc<AtomicBool>,
}

/// What one poll brought.
enum Polled {
    Record(RawRecord),
    End(i32),
    Error(KafkaError),
}

impl Reader {
    /// A reader of a connected consumer, sending batches to `tx` and taking the writer's
    /// `commands`, until `stop` is set.
    pub(crate) fn new(
        opts: SourceOptions,
        consumer: BaseConsumer<SourceContext>,
        counters: Arc<SourceCounters>,
        reads_all: bool,
        tx: mpsc::Sender<MicroBatch>,
        commands: std_mpsc::Receiver<Command>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        Self {
            positions: Positions::new(opts.topic.clone()),
            drain: Drain::new(&opts),
            opts,
            consumer,
            counters,
            reads_all,
            tx,
            commands,
            batch: MicroBatch::default(),
            batch_started: Instant::now(),
            assigned: false,
            read: 0,
            sent: 0,
            processed: 0,
            last_partition_check: Instant::now(),
            started: Instant::now(),
            assigned_once: false,
            stop,
        }
    }

    /// Read until stopped, drained, at `max_records`, or failed.
    pub(crate) fn run(mut self) -> Result<StopReason, IngestError> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                self.send();
                return Ok(StopReason::Stopped);
            }
            self.handle_commands()?;
            self.check_joined()?;
            self.pick_up_new_partitions(false)?;
            if self.poll_once(Duration::from_millis(100))? {
                self.send();
                // Let the writer finish so the group's lag offsets land too.
                self.wait_for_writer()?;
                return Ok(StopReason::Limit);
            }
            let own_done = self.opts.until_idle && self.is_drained();
            if (self.batch_ready() || own_done) && !self.send() {
                return Ok(StopReason::Stopped);
            }
            // Drained only once the writer has handled every batch without sending a
            // partition back to be read again, and the whole topic is stored.
            if own_done && self.wait_for_writer()? && self.topic_done()? {
                return Ok(StopReason::Drained);
            }
        }
    }

    /// A member that never got an assignment stops after [`GROUP_JOIN_TIMEOUT`].
    fn check_joined(&self) -> Result<(), IngestError> {
        if self.assigned_once || self.started.elapsed() <= GROUP_JOIN_TIMEOUT {
            return Ok(());
        }
        Err(IngestError::NeverAssigned {
            group: self.opts.group_id.clone(),
            brokers: self.opts.brokers.clone(),
            topic: self.opts.topic.clone(),
            waited_secs: GROUP_JOIN_TIMEOUT.as_secs(),
        })
    }

    /// The batch is full (rows or memory) or its first record waited long enough.
    fn batch_ready(&self) -> bool {
        let opts = &self.opts;
        let full =
            self.batch.records.len() >= opts.flush_rows || self.batch.memory >= opts.flush_bytes;
        let due = !self.batch.is_empty() && self.batch_started.elapsed() >= opts.flush_interval;
        full || due
    }

    /// Poll once and handle what came: group changes, a record, an end of partition or
    /// an error. True when `max_records` is reached.
    fn poll_once(&mut self, timeout: Duration) -> Result<bool, IngestError> {
        let polled = match self.consumer.poll(timeout) {
            Some(Ok(m)) => Some(Polled::Record(raw_record(&m))),
            Some(Err(KafkaError::PartitionEOF(p))) => Some(Polled::End(p)),
            Some(Err(e)) => Some(Polled::Error(e)),
            None => None,
        };
        // Assignments (made in poll's rebalance callback, or at start without a group)
        // first: an end of partition or a record that follows one belongs to it.
        self.handle_group_events()?;
        match polled {
            Some(Polled::Record(record)) => return self.take(record),
            Some(Polled::End(p)) => self.positions.reached_end(p),
            Some(Polled::Error(e)) => self.consumer_error(e)?,
            None => {}
        }
        Ok(false)
    }

    /// A polled record: into the batch if it is next in its partition. True when
    /// `max_records` is reached.
    fn take(&mut self, record: RawRecord) -> Result<bool, IngestError> {
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
        Ok(self.opts.max_records.is_some_and(|max| self.read >= max))
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
                Ok(Command::CommitGroup(offsets)) => {
                    self.positions.commit_group(&self.consumer, &offsets)
                }
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
        if !self.reads_all
            || (!now && self.last_partition_check.elapsed() < PARTITION_CHECK_INTERVAL)
        {
            return Ok(false);
        }
        self.last_partition_check = Instant::now();
        let topic = &self.opts.topic;
        let partitions = match topic_partitions(&self.consumer, &self.opts.brokers, topic) {
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
        for p in partitions.into_iter().filter(|&p| !self.positions.holds(p)) {
            tpl.add_partition(topic, p);
        }
        if tpl.count() == 0 {
            return Ok(false);
        }
        tracing::info!("topic '{topic}' gained partitions: assigning {tpl:?}");
        self.consumer
            .context()
            .assign(&self.consumer, &mut tpl, true);
        self.handle_group_events()?;
        Ok(true)
    }

    fn is_drained(&self) -> bool {
        self.assigned && self.positions.all_at_end()
    }

    /// The whole topic is stored (see [`Drain::check`]), looked at every so often; a
    /// partition the topic gained, or one of ours to read again, means not yet.
    fn topic_done(&mut self) -> Result<bool, IngestError> {
        if !self.drain.due() || self.pick_up_new_partitions(true)? {
            return Ok(false);
        }
        match self
            .drain
            .check(&self.consumer, &self.opts, &self.positions)?
        {
            Verdict::Done => Ok(true),
            Verdict::NotYet => Ok(false),
            Verdict::Reread(p, position) => {
                self.reseek(p, position)?;
                Ok(false)
            }
        }
    }

    /// A record larger than the memory budget lets a batch hold can never be stored
    /// within it: stop, naming it (truncating it would lose it, and as a dead letter it
    /// would take the same memory).
    fn check_size(&self, record: &RawRecord) -> Result<(), IngestError> {
        let (limit, bytes) = (self.opts.max_record_bytes, record.memory());
        if bytes <= limit {
            return Ok(());
        }
        Err(IngestError::RecordTooLarge {
            topic: self.opts.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            bytes,
            limit,
        })
    }

    /// Add a record to the batch if it is the next one of a partition this member reads.
    fn accept(&mut self, record: RawRecord) -> bool {
        let Some(accepted) = self.positions.advance(&record) else {
            return false;
        };
        if self.batch.is_empty() {
            self.batch_started = Instant::now();
        }
        if let Some(from) = accepted.reset_from {
            self.batch.resets.insert(record.partition, from);
        }
        self.batch.push(record, accepted.from);
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
        self.positions.retry_seeks(&self.consumer);
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Reseek(p, position) => self.reseek(p, position)?,
                Command::CommitGroup(offsets) => {
                    self.positions.commit_group(&self.consumer, &offsets)
                }
                Command::Processed => self.processed += 1,
            }
        }
        Ok(())
    }

    fn reseek(&mut self, p: i32, position: Position) -> Result<(), IngestError> {
        if !self.positions.holds(p) {
            return Ok(()); // no longer ours: its new owner starts from the lake
        }
        self.batch.drop_partitions(&HashSet::from([p]));
        self.positions.seek(&self.consumer, p, position);
        tracing::info!(
            "partition {p} of {}: re-reading from {position:?}",
            self.opts.topic
        );
        Ok(())
    }

    fn handle_group_events(&mut self) -> Result<(), IngestError> {
        let events = std::mem::take(
            &mut *self
                .consumer
                .context()
                .events
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for event in events {
            self.counters.rebalances.fetch_add(1, Ordering::Relaxed);
            // A new assignment restarts the wait for the rest of the topic.
            self.drain.restart_wait();
            match event {
                GroupEvent::Assigned(starts) => self.assigned(&starts),
                GroupEvent::Revoked(parts) => self.revoked(parts),
                GroupEvent::Failed(error) => return Err(error),
            }
        }
        Ok(())
    }

    fn assigned(&mut self, starts: &[Start]) {
        for start in starts {
            self.positions.start(start, &self.counters);
        }
        // The group's offsets follow the lake's (the truth), also where another member
        // stored last: its final group commit is refused once it is no longer a member.
        let at: std::collections::BTreeMap<i32, i64> = starts
            .iter()
            .filter_map(|s| match s.position {
                Position::Offset(o) => Some((s.partition, o)),
                Position::Beginning => None,
            })
            .collect();
        self.positions.commit_group(&self.consumer, &at);
        self.assigned = true;
        self.assigned_once = true;
        tracing::info!(
            "assigned {} partitions of {}: {:?}",
            self.positions.next().len(),
            self.opts.topic,
            self.positions.next()
        );
    }

    fn revoked(&mut self, parts: Vec<i32>) {
        tracing::info!("revoked partitions {parts:?} of {}", self.opts.topic);
        let parts: HashSet<i32> = parts.into_iter().collect();
        // Buffered records of a revoked partition are its new owner's now.
        self.batch.drop_partitions(&parts);
        self.positions.revoke(&parts);
        self.assigned = !self.positions.next().is_empty();
    }

    /// A consumer error: an out-of-range offset goes by the policy, a fatal error stops
    /// the run, a transient one is counted (librdkafka retries by itself).
    fn consumer_error(&mut self, e: KafkaError) -> Result<(), IngestError> {
        let code = e.rdkafka_error_code();
        if matches!(
            code,
            Some(RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange)
        ) {
            return self
                .positions
                .recover_out_of_range(&self.consumer, &self.counters);
        }
        if is_fatal(&e) {
            return Err(IngestError::Kafka {
                context: format!("consuming topic '{}'", self.opts.topic),
                source: e,
            });
        }
        self.counters
            .transient_errors
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!("kafka consumer (retrying): {e}");
        Ok(())
    }
}

/// An error after which reading cannot go on: the topic is gone or not ours to read.
fn is_fatal(e: &KafkaError) -> bool {
    matches!(e, KafkaError::MessageConsumptionFatal(_))
        || matches!(
            e.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::UnknownTopicOrPartition
                    | RDKafkaErrorCode::UnknownTopic
                    | RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::GroupAuthorizationFailed
                    | RDKafkaErrorCode::Fatal
            )
        )
}
