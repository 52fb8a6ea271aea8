//! `pipelab bench sinks`: a database sink's rows/s, each batch written with its offsets
//! in one transaction (what `[[sinks]]` does), beside plain batched INSERTs of the same
//! rows by the same driver in the same run (the goal: at least 0.8× their rate), for
//! SQLite and for each of PostgreSQL and MySQL/MariaDB given
//! (`bench-results/sinks.json`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use arrow::array::RecordBatch;
use clap::Args;
use pipelab_dbsink::{DatabaseSink, Engine, SinkConfig};
use pipelab_ingest::generate::{Clickstream, ClickstreamConfig};
use pipelab_ingest::{JsonDecoder, RawRecord};
use serde::Serialize;

use crate::BenchError;
use crate::results::{median, write_results};

/// `pipelab bench sinks`'s options.
#[derive(Args)]
pub struct SinksArgs {
    /// Rows written per round.
    #[arg(long, default_value_t = 100_000)]
    rows: u64,
    /// Rows per batch (the pipeline's micro-batch; one transaction each).
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Rounds of each way; the median counts.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Also PostgreSQL at this URL.
    #[arg(long, env = "PIPELAB_TEST_POSTGRES_URL")]
    postgres: Option<String>,
    /// Also MySQL/MariaDB at this URL.
    #[arg(long, env = "PIPELAB_TEST_MYSQL_URL")]
    mysql: Option<String>,
    /// Where the results file goes.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
}

#[derive(Serialize)]
struct SinksResults {
    benchmark: &'static str,
    date: String,
    rows: u64,
    batch_rows: usize,
    engines: Vec<EngineResult>,
}

#[derive(Serialize)]
struct EngineResult {
    engine: &'static str,
    /// Median rows/s of plain batched INSERTs, each statement committed by itself.
    plain_rows_per_s: f64,
    /// Median rows/s of the sink: a transaction per batch with its offsets.
    sink_rows_per_s: f64,
    /// sink / plain: the goal is at least 0.8.
    ratio: f64,
}

/// Both ways on every engine given; prints the ratios and writes the results.
pub async fn run(args: SinksArgs) -> Result<(), BenchError> {
    if args.rows == 0 || args.batch == 0 || args.rounds == 0 {
        return Err(BenchError::usage(
            "--rows, --batch and --rounds must be positive",
        ));
    }
    let batches = rows(args.rows, args.batch)?;
    let work = tempfile::tempdir()?;
    let mut targets = vec![(
        "sqlite",
        Engine::Sqlite,
        work.path().join("bench.db").display().to_string(),
    )];
    if let Some(url) = &args.postgres {
        targets.push(("postgres", Engine::Postgres, url.clone()));
    }
    if let Some(url) = &args.mysql {
        targets.push(("mysql", Engine::MySql, url.clone()));
    }
    let mut engines = Vec::new();
    for (name, engine, address) in targets {
        let result = measure(name, engine, &address, &batches, args.rounds).await?;
        println!(
            "{name:9} plain inserts {:>9.0} rows/s   sink with offsets {:>9.0} rows/s   {:.2}× (goal ≥ 0.80)",
            result.plain_rows_per_s, result.sink_rows_per_s, result.ratio
        );
        engines.push(result);
    }
    let results = SinksResults {
        benchmark: "sinks",
        date: chrono::Utc::now().to_rfc3339(),
        rows: args.rows,
        batch_rows: args.batch,
        engines,
    };
    write_results(&args.out, "sinks.json", &results)
}

/// Alternating rounds of plain inserts and sink writes into tables of their own.
async fn measure(
    name: &'static str,
    engine: Engine,
    address: &str,
    batches: &[RecordBatch],
    rounds: usize,
) -> Result<EngineResult, BenchError> {
    let config = |table: &str| SinkConfig {
        name: table.to_string(),
        engine,
        address: address.to_string(),
        table: table.to_string(),
        key: Vec::new(),
    };
    let mut plain = DatabaseSink::open(config("pipelab_bench_plain"), "bench", "bench").await?;
    let mut sink = DatabaseSink::open(config("pipelab_bench_sink"), "bench", "bench").await?;
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    let (mut plain_rates, mut sink_rates) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        plain.reset().await?;
        let started = Instant::now();
        for batch in batches {
            plain.insert_plain(std::slice::from_ref(batch)).await?;
        }
        plain_rates.push(rows as f64 / started.elapsed().as_secs_f64());

        sink.reset().await?;
        let started = Instant::now();
        let mut at: BTreeMap<i32, i64> = BTreeMap::new();
        for batch in batches {
            let next = at.get(&0).copied().unwrap_or(0) + batch.num_rows() as i64;
            let to = BTreeMap::from([(0, next)]);
            sink.write(std::slice::from_ref(batch), (&at, &to), &BTreeMap::new())
                .await?;
            at = to;
        }
        sink_rates.push(rows as f64 / started.elapsed().as_secs_f64());
    }
    plain.reset().await?;
    sink.reset().await?;
    let (plain, sink) = (median(plain_rates), median(sink_rates));
    Ok(EngineResult {
        engine: name,
        plain_rows_per_s: plain,
        sink_rows_per_s: sink,
        ratio: sink / plain,
    })
}

/// Generated clickstream events, decoded as the pipeline decodes them, in batches.
fn rows(rows: u64, batch: usize) -> Result<Vec<RecordBatch>, BenchError> {
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
    let mut config = ClickstreamConfig::new(rows, day);
    config.seed = 11;
    let records: Vec<RawRecord> = Clickstream::new(config)
        .enumerate()
        .map(|(i, e)| RawRecord::new(0, i as i64, serde_json::to_vec(&e).unwrap_or_default()))
        .collect();
    let mut decoder = JsonDecoder::new();
    let mut out = Vec::new();
    for chunk in records.chunks(batch) {
        let decoded = decoder.decode("bench", chunk)?;
        out.extend(decoded.batch);
    }
    Ok(out)
}
