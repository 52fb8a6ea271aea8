//! `pipelab bench landing`: the landing source's objects/s and rows/s (list a prefix,
//! read each new object, run the step, one Delta commit per batch of objects with each
//! object's key and ETag in it), beside the job a Lambda function would run in Python
//! (pyarrow reads each object, deltalake appends a batch of them) on the same objects in
//! the same run (`bench-results/landing.json`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use pipelab_ingest::generate::{Clickstream, ClickstreamConfig};
use pipelab_pipeline::{PipelineSpec, RunOptions};
use serde::{Deserialize, Serialize};

use crate::BenchError;
use crate::peer::run_python_peer;
use crate::results::{median, write_results};

const PYTHON_PEER: &str = include_str!("../python/landing_baseline.py");

/// `pipelab bench landing`'s options.
#[derive(Args)]
pub struct LandingArgs {
    /// Objects dropped under the landing prefix.
    #[arg(long, default_value_t = 400)]
    objects: usize,
    /// Rows (JSON lines) per object.
    #[arg(long, default_value_t = 250)]
    rows: usize,
    /// Rows per commit (the spec's `flush_rows`; the peer's batch).
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Rounds of each side; the median counts.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Python with pyarrow and deltalake (`pip install -r tests/python/requirements.txt`).
    #[arg(long, env = "PIPELAB_PYTHON", default_value = "python3")]
    python: String,
    /// Where the results file goes.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
struct Side {
    objects: u64,
    rows: u64,
    wall_s: f64,
}

#[derive(Serialize)]
struct LandingResults {
    benchmark: &'static str,
    date: String,
    objects: usize,
    rows_per_object: usize,
    batch_rows: usize,
    pipelab_objects_per_s: f64,
    pipelab_rows_per_s: f64,
    python_objects_per_s: f64,
    python_rows_per_s: f64,
    /// pipelab / python, objects per second.
    ratio: f64,
    pipelab_runs: Vec<Side>,
    python_runs: Vec<Side>,
}

/// Both sides, alternating, each into a fresh table; prints rates and the ratio.
pub async fn run(args: LandingArgs) -> Result<(), BenchError> {
    if args.objects == 0 || args.rows == 0 || args.batch == 0 || args.rounds == 0 {
        return Err(BenchError::usage(
            "--objects, --rows, --batch and --rounds must be positive",
        ));
    }
    let work = tempfile::tempdir()?;
    let landing = work.path().join("landing");
    drop_objects(&landing, args.objects, args.rows)?;
    let (mut pipelab_runs, mut python_runs) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        let lake = work.path().join(format!("pipelab-{round}"));
        let side = pipelab_side(&landing, &lake, args.batch).await?;
        report("pipelab", &side);
        pipelab_runs.push(side);
        let job = serde_json::json!({
            "landing": landing,
            "table": work.path().join(format!("python-{round}")),
            "batch_rows": args.batch,
        });
        let side: Side = run_python_peer(
            &args.python,
            work.path(),
            ("landing_baseline.py", PYTHON_PEER),
            &job,
            "pyarrow and deltalake: pip install -r tests/python/requirements.txt",
        )?;
        report("python ", &side);
        python_runs.push(side);
    }
    for side in pipelab_runs.iter().chain(&python_runs) {
        if side.rows != (args.objects * args.rows) as u64 {
            return Err(BenchError::failed(format!(
                "a side stored {} rows of {}",
                side.rows,
                args.objects * args.rows
            )));
        }
    }
    let rate = |runs: &[Side], of: fn(&Side) -> u64| {
        median(runs.iter().map(|s| of(s) as f64 / s.wall_s).collect())
    };
    let results = LandingResults {
        benchmark: "landing",
        date: chrono::Utc::now().to_rfc3339(),
        objects: args.objects,
        rows_per_object: args.rows,
        batch_rows: args.batch,
        pipelab_objects_per_s: rate(&pipelab_runs, |s| s.objects),
        pipelab_rows_per_s: rate(&pipelab_runs, |s| s.rows),
        python_objects_per_s: rate(&python_runs, |s| s.objects),
        python_rows_per_s: rate(&python_runs, |s| s.rows),
        ratio: rate(&pipelab_runs, |s| s.objects) / rate(&python_runs, |s| s.objects),
        pipelab_runs,
        python_runs,
    };
    println!(
        "median: pipelab {:.0} objects/s ({:.0} rows/s), python {:.0} objects/s ({:.0} rows/s): {:.2}×",
        results.pipelab_objects_per_s,
        results.pipelab_rows_per_s,
        results.python_objects_per_s,
        results.python_rows_per_s,
        results.ratio
    );
    write_results(&args.out, "landing.json", &results)
}

/// `objects` JSON-lines objects of `rows` generated click events each, in three region
/// folders.
fn drop_objects(landing: &Path, objects: usize, rows: usize) -> Result<(), BenchError> {
    let until = chrono::Utc::now().date_naive();
    let mut events = Clickstream::new(ClickstreamConfig::new((objects * rows) as u64, until));
    for i in 0..objects {
        let folder = landing.join(["us", "eu", "ap"][i % 3]);
        std::fs::create_dir_all(&folder)?;
        let mut body = Vec::new();
        for event in events.by_ref().take(rows) {
            serde_json::to_writer(&mut body, &event)?;
            body.push(b'\n');
        }
        std::fs::write(folder.join(format!("part-{i:05}.jsonl")), body)?;
    }
    Ok(())
}

fn report(name: &str, side: &Side) {
    println!(
        "{name}: {} objects, {} rows in {:.2} s: {:.0} objects/s, {:.0} rows/s",
        side.objects,
        side.rows,
        side.wall_s,
        side.objects as f64 / side.wall_s,
        side.rows as f64 / side.wall_s
    );
}

/// pipelab's landing pipeline over the directory, until idle.
async fn pipelab_side(landing: &Path, lake: &Path, batch: usize) -> Result<Side, BenchError> {
    let spec = format!(
        "name = \"bench\"\n\
         [source]\nkind = \"landing\"\nlocation = {:?}\n\
         [[steps]]\nname = \"day\"\nsql = \"SELECT *, substr(ts, 1, 10) AS dt FROM input\"\n\
         [sink]\nlocation = {:?}\ntable = \"events\"\npartition_by = [\"dt\"]\n\
         flush_rows = {batch}\n",
        landing.display().to_string(),
        lake.display().to_string()
    );
    let spec = PipelineSpec::parse(&spec, Path::new("bench.toml"))?;
    let opts = RunOptions {
        until_idle: true,
        ..RunOptions::default()
    };
    let started = Instant::now();
    let report = pipelab_pipeline::run(&spec, opts).await?;
    Ok(Side {
        objects: report.objects.map_or(0, |o| o.read),
        rows: report.progress.written,
        wall_s: started.elapsed().as_secs_f64(),
    })
}
