//! `pipelab gen`: a generated clickstream to a Kafka topic, or as JSON lines.

use clap::Args;

use crate::error::CliError;
use crate::kafka_out::produce_and_report;

#[derive(Args)]
pub(crate) struct GenArgs {
    #[arg(long, default_value = "127.0.0.1:9092", env = "PIPELAB_BROKERS")]
    brokers: String,
    #[arg(long, default_value = "clicks")]
    topic: String,
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Last day of the generated week (YYYY-MM-DD); default today (UTC).
    #[arg(long)]
    until: Option<chrono::NaiveDate>,
    /// Print JSON lines to stdout instead of producing.
    #[arg(long)]
    stdout: bool,
}

pub(crate) async fn run(args: GenArgs) -> Result<(), CliError> {
    let until = args
        .until
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let mut cfg = pipelab_ingest::generate::ClickstreamConfig::new(args.events, until);
    cfg.seed = args.seed;
    let events = pipelab_ingest::generate::Clickstream::new(cfg);
    if args.stdout {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for e in events {
            serde_json::to_writer(&mut out, &e)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        return Ok(());
    }
    let records = events.map(|e| {
        (
            e.user_id.clone(),
            serde_json::to_vec(&e).unwrap_or_default(),
        )
    });
    produce_and_report(args.brokers, args.topic, records, "events").await
}
