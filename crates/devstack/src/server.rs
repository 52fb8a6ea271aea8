//! What both servers share: an OS thread with its own tokio runtime, ports, directories.

use std::{
    io,
    net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener as StdTcpListener},
    path::{Path, PathBuf},
    thread::JoinHandle,
};

use tokio::sync::oneshot;
use tracing::{error, warn};

use crate::DevstackError;

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

pub(crate) fn try_free_port() -> Result<u16, DevstackError> {
    StdTcpListener::bind(localhost(0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| DevstackError::NoFreePort { source })
}

pub(crate) fn localhost(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

pub(crate) fn prepare_dir(path: &Path) -> Result<PathBuf, DevstackError> {
    std::fs::create_dir_all(path).map_err(|source| DevstackError::DataDir {
        path: path.to_owned(),
        source,
    })?;
    Ok(path.to_owned())
}

/// Runs `f` on tokio's blocking pool when called inside a tokio runtime, else inline.
pub(crate) async fn run_blocking<T, F>(what: &'static str, f: F) -> Result<T, DevstackError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(f)
            .await
            .map_err(|source| DevstackError::Task { what, source }),
        Err(_) => Ok(f()),
    }
}

/// One server's OS thread plus the switch that stops it.
#[derive(Default)]
pub(crate) struct ServerThread {
    pub(crate) stop: Option<oneshot::Sender<()>>,
    pub(crate) thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    pub(crate) fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The receiver is gone only if the server already stopped on its own.
            let _ = stop.send(());
        }
    }

    pub(crate) async fn stop_and_join(mut self) {
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

pub(crate) fn server_runtime(name: &'static str) -> io::Result<tokio::runtime::Runtime> {
    // Two workers: a connection doing slow I/O (SQLite, file writes) must not hold up
    // the accept loop or another client's requests.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
}
