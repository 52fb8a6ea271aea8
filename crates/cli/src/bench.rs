//! `pipelab bench ingest`: pipelab's own ingest path (decode, SQL step, Delta commit)
//! over records already in memory, beside the same path in Python (json + pyarrow +
//! deltalake) on the same records in the same run. Prints records/s per core for both
//! and their ratio, and writes the results to `bench-results/ingest.json`.
//!
//! `pipelab bench freshness`: how long after a burst of records reaches Kafka it is
//! committed to the lake, against the goal of the flush interval + 1 s
//! (`bench-results/freshness.json`).
//!
//! `pipelab bench partitions`: see [`crate::bench_partitions`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use pipelab_devstack::{DevStack, DevStackConfig};
use pipelab_ingest::generate::{Clickstream, ClickstreamConfig};
use pipelab_ingest::{MicroBatch, RawRecord};
use pipelab_pipeline::{PipelineSpec, RunOptions};
use serde::{Deserialize, Serialize};

use crate::error::CliError;
use crate::output;

/// The Python side, shipped inside the binary so the benchmark runs anywhere.
const PYTHON_BASELINE: &str = include_str!("../../../benches/python/ingest_baseline.py");

/// The step both sides run: the event's day, the partition column.
const STEP_SQL: &str = "SELECT *, substr(ts, 1, 10) AS dt FROM input";

/// Goals of issue 7: records/s per core, and times Python's.
const GOAL_PER_CORE: f64 = 250_000.0;
const GOAL_RATIO: f64 = 5.0;

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Decode → SQL step → Delta commit from records in memory, beside Python.
    Ingest(IngestArgs),
    /// Freshness: from the last record of a burst acknowledged by Kafka to its commit.
    Freshness(FreshnessArgs),
    /// The partition lab's queries on its tables, by pipelab and by DuckDB's delta
    /// extension; time per query as a ratio.
    Partitions(crate::bench_partitions::PartitionsBenchArgs),
    /// Federated queries over PostgreSQL, MySQL and the lake, by pipelab and by DuckDB's
    /// postgres, mysql and delta extensions; time per query as a ratio, answers compared.
    Federation(crate::bench_federation::FederationBenchArgs),
}

#[derive(Args)]
struct FreshnessArgs {
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

#[derive(Args)]
struct IngestArgs {
    /// Records (generated clickstream events, ~230 bytes of JSON each).
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Records per micro-batch (one Delta commit each), on both sides.
    #[arg(long, default_value_t = 100_000)]
    batch: usize,
    /// Runs of each side, taken in turns; the median run of each is compared.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Python with pyarrow and deltalake (`pip install -r tests/python/requirements.txt`).
    #[arg(long, env = "PIPELAB_PYTHON", default_value = "python3")]
    python: String,
    /// Where the results file goes.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
}

/// One side's measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Side {
    records: u64,
    rows: u64,
    wall_s: f64,
    cpu_s: f64,
}

impl Side {
    fn per_core(&self) -> f64 {
        self.records as f64 / self.cpu_s.max(1e-9)
    }
}

#[derive(Serialize)]
struct Results<'a> {
    benchmark: &'a str,
    date: String,
    records: u64,
    json_bytes: u64,
    batch_records: usize,
    /// The median run of each side (by CPU time), then every run.
    runs: usize,
    pipelab: &'a Side,
    pipelab_records_per_s_per_core: f64,
    pipelab_mb_per_s_per_core: f64,
    /// Wall seconds of pipelab's stages: decoding, the SQL step, files and commits.
    pipelab_decode_s: f64,
    pipelab_steps_s: f64,
    pipelab_commit_s: f64,
    python: Option<&'a Side>,
    python_records_per_s_per_core: Option<f64>,
    ratio_per_core: Option<f64>,
    goal_records_per_s_per_core: f64,
    goal_ratio: f64,
    pipelab_runs: &'a [Side],
    python_runs: &'a [Side],
}

pub async fn run(args: BenchArgs) -> Result<(), CliError> {
    match args.what {
        BenchCommand::Ingest(args) => ingest(args).await,
        BenchCommand::Freshness(args) => freshness(args).await,
        BenchCommand::Partitions(args) => crate::bench_partitions::run(args).await,
        BenchCommand::Federation(args) => crate::bench_federation::run(args).await,
    }
}

async fn ingest(args: IngestArgs) -> Result<(), CliError> {
    if args.records == 0 || args.batch == 0 || args.runs == 0 {
        return Err(CliError::usage(
            "--records, --batch and --runs must be at least 1",
        ));
    }
    let work = tempfile::tempdir()?;
    let payloads = events(args.records);
    let json_bytes: u64 = payloads.iter().map(|p| p.len() as u64).sum();
    println!(
        "{} events, {} of JSON ({} bytes each on average), {} per batch, {} run(s) of each side",
        output::thousands(args.records),
        output::bytes(json_bytes),
        json_bytes / args.records,
        output::thousands(args.batch as u64),
        args.runs
    );
    let jsonl = work.path().join("records.jsonl");
    std::fs::write(&jsonl, payloads.join(&b'\n'))?;

    // In turns, so that a machine busier for a while weighs on both sides alike.
    let mut pipelab_runs = Vec::new();
    let mut python_runs = Vec::new();
    let mut python_ran = true;
    for run in 0..args.runs {
        let dir = work.path().join(format!("run-{run}"));
        std::fs::create_dir_all(&dir)?;
        let (side, progress) = pipelab_side(&dir, &payloads, args.batch).await?;
        report("pipelab", &side, json_bytes);
        pipelab_runs.push((side, progress));
        if python_ran {
            match python_side(&args.python, &jsonl, &dir, args.batch)? {
                Some(side) => {
                    report("python ", &side, json_bytes);
                    python_runs.push(side);
                }
                None => python_ran = false,
            }
        }
        // Each run's two lakes are measured: none need be kept for the next run.
        std::fs::remove_dir_all(&dir)?;
    }
    pipelab_runs.sort_by(|a, b| a.0.cpu_s.total_cmp(&b.0.cpu_s));
    python_runs.sort_by(|a, b| a.cpu_s.total_cmp(&b.cpu_s));
    let (pipelab, progress) = pipelab_runs[pipelab_runs.len() / 2].clone();
    let python = python_runs.get(python_runs.len() / 2).cloned();
    println!("median of {} run(s):", args.runs);
    report("pipelab", &pipelab, json_bytes);
    println!(
        "  of which decoding {:.2} s, the SQL step {:.2} s, Parquet files and Delta commits {:.2} s (wall)",
        progress.decode_time.as_secs_f64(),
        progress.steps_time.as_secs_f64(),
        progress.commit_time.as_secs_f64()
    );
    if let Some(python) = &python {
        report("python ", python, json_bytes);
    }
    let pipelab_runs: Vec<Side> = pipelab_runs.into_iter().map(|(side, _)| side).collect();
    for side in pipelab_runs.iter().chain(&python_runs) {
        if side.rows != side.records {
            return Err(CliError::environment(format!(
                "a side stored {} rows of {} records: the benchmark is void",
                side.rows, side.records
            )));
        }
    }

    let per_core = pipelab.per_core();
    let ratio = python.as_ref().map(|p| per_core / p.per_core());
    if let Some(ratio) = ratio {
        println!(
            "ratio per core: pipelab {ratio:.2}× python (goal ≥ {GOAL_RATIO}×; ≥ {} records/s per core)",
            output::thousands(GOAL_PER_CORE as u64)
        );
    }
    let results = Results {
        benchmark: "ingest (decode, SQL step, Delta commit) from memory",
        date: chrono::Utc::now().to_rfc3339(),
        records: args.records,
        json_bytes,
        batch_records: args.batch,
        runs: args.runs,
        pipelab: &pipelab,
        pipelab_records_per_s_per_core: per_core,
        pipelab_mb_per_s_per_core: json_bytes as f64 / 1e6 / pipelab.cpu_s.max(1e-9),
        pipelab_decode_s: progress.decode_time.as_secs_f64(),
        pipelab_steps_s: progress.steps_time.as_secs_f64(),
        pipelab_commit_s: progress.commit_time.as_secs_f64(),
        python: python.as_ref(),
        python_records_per_s_per_core: python.as_ref().map(Side::per_core),
        ratio_per_core: ratio,
        goal_records_per_s_per_core: GOAL_PER_CORE,
        goal_ratio: GOAL_RATIO,
        pipelab_runs: &pipelab_runs,
        python_runs: &python_runs,
    };
    write_results(&args.out, "ingest.json", &results)
}

fn write_results(dir: &Path, name: &str, results: &impl Serialize) -> Result<(), CliError> {
    std::fs::create_dir_all(dir)?;
    let file = dir.join(name);
    std::fs::write(&file, serde_json::to_string_pretty(results)? + "\n")?;
    println!("results written to {}", file.display());
    Ok(())
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
async fn freshness(args: FreshnessArgs) -> Result<(), CliError> {
    let interval_ok = args.interval.is_finite() && args.interval > 0.0;
    if args.rounds == 0 || args.burst == 0 || !interval_ok {
        return Err(CliError::usage(
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
                return Err(CliError::environment(format!(
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

fn events(n: u64) -> Vec<Vec<u8>> {
    let until = chrono::Utc::now().date_naive();
    Clickstream::new(ClickstreamConfig::new(n, until))
        .map(|e| serde_json::to_vec(&e).unwrap_or_default())
        .collect()
}

fn report(name: &str, side: &Side, json_bytes: u64) {
    println!(
        "{name}: {:.2} s wall, {:.2} s CPU: {} records/s per core, {:.1} MB/s per core",
        side.wall_s,
        side.cpu_s,
        output::thousands(side.per_core() as u64),
        json_bytes as f64 / 1e6 / side.cpu_s.max(1e-9)
    );
}

/// pipelab's path: the pipeline writer over micro-batches built beforehand.
async fn pipelab_side(
    work: &Path,
    payloads: &[Vec<u8>],
    batch: usize,
) -> Result<(Side, pipelab_pipeline::Progress), CliError> {
    let lake = work.join("pipelab-lake");
    let spec = format!(
        "name = \"bench\"\n\
         [source]\ntopic = \"bench\"\n\
         [[steps]]\nname = \"day\"\nsql = \"{STEP_SQL}\"\n\
         [sink]\nlocation = {:?}\ntable = \"events\"\npartition_by = [\"dt\"]\n\
         flush_rows = {batch}\n\
         [sink.layout]\ncompression = \"snappy\"\n",
        lake.display().to_string()
    );
    let spec = PipelineSpec::parse(&spec, Path::new("bench.toml"))?;
    let batches: Vec<MicroBatch> = payloads
        .chunks(batch)
        .enumerate()
        .map(|(b, chunk)| {
            MicroBatch::from_records(
                chunk
                    .iter()
                    .enumerate()
                    .map(|(i, payload)| RawRecord::new(0, (b * batch + i) as i64, payload.clone())),
            )
        })
        .collect();
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    let progress = pipelab_pipeline::store_batches(&spec, &RunOptions::default(), batches).await?;
    let side = Side {
        records: payloads.len() as u64,
        rows: progress.written,
        wall_s: wall.elapsed().as_secs_f64(),
        cpu_s: cpu_seconds() - cpu,
    };
    Ok((side, progress))
}

/// The Python baseline on the same records; `None` (with a note) when Python lacks
/// pyarrow or deltalake.
fn python_side(
    python: &str,
    jsonl: &Path,
    work: &Path,
    batch: usize,
) -> Result<Option<Side>, CliError> {
    let script = work.join("ingest_baseline.py");
    std::fs::write(&script, PYTHON_BASELINE)?;
    let out = match Command::new(python)
        .arg(&script)
        .arg(jsonl)
        .arg(work.join("python-lake"))
        .arg(batch.to_string())
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            println!("python: not run ({python}: {e}); no ratio");
            return Ok(None);
        }
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("ModuleNotFoundError") {
            println!(
                "python: not run ({}); `pip install -r tests/python/requirements.txt`; no ratio",
                stderr.lines().last().unwrap_or_default()
            );
            return Ok(None);
        }
        return Err(CliError::environment(format!(
            "the Python baseline failed: {stderr}"
        )));
    }
    let side: Side = serde_json::from_slice(&out.stdout).map_err(|e| {
        CliError::environment(format!(
            "the Python baseline printed no result ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        ))
    })?;
    Ok(Some(side))
}

/// CPU time of this process so far, every thread included (user + system).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
