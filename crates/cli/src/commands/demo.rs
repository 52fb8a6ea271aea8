//! `pipelab demo`: the main job on the embedded stack, with nothing installed.
//!
//! devstack (broker + S3) → generated clickstream → topic `clicks` → pipeline →
//! Delta table `clicks` partitioned by event date on S3 → queries → summary.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pipelab_devstack::{DevStack, DevStackConfig, KAFKA_CONSUMER_OVERRIDES};
use pipelab_federate::QueryEngine;
use pipelab_ingest::generate::{Clickstream, ClickstreamConfig};
use pipelab_lake::LakeLocation;
use pipelab_pipeline::{PipelineSpec, RunOptions};

use crate::error::CliError;
use crate::invocation::command_name;
use crate::output::{self, Format, bytes, rate, thousands};
use crate::paths::{absolute, fresh_dir};

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// How many events to generate.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Working directory of the demo (broker log, S3 objects); replaced on each run.
    #[arg(long, default_value = "pipelab-demo")]
    dir: PathBuf,
    /// Partitions of the `clicks` topic.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

const TOPIC: &str = "clicks";

/// The demo's pipeline: every event to the lake, partitioned by event date. It names
/// the stack's ports and S3 settings itself, so `pipelab run` needs nothing else once a
/// devstack listens on those ports again.
fn pipeline_toml(stack: &DevStack) -> String {
    let brokers = stack.kafka_bootstrap();
    let lake = stack.lake_url();
    // The embedded broker's settings for consumers (see KAFKA_CONSUMER_OVERRIDES).
    let options: String = std::iter::once("[source.options]".to_string())
        .chain(
            KAFKA_CONSUMER_OVERRIDES
                .iter()
                .map(|(k, v)| format!("{k:?} = {v:?}")),
        )
        .collect::<Vec<_>>()
        .join("\n");
    let mut s3: Vec<(String, String)> = stack.s3_storage_options().into_iter().collect();
    s3.sort();
    let storage: String = s3.iter().map(|(k, v)| format!("{k} = {v:?}\n")).collect();
    format!(
        r#"# Written by `pipelab demo`: run it again with `pipelab run` while `pipelab devstack`
# serves the ports below (the demo prints the command).
name = "clickstream"

[source]
kind = "kafka"
brokers = "{brokers}"
topic = "{TOPIC}"
format = "json"
{options}

[[steps]]
name = "event_date"
sql = """
SELECT event_id, user_id, session_id, event_type, page, referrer, device, country,
       ts, price, substr(ts, 1, 10) AS dt
FROM input
"""

[sink]
kind = "lake"
location = "{lake}"
table = "clicks"
partition_by = ["dt"]
flush_rows = 250000
flush_interval_secs = 5.0

# The devstack's S3 endpoint; AWS_* variables fill in what is not set here.
[sink.storage_options]
{storage}"#
    )
}

const QUERIES: [(&str, &str); 4] = [
    (
        "Events and visitors per day",
        "SELECT dt AS day, count(*) AS events, count(DISTINCT user_id) AS visitors \
         FROM clicks GROUP BY dt ORDER BY dt",
    ),
    (
        "Top pages",
        "SELECT page, count(*) AS views FROM clicks WHERE event_type = 'page_view' \
         GROUP BY page ORDER BY views DESC, page LIMIT 10",
    ),
    (
        "Sign-up conversion per day",
        "SELECT dt AS day, count(DISTINCT user_id) AS visitors, \
         count(DISTINCT CASE WHEN event_type = 'sign_up' THEN user_id END) AS sign_ups, \
         round(100.0 * count(DISTINCT CASE WHEN event_type = 'sign_up' THEN user_id END) \
               / count(DISTINCT user_id), 2) AS conversion_pct \
         FROM clicks GROUP BY dt ORDER BY dt",
    ),
    (
        "Cart adds, purchases and revenue by device",
        "SELECT device, count(*) FILTER (WHERE event_type = 'add_to_cart') AS cart_adds, \
         count(*) FILTER (WHERE event_type = 'purchase') AS purchases, \
         round(sum(price) FILTER (WHERE event_type = 'purchase'), 2) AS revenue \
         FROM clicks GROUP BY device ORDER BY revenue DESC",
    ),
];

pub(crate) async fn run(args: DemoArgs) -> Result<(), CliError> {
    let dir = absolute(&args.dir)?;
    fresh_dir(&dir, "pipelab demo", "--dir")?;
    println!(
        "pipelab demo: {} events through Kafka → DataFusion → Delta Lake on S3 → SQL",
        thousands(args.events)
    );
    println!("working directory: {}\n", dir.display());

    let stack = DevStack::start(DevStackConfig::new(&dir)).await?;
    stack.create_topic(TOPIC, args.partitions).await?;
    println!(
        "[1/4] embedded stack up: Kafka at {}, S3 at {} (bucket '{}'), topic '{TOPIC}' with {} partitions",
        stack.kafka_bootstrap(),
        stack.s3_endpoint(),
        stack.bucket(),
        args.partitions
    );

    let until = chrono::Utc::now().date_naive();
    let produced = produce(&stack.kafka_bootstrap(), args.events, args.seed, until).await?;
    println!(
        "[2/4] produced {} events ({}) in {:.1} s: {}",
        thousands(produced.events),
        bytes(produced.bytes),
        produced.secs,
        rate(produced.events, produced.secs)
    );

    let spec_path = dir.join("clickstream.toml");
    let toml = pipeline_toml(&stack);
    std::fs::write(&spec_path, &toml).map_err(|e| CliError::path(&spec_path, e))?;
    let spec = PipelineSpec::parse(&toml, &spec_path)?;
    let report = ingest(&spec, &stack, produced.events).await?;
    let p = &report.progress;
    let ingest_secs = report.elapsed.as_secs_f64();
    println!(
        "[3/4] pipeline read {} records and wrote {} rows in {} Delta commits ({} Parquet files, {}) in {:.1} s: {}",
        thousands(p.read),
        thousands(p.written),
        p.commits,
        p.files,
        bytes(p.bytes),
        ingest_secs,
        rate(p.read, ingest_secs)
    );

    let lake = LakeLocation::parse(&stack.lake_url(), stack.s3_storage_options())?;
    let engine = QueryEngine::open(&lake).await?;
    println!("[4/4] queries over the lake ({})\n", lake.display());
    let mut query_secs = 0.0;
    let mut per_day = BTreeMap::new();
    for (i, (title, sql)) in QUERIES.iter().enumerate() {
        let started = Instant::now();
        let batches = engine.sql(sql).await?;
        let secs = started.elapsed().as_secs_f64();
        query_secs += secs;
        println!("{title} ({:.0} ms):", secs * 1000.0);
        output::print(&batches, Format::Table, &mut std::io::stdout().lock())?;
        println!();
        if i == 0 {
            per_day = day_counts(&batches)?;
        }
    }
    let partitions = per_day.len();
    let matches = per_day == produced.per_day;
    let lake_dir = dir.join("s3").join(stack.bucket());
    let (kafka_port, s3_port) = stack.ports();
    stack.shutdown().await;

    println!("Summary");
    println!(
        "  produced   {:>12} events  {:>10}  {}",
        thousands(produced.events),
        bytes(produced.bytes),
        rate(produced.events, produced.secs)
    );
    println!(
        "  consumed   {:>12} records {:>10}  {}",
        thousands(p.read),
        bytes(p.read_bytes),
        rate(p.read, ingest_secs)
    );
    println!(
        "  written    {:>12} rows    {:>10}  {} files, {} commits, {} partitions (dt)",
        thousands(p.written),
        bytes(p.bytes),
        p.files,
        p.commits,
        partitions
    );
    println!("  dead letters {:>10}", thousands(p.dead_letters));
    println!(
        "  queries    {:>12} in {:.0} ms",
        QUERIES.len(),
        query_secs * 1000.0
    );
    println!(
        "  check      per-day counts in the lake {} the generated events",
        if matches { "equal" } else { "DIFFER FROM" }
    );
    println!(
        "\nThe lake is a directory of Delta tables: {}",
        lake_dir.display()
    );
    // The follow-up commands as the user can paste them into a new shell.
    let me = command_name();
    println!("Query it again:");
    println!(
        "  {me} query --lake {} \"SELECT dt, count(*) FROM clicks GROUP BY dt ORDER BY dt\"",
        lake_dir.display()
    );
    println!(
        "  {me} query --lake {}            # interactive shell",
        lake_dir.display()
    );
    println!(
        "Or serve it over Kafka and S3 again on the ports the spec names (keep this one \
         running):"
    );
    println!(
        "  {me} devstack --dir {} --kafka-port {kafka_port} --s3-port {s3_port}",
        dir.display()
    );
    println!(
        "and from a second terminal, add events and run the pipeline again (it resumes where the lake says it stopped):"
    );
    println!("  {me} gen --brokers 127.0.0.1:{kafka_port} --topic {TOPIC} --events 10000 --seed 7");
    println!("  {me} run {} --until-idle", spec_path.display());
    println!(
        "  {me} query --lake {} \"SELECT count(*) FROM clicks\"",
        lake_dir.display()
    );
    if !matches {
        return Err(CliError::environment(format!(
            "the lake's per-day counts {per_day:?} differ from the generated events {:?}",
            produced.per_day
        )));
    }
    Ok(())
}

struct Produced {
    events: u64,
    bytes: u64,
    secs: f64,
    per_day: BTreeMap<String, i64>,
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let template = format!(
        "      {what:<10} [{{bar:40}}] {{human_pos}}/{{human_len}} {{per_sec}} eta {{eta}}"
    );
    bar.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

async fn produce(
    brokers: &str,
    events: u64,
    seed: u64,
    until: chrono::NaiveDate,
) -> Result<Produced, CliError> {
    let bar = bar(events, "producing");
    let brokers = brokers.to_string();
    let progress = bar.clone();
    let started = Instant::now();
    let (stats, per_day) = tokio::task::spawn_blocking(move || {
        let mut cfg = ClickstreamConfig::new(events, until);
        cfg.seed = seed;
        // Count per day while generating: the expected answer, computed apart from the lake.
        let mut per_day: BTreeMap<String, i64> = BTreeMap::new();
        let records = Clickstream::new(cfg).map(|e| {
            *per_day.entry(e.day().to_string()).or_default() += 1;
            (
                e.user_id.clone(),
                serde_json::to_vec(&e).unwrap_or_default(),
            )
        });
        let stats = pipelab_ingest::produce::produce_all(&brokers, TOPIC, records, |acked| {
            progress.set_position(acked)
        });
        stats.map(|s| (s, per_day))
    })
    .await??;
    bar.finish_and_clear();
    Ok(Produced {
        events: stats.acked,
        bytes: stats.bytes,
        secs: started.elapsed().as_secs_f64(),
        per_day,
    })
}

async fn ingest(
    spec: &PipelineSpec,
    stack: &DevStack,
    events: u64,
) -> Result<pipelab_pipeline::RunReport, CliError> {
    let bar = bar(events, "ingesting");
    let progress = bar.clone();
    let opts = RunOptions {
        until_idle: true,
        on_progress: Some(Arc::new(move |p: &pipelab_pipeline::Progress| {
            progress.set_position(p.read)
        })),
        storage_options: stack.s3_storage_options(),
        ..RunOptions::default()
    };
    let report = pipelab_pipeline::run(spec, opts).await?;
    bar.finish_and_clear();
    Ok(report)
}

/// (day, events) from the first demo query's result.
fn day_counts(
    batches: &[arrow::record_batch::RecordBatch],
) -> Result<BTreeMap<String, i64>, CliError> {
    let mut out = BTreeMap::new();
    for b in batches {
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
