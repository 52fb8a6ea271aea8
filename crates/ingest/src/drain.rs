//! When a source reading `until_idle` may call the topic drained: every partition is
//! stored up to its end, whoever stored it, or nobody has read the rest for so long
//! that it is left to the next run.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::batch::Position;
use crate::client::CONNECT_TIMEOUT;
use crate::error::IngestError;
use crate::options::SourceOptions;
use crate::positions::Positions;
use crate::rebalance::{SourceContext, topic_partitions};

/// How often the whole topic is looked at: each look asks the store and the broker.
const CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// What a look at the whole topic found.
pub(crate) enum Verdict {
    /// Every partition is stored up to its end, or given up on.
    Done,
    /// Some partition is not stored up to its end yet.
    NotYet,
    /// One of ours was read to its end but not stored: read it again from here.
    Reread(i32, Position),
}

/// The state of the looks at the whole topic.
pub(crate) struct Drain {
    last_check: Option<Instant>,
    /// Since when this member's own partitions are done while others are not.
    waiting_since: Option<Instant>,
    /// The group's session timeout, in milliseconds.
    session_timeout_ms: u64,
}

impl Drain {
    pub(crate) fn new(opts: &SourceOptions) -> Self {
        Self {
            last_check: None,
            waiting_since: None,
            session_timeout_ms: opts.session_timeout_ms(),
        }
    }

    /// A look is due (at most one per [`CHECK_INTERVAL`]); counts as the look begun.
    pub(crate) fn due(&mut self) -> bool {
        if self
            .last_check
            .is_some_and(|t| t.elapsed() < CHECK_INTERVAL)
        {
            return false;
        }
        self.last_check = Some(Instant::now());
        true
    }

    /// The assignment changed: the wait for the rest of the topic starts again.
    pub(crate) fn restart_wait(&mut self) {
        self.waiting_since = None;
    }

    /// Every partition of the topic is stored up to its end, whoever stored it: a member
    /// whose own partitions are done still waits for those of a killed member (they come
    /// to it when the dead member's session expires) and of slower ones.
    pub(crate) fn check(
        &mut self,
        consumer: &BaseConsumer<SourceContext>,
        opts: &SourceOptions,
        positions: &Positions,
    ) -> Result<Verdict, IngestError> {
        let topic = &opts.topic;
        let partitions = topic_partitions(consumer, &opts.brokers, topic)?;
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
                .fetch_watermarks(topic, p, CONNECT_TIMEOUT)
                .map_err(IngestError::kafka(format!(
                    "watermarks of partition {p} of {topic}"
                )))?;
            let stored = handled.get(&p).copied();
            if stored.is_some_and(|h| h >= high) || (stored.is_none() && low == high) {
                continue;
            }
            if positions.holds(p) {
                // Ours, read to its end and every batch handled, yet not stored: a
                // commit was lost (a store whose create-if-absent is not atomic). The
                // guard would notice on the next batch; there is none, so read again.
                tracing::warn!(
                    "partition {p} of {topic}: read to offset {high} but stored up to \
                     {stored:?}; reading it again"
                );
                let from = stored.map_or(Position::Beginning, Position::Offset);
                return Ok(Verdict::Reread(p, from));
            }
            return Ok(if self.give_up_waiting(topic, p, stored, high) {
                Verdict::Done
            } else {
                Verdict::NotYet
            });
        }
        Ok(Verdict::Done)
    }

    /// Waiting for partitions this member does not hold ends after three session
    /// timeouts with no change of assignment: by then a dead member's partitions would
    /// have come to a live one, so nobody reads them (a broker that lost track of an
    /// assignment): say so, and leave them to the next run.
    fn give_up_waiting(&mut self, topic: &str, p: i32, stored: Option<i64>, high: i64) -> bool {
        let Some(since) = self.waiting_since else {
            tracing::info!(
                "own partitions done; waiting for partition {p} of {topic} (held by another \
                 member, or by a dead one until its session expires)"
            );
            self.waiting_since = Some(Instant::now());
            return false;
        };
        if since.elapsed() < Duration::from_millis(3 * self.session_timeout_ms) {
            return false;
        }
        tracing::warn!(
            "partition {p} of {topic} is stored up to {stored:?} of {high} and no member has \
             read it for {:.0} s; stopping here, a later run continues it",
            since.elapsed().as_secs_f64()
        );
        true
    }
}
