//! `pipelab bench ingest`: pipelab's own ingest path (decode, SQL step, Delta commit)
//! over records already in memory, beside the same path in Python (json + pyarrow +
//! deltalake) on the same records in the same run. Prints records/s per core for both
//! and their ratio, and writes the results to `bench-results/ingest.json`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::Args;
use pipelab_ingest::generate::{Clickstream, ClickstreamConfig};
use pipelab_ingest::{MicroBatch, RawRecord};
use pipelab_lab::report::{size as bytes, thousands};
use pipelab_pipeline::{PipelineSpec, RunOptions};
use serde::{Deserialize, Serialize};

use crate::BenchError;
use crate::results::write_results;

/// The Python side, shipped inside the binary so the benchmark runs anywhere.
const PYTHON_BASELINE: &str = include_str!("../python/ingest_baseline.py");

/// The step both sides run: the event's day, the partition column.
const STEP_SQL: &str = "SELECT *, substr(ts, 1, 10) AS dt FROM input";

/// Goals of issue 7: records/s per core, and times Python's.
const GOAL_PER_CORE: f64 = 250_000.0;
const GOAL_RATIO: f64 = 5.0;

/// `pipelab bench ingest`'s options.
#[derive(Args)]
pub struct IngestArgs {
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

/// Run the benchmark and write `ingest.json` under `--out`.
pub async fn run(args: IngestArgs) -> Result<(), BenchError> {
    if args.records == 0 || args.batch == 0 || args.runs == 0 {
        return Err(BenchError::usage(
            "--records, --batch and --runs must be at least 1",
        ));
    }
    let work = tempfile::tempdir()?;
    let payloads = events(args.records);
    let json_bytes: u64 = payloads.iter().map(|p| p.len() as u64).sum();
    println!(
        "{} events, {} of JSON ({} bytes each on average), {} per batch, {} run(s) of each side",
        thousands(args.records),
        bytes(json_bytes),
        json_bytes / args.records,
        thousands(args.batch as u64),
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
            return Err(BenchError::failed(format!(
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
            thousands(GOAL_PER_CORE as u64)
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
        thousands(side.per_core() as u64),
        json_bytes as f64 / 1e6 / side.cpu_s.max(1e-9)
    );
}

/// pipelab's path: the pipeline writer over micro-batches built beforehand.
async fn pipelab_side(
    work: &Path,
    payloads: &[Vec<u8>],
    batch: usize,
) -> Result<(Side, pipelab_pipeline::Progress), BenchError> {
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
) -> Result<Option<Side>, BenchError> {
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
        return Err(BenchError::failed(format!(
            "the Python baseline failed: {stderr}"
        )));
    }
    let side: Side = serde_json::from_slice(&out.stdout).map_err(|e| {
        BenchError::failed(format!(
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
