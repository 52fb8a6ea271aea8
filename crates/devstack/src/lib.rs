//! The embedded stack behind `pipelab demo` and the tests: a Kafka-compatible broker
//! (tansu, SQLite storage) and an S3 endpoint (s3s-fs), both on 127.0.0.1, both keeping
//! their state under one data directory so a stack can be stopped and started again on
//! the same data (crash/restart tests rely on that).
//!
//! Each server runs on its own multi-thread tokio runtime in its own OS thread. That is
//! deliberate: librdkafka calls that block (commit, committed_offsets, fetch_watermarks,
//! client destruction) park whatever thread they run on, and if that thread were also
//! driving the in-process broker the call would wait for a response that can never be
//! produced. With dedicated runtimes the caller may use any runtime flavour it likes.
//!
//! Layout of `data_dir`:
//! - `kafka/tansu.db` (+ `-wal`, `-shm`): the broker's SQLite database.
//! - `s3/`: the root served by s3s-fs; each bucket is a directory below it, and s3s-fs
//!   keeps `.bucket-*.json` sidecars and `.tmp.*` upload files at this root, which is why
//!   it is a directory of its own.
//!
//! Modules: `config` (settings and the keys clients use), `error` (the one error type),
//! `server` (the thread-and-runtime each server runs on), `s3`, `broker`, `topics`
//! (topic administration through the Kafka admin API).

mod broker;
mod config;
mod error;
mod s3;
mod server;
mod topics;

use std::{
    collections::HashMap,
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use tracing::debug;

use crate::broker::start_broker_retrying;
use crate::s3::start_s3;
use crate::server::{ServerThread, prepare_dir, run_blocking};
use crate::topics::create_topic_blocking;

pub use config::{
    DEFAULT_BUCKET, DevStackConfig, KAFKA_CONSUMER_OVERRIDES, S3_ACCESS_KEY_ID, S3_REGION,
    S3_SECRET_ACCESS_KEY,
};
pub use error::{DevstackError, ServerFailure};
pub use server::free_port;

/// A running embedded stack. Dropping it asks both servers to stop without waiting;
/// [`DevStack::shutdown`] also waits until ports and files are released, which a test
/// that restarts the stack on the same data directory needs.
pub struct DevStack {
    data_dir: PathBuf,
    bucket: String,
    kafka_addr: SocketAddr,
    s3_addr: SocketAddr,
    kafka: ServerThread,
    s3: ServerThread,
}

impl fmt::Debug for DevStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevStack")
            .field("data_dir", &self.data_dir)
            .field("bucket", &self.bucket)
            .field("kafka", &self.kafka_addr)
            .field("s3", &self.s3_addr)
            .finish_non_exhaustive()
    }
}

impl DevStack {
    /// Starts the broker and the S3 endpoint. When this returns, both listen on
    /// 127.0.0.1 and the bucket exists.
    pub async fn start(cfg: DevStackConfig) -> Result<DevStack, DevstackError> {
        if !s3s::path::check_bucket_name(&cfg.bucket) {
            return Err(DevstackError::InvalidBucket { bucket: cfg.bucket });
        }

        let data_dir = prepare_dir(&cfg.data_dir)?;
        // Canonical and absolute: tansu resolves relative sqlite paths against the
        // current directory, and s3s-fs canonicalizes its root anyway.
        let data_dir = data_dir
            .canonicalize()
            .map_err(|source| DevstackError::DataDir {
                path: cfg.data_dir.clone(),
                source,
            })?;
        let kafka_dir = prepare_dir(&data_dir.join("kafka"))?;
        let s3_root = prepare_dir(&data_dir.join("s3"))?;
        // s3s-fs has no bucket registry: a bucket is a directory under its root.
        let _ = prepare_dir(&s3_root.join(&cfg.bucket))?;

        // S3 first: if its port is taken we fail before the slower broker start.
        let (s3, s3_addr) = start_s3(&s3_root, cfg.s3_port).await?;

        let db = kafka_dir.join("tansu.db");
        let (kafka, kafka_addr) = match start_broker_retrying(&db, cfg.kafka_port).await {
            Ok(started) => started,
            Err(err) => {
                // Do not leave the S3 thread running behind a failed start.
                s3.stop_and_join().await;
                return Err(err);
            }
        };

        debug!(%kafka_addr, %s3_addr, data_dir = %data_dir.display(), "devstack started");

        Ok(DevStack {
            data_dir,
            bucket: cfg.bucket,
            kafka_addr,
            s3_addr,
            kafka,
            s3,
        })
    }

    /// `bootstrap.servers` value for Kafka clients.
    pub fn kafka_bootstrap(&self) -> String {
        self.kafka_addr.to_string()
    }

    /// The ports the broker and the S3 endpoint listen on (`pipelab devstack
    /// --kafka-port --s3-port` serves the same again).
    pub fn ports(&self) -> (u16, u16) {
        (self.kafka_addr.port(), self.s3_addr.port())
    }

    /// HTTP endpoint of the S3 server (path-style addressing).
    pub fn s3_endpoint(&self) -> String {
        format!("http://{}", self.s3_addr)
    }

    /// Name of the S3 bucket the stack serves, which holds the lake.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// URL of the lake root, to be used with [`DevStack::s3_storage_options`].
    pub fn lake_url(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    /// The absolute data directory in use.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Options for `object_store::aws::AmazonS3Builder::with_config` (via
    /// `AmazonS3ConfigKey::from_str`) and for deltalake's storage options.
    ///
    /// The spellings are object_store's canonical `aws_*` keys, which are also what
    /// deltalake-aws normalises its options to. `aws_endpoint` in particular matters for
    /// deltalake: its presence tells deltalake-aws this is not AWS, so it does not try to
    /// resolve credentials through the AWS SDK. No locking provider is needed: the
    /// endpoint honours `If-None-Match: *` atomically (conditional PUTs run one at a
    /// time), which object_store uses for deltalake's commit (PutMode::Create,
    /// object_store's default `conditional_put=etag`).
    pub fn s3_storage_options(&self) -> HashMap<String, String> {
        [
            ("aws_endpoint", self.s3_endpoint()),
            ("aws_access_key_id", S3_ACCESS_KEY_ID.to_owned()),
            ("aws_secret_access_key", S3_SECRET_ACCESS_KEY.to_owned()),
            ("aws_region", S3_REGION.to_owned()),
            ("aws_allow_http", "true".to_owned()),
            ("aws_virtual_hosted_style_request", "false".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Shell lines that point AWS tools (aws cli, DuckDB, polars, Python deltalake) at
    /// the embedded endpoint.
    pub fn export_lines(&self) -> String {
        format!(
            "export AWS_ENDPOINT_URL={endpoint}\n\
             export AWS_ACCESS_KEY_ID={S3_ACCESS_KEY_ID}\n\
             export AWS_SECRET_ACCESS_KEY={S3_SECRET_ACCESS_KEY}\n\
             export AWS_REGION={S3_REGION}\n\
             export AWS_ALLOW_HTTP=true\n",
            endpoint = self.s3_endpoint(),
        )
    }

    /// Creates `name` with `partitions` partitions through the Kafka admin API, as one
    /// would against a real cluster (tansu does not create topics on produce). Succeeds if
    /// the topic already exists with that many partitions; an existing topic with another
    /// partition count is an error, since callers size their work by it.
    pub async fn create_topic(&self, name: &str, partitions: i32) -> Result<(), DevstackError> {
        if partitions < 1 {
            return Err(DevstackError::InvalidPartitions {
                topic: name.to_owned(),
                partitions,
            });
        }
        let bootstrap = self.kafka_bootstrap();
        let topic = name.to_owned();
        // Creating and destroying an rdkafka client blocks (its destructor joins threads
        // and waits for the broker connection to close), and so does fetch_metadata: keep
        // all of it off the caller's async worker threads.
        run_blocking("create_topic", move || {
            create_topic_blocking(&bootstrap, &topic, partitions)
        })
        .await?
    }

    /// Stops both servers and waits until their ports are closed and the broker's
    /// database is released.
    pub async fn shutdown(mut self) {
        let kafka = std::mem::take(&mut self.kafka);
        let s3 = std::mem::take(&mut self.s3);
        kafka.stop_and_join().await;
        s3.stop_and_join().await;
        debug!(kafka = %self.kafka_addr, s3 = %self.s3_addr, "devstack stopped");
    }
}

impl Drop for DevStack {
    fn drop(&mut self) {
        // Only signal: Drop may run on an async worker thread, where waiting for the
        // server threads to wind down would stall it.
        self.kafka.signal_stop();
        self.s3.signal_stop();
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::broker::{tansu_resolved_path, tansu_sqlite_url};

    #[test]
    fn sqlite_url_resolves_to_the_absolute_file() {
        let db = Path::new("/tmp/pipelab-x/kafka/tansu.db");
        let url = tansu_sqlite_url(db).expect("plain path is supported");
        assert_eq!(tansu_resolved_path(&url, Path::new("/elsewhere")), db);
    }

    #[test]
    fn sqlite_url_rejects_paths_tansu_would_mangle() {
        assert!(tansu_sqlite_url(Path::new("/tmp/with space/tansu.db")).is_err());
        assert!(tansu_sqlite_url(Path::new("relative/tansu.db")).is_err());
    }

    #[test]
    fn config_defaults() {
        let cfg = DevStackConfig::new("/tmp/x");
        assert_eq!(cfg.bucket, "lake");
        assert_eq!((cfg.kafka_port, cfg.s3_port), (0, 0));
    }
}
