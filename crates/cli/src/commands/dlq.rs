//! `pipelab dlq list|replay`: look at a dead-letter table, and produce its records again,
//! byte for byte (key, headers, payload), once the cause is fixed.

use std::collections::HashMap;

use clap::{Args, Subcommand};
use pipelab_federate::QueryEngine;
use pipelab_lake::LakeLocation;

use crate::error::CliError;
use crate::output::{self, Format};

#[derive(Args)]
pub(crate) struct DlqArgs {
    #[command(subcommand)]
    command: DlqCommand,
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List dead letters: where they came from, which stage refused them and why.
    List(ListArgs),
    /// Produce dead letters again to a topic, with their keys, headers and payloads.
    Replay(ReplayArgs),
}

#[derive(Args)]
struct Selection {
    /// The dead-letter table (`<table>_dead_letters` by default in a spec).
    table: String,
    /// The lake: a directory, file:///dir or s3://bucket[/prefix].
    #[arg(long, default_value = "pipelab-demo/s3/lake", env = "PIPELAB_LAKE")]
    lake: String,
    /// Only the rows matching this SQL condition, e.g. "stage = 'decode'".
    #[arg(long = "where", value_name = "SQL")]
    filter: Option<String>,
}

#[derive(Args)]
struct ListArgs {
    #[command(flatten)]
    select: Selection,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Args)]
struct ReplayArgs {
    #[command(flatten)]
    select: Selection,
    /// The topic to produce them to.
    #[arg(long)]
    to: String,
    #[arg(long, default_value = "127.0.0.1:9092", env = "PIPELAB_BROKERS")]
    brokers: String,
}

pub(crate) async fn run(args: DlqArgs) -> Result<(), CliError> {
    match args.command {
        DlqCommand::List(args) => list(args).await,
        DlqCommand::Replay(args) => replay(args).await,
    }
}

impl Selection {
    /// The selected rows, in the order they were read from Kafka.
    async fn rows(&self, columns: &str) -> Result<Vec<arrow::array::RecordBatch>, CliError> {
        let lake = LakeLocation::parse(&self.lake, HashMap::new())?;
        let engine = QueryEngine::open(&lake).await?;
        let filter = self
            .filter
            .as_ref()
            .map_or_else(String::new, |f| format!("WHERE {f}"));
        let sql = format!(
            "SELECT {columns} FROM \"{}\" {filter} ORDER BY topic, \"partition\", \"offset\"",
            self.table.replace('"', "\"\"")
        );
        Ok(engine.sql(&sql).await?)
    }
}

async fn list(args: ListArgs) -> Result<(), CliError> {
    let batches = args
        .select
        .rows("topic, \"partition\", \"offset\", \"timestamp\", stage, error, raw_text")
        .await?;
    output::print(&batches, args.format, &mut std::io::stdout().lock())
}

async fn replay(args: ReplayArgs) -> Result<(), CliError> {
    let batches = args
        .select
        .rows("topic, \"partition\", \"offset\", key, headers, raw")
        .await?;
    let records = pipelab_pipeline::replayable(&batches).map_err(|e| {
        CliError::usage(format!(
            "{}: not a dead-letter table: {e}",
            args.select.table
        ))
    })?;
    let n = records.len() as u64;
    let (brokers, topic) = (args.brokers, args.to);
    let stats = tokio::task::spawn_blocking(move || {
        pipelab_ingest::produce::produce_records(&brokers, &topic, records, |_| {})
    })
    .await??;
    println!(
        "replayed {} of {} dead letters from {} ({})",
        output::thousands(stats.acked),
        output::thousands(n),
        args.select.table,
        output::bytes(stats.bytes)
    );
    Ok(())
}
