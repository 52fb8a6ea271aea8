//! Consumer-group membership: newly assigned partitions start at the lake's resume
//! points (moved by the out-of-range policy when the log no longer has them), and each
//! change is recorded for the reading loop, which owns the buffered batch.

use std::sync::{Arc, Mutex};

use rdkafka::ClientContext;
use rdkafka::TopicPartitionList;
use rdkafka::bindings::rd_kafka_resp_err_t as RespErr;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::batch::Position;
use crate::client::CONNECT_TIMEOUT;
use crate::error::IngestError;
use crate::options::{OffsetStore, OutOfRange};

/// Where an assigned partition starts reading.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Start {
    pub(crate) partition: i32,
    pub(crate) position: Position,
    /// The stored offset, when the out-of-range policy moved away from it.
    pub(crate) reset_from: Option<i64>,
}

/// A group membership change, recorded in the rebalance callback and applied by the
/// reading loop (which owns the buffered batch).
#[derive(Debug)]
pub(crate) enum GroupEvent {
    Assigned(Vec<Start>),
    Revoked(Vec<i32>),
    Failed(IngestError),
}

/// The consumer's context: starts newly assigned partitions at the lake's resume points,
/// and quiets librdkafka's end-of-partition noise.
pub(crate) struct SourceContext {
    pub(crate) topic: String,
    pub(crate) store: Arc<dyn OffsetStore>,
    /// Where librdkafka's statistics land (see [`ClientContext::stats`]).
    pub(crate) counters: Arc<crate::control::SourceCounters>,
    pub(crate) on_out_of_range: OutOfRange,
    pub(crate) events: Mutex<Vec<GroupEvent>>,
}

impl SourceContext {
    pub(crate) fn record(&self, event: GroupEvent) {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event);
    }

    pub(crate) fn partitions(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        tpl.elements_for_topic(&self.topic)
            .iter()
            .map(|e| e.partition())
            .collect()
    }

    /// Set each newly assigned partition's offset to the lake's resume point (moved by the
    /// out-of-range policy when the log no longer has it); on failure nothing is assigned
    /// (reading from the group's offsets would be wrong) and the run stops with the error.
    /// `added`: partitions added to what is already assigned (the topic grew).
    pub(crate) fn assign(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &mut TopicPartitionList,
        added: bool,
    ) {
        let parts = self.partitions(tpl);
        let cooperative = added
            || matches!(
                consumer.rebalance_protocol(),
                RebalanceProtocol::Cooperative
            );
        let stored = self
            .store
            .resume(&parts)
            .map_err(|source| IngestError::ResumePoints {
                topic: self.topic.clone(),
                source,
            });
        let starts = stored.and_then(|stored| {
            parts
                .iter()
                .map(|&p| {
                    let start = self.start(consumer, p, stored.get(&p).copied())?;
                    tpl.set_partition_offset(&self.topic, p, start.position.to_offset())
                        .map_err(IngestError::kafka("assign"))?;
                    Ok(start)
                })
                .collect::<Result<Vec<_>, IngestError>>()
        });
        let result = match starts {
            Ok(starts) => {
                self.record(GroupEvent::Assigned(starts));
                if cooperative {
                    consumer.incremental_assign(tpl).map(|_| ())
                } else {
                    consumer.assign(tpl)
                }
            }
            Err(e) => {
                self.record(GroupEvent::Failed(e));
                consumer.assign(&TopicPartitionList::new())
            }
        };
        if let Err(e) = result {
            self.record(GroupEvent::Failed(IngestError::Kafka {
                context: format!("assigning partitions of topic '{}'", self.topic),
                source: e,
            }));
        }
    }

    /// Where partition `p` starts: its stored offset, checked against the log's bounds
    /// (not every broker answers a fetch past the end with an error).
    pub(crate) fn start(
        &self,
        consumer: &BaseConsumer<Self>,
        p: i32,
        stored: Option<i64>,
    ) -> Result<Start, IngestError> {
        let Some(stored) = stored else {
            return Ok(Start {
                partition: p,
                position: Position::Beginning,
                reset_from: None,
            });
        };
        let (low, high) = consumer
            .fetch_watermarks(&self.topic, p, CONNECT_TIMEOUT)
            .map_err(IngestError::kafka(format!(
                "watermarks of partition {p} of {}",
                self.topic
            )))?;
        if (low..=high).contains(&stored) {
            return Ok(Start {
                partition: p,
                position: Position::Offset(stored),
                reset_from: None,
            });
        }
        let to = match self.on_out_of_range {
            OutOfRange::Fail => {
                return Err(IngestError::OffsetOutOfRange {
                    topic: self.topic.clone(),
                    partition: p,
                    stored,
                    low,
                    high,
                });
            }
            OutOfRange::Earliest => low,
            OutOfRange::Latest => high,
        };
        tracing::warn!(
            "topic '{}' partition {p}: stored offset {stored} is outside the log ({low}..{high}); \
             moving to {to} by on_offset_out_of_range",
            self.topic
        );
        Ok(Start {
            partition: p,
            position: Position::Offset(to),
            reset_from: Some(stored),
        })
    }

    pub(crate) fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        self.record(GroupEvent::Revoked(self.partitions(tpl)));
        let result = if matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        ) {
            consumer.incremental_unassign(tpl)
        } else {
            consumer.unassign()
        };
        if let Err(e) = result {
            tracing::warn!("unassigning partitions: {e}");
        }
    }
}

impl ClientContext for SourceContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        crate::client::log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        crate::client::error(error, reason);
    }

    /// Every second: each partition's log end, lag and prefetch queue.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        let mut partitions = self
            .counters
            .partitions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (&id, p) in &topic.partitions {
            // librdkafka's internal "unassigned" partition is -1.
            if id < 0 || !p.desired {
                continue;
            }
            // The next offset the application reads; before the first read, the log's
            // start (or the stored position, once fetching began).
            let next = [p.app_offset, p.next_offset, p.lo_offset]
                .into_iter()
                .find(|&o| o >= 0)
                .unwrap_or(0);
            partitions.insert(
                id,
                crate::control::PartitionMetrics {
                    high_watermark: p.hi_offset,
                    lag: (p.hi_offset - next).max(0),
                    received: p.rxmsgs,
                    prefetched_bytes: p.fetchq_size,
                },
            );
        }
    }
}

impl ConsumerContext for SourceContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RespErr, tpl: &mut TopicPartitionList) {
        match err {
            RespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl, false),
            RespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.revoke(consumer, tpl),
            other => {
                let code: RDKafkaErrorCode = other.into();
                // A failed rebalance leaves nothing assigned; librdkafka rejoins.
                tracing::warn!("consumer group rebalance failed: {code}");
                self.revoke(consumer, tpl);
            }
        }
    }
}

/// The topic's partition ids; [`IngestError::UnknownTopic`] when it does not exist.
pub(crate) fn topic_partitions(
    client: &BaseConsumer<SourceContext>,
    brokers: &str,
    topic: &str,
) -> Result<Vec<i32>, IngestError> {
    let metadata = client
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
