//! `pipelab bench freshness`: how long after a burst of records reaches Kafka it is
//! committed to the lake, against the goal of the flush interval + 1 s
//! (`bench-results/freshness.json`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use pipelab_devstack::{DevStack, DevStackConfig};
use pipelab_pipeline::{PipelineSpec, RunOptions};
use serde::Serialize;

use crate::BenchError;
use crate::results::write_results;

/// `pipelab bench freshness`'s options.
#[derive(Args)]
pub struct FreshnessArgs {
    /// The pipeline's flush interval (the spec's `flush_interval_secs`).
    #[arg(long, default_value_t = 5.0)]
    interval: f64,
    /// Bursts of records, each followed by silence until it is committed.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Records per burst.
    #[arg(long, default_value_t = 10)]
    burst: u64,
    /// Where the results file goes.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
}

#[derive(Serialize)]
struct FreshnessResults {
    benchmark: &'static str,
    date: String,
    flush_interval_s: f64,
    burst_records: u64,
    /// Seconds from the burst's last acknowledgement to the commit holding it.
    freshness_s: Vec<f64>,
    median_s: f64,
    max_s: f64,
    goal_s: f64,
    /// max / goal: at most 1 meets the goal.
    ratio_to_goal: f64,
}

/// Bursts of records into the embedded broker while `pipelab run` (in this process)
/// reads; each burst's last acknowledgement to the commit that holds it.
pub async fn run(args: FreshnessArgs) -> Result<(), BenchError> {
    let interval_ok = args.interval.is_finite() && args.interval > 0.0;
    if args.rounds == 0 || args.burst == 0 || !interval_ok {
        return Err(BenchError::usage(
            "--rounds, --burst and --interval must be positive",
        ));
    }
    let work = tempfile::tempdir()?;
    let stack = DevStack::start(DevStackConfig::new(work.path())).await?;
    stack.create_topic("fresh", 1).await?;
    let brokers = stack.kafka_bootstrap();
    let spec = format!(
        "name = \"fresh\"\n\
         [source]\nbrokers = \"{brokers}\"\ntopic = \"fresh\"\n\
         [sink]\nlocation = {:?}\ntable = \"fresh\"\nflush_interval_secs = {}\n",
        work.path().join("lake").display().to_string(),
        args.interval
    );
    let spec = PipelineSpec::parse(&spec, Path::new("fresh.toml"))?;
    let written = Arc::new(Mutex::new(Vec::<(Instant, u64)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let opts = RunOptions {
        stop: stop.clone(),
        on_progress: Some({
            let written = written.clone();
            Arc::new(move |p: &pipelab_pipeline::Progress| {
                if let Ok(mut w) = written.lock() {
                    w.push((Instant::now(), p.written));
                }
            })
        }),
        ..RunOptions::default()
    };
    let pipeline = tokio::spawn(async move { pipelab_pipeline::run(&spec, opts).await });

    let mut freshness = Vec::new();
    for round in 0..u64::from(args.rounds) {
        let records: Vec<(String, Vec<u8>)> = (0..args.burst)
            .map(|i| {
                let id = round * args.burst + i;
                (id.to_string(), format!("{{\"id\":{id}}}").into_bytes())
            })
            .collect();
        let b = brokers.clone();
        tokio::task::spawn_blocking(move || {
            pipelab_ingest::produce::produce_all(&b, "fresh", records, |_| {})
        })
        .await??;
        let acked = Instant::now();
        let want = (round + 1) * args.burst;
        let deadline = acked + Duration::from_secs_f64(args.interval * 4.0 + 30.0);
        let committed = loop {
            let found = written
                .lock()
                .ok()
                .and_then(|w| w.iter().find(|(_, n)| *n >= want).map(|(t, _)| *t));
            if let Some(t) = found {
                break t;
            }
            if Instant::now() > deadline || pipeline.is_finished() {
                stop.store(true, Ordering::Relaxed);
                return Err(BenchError::failed(format!(
                    "burst {round} was not committed within {:.0} s",
                    (deadline - acked).as_secs_f64()
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let secs = committed.saturating_duration_since(acked).as_secs_f64();
        println!(
            "burst {}: committed {secs:.2} s after its last record",
            round + 1
        );
        freshness.push(secs);
    }
    stop.store(true, Ordering::Relaxed);
    pipeline.await??;
    stack.shutdown().await;

    let mut sorted = freshness.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let max = sorted[sorted.len() - 1];
    let goal = args.interval + 1.0;
    println!(
        "freshness at flush_interval_secs = {}: median {median:.2} s, max {max:.2} s; \
         goal ≤ interval + 1 s = {goal:.1} s: max/goal {:.2}",
        args.interval,
        max / goal
    );
    let results = FreshnessResults {
        benchmark: "freshness: last produced record to its commit (embedded broker)",
        date: chrono::Utc::now().to_rfc3339(),
        flush_interval_s: args.interval,
        burst_records: args.burst,
        freshness_s: freshness,
        median_s: median,
        max_s: max,
        goal_s: goal,
        ratio_to_goal: max / goal,
    };
    write_results(&args.out, "freshness.json", &results)
}
