//! What every Kafka client of pipelab shares: the configuration it starts from, how
//! long a broker may take to answer, where librdkafka's own messages go, and making a
//! topic that may already exist.

use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// How long to wait for the broker before calling it unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The configuration every Kafka client of pipelab starts from: the brokers to reach.
/// Each client then adds its own settings (a consumer's group, a producer's acks, an
/// admin client's timeouts), so that what they share is said once.
pub fn config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    config
}

/// A consumer that decides its positions itself (the source from the lake, the topic
/// reader from its ranges): nothing committed or stored behind its back, an end of
/// partition reported (that is how it knows it has read everything), an offset outside
/// the log an error rather than a silent jump, and [`CONNECT_TIMEOUT`] to connect.
pub(crate) fn reader_config(brokers: &str, group_id: &str) -> ClientConfig {
    let mut config = config(brokers);
    config
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "error")
        .set(
            "socket.connection.setup.timeout.ms",
            CONNECT_TIMEOUT.as_millis().to_string(),
        );
    config
}

/// Why [`create_topic`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateTopicError {
    /// The request itself failed (no broker answered, a timeout).
    #[error("{0}")]
    Request(KafkaError),
    /// The broker answered, refusing to create the topic.
    #[error("topic '{topic}': {code}")]
    Refused {
        /// The topic, as the broker named it.
        topic: String,
        /// The broker's reason.
        code: RDKafkaErrorCode,
    },
}

impl CreateTopicError {
    /// The error as rdkafka would name it: a refusal is an admin operation's error code.
    pub fn into_kafka(self) -> KafkaError {
        match self {
            Self::Request(e) => e,
            Self::Refused { code, .. } => KafkaError::AdminOp(code),
        }
    }
}

/// Create `topic` with `partitions` partitions and one replica, a topic that already
/// exists counting as created: several processes may start against one cluster, and
/// whether an existing topic has the size wanted is the caller's question.
pub async fn create_topic<C: ClientContext>(
    admin: &AdminClient<C>,
    topic: &str,
    partitions: i32,
    options: &AdminOptions,
) -> Result<(), CreateTopicError> {
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = admin
        .create_topics([&new_topic], options)
        .await
        .map_err(CreateTopicError::Request)?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(CreateTopicError::Refused { topic, code }),
        }
    }
    Ok(())
}

/// librdkafka's own log lines (its `debug` setting) go to pipelab's log, each at its level.
pub(crate) fn log(level: RDKafkaLogLevel, fac: &str, message: &str) {
    use RDKafkaLogLevel as L;
    match level {
        L::Emerg | L::Alert | L::Critical | L::Error => {
            tracing::error!(target: "librdkafka", "{fac}: {message}")
        }
        L::Warning => tracing::warn!(target: "librdkafka", "{fac}: {message}"),
        L::Notice | L::Info => tracing::info!(target: "librdkafka", "{fac}: {message}"),
        L::Debug => tracing::debug!(target: "librdkafka", "{fac}: {message}"),
    }
}

/// librdkafka's errors, but not the end of a partition: with `enable.partition.eof` that
/// is how a reader learns it has read everything, not a failure.
pub(crate) fn error(error: KafkaError, reason: &str) {
    let end_of_partition = matches!(
        error,
        KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
    );
    if end_of_partition {
        tracing::debug!(target: "librdkafka", "{error}: {reason}");
    } else {
        tracing::error!("librdkafka: {error}: {reason}");
    }
}

/// A client context that logs through [`log`] and [`error`] and does nothing else.
#[derive(Debug, Default, Clone, Copy)]
pub struct QuietContext;

impl ClientContext for QuietContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        log(level, fac, message);
    }

    fn error(&self, e: KafkaError, reason: &str) {
        error(e, reason);
    }
}

impl ConsumerContext for QuietContext {}
