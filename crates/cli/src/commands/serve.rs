//! `pipelab serve`: Trino's client protocol over the lake or a catalogs file's catalogs.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use crate::engine::open_engine;
use crate::error::CliError;

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// The lake, when no catalogs file is given.
    #[arg(long, default_value = "pipelab-demo/s3/lake", env = "PIPELAB_LAKE")]
    lake: String,
    /// A catalogs file (TOML): lakes, files, PostgreSQL, MySQL or SQLite databases and
    /// Kafka topics; with `[query_log]`, every query's events go to a Kafka topic.
    #[arg(long, value_name = "FILE", env = "PIPELAB_CATALOGS")]
    catalogs: Option<PathBuf>,
    /// The address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// A users file (TOML): `[users.NAME]` with `password_sha256`, `read` and `write`
    /// catalogs. Clients then sign in with HTTP basic authentication: over HTTPS, or on a
    /// loopback address.
    #[arg(long, value_name = "FILE", env = "PIPELAB_USERS")]
    users: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

pub(crate) async fn run(args: ServeArgs) -> Result<(), CliError> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(pipelab_serve::tls::server_config(cert, key).map_err(CliError::usage)?)
        }
        _ => None,
    };
    let users = match &args.users {
        Some(path) => {
            if !args.bind.is_loopback() && tls.is_none() {
                return Err(CliError::usage(format!(
                    "--users with --bind {}: passwords would cross the network in clear text; \
                     serve HTTPS (--tls-cert, --tls-key) or listen on a loopback address",
                    args.bind
                )));
            }
            Some(pipelab_serve::auth::Users::load(path).map_err(CliError::usage)?)
        }
        None => None,
    };
    let engine = open_engine(&args.lake, args.catalogs.as_ref(), None).await?;
    if let Some(users) = &users {
        let unknown = users.unknown_catalogs(&engine.context().catalog_names());
        if !unknown.is_empty() {
            return Err(CliError::usage(format!(
                "{}: grants name catalogs that do not exist: {}",
                args.users
                    .as_deref()
                    .unwrap_or(std::path::Path::new(""))
                    .display(),
                unknown.join(", ")
            )));
        }
    }
    for (view, why) in engine.broken_views() {
        eprintln!("view {view} left out: {why}");
    }
    let addr = std::net::SocketAddr::new(args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::environment(format!("cannot listen on {addr}: {e}")))?;
    let addr = listener.local_addr().map_err(CliError::environment)?;
    let shutdown = crate::signals::interrupted()?;
    // The line a script waits for (with --port 0, the port the system chose).
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "pipelab serve: Trino protocol on {scheme}://{addr} over {}",
        engine.lake()
    );
    if let Some(log) = engine.query_log() {
        eprintln!("query events go to the Kafka topic {}", log.topic());
    }
    pipelab_serve::serve(
        Arc::new(engine),
        listener,
        pipelab_serve::ServeOptions {
            users: users.map(Arc::new),
            tls,
            ..Default::default()
        },
        shutdown,
    )
    .await
    .map_err(CliError::environment)
}
