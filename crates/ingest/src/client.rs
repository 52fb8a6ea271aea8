//! What every Kafka client of this crate shares: how long a broker may take to answer,
//! and where librdkafka's own messages go.

use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// How long to wait for the broker before calling it unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
