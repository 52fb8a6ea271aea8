//! The one error type of the embedded stack.

use std::{io, net::SocketAddr, path::PathBuf, time::Duration};

use rdkafka::{error::KafkaError, types::RDKafkaErrorCode};

/// Everything that can go wrong starting or using the embedded stack. Each message names
/// the address, path or topic involved.
#[derive(thiserror::Error, Debug)]
pub enum DevstackError {
    /// The data directory, or a directory under it, cannot be created or resolved.
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        /// The directory that was being created or canonicalized.
        path: PathBuf,
        /// The I/O error from creating or canonicalizing it.
        #[source]
        source: io::Error,
    },

    /// The broker database path cannot be handed to tansu as a `sqlite://` URL: it is not
    /// absolute UTF-8, or it holds characters a URL would percent-encode.
    #[error(
        "the broker database path {path} cannot be expressed as a tansu sqlite:// URL \
         (it must be valid UTF-8 without characters URLs percent-encode, such as spaces); \
         choose a data directory with a plainer path"
    )]
    UnsupportedPath {
        /// The database path (`<data_dir>/kafka/tansu.db`) that was rejected.
        path: PathBuf,
    },

    /// The configured bucket name is not a valid S3 bucket name.
    #[error(
        "invalid bucket name {bucket:?}: S3 bucket names are 3-63 characters of lowercase \
         letters, digits, '.' and '-', starting and ending with a letter or digit"
    )]
    InvalidBucket {
        /// The bucket name as configured.
        bucket: String,
    },

    /// A server cannot listen on its address, typically because the port is taken.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The 127.0.0.1 address and port that could not be bound.
        addr: SocketAddr,
        /// The I/O error from binding or setting up the listener.
        #[source]
        source: io::Error,
    },

    /// No port could be probed on 127.0.0.1 when picking one for the broker.
    #[error("cannot find a free TCP port on 127.0.0.1: {source}")]
    NoFreePort {
        /// The I/O error from binding port 0 or reading the address back.
        #[source]
        source: io::Error,
    },

    /// A server's OS thread could not be spawned.
    #[error("cannot start the {what} thread or runtime: {source}")]
    Runtime {
        /// Which server the thread was for: `"Kafka broker"` or `"S3 endpoint"`.
        what: &'static str,
        /// The I/O error from spawning the thread.
        #[source]
        source: io::Error,
    },

    /// The embedded Kafka broker failed to start; `source` says why.
    #[error("embedded Kafka broker on {addr} (database {db}) failed: {source}")]
    Broker {
        /// The address the broker was to listen on.
        addr: SocketAddr,
        /// The broker's SQLite database file (`<data_dir>/kafka/tansu.db`).
        db: PathBuf,
        /// What failed in the broker's thread.
        #[source]
        source: Box<ServerFailure>,
    },

    /// The broker did not accept TCP connections before the start timeout ran out.
    #[error("embedded Kafka broker on {addr} did not accept connections within {waited:?}")]
    BrokerNotReady {
        /// The address that was probed.
        addr: SocketAddr,
        /// How long the start waited before giving up.
        waited: Duration,
    },

    /// The embedded S3 endpoint failed to start; `source` says why.
    #[error("embedded S3 endpoint on {addr} (serving {root}) failed: {source}")]
    S3 {
        /// The address the endpoint listens on.
        addr: SocketAddr,
        /// The directory s3s-fs serves (`<data_dir>/s3`).
        root: PathBuf,
        /// What failed in setting up the endpoint or in its thread.
        #[source]
        source: Box<ServerFailure>,
    },

    /// A Kafka admin client could not be created, or one of its requests failed.
    #[error("Kafka {operation} against {bootstrap} failed: {source}")]
    Kafka {
        /// What was attempted: `"admin client creation"`, `"CreateTopics"` or `"Metadata"`.
        operation: &'static str,
        /// The broker's `bootstrap.servers` value.
        bootstrap: String,
        /// The error rdkafka returned.
        #[source]
        source: KafkaError,
    },

    /// The broker refused to create a topic, for a reason other than that it exists.
    #[error("creating topic {topic:?} on {bootstrap} failed: {code}")]
    CreateTopic {
        /// The topic that was to be created.
        topic: String,
        /// The broker's `bootstrap.servers` value.
        bootstrap: String,
        /// The error code the broker answered for the topic.
        code: RDKafkaErrorCode,
    },

    /// `DevStack::create_topic` was asked for fewer than 1 partition.
    #[error("cannot create topic {topic:?} with {partitions} partitions: at least 1 is needed")]
    InvalidPartitions {
        /// The topic that was to be created.
        topic: String,
        /// The partition count asked for.
        partitions: i32,
    },

    /// The topic already exists with a partition count other than the one requested.
    #[error(
        "topic {topic:?} already exists on {bootstrap} with {existing} partitions, \
         not the {requested} requested"
    )]
    TopicPartitionMismatch {
        /// The topic that was to be created.
        topic: String,
        /// The broker's `bootstrap.servers` value.
        bootstrap: String,
        /// Partitions the existing topic has.
        existing: usize,
        /// Partitions the caller asked for.
        requested: i32,
    },

    /// The topic was created but the broker's metadata does not list it.
    #[error("topic {topic:?} was created on {bootstrap} but its metadata does not list it")]
    TopicMissing {
        /// The topic that was created.
        topic: String,
        /// The broker's `bootstrap.servers` value.
        bootstrap: String,
    },

    /// A task run on tokio's blocking pool panicked or was cancelled.
    #[error("background task for {what} failed: {source}")]
    Task {
        /// What the task was doing: `"create_topic"` or `"server shutdown"`.
        what: &'static str,
        /// The join error of the task.
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
    /// The server's multi-thread tokio runtime could not be built.
    #[error("cannot build its tokio runtime: {0}")]
    Runtime(#[source] io::Error),
    /// The S3 endpoint's bound listener could not be registered with its runtime.
    #[error("cannot register its listener: {0}")]
    Listener(#[source] io::Error),
    /// The broker's `tcp://` listener URL could not be formed from its address.
    #[error("cannot form its listener URL: {0}")]
    ListenerUrl(#[source] url::ParseError),
    /// s3s-fs's error implements only `Debug`: its debug text is all there is.
    #[error("cannot serve its root directory: {0}")]
    Root(String),
    /// tansu could not open the broker's SQLite storage or build the broker.
    #[error("cannot open its storage: {0}")]
    Storage(#[source] tansu_broker::Error),
    /// The broker stopped serving with an error, such as its port being taken at bind.
    #[error("{0}")]
    Serve(#[source] tansu_broker::Error),
    /// The server's thread ended before reporting that it had started.
    #[error("its thread exited during start")]
    ThreadExited,
    /// The broker's serve loop returned without having been asked to stop.
    #[error("it stopped serving unexpectedly")]
    StoppedServing,
}
