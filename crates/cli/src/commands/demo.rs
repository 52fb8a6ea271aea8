//! `pipelab demo`: the main job on the embedded stack, with nothing installed: the
//! clickstream scenario (`scenarios/clickstream`) run on generated events, its lake in
//! the embedded S3 endpoint. The scenario runner does the work; this prints around it a
//! summary, a check of the lake against the generated events, and the commands to go on.
//!
//! devstack (broker + S3) → generated clickstream → topic `clicks` → pipeline →
//! Delta table `clicks` partitioned by event date on S3 → queries → summary.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use clap::Args;
use pipelab_federate::QueryEngine;
use pipelab_lake::LakeLocation;
use pipelab_scenario::{GeneratedData, Outcome, RunOptions, Size};

use crate::error::CliError;
use crate::invocation::command_name;
use crate::output::{UntilClosed, bytes, emit, rate, thousands};
use crate::paths::{absolute, fresh_dir};

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// How many events to generate.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Working directory of the demo (broker log, S3 objects); replaced on each run.
    #[arg(long, default_value = "pipelab-demo")]
    dir: PathBuf,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// The scenario the demo runs.
const SCENARIO: &str = "clickstream";
/// The topic and the table it makes.
const TOPIC: &str = "clicks";

pub(crate) async fn run(args: DemoArgs) -> Result<(), CliError> {
    let scenario = pipelab_scenario::find(SCENARIO)?;
    let dir = absolute(&args.dir)?;
    fresh_dir(&dir, "pipelab demo", "--dir")?;
    emit(&format!(
        "pipelab demo: {} events through Kafka → DataFusion → Delta Lake on S3 → SQL\n\
         the {SCENARIO} scenario ({}) on generated events\nworking directory: {}\n\n",
        thousands(args.events),
        scenario.folder.display(),
        dir.display()
    ))?;
    let opts = RunOptions {
        dir: dir.clone(),
        database: None,
        explain: false,
        program: std::env::current_exe().ok(),
        generated: Some(GeneratedData {
            size: Size::Default,
            seed: args.seed,
            rows: Some(args.events),
        }),
    };
    let outcome = {
        let mut out = UntilClosed(std::io::stdout().lock());
        pipelab_scenario::run(&scenario, opts, &mut out).await?
    };
    let lake_dir = dir.join("s3").join("lake");
    let generated = per_day_in_file(&dir.join("data-generated/data/clicks.jsonl"))?;
    let in_lake = per_day_in_lake(&lake_dir).await?;
    emit(&summary(&outcome, in_lake == generated))?;
    emit(&follow_up(&dir, &lake_dir, &outcome))?;
    if in_lake != generated {
        return Err(CliError::environment(format!(
            "the lake's per-day counts {in_lake:?} differ from the generated events {generated:?}"
        )));
    }
    Ok(())
}

/// What was produced, consumed, written and checked, one line each (written to a
/// String, which cannot fail).
fn summary(outcome: &Outcome, matches: bool) -> String {
    let mut text = String::from("Summary\n");
    for p in &outcome.produced {
        let secs = p.elapsed.as_secs_f64();
        let _ = writeln!(
            text,
            "  produced   {:>12} events  {:>10}  {}",
            thousands(p.records),
            bytes(p.bytes),
            rate(p.records, secs)
        );
    }
    for run in &outcome.pipelines {
        let (p, secs) = (&run.progress, run.elapsed.as_secs_f64());
        let _ = writeln!(
            text,
            "  consumed   {:>12} records {:>10}  {}",
            thousands(p.read),
            bytes(p.read_bytes),
            rate(p.read, secs)
        );
        let _ = writeln!(
            text,
            "  written    {:>12} rows    {:>10}  {} files, {} commits",
            thousands(p.written),
            bytes(p.bytes),
            p.files,
            p.commits
        );
        if p.database_commits > 0 {
            let _ = writeln!(
                text,
                "  upserted   {:>12} rows              {} transactions (email service's table)",
                thousands(p.database_rows),
                p.database_commits
            );
        }
        let _ = writeln!(text, "  dead letters {:>10}", thousands(p.dead_letters));
    }
    let _ = writeln!(
        text,
        "  check      per-day counts in the lake {} the generated events",
        if matches { "equal" } else { "DIFFER FROM" }
    );
    text
}

/// The commands to go on, as the user can paste them into a new shell.
fn follow_up(dir: &Path, lake_dir: &Path, outcome: &Outcome) -> String {
    let me = command_name();
    let mut text = String::new();
    let lake = lake_dir.display();
    let _ = writeln!(text, "\nThe lake is a directory of Delta tables: {lake}");
    let _ = writeln!(text, "Query it again:");
    let _ = writeln!(
        text,
        "  {me} query --lake {lake} \"SELECT dt, count(*) FROM clicks GROUP BY dt ORDER BY dt\""
    );
    let _ = writeln!(
        text,
        "  {me} query --lake {lake}            # interactive shell"
    );
    let (Some((kafka_port, s3_port)), Some(run)) = (outcome.stack_ports, outcome.pipelines.first())
    else {
        return text;
    };
    let _ = writeln!(
        text,
        "Or serve it over Kafka and S3 again on the ports the spec names (keep this one \
         running):"
    );
    let _ = writeln!(
        text,
        "  {me} devstack --dir {} --kafka-port {kafka_port} --s3-port {s3_port}",
        dir.display()
    );
    let _ = writeln!(
        text,
        "and from a second terminal, add events and run the pipeline again (it resumes where the lake says it stopped):"
    );
    let _ = writeln!(
        text,
        "  {me} gen --brokers 127.0.0.1:{kafka_port} --topic {TOPIC} --events 10000 --seed 7"
    );
    let _ = writeln!(text, "  {me} run {} --until-idle", run.spec.display());
    let _ = writeln!(
        text,
        "  {me} query --lake {lake} \"SELECT count(*) FROM clicks\""
    );
    text
}

/// Events per day (the first ten characters of `ts`) in the generated file, counted apart
/// from pipelab: the answer the lake must give.
fn per_day_in_file(path: &Path) -> Result<BTreeMap<String, i64>, CliError> {
    let file = std::fs::File::open(path).map_err(|e| CliError::path(path, e))?;
    let mut days = BTreeMap::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| CliError::path(path, e))?;
        let event = serde_json::from_str::<serde_json::Value>(&line).ok();
        if let Some(ts) = event.as_ref().and_then(|e| e["ts"].as_str()) {
            let day = ts.get(..10).unwrap_or_default().to_string();
            *days.entry(day).or_default() += 1;
        }
    }
    Ok(days)
}

/// Rows per `dt` of the lake's `clicks`, read from its files.
async fn per_day_in_lake(lake_dir: &Path) -> Result<BTreeMap<String, i64>, CliError> {
    let lake = LakeLocation::parse(&lake_dir.display().to_string(), Default::default())?;
    let engine = QueryEngine::open(&lake).await?;
    let batches = engine
        .sql("SELECT dt, count(*) FROM clicks GROUP BY dt")
        .await?;
    let mut out = BTreeMap::new();
    for b in &batches {
        let days = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let counts = arrow::compute::cast(b.column(1), &DataType::Int64)?;
        let days = days.as_string::<i32>();
        let counts = counts.as_primitive::<arrow::datatypes::Int64Type>();
        for i in 0..b.num_rows() {
            if !days.is_null(i) {
                out.insert(days.value(i).to_string(), counts.value(i));
            }
        }
    }
    Ok(out)
}
