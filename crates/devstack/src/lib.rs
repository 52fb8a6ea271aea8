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

use std::{
    collections::HashMap,
    fmt, io,
    net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener as StdTcpListener},
    path::{Path, PathBuf},
    thread::JoinHandle,
    time::Duration,
};

use rdkafka::{
    ClientConfig,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    error::KafkaError,
    types::RDKafkaErrorCode,
};
use tansu_broker::{broker::Broker, coordinator::group::administrator::Controller};
use tansu_storage::StorageContainer;
use tokio::sync::oneshot;
use tracing::{debug, error, warn};
use url::Url;

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
const CLUSTER_ID: &str = "pipelab";
/// Node id of the single broker; tansu's own default.
const NODE_ID: i32 = tansu_broker::NODE_ID;

/// How long `start` waits for the broker to accept TCP connections. Opening the SQLite
/// database and creating its schema takes well under a second; the margin is for a
/// machine busy compiling.
const BROKER_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long admin requests may take before create_topic reports the broker as unresponsive.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopping server may take to finish its tasks before they are dropped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// A port picked by [`free_port`] can be taken by someone else before the broker binds
/// it; with an automatic port we simply pick another this many times.
const BROKER_START_ATTEMPTS: usize = 5;

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

    #[error("embedded Kafka broker on {addr} (database {db}) failed: {message}")]
    Broker {
        addr: SocketAddr,
        db: PathBuf,
        message: String,
    },

    #[error("embedded Kafka broker on {addr} did not accept connections within {waited:?}")]
    BrokerNotReady { addr: SocketAddr, waited: Duration },

    #[error("embedded S3 endpoint on {addr} (serving {root}) failed: {message}")]
    S3 {
        addr: SocketAddr,
        root: PathBuf,
        message: String,
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

    #[error("background task for {what} failed: {message}")]
    Task { what: &'static str, message: String },
}

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

/// A free TCP port on 127.0.0.1 at the time of the call (the OS picks it). Another
/// process may take it before it is used; callers that can, should bind port 0 instead.
/// If no port can be probed this returns 0, which asks the OS for a port at bind time.
pub fn free_port() -> u16 {
    match try_free_port() {
        Ok(port) => port,
        Err(err) => {
            warn!(%err, "falling back to port 0");
            0
        }
    }
}

fn try_free_port() -> Result<u16, DevstackError> {
    StdTcpListener::bind(localhost(0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| DevstackError::NoFreePort { source })
}

fn localhost(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

fn prepare_dir(path: &Path) -> Result<PathBuf, DevstackError> {
    std::fs::create_dir_all(path).map_err(|source| DevstackError::DataDir {
        path: path.to_owned(),
        source,
    })?;
    Ok(path.to_owned())
}

/// Runs `f` on tokio's blocking pool when called inside a tokio runtime, else inline.
async fn run_blocking<T, F>(what: &'static str, f: F) -> Result<T, DevstackError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(f)
            .await
            .map_err(|err| DevstackError::Task {
                what,
                message: err.to_string(),
            }),
        Err(_) => Ok(f()),
    }
}

/// One server's OS thread plus the switch that stops it.
#[derive(Default)]
struct ServerThread {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The receiver is gone only if the server already stopped on its own.
            let _ = stop.send(());
        }
    }

    async fn stop_and_join(mut self) {
        self.signal_stop();
        if let Some(thread) = self.thread.take() {
            let joined = run_blocking("server shutdown", move || thread.join()).await;
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(_)) => error!("a devstack server thread panicked while stopping"),
                Err(err) => error!(%err, "could not wait for a devstack server thread"),
            }
        }
    }
}

fn server_runtime(name: &'static str) -> io::Result<tokio::runtime::Runtime> {
    // Two workers: a connection doing slow I/O (SQLite, file writes) must not hold up
    // the accept loop or another client's requests.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
}

// ---------------------------------------------------------------------------------------
// S3 endpoint
// ---------------------------------------------------------------------------------------

async fn start_s3(root: &Path, port: u16) -> Result<(ServerThread, SocketAddr), DevstackError> {
    let requested = localhost(port);
    // Bound here, on the caller's thread, so a taken port is reported at once and port 0
    // needs no probe-then-bind race: the OS-chosen address is read back directly.
    let listener = StdTcpListener::bind(requested).map_err(|source| DevstackError::Bind {
        addr: requested,
        source,
    })?;
    let addr = listener
        .local_addr()
        .map_err(|source| DevstackError::Bind {
            addr: requested,
            source,
        })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| DevstackError::Bind { addr, source })?;

    let s3_error = |message: String| DevstackError::S3 {
        addr,
        root: root.to_owned(),
        message,
    };

    // s3s_fs::Error implements only Debug.
    let fs = s3s_fs::FileSystem::new(root)
        .map_err(|err| s3_error(format!("cannot open its root directory: {err:?}")))?;
    let service = {
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(
            S3_ACCESS_KEY_ID,
            S3_SECRET_ACCESS_KEY,
        ));
        builder.build()
    };

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (ready_tx, ready_rx) = oneshot::channel::<Result<(), String>>();

    let thread = std::thread::Builder::new()
        .name("pipelab-s3".into())
        .spawn(move || serve_s3(listener, service, stop_rx, ready_tx))
        .map_err(|source| DevstackError::Runtime {
            what: "S3 endpoint",
            source,
        })?;

    let server = ServerThread {
        stop: Some(stop_tx),
        thread: Some(thread),
    };

    match ready_rx.await {
        Ok(Ok(())) => Ok((server, addr)),
        Ok(Err(message)) => {
            server.stop_and_join().await;
            Err(s3_error(message))
        }
        Err(_) => {
            server.stop_and_join().await;
            Err(s3_error("the server thread exited during start".into()))
        }
    }
}

fn serve_s3(
    listener: StdTcpListener,
    service: s3s::service::S3Service,
    stop: oneshot::Receiver<()>,
    ready: oneshot::Sender<Result<(), String>>,
) {
    let runtime = match server_runtime("pipelab-s3-rt") {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = ready.send(Err(format!("cannot build its tokio runtime: {err}")));
            return;
        }
    };

    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(err) => {
                let _ = ready.send(Err(format!("cannot register its listener: {err}")));
                return;
            }
        };
        let _ = ready.send(Ok(()));

        // s3s-fs answers a PUT with `If-None-Match: *` by checking for the object and then
        // writing it: two such PUTs at once could both succeed, and two writers could
        // both "create" the same Delta commit file. Running conditional PUTs one at a
        // time makes create-if-absent atomic, as on S3, MinIO or R2.
        let conditional = std::sync::Arc::new(tokio::sync::Mutex::new(()));
        let mut stop = stop;
        loop {
            let (socket, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(err) => {
                        // Typically EMFILE under load; the listener itself stays usable.
                        warn!(%err, "S3 endpoint: accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
                _ = &mut stop => break,
            };

            // Without TCP_NODELAY a small response written after a small request waits
            // for the peer's delayed ACK (Nagle): about 40 ms per S3 request on Linux.
            if let Err(err) = socket.set_nodelay(true) {
                debug!(%err, %peer, "S3 endpoint: cannot set TCP_NODELAY");
            }

            let service = service.clone();
            let conditional = conditional.clone();
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let service = service.clone();
                    let conditional = conditional.clone();
                    async move {
                        let exclusive = request.method() == hyper::Method::PUT
                            && request.headers().contains_key(hyper::header::IF_NONE_MATCH);
                        let _turn = match exclusive {
                            true => Some(conditional.lock().await),
                            false => None,
                        };
                        // The hyper-facing call (the inherent one takes s3s's own body type).
                        hyper::service::Service::call(&service, request).await
                    }
                },
            );
            // Detached: connections end with the client or with the runtime at shutdown.
            drop(tokio::spawn(async move {
                // HTTP/1.1 only: object_store talks HTTP/1.1 to plain-http endpoints.
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(socket), service);
                if let Err(err) = conn.await {
                    debug!(%err, %peer, "S3 endpoint: connection ended with an error");
                }
            }));
        }
        // Dropping the listener here closes the port; open connections are dropped with
        // the runtime below. s3s-fs writes objects to a temporary file and renames it into
        // place, so an interrupted upload never shows up as a partial object.
    });

    runtime.shutdown_timeout(SHUTDOWN_GRACE);
}

// ---------------------------------------------------------------------------------------
// Kafka broker
// ---------------------------------------------------------------------------------------

/// tansu's lite engine builds the database path as `current_dir / url.domain() /
/// url.path().strip_prefix('/')`, using the still percent-encoded path. An absolute file
/// therefore needs a URL whose path starts with `//` (so that what remains after
/// stripping one `/` is absolute and replaces the current directory), and whose path
/// needs no percent-encoding. The result is checked by replaying tansu's computation.
fn tansu_sqlite_url(db: &Path) -> Result<Url, DevstackError> {
    let unsupported = || DevstackError::UnsupportedPath {
        path: db.to_owned(),
    };
    let text = db.to_str().ok_or_else(unsupported)?;
    if !db.is_absolute() {
        return Err(unsupported());
    }
    let url = Url::parse(&format!("sqlite:///{text}")).map_err(|_| unsupported())?;
    if tansu_resolved_path(&url, Path::new("/current-dir")) != db {
        return Err(unsupported());
    }
    Ok(url)
}

/// Mirror of `tansu_storage::lite::Builder::build`'s path computation (tansu-storage
/// 0.6.0, src/lite.rs).
fn tansu_resolved_path(url: &Url, current_dir: &Path) -> PathBuf {
    let mut path = current_dir.to_owned();
    if let Some(domain) = url.domain() {
        path.push(domain);
    }
    match url.path().strip_prefix('/') {
        Some(relative) => path.push(relative),
        None => path.push(url.path()),
    }
    path
}

/// Why the broker thread ended before or while starting.
enum BrokerExit {
    /// The listener port was taken between choosing and binding it.
    AddrInUse(String),
    Failed(String),
}

async fn start_broker_retrying(
    db: &Path,
    port: u16,
) -> Result<(ServerThread, SocketAddr), DevstackError> {
    let storage = tansu_sqlite_url(db)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let chosen = if port == 0 { try_free_port()? } else { port };
        let addr = localhost(chosen);
        match start_broker(db, &storage, addr).await {
            Err(BrokerStartError::AddrInUse(message))
                if port == 0 && attempt < BROKER_START_ATTEMPTS =>
            {
                debug!(%addr, reason = %message, "picked port was taken, trying another");
            }
            Err(BrokerStartError::AddrInUse(message)) | Err(BrokerStartError::Failed(message)) => {
                return Err(DevstackError::Broker {
                    addr,
                    db: db.to_owned(),
                    message,
                });
            }
            Err(BrokerStartError::Other(err)) => return Err(err),
            Ok(server) => return Ok((server, addr)),
        }
    }
}

enum BrokerStartError {
    AddrInUse(String),
    Failed(String),
    Other(DevstackError),
}

async fn start_broker(
    db: &Path,
    storage: &Url,
    addr: SocketAddr,
) -> Result<ServerThread, BrokerStartError> {
    // tansu binds inside `serve`, after opening its database, and reports a failed bind
    // only as a generic error; probing first gives a clear "address in use" before any
    // work, and lets an automatic port be re-picked.
    if let Err(err) = StdTcpListener::bind(addr) {
        return Err(if err.kind() == io::ErrorKind::AddrInUse {
            BrokerStartError::AddrInUse(format!("address in use: {err}"))
        } else {
            BrokerStartError::Other(DevstackError::Bind { addr, source: err })
        });
    }

    let url = Url::parse(&format!("tcp://{addr}")).map_err(|err| {
        BrokerStartError::Failed(format!("cannot form listener URL for {addr}: {err}"))
    })?;

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (exit_tx, mut exit_rx) = oneshot::channel::<BrokerExit>();

    let storage = storage.clone();
    let thread = std::thread::Builder::new()
        .name("pipelab-kafka".into())
        .spawn(move || serve_broker(url, storage, stop_rx, exit_tx))
        .map_err(|source| {
            BrokerStartError::Other(DevstackError::Runtime {
                what: "Kafka broker",
                source,
            })
        })?;

    let server = ServerThread {
        stop: Some(stop_tx),
        thread: Some(thread),
    };

    // Ready means accepting TCP connections. tansu binds only after the database is open
    // and the broker registered, so a successful connect implies both. The exit channel
    // is checked before every probe so a failed start is reported with its reason.
    let started = tokio::time::Instant::now();
    loop {
        match exit_rx.try_recv() {
            Ok(BrokerExit::AddrInUse(message)) => {
                server.stop_and_join().await;
                return Err(BrokerStartError::AddrInUse(message));
            }
            Ok(BrokerExit::Failed(message)) => {
                server.stop_and_join().await;
                return Err(BrokerStartError::Failed(message));
            }
            Err(oneshot::error::TryRecvError::Closed) => {
                server.stop_and_join().await;
                return Err(BrokerStartError::Failed(
                    "the broker thread exited during start".into(),
                ));
            }
            Err(oneshot::error::TryRecvError::Empty) => {}
        }

        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            debug!(%addr, db = %db.display(), elapsed = ?started.elapsed(), "broker ready");
            return Ok(server);
        }

        if started.elapsed() > BROKER_READY_TIMEOUT {
            server.stop_and_join().await;
            return Err(BrokerStartError::Other(DevstackError::BrokerNotReady {
                addr,
                waited: BROKER_READY_TIMEOUT,
            }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn serve_broker(
    listener: Url,
    storage: Url,
    stop: oneshot::Receiver<()>,
    exit: oneshot::Sender<BrokerExit>,
) {
    let runtime = match server_runtime("pipelab-kafka-rt") {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = exit.send(BrokerExit::Failed(format!(
                "cannot build its tokio runtime: {err}"
            )));
            return;
        }
    };

    runtime.block_on(async move {
        let incarnation = uuid::Uuid::new_v4();
        let built = Broker::<Controller<StorageContainer>, StorageContainer>::builder()
            .node_id(NODE_ID)
            .cluster_id(CLUSTER_ID)
            .incarnation_id(incarnation)
            .advertised_listener(listener.clone())
            .listener(listener)
            .storage(storage)
            // No schema registry, lake house or OTLP exporter: plain Kafka semantics.
            .schema_registry(None)
            .lake_house(None)
            .otlp_endpoint_url(None)
            // tansu otherwise prints "ready in ..." and draws progress spinners on stdout.
            .silent(true)
            .build()
            .await;

        let mut broker = match built {
            Ok(broker) => broker,
            Err(err) => {
                let _ = exit.send(BrokerExit::Failed(format!("cannot open storage: {err}")));
                return;
            }
        };

        // `Broker::main` would install SIGINT/SIGTERM handlers for the whole process; the
        // broker offers no public cancellation, so stopping means dropping `serve`.
        let served = tokio::select! {
            served = broker.serve(tokio::time::Instant::now()) => Some(served),
            _ = stop => None,
        };

        match served {
            None => {}
            Some(Ok(())) => {
                let _ = exit.send(BrokerExit::Failed("stopped serving unexpectedly".into()));
            }
            Some(Err(tansu_broker::Error::Io(err))) if err.kind() == io::ErrorKind::AddrInUse => {
                let _ = exit.send(BrokerExit::AddrInUse(err.to_string()));
            }
            Some(Err(err)) => {
                error!(%err, "embedded Kafka broker stopped");
                let _ = exit.send(BrokerExit::Failed(err.to_string()));
            }
        }
        // The broker (and with it the storage engine's SQLite handle) drops here.
    });

    runtime.shutdown_timeout(SHUTDOWN_GRACE);
}

fn admin_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    let _ = config
        .set("bootstrap.servers", bootstrap)
        // 127.0.0.1 only; do not let librdkafka try IPv6 first.
        .set("broker.address.family", "v4")
        .set("socket.timeout.ms", ADMIN_TIMEOUT.as_millis().to_string());
    config
}

fn create_topic_blocking(
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

    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new()
        .request_timeout(Some(ADMIN_TIMEOUT))
        .operation_timeout(Some(ADMIN_TIMEOUT));

    // The admin future completes from rdkafka's own polling thread; no runtime is needed.
    let results = futures::executor::block_on(admin.create_topics([&new_topic], &options))
        .map_err(kafka_error("CreateTopics"))?;

    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(DevstackError::CreateTopic {
                    topic: name,
                    bootstrap: bootstrap.to_owned(),
                    code,
                });
            }
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

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
