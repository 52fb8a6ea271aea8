//! The agent's loop: read what the files gained, mask it, produce it, and once the
//! broker acknowledged it, checkpoint the positions after it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pipelab_ingest::RawRecord;
use pipelab_ingest::produce::produce_records;

use crate::mask::Masker;
use crate::tail::{Line, Tailer};
use crate::{ShipError, checkpoint};

/// `PIPELAB_FAILPOINT=ship-after-ack`: crash tests die right after the broker
/// acknowledged lines, before their positions are checkpointed.
const AFTER_ACK: &str = "ship-after-ack";

/// What to ship, where to.
#[derive(Debug, Clone)]
pub struct ShipOptions {
    /// The Kafka bootstrap servers.
    pub brokers: String,
    /// The topic every line goes to.
    pub topic: String,
    /// This host's name, in every record's key and headers.
    pub host: String,
    /// Paths or globs of the files to follow.
    pub patterns: Vec<String>,
    /// What to mask before a line leaves.
    pub masker: Masker,
    /// The positions file.
    pub checkpoint: PathBuf,
    /// Stop once a pass finds nothing new, rather than wait for more.
    pub until_idle: bool,
    /// How long to wait between passes that found nothing.
    pub poll: Duration,
    /// Set to stop after the current pass.
    pub stop: Arc<AtomicBool>,
}

/// What a run shipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipReport {
    /// Lines produced and acknowledged.
    pub lines: u64,
    /// Bytes sent (payloads, keys and headers).
    pub bytes: u64,
    /// Files followed at the end.
    pub files: usize,
}

/// Ship until stopped (or, with `until_idle`, until a pass finds nothing new).
pub fn run(opts: &ShipOptions) -> Result<ShipReport, ShipError> {
    let mut tailer = Tailer::new(opts.patterns.clone(), checkpoint::load(&opts.checkpoint)?)?;
    let mut report = ShipReport::default();
    loop {
        let lines = tailer.poll()?;
        if !lines.is_empty() {
            let records: Vec<RawRecord> = lines.iter().map(|l| record(opts, l)).collect();
            let stats = produce_records(&opts.brokers, &opts.topic, records, |_| {})?;
            report.lines += stats.acked;
            report.bytes += stats.bytes;
            if std::env::var("PIPELAB_FAILPOINT").is_ok_and(|v| v == AFTER_ACK) {
                // Crash tests: die like a SIGKILL between the acknowledgement and the
                // checkpoint, the window in which a restart sends lines again.
                std::process::abort();
            }
            // Acknowledged: a restart goes on after them.
            checkpoint::save(&opts.checkpoint, &tailer.positions())?;
        }
        report.files = tailer.positions().len();
        if opts.stop.load(Ordering::Relaxed) || (lines.is_empty() && opts.until_idle) {
            return Ok(report);
        }
        if lines.is_empty() {
            std::thread::sleep(opts.poll);
        }
    }
}

/// A line as a record: keyed by host and file, its place in headers, its bytes masked.
fn record(opts: &ShipOptions, line: &Line) -> RawRecord {
    let headers = [
        ("host", opts.host.clone()),
        ("file", line.path.clone()),
        ("file_id", line.file_id.clone()),
        ("offset", line.offset.to_string()),
    ];
    RawRecord {
        key: Some(format!("{}:{}", opts.host, line.path).into_bytes()),
        headers: headers
            .into_iter()
            .map(|(name, value)| (name.to_string(), Some(value.into_bytes())))
            .collect(),
        ..RawRecord::new(0, 0, opts.masker.apply(&line.bytes))
    }
}
