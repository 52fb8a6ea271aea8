//! The Kafka-compatible broker: tansu on a SQLite database.

use std::{
    io,
    net::{SocketAddr, TcpListener as StdTcpListener},
    path::{Path, PathBuf},
    time::Duration,
};

use tansu_broker::{broker::Broker, coordinator::group::administrator::Controller};
use tansu_storage::StorageContainer;
use tokio::sync::oneshot;
use tracing::{debug, error};
use url::Url;

use crate::DevstackError;
use crate::config::{
    BROKER_READY_TIMEOUT, BROKER_START_ATTEMPTS, CLUSTER_ID, NODE_ID, SHUTDOWN_GRACE,
};
use crate::error::ServerFailure;
use crate::server::{ServerThread, localhost, server_runtime, try_free_port};

/// tansu's lite engine builds the database path as `current_dir / url.domain() /
/// url.path().strip_prefix('/')`, using the still percent-encoded path. An absolute file
/// therefore needs a URL whose path starts with `//` (so that what remains after
/// stripping one `/` is absolute and replaces the current directory), and whose path
/// needs no percent-encoding. The result is checked by replaying tansu's computation.
pub(crate) fn tansu_sqlite_url(db: &Path) -> Result<Url, DevstackError> {
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
pub(crate) fn tansu_resolved_path(url: &Url, current_dir: &Path) -> PathBuf {
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

pub(crate) async fn start_broker_retrying(
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
            Err(DevstackError::Bind { source, .. })
                if source.kind() == io::ErrorKind::AddrInUse
                    && port == 0
                    && attempt < BROKER_START_ATTEMPTS =>
            {
                debug!(%addr, reason = %source, "picked port was taken, trying another");
            }
            Err(err) => return Err(err),
            Ok(server) => return Ok((server, addr)),
        }
    }
}

async fn start_broker(
    db: &Path,
    storage: &Url,
    addr: SocketAddr,
) -> Result<ServerThread, DevstackError> {
    // tansu binds inside `serve`, after opening its database, and reports a failed bind
    // only as a generic error; probing first gives a clear "address in use" before any
    // work, and lets an automatic port be re-picked.
    StdTcpListener::bind(addr).map_err(|source| DevstackError::Bind { addr, source })?;
    let failed = |source| DevstackError::Broker {
        addr,
        db: db.to_owned(),
        source: Box::new(source),
    };

    let url = Url::parse(&format!("tcp://{addr}"))
        .map_err(|err| failed(ServerFailure::ListenerUrl(err)))?;

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (exit_tx, mut exit_rx) = oneshot::channel::<ServerFailure>();

    let storage = storage.clone();
    let thread = std::thread::Builder::new()
        .name("pipelab-kafka".into())
        .spawn(move || serve_broker(url, storage, stop_rx, exit_tx))
        .map_err(|source| DevstackError::Runtime {
            what: "Kafka broker",
            source,
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
        let exit = match exit_rx.try_recv() {
            Ok(exit) => Some(exit),
            Err(oneshot::error::TryRecvError::Closed) => Some(ServerFailure::ThreadExited),
            Err(oneshot::error::TryRecvError::Empty) => None,
        };
        if let Some(exit) = exit {
            server.stop_and_join().await;
            return Err(match exit {
                // Taken between the probe and tansu's bind: as if the probe had failed.
                ServerFailure::Serve(tansu_broker::Error::Io(source))
                    if source.kind() == io::ErrorKind::AddrInUse =>
                {
                    // tansu shares the error; it is the only holder by now.
                    let source = std::sync::Arc::try_unwrap(source)
                        .unwrap_or_else(|shared| io::Error::new(shared.kind(), shared.to_string()));
                    DevstackError::Bind { addr, source }
                }
                other => failed(other),
            });
        }

        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            debug!(%addr, db = %db.display(), elapsed = ?started.elapsed(), "broker ready");
            return Ok(server);
        }

        if started.elapsed() > BROKER_READY_TIMEOUT {
            server.stop_and_join().await;
            return Err(DevstackError::BrokerNotReady {
                addr,
                waited: BROKER_READY_TIMEOUT,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn serve_broker(
    listener: Url,
    storage: Url,
    stop: oneshot::Receiver<()>,
    exit: oneshot::Sender<ServerFailure>,
) {
    let runtime = match server_runtime("pipelab-kafka-rt") {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = exit.send(ServerFailure::Runtime(err));
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
                let _ = exit.send(ServerFailure::Storage(err));
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
                let _ = exit.send(ServerFailure::StoppedServing);
            }
            Some(Err(err)) => {
                // A port taken at start is retried or reported by the starter.
                if !matches!(&err, tansu_broker::Error::Io(e) if e.kind() == io::ErrorKind::AddrInUse)
                {
                    error!(%err, "embedded Kafka broker stopped");
                }
                let _ = exit.send(ServerFailure::Serve(err));
            }
        }
        // The broker (and with it the storage engine's SQLite handle) drops here.
    });

    runtime.shutdown_timeout(SHUTDOWN_GRACE);
}
