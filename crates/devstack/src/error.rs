//! The one error type of the embedded stack.

use std::{io, net::SocketAddr, path::PathBuf, time::Duration};

use rdkafka::{error::KafkaError, types::RDKafkaErrorCode};

/// Everything that can go wrong starting or using the embedded stack. Each message names
/// the address, path or topic involved.
#[derive(thiserror::Error, Debug)]
pub enum DevstackError {
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "the broker database path {path} cannot be expressed as a tansu sqlite:// URL \
         (it must be valid UTF-8 without characters URLs percent-encode, such as spaces); \
         choose a data directory with a plainer path"
    )]
    UnsupportedPath { path: PathBuf },

    #[error(
        "invalid bucket name {bucket:?}: S3 bucket names are 3-63 characters of lowercase \
         letters, digits, '.' and '-', starting and ending with a letter or digit"
    )]
    InvalidBucket { bucket: String },

    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },

    #[error("cannot find a free TCP port on 127.0.0.1: {source}")]
    NoFreePort {
        #[source]
        source: io::Error,
    },

    #[error("cannot start the {what} thread or runtime: {source}")]
    Runtime {
        what: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("embedded Kafka broker on {addr} (database {db}) failed: {source}")]
    Broker {
        addr: SocketAddr,
        db: PathBuf,
        #[source]
        source: Box<ServerFailure>,
    },

    #[error("embedded Kafka broker on {addr} did not accept connections within {waited:?}")]
    BrokerNotReady { addr: SocketAddr, waited: Duration },

    #[error("embedded S3 endpoint on {addr} (serving {root}) failed: {source}")]
    S3 {
        addr: SocketAddr,
        root: PathBuf,
        #[source]
        source: Box<ServerFailure>,
    },

    #[error("Kafka {operation} against {bootstrap} failed: {source}")]
    Kafka {
        operation: &'static str,
        bootstrap: String,
        #[source]
        source: KafkaError,
    },

    #[error("creating topic {topic:?} on {bootstrap} failed: {code}")]
    CreateTopic {
        topic: String,
        bootstrap: String,
        code: RDKafkaErrorCode,
    },

    #[error("cannot create topic {topic:?} with {partitions} partitions: at least 1 is needed")]
    InvalidPartitions { topic: String, partitions: i32 },

    #[error(
        "topic {topic:?} already exists on {bootstrap} with {existing} partitions, \
         not the {requested} requested"
    )]
    TopicPartitionMismatch {
        topic: String,
        bootstrap: String,
        existing: usize,
        requested: i32,
    },

    #[error("topic {topic:?} was created on {bootstrap} but its metadata does not list it")]
    TopicMissing { topic: String, bootstrap: String },

    #[error("background task for {what} failed: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
}

impl DevstackError {
    /// True when the user can fix this in what they asked for (a directory, a port, a
    /// bucket or topic); false when the servers or the machine failed.
    pub fn is_user_fixable(&self) -> bool {
        match self {
            DevstackError::DataDir { .. }
            | DevstackError::UnsupportedPath { .. }
            | DevstackError::InvalidBucket { .. }
            | DevstackError::Bind { .. }
            | DevstackError::InvalidPartitions { .. }
            | DevstackError::TopicPartitionMismatch { .. } => true,
            DevstackError::NoFreePort { .. }
            | DevstackError::Runtime { .. }
            | DevstackError::Broker { .. }
            | DevstackError::BrokerNotReady { .. }
            | DevstackError::S3 { .. }
            | DevstackError::Kafka { .. }
            | DevstackError::CreateTopic { .. }
            | DevstackError::TopicMissing { .. }
            | DevstackError::Task { .. } => false,
        }
    }
}

/// Why one of the embedded servers did not start, or stopped.
#[derive(thiserror::Error, Debug)]
pub enum ServerFailure {
    #[error("cannot build its tokio runtime: {0}")]
    Runtime(#[source] io::Error),
    #[error("cannot register its listener: {0}")]
    Listener(#[source] io::Error),
    #[error("cannot form its listener URL: {0}")]
    ListenerUrl(#[source] url::ParseError),
    /// s3s-fs's error implements only `Debug`: its debug text is all there is.
    #[error("cannot serve its root directory: {0}")]
    Root(String),
    #[error("cannot open its storage: {0}")]
    Storage(#[source] tansu_broker::Error),
    #[error("{0}")]
    Serve(#[source] tansu_broker::Error),
    #[error("its thread exited during start")]
    ThreadExited,
    #[error("it stopped serving unexpectedly")]
    StoppedServing,
}
