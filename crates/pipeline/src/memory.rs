//! How much memory a run took, from /proc (Linux): the peak resident set (VmHWM) and
//! the peak of its anonymous part (RssAnon, sampled), which is the data the process
//! allocated. The rest of the resident set is file pages, mostly the program's own
//! code (~80 MiB of a binary holding DataFusion, delta-rs, librdkafka and the broker),
//! which no setting of a pipeline changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// What a run's memory peaked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPeak {
    /// Peak resident set size (VmHWM), code included.
    pub resident_bytes: u64,
    /// Highest anonymous resident memory seen (RssAnon, sampled every 10 ms).
    pub data_bytes: u64,
}

/// Samples /proc/self/status on a thread of its own until finished.
pub(crate) struct PeakSampler {
    stop: Arc<AtomicBool>,
    peak_anon: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl PeakSampler {
    /// Starts sampling; on a system without /proc it samples nothing.
    pub(crate) fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_anon = Arc::new(AtomicU64::new(0));
        let thread = status_kb("RssAnon:").and_then(|_| {
            let (stop, peak) = (stop.clone(), peak_anon.clone());
            std::thread::Builder::new()
                .name("memory-sampler".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(kb) = status_kb("RssAnon:") {
                            peak.fetch_max(kb * 1024, Ordering::Relaxed);
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                })
                .ok()
        });
        Self {
            stop,
            peak_anon,
            thread,
        }
    }

    /// Stops sampling; `None` where /proc does not tell.
    pub(crate) fn finish(mut self) -> Option<MemoryPeak> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take()?.join().ok()?;
        let anon_now = status_kb("RssAnon:").unwrap_or(0) * 1024;
        Some(MemoryPeak {
            resident_bytes: status_kb("VmHWM:")? * 1024,
            data_bytes: self.peak_anon.load(Ordering::Relaxed).max(anon_now),
        })
    }
}

impl Drop for PeakSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A `Name:  N kB` line of /proc/self/status, in KiB.
fn status_kb(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(name))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
