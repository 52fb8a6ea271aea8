//! `pipelab gen`: generated data of a kind (the demo's clickstream by default) to a Kafka
//! topic, or printed as JSON lines or CSV.

use clap::Args;
use pipelab_scenario::generate::{Format, Generated, Kind, generate, write};

use crate::error::CliError;
use crate::kafka_out::produce_and_report;

#[derive(Args)]
pub(crate) struct GenArgs {
    /// What to generate: clickstream, logins, employees, employee-history, products,
    /// orders, support-requests, monitored-hosts, documents. Kinds of one world agree:
    /// orders sell the products of the same --rows and --seed.
    #[arg(default_value = "clickstream", value_parser = Kind::parse)]
    kind: Kind,
    #[arg(long, default_value = "127.0.0.1:9092", env = "PIPELAB_BROKERS")]
    brokers: String,
    /// The topic to produce to; default `clicks` for the clickstream, else the kind's name.
    #[arg(long)]
    topic: Option<String>,
    /// How many rows (events of the clickstream).
    #[arg(long, alias = "events", default_value_t = 100_000)]
    rows: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Last day of the generated week of clicks (YYYY-MM-DD); default today (UTC).
    #[arg(long)]
    until: Option<chrono::NaiveDate>,
    /// Print JSON lines to stdout instead of producing.
    #[arg(long)]
    stdout: bool,
    /// Print in this format (jsonl or csv) instead of producing.
    #[arg(long, value_parser = parse_format)]
    format: Option<Format>,
}

fn parse_format(name: &str) -> Result<Format, String> {
    match name {
        "jsonl" => Ok(Format::Jsonl),
        "csv" => Ok(Format::Csv),
        other => Err(format!("no format {other:?}: jsonl or csv")),
    }
}

pub(crate) async fn run(args: GenArgs) -> Result<(), CliError> {
    let format = args.format.or(args.stdout.then_some(Format::Jsonl));
    if args.kind == Kind::Clickstream {
        return clickstream(args, format).await;
    }
    let data = generate(args.kind, args.rows, args.seed);
    if let Some(format) = format {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        write(&data, format, &mut out).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput => {
                CliError::usage(format!("{}: {e}", args.kind.name()))
            }
            _ => CliError::environment(e),
        })?;
        std::io::Write::flush(&mut out)?;
        return Ok(());
    }
    let topic = args
        .topic
        .clone()
        .unwrap_or_else(|| args.kind.name().into());
    let records = lines(&data)
        .into_iter()
        .enumerate()
        .map(move |(i, line)| (key(args.kind, &line, i), line.into_bytes()));
    produce_and_report(args.brokers, topic, records, "records").await
}

/// The clickstream ending on `--until` (today by default), as the demo makes it: events
/// made as they are written, so a million take no memory to speak of.
async fn clickstream(args: GenArgs, format: Option<Format>) -> Result<(), CliError> {
    let until = args
        .until
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let mut cfg = pipelab_ingest::generate::ClickstreamConfig::new(args.rows, until);
    cfg.seed = args.seed;
    let events = pipelab_ingest::generate::Clickstream::new(cfg);
    match format {
        Some(Format::Csv) => Err(CliError::usage(
            "clickstream: events are JSON objects; use --format jsonl",
        )),
        Some(Format::Jsonl) => {
            use std::io::Write;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for e in events {
                serde_json::to_writer(&mut out, &e)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
            Ok(())
        }
        None => {
            let records = events.map(|e| {
                (
                    e.user_id.clone(),
                    serde_json::to_vec(&e).unwrap_or_default(),
                )
            });
            let topic = args.topic.unwrap_or_else(|| "clicks".into());
            produce_and_report(args.brokers, topic, records, "events").await
        }
    }
}

/// The records as JSON lines.
fn lines(data: &Generated) -> Vec<String> {
    let mut out = Vec::new();
    // Writing to memory fails only for a format the data has no form in: JSON lines
    // always have one.
    let _ = write(data, Format::Jsonl, &mut out);
    String::from_utf8_lossy(&out)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A record's key: the field that orders it in its story (a user's clicks, a customer's
/// requests, a document's versions), else its line number.
fn key(kind: Kind, line: &str, i: usize) -> String {
    let field = match kind {
        Kind::Clickstream | Kind::Logins => "user_id",
        Kind::SupportRequests | Kind::MonitoredHosts => "customer",
        Kind::Documents => "doc_id",
        Kind::Employees | Kind::EmployeeHistory => "employee_id",
        Kind::Products | Kind::Orders => "product_id",
    };
    let value = serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get(field).cloned());
    match value {
        Some(serde_json::Value::String(s)) => s,
        Some(v) if !v.is_null() => v.to_string(),
        _ => (i + 1).to_string(),
    }
}
