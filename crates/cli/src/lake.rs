//! `pipelab lake`: the lake's catalog, from the Delta logs.

use std::collections::HashMap;

use arrow::record_batch::RecordBatch;
use clap::{Args, Subcommand};
use pipelab_lake::catalog::{self, Row};
use pipelab_lake::{LakeLocation, LakeTable};

use crate::error::CliError;
use crate::output::{self, Format};

#[derive(Args)]
pub struct LakeArgs {
    #[command(subcommand)]
    command: LakeCommand,
}

#[derive(Subcommand)]
enum LakeCommand {
    /// The lake's tables: version, partition columns, files, rows and bytes.
    Tables(Place),
    /// A table's columns (Delta types) and properties (location, version, creation,
    /// sizes, protocol, configuration).
    Describe(TableArgs),
    /// Files, rows and bytes of each partition of a table.
    Partitions(TableArgs),
    /// A table's commits, newest first: time, operation, files and bytes added and
    /// removed, rows added, and the Kafka offsets (`txn`) each recorded.
    History(HistoryArgs),
    /// The versions at which a table's columns or partitioning changed, and how.
    SchemaHistory(TableArgs),
}

/// Where the lake is and how to print.
#[derive(Args)]
struct Place {
    /// The lake: a directory, file:///dir or s3://bucket[/prefix] (S3 settings from AWS_* variables).
    #[arg(long, default_value = "pipelab-demo/s3/lake", env = "PIPELAB_LAKE")]
    lake: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Args)]
struct TableArgs {
    /// The table (its directory under the lake).
    table: String,
    #[command(flatten)]
    place: Place,
}

#[derive(Args)]
struct HistoryArgs {
    #[command(flatten)]
    of: TableArgs,
    /// Only the newest N commits.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

pub async fn run(args: LakeArgs) -> Result<(), CliError> {
    match args.command {
        LakeCommand::Tables(place) => {
            let tables = catalog::tables(&place.location()?).await?;
            print(&[batch(&tables)?], place.format)
        }
        LakeCommand::Describe(args) => {
            let table = args.open().await?;
            let columns = batch(&table.columns()?)?;
            let properties = batch(&table.properties().await?)?;
            print(&[columns], args.place.format)?;
            print(&[properties], args.place.format)
        }
        LakeCommand::Partitions(args) => {
            let table = args.open().await?;
            print(&[batch(&table.partitions()?)?], args.place.format)
        }
        LakeCommand::History(args) => {
            let table = args.of.open().await?;
            let history = table.history(args.limit).await?;
            print(&[batch(&history)?], args.of.place.format)
        }
        LakeCommand::SchemaHistory(args) => {
            let table = args.open().await?;
            print(&[batch(&table.schema_history().await?)?], args.place.format)
        }
    }
}

impl Place {
    fn location(&self) -> Result<LakeLocation, CliError> {
        Ok(LakeLocation::parse(&self.lake, HashMap::new())?)
    }
}

impl TableArgs {
    async fn open(&self) -> Result<LakeTable, CliError> {
        Ok(LakeTable::open(&self.place.location()?, &self.table).await?)
    }
}

fn batch<T: Row>(rows: &[T]) -> Result<RecordBatch, CliError> {
    catalog::to_batch(rows).map_err(CliError::environment)
}

fn print(batches: &[RecordBatch], format: Format) -> Result<(), CliError> {
    output::print(batches, format, &mut std::io::stdout().lock())
}
