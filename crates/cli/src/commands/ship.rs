//! `pipelab ship`: the log-shipping agent (Flume's, Singer's role): files tailed through
//! rotation into a Kafka topic, masked before they leave (the work is `pipelab_ship`'s).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;
use pipelab_ship::{Masker, ShipOptions};

use crate::error::{Blame, Blamed, CliError};
use crate::output::{bytes, thousands};

#[derive(Args)]
pub(crate) struct ShipArgs {
    #[arg(long, default_value = "127.0.0.1:9092", env = "PIPELAB_BROKERS")]
    brokers: String,
    /// The topic every line goes to.
    #[arg(long)]
    topic: String,
    /// This host's name, in each record's key and headers (default: the machine's).
    #[arg(long)]
    name: Option<String>,
    /// Mask before a line leaves the host: `email`, `ipv4` (comma-separated) or
    /// `regex:PATTERN`; may be given again.
    #[arg(long)]
    mask: Vec<String>,
    /// The positions file, kept between runs (default: .pipelab-ship-TOPIC.json here).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Stop once every file is read to its end, rather than wait for more.
    #[arg(long)]
    until_idle: bool,
    /// Paths or globs of the files to follow (quote globs, so the shell leaves them:
    /// files that appear later are followed too).
    #[arg(required = true, value_name = "PATH_OR_GLOB")]
    files: Vec<String>,
}

impl Blamed for pipelab_ship::ShipError {
    fn blame(&self) -> Blame {
        Blame::of(self.is_user_fixable())
    }
}

pub(crate) async fn run(args: ShipArgs) -> Result<(), CliError> {
    let stop = Arc::new(AtomicBool::new(false));
    let interrupted = crate::signals::interrupted()?;
    let on_signal = Arc::clone(&stop);
    tokio::spawn(async move {
        interrupted.await;
        on_signal.store(true, Ordering::Relaxed);
    });
    let opts = ShipOptions {
        checkpoint: args
            .checkpoint
            .unwrap_or_else(|| PathBuf::from(format!(".pipelab-ship-{}.json", args.topic))),
        brokers: args.brokers,
        topic: args.topic,
        host: args.name.unwrap_or_else(hostname),
        patterns: args.files,
        masker: Masker::parse(&args.mask)?,
        until_idle: args.until_idle,
        poll: Duration::from_millis(200),
        stop,
    };
    let report = tokio::task::spawn_blocking(move || {
        let report = pipelab_ship::run(&opts);
        (opts, report)
    })
    .await
    .map_err(CliError::environment)?;
    let (opts, report) = report;
    let report = report?;
    println!(
        "pipelab ship: {} lines ({}) from {} files to topic {}; positions in {}",
        thousands(report.lines),
        bytes(report.bytes),
        report.files,
        opts.topic,
        opts.checkpoint.display()
    );
    Ok(())
}

/// The machine's name, as the kernel has it.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
