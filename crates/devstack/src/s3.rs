//! The S3 endpoint: s3s-fs serving a directory, one bucket per subdirectory.

use std::{
    net::{SocketAddr, TcpListener as StdTcpListener},
    path::Path,
    time::Duration,
};

use tokio::sync::oneshot;
use tracing::{debug, warn};

use crate::DevstackError;
use crate::config::{S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, SHUTDOWN_GRACE};
use crate::error::ServerFailure;
use crate::server::{ServerThread, localhost, server_runtime};

pub(crate) async fn start_s3(
    root: &Path,
    port: u16,
) -> Result<(ServerThread, SocketAddr), DevstackError> {
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

    let s3_error = |source| DevstackError::S3 {
        addr,
        root: root.to_owned(),
        source: Box::new(source),
    };

    let fs = s3s_fs::FileSystem::new(root)
        .map_err(|err| s3_error(ServerFailure::Root(format!("{err:?}"))))?;
    let service = {
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(
            S3_ACCESS_KEY_ID,
            S3_SECRET_ACCESS_KEY,
        ));
        builder.build()
    };

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (ready_tx, ready_rx) = oneshot::channel::<Result<(), ServerFailure>>();

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
        Ok(Err(failure)) => {
            server.stop_and_join().await;
            Err(s3_error(failure))
        }
        Err(_) => {
            server.stop_and_join().await;
            Err(s3_error(ServerFailure::ThreadExited))
        }
    }
}

fn serve_s3(
    listener: StdTcpListener,
    service: s3s::service::S3Service,
    stop: oneshot::Receiver<()>,
    ready: oneshot::Sender<Result<(), ServerFailure>>,
) {
    let runtime = match server_runtime("pipelab-s3-rt") {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = ready.send(Err(ServerFailure::Runtime(err)));
            return;
        }
    };

    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(err) => {
                let _ = ready.send(Err(ServerFailure::Listener(err)));
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
