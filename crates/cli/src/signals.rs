//! Ctrl-C for the commands that run until it: the handler is in place before they say
//! they are up, so a script that stops one as soon as it reads that line stops it
//! cleanly rather than killing it.

use std::future::Future;

use crate::error::CliError;

/// Listen for SIGINT from now on; the future completes at the first one.
pub(crate) fn interrupted() -> Result<impl Future<Output = ()>, CliError> {
    // tokio::signal::ctrl_c() registers its handler only when first polled, which is
    // after the caller's "ready" line; signal() registers it here.
    let mut signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| CliError::environment(format!("cannot listen for Ctrl-C: {e}")))?;
    Ok(async move {
        signal.recv().await;
    })
}
