//! The live view of `pipelab run`: once a second, per partition the lag and records/s,
//! and for the whole run records/s, bytes/s, buffered bytes against the memory budget,
//! commits, dead letters and retries; as a block of lines at a terminal, or as one JSON
//! line a second (`--metrics json`) for scripts.

use std::fmt::Write as _;
use std::sync::Mutex;

use pipelab_pipeline::RunMetrics;
use serde_json::json;

use crate::output;

/// Turns each sample into rates against the one before it.
#[derive(Default)]
pub(crate) struct LiveView {
    previous: Mutex<Option<RunMetrics>>,
}

/// One sample with its rates.
struct Rates {
    records: f64,
    bytes: f64,
    partitions: Vec<(i32, i64, i64, f64)>,
}

impl LiveView {
    fn rates(&self, now: &RunMetrics) -> Rates {
        let mut previous = self
            .previous
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = previous.replace(now.clone());
        let (secs, read, bytes) = before
            .as_ref()
            .map_or((now.elapsed.as_secs_f64(), 0, 0), |b| {
                (
                    (now.elapsed - b.elapsed).as_secs_f64(),
                    b.progress.read,
                    b.progress.read_bytes,
                )
            });
        let secs = secs.max(1e-3);
        let partitions = now
            .partitions
            .iter()
            .map(|(&p, m)| {
                let was = before
                    .as_ref()
                    .and_then(|b| b.partitions.get(&p))
                    .map_or(0, |b| b.received);
                let rate = m.received.saturating_sub(was) as f64 / secs;
                (p, m.lag, m.high_watermark, rate)
            })
            .collect();
        Rates {
            records: now.progress.read.saturating_sub(read) as f64 / secs,
            bytes: now.progress.read_bytes.saturating_sub(bytes) as f64 / secs,
            partitions,
        }
    }

    /// The sample as one JSON line.
    pub(crate) fn json_line(&self, m: &RunMetrics) -> String {
        let r = self.rates(m);
        let p = &m.progress;
        let partitions: Vec<_> = r
            .partitions
            .iter()
            .map(|&(partition, lag, high, rate)| {
                json!({"partition": partition, "lag": lag, "high_watermark": high, "records_per_s": rate.round()})
            })
            .collect();
        json!({
            "elapsed_s": (m.elapsed.as_secs_f64() * 10.0).round() / 10.0,
            "read": p.read,
            "read_bytes": p.read_bytes,
            "records_per_s": r.records.round(),
            "bytes_per_s": r.bytes.round(),
            "written": p.written,
            "commits": p.commits,
            "database_rows": p.database_rows,
            "dead_letters": p.dead_letters,
            "retries": m.retries,
            "buffered_bytes": m.buffered_bytes,
            "budget_bytes": m.budget_bytes,
            "partitions": partitions,
        })
        .to_string()
    }

    /// The sample as the lines a terminal shows.
    pub(crate) fn text(&self, m: &RunMetrics) -> String {
        let r = self.rates(m);
        let p = &m.progress;
        let mut text = format!(
            "read {} ({}/s, {}/s)  written {}  commits {}  dead letters {}  retries {}\n\
             buffered {} of the {} budget",
            output::thousands(p.read),
            output::thousands(r.records as u64),
            output::bytes(r.bytes as u64),
            output::thousands(p.written),
            p.commits,
            output::thousands(p.dead_letters),
            m.retries,
            output::bytes(m.buffered_bytes),
            output::bytes(m.budget_bytes as u64),
        );
        if p.database_commits > 0 {
            let _ = write!(
                text,
                "\ndatabase sinks: {} rows in {} transactions",
                output::thousands(p.database_rows),
                p.database_commits
            );
        }
        let _ = write!(text, "\n  partition        lag   records/s");
        for (partition, lag, _, rate) in r.partitions {
            let _ = write!(
                text,
                "\n  {partition:>9} {:>10} {:>11}",
                output::thousands(lag.max(0) as u64),
                output::thousands(rate as u64)
            );
        }
        text
    }
}
