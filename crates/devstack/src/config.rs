//! Where and how the embedded stack runs, and the settings it gives its clients.

use std::path::PathBuf;
use std::time::Duration;

/// Access key the embedded S3 endpoint accepts (and the only one).
pub const S3_ACCESS_KEY_ID: &str = "pipelab";
/// Secret key paired with [`S3_ACCESS_KEY_ID`].
pub const S3_SECRET_ACCESS_KEY: &str = "pipelab-secret";
/// Region clients sign with. s3s checks signatures against whatever region the request
/// names, so this only has to be consistent between the client's settings.
pub const S3_REGION: &str = "us-east-1";
/// Bucket used when the configuration does not name one.
pub const DEFAULT_BUCKET: &str = "lake";

/// librdkafka settings consumers should apply against the embedded broker.
///
/// tansu 0.6's fetch handler (tansu-storage src/service/fetch.rs) sleeps after every
/// round, even one that already found data: half the remaining `max_wait` while 250 ms or
/// more remain, else all of it. With librdkafka's default `fetch.wait.max.ms=500` each
/// fetch that returns data therefore takes ~250 ms, which caps a consumer at a few
/// batches per second per connection. A short wait bounds that delay; an idle consumer
/// then polls more often, which costs the local SQLite broker little.
pub const KAFKA_CONSUMER_OVERRIDES: &[(&str, &str)] = &[("fetch.wait.max.ms", "20")];

/// Cluster id the broker registers in its database. Fixed so that a restart on the same
/// data directory finds its own cluster again.
/// pipelab-ingest's `EMBEDDED_CLUSTER_ID`: the source recognises this broker by it.
pub(crate) const CLUSTER_ID: &str = "pipelab";
/// Node id of the single broker; tansu's own default.
pub(crate) const NODE_ID: i32 = tansu_broker::NODE_ID;

/// How long `start` waits for the broker to accept TCP connections. Opening the SQLite
/// database and creating its schema takes well under a second; the margin is for a
/// machine busy compiling.
pub(crate) const BROKER_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long admin requests may take before create_topic reports the broker as unresponsive.
pub(crate) const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopping server may take to finish its tasks before they are dropped.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// A port picked by [`free_port`] can be taken by someone else before the broker binds
/// it; with an automatic port we simply pick another this many times.
pub(crate) const BROKER_START_ATTEMPTS: usize = 5;

/// Where and how to run the embedded stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevStackConfig {
    /// Directory holding all state (created if missing). Relative paths are resolved
    /// against the current directory once, at start.
    pub data_dir: PathBuf,
    /// Kafka listener port on 127.0.0.1; 0 picks a free one.
    pub kafka_port: u16,
    /// S3 listener port on 127.0.0.1; 0 picks a free one.
    pub s3_port: u16,
    /// Bucket created at start (if missing); the lake lives at `s3://<bucket>`.
    pub bucket: String,
}

impl DevStackConfig {
    /// Free ports for both servers and the bucket [`DEFAULT_BUCKET`].
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            kafka_port: 0,
            s3_port: 0,
            bucket: DEFAULT_BUCKET.to_owned(),
        }
    }
}
