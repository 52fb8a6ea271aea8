//! Topic administration through the Kafka admin API, as against any Kafka.

use pipelab_ingest::client::{CreateTopicError, create_topic};
use rdkafka::{
    ClientConfig,
    admin::{AdminClient, AdminOptions},
    client::DefaultClientContext,
    error::KafkaError,
};

use crate::DevstackError;
use crate::config::ADMIN_TIMEOUT;

fn admin_config(bootstrap: &str) -> ClientConfig {
    let mut config = pipelab_ingest::client::config(bootstrap);
    let _ = config
        // 127.0.0.1 only; do not let librdkafka try IPv6 first.
        .set("broker.address.family", "v4")
        .set("socket.timeout.ms", ADMIN_TIMEOUT.as_millis().to_string());
    config
}

pub(crate) fn create_topic_blocking(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> Result<(), DevstackError> {
    let kafka_error = |operation: &'static str| {
        move |source: KafkaError| DevstackError::Kafka {
            operation,
            bootstrap: bootstrap.to_owned(),
            source,
        }
    };

    let admin: AdminClient<DefaultClientContext> = admin_config(bootstrap)
        .create()
        .map_err(kafka_error("admin client creation"))?;

    let options = AdminOptions::new()
        .request_timeout(Some(ADMIN_TIMEOUT))
        .operation_timeout(Some(ADMIN_TIMEOUT));

    // The admin future completes from rdkafka's own polling thread; no runtime is needed.
    futures::executor::block_on(create_topic(&admin, topic, partitions, &options)).map_err(
        |e| match e {
            CreateTopicError::Request(source) => kafka_error("CreateTopics")(source),
            CreateTopicError::Refused { topic, code } => DevstackError::CreateTopic {
                topic,
                bootstrap: bootstrap.to_owned(),
                code,
            },
        },
    )?;

    // Confirm through metadata, which is what producers and consumers will see, and
    // catch an existing topic of a different size.
    let metadata = admin
        .inner()
        .fetch_metadata(Some(topic), ADMIN_TIMEOUT)
        .map_err(kafka_error("Metadata"))?;
    let listed = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none());
    match listed {
        None => Err(DevstackError::TopicMissing {
            topic: topic.to_owned(),
            bootstrap: bootstrap.to_owned(),
        }),
        Some(t) if t.partitions().len() != partitions as usize => {
            Err(DevstackError::TopicPartitionMismatch {
                topic: topic.to_owned(),
                bootstrap: bootstrap.to_owned(),
                existing: t.partitions().len(),
                requested: partitions,
            })
        }
        Some(_) => Ok(()),
    }
}
