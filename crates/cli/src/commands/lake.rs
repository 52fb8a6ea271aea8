//! `pipelab lake`: the lake's catalog, from the Delta logs.

use std::collections::HashMap;

use arrow::record_batch::RecordBatch;
use clap::{Args, Subcommand};
use std::num::NonZeroU64;

use pipelab_lake::catalog::{self, Row};
use pipelab_lake::external::Dropped;
use pipelab_lake::maintain::{CompactOptions, PartitionFilter, VacuumOptions};
use pipelab_lake::{LakeLocation, LakeTable};

use crate::error::CliError;
use crate::output::{self, Format};

#[derive(Args)]
pub(crate) struct LakeArgs {
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
    /// Rewrite a table's small files into fewer, larger ones in one commit (deltalake's
    /// optimize); readers see the old files or the new ones, never a mix.
    Compact(CompactArgs),
    /// Delete the files no snapshot within the retention references: those compaction or
    /// overwrites removed, and those of writes that never committed.
    Vacuum(VacuumArgs),
    /// Check a table's files against its log: each listed file present, of the logged
    /// size, with a readable footer and the logged row count, and no data file that no
    /// commit added. Exit code 3 when something is wrong.
    Verify(VerifyArgs),
    /// Set table properties in one commit: KEY=VALUE, e.g.
    /// delta.logRetentionDuration="interval 7 days", delta.checkpointInterval=10.
    Set(SetArgs),
    /// Write a checkpoint of the current version, and delete the log entries it makes
    /// unnecessary that are older than delta.logRetentionDuration (30 days unless set).
    Checkpoint(TableArgs),
    /// Name a Delta table that lives elsewhere (a directory, file:// or s3:// URL) as an
    /// external table of this lake: listed, described and queried like the lake's own.
    Register(RegisterArgs),
    /// Drop a table: an external one is only forgotten (its data stays); a managed one
    /// (a directory of the lake) is deleted, log first, with --delete-data.
    Drop(DropArgs),
}

#[derive(Args)]
struct RegisterArgs {
    #[command(flatten)]
    of: TableArgs,
    /// Where the Delta table is.
    location: String,
}

#[derive(Args)]
struct DropArgs {
    #[command(flatten)]
    of: TableArgs,
    /// Delete a managed table's data and log (required for a managed table).
    #[arg(long)]
    delete_data: bool,
}

#[derive(Args)]
struct SetArgs {
    #[command(flatten)]
    of: TableArgs,
    /// KEY=VALUE (repeatable).
    #[arg(required = true, value_name = "KEY=VALUE", value_parser = parse_property)]
    properties: Vec<(String, String)>,
}

fn parse_property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("{text:?}: expected KEY=VALUE")),
    }
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    of: TableArgs,
    /// Also decode every page of every file (reads the whole table).
    #[arg(long)]
    deep: bool,
}

#[derive(Args)]
struct CompactArgs {
    #[command(flatten)]
    of: TableArgs,
    /// Only partitions matching COLUMN OP VALUE, e.g. "dt >= '2026-11-20'" (repeatable;
    /// all must match).
    #[arg(long = "where", value_name = "FILTER")]
    filters: Vec<PartitionFilter>,
    /// Z-order each partition's rows by these columns (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    zorder: Vec<String>,
    /// Bytes a rewritten file aims at (default 100 MiB).
    #[arg(long, value_name = "BYTES")]
    target_file_size: Option<NonZeroU64>,
}

#[derive(Args)]
struct VacuumArgs {
    #[command(flatten)]
    of: TableArgs,
    /// Keep what snapshots of the last HOURS still reference (default: the table's
    /// delta.deletedFileRetentionDuration, 7 days).
    #[arg(long, value_name = "HOURS")]
    retain: Option<u64>,
    /// Allow a retention below the table's minimum (readers of older versions may fail).
    #[arg(long)]
    force: bool,
    /// Only list the files that would be deleted.
    #[arg(long)]
    dry_run: bool,
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

pub(crate) async fn run(args: LakeArgs) -> Result<(), CliError> {
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
        LakeCommand::Compact(args) => compact(args).await,
        LakeCommand::Vacuum(args) => vacuum(args).await,
        LakeCommand::Verify(args) => verify(args).await,
        LakeCommand::Set(args) => {
            let mut table = args.of.open().await?;
            let version = table
                .set_properties(args.properties.into_iter().collect())
                .await?;
            println!("{}: properties set in version {version}", args.of.table);
            Ok(())
        }
        LakeCommand::Checkpoint(args) => {
            let mut table = args.open().await?;
            let report = table.checkpoint().await?;
            println!(
                "{}: checkpoint of version {}; {} expired log entries deleted",
                args.table, report.version, report.log_entries_deleted
            );
            Ok(())
        }
        LakeCommand::Register(args) => {
            let lake = args.of.place.location()?;
            let table = lake
                .register_external(&args.of.table, &args.location)
                .await?;
            println!("{}: external table at {}", table.name, table.location);
            Ok(())
        }
        LakeCommand::Drop(args) => {
            let lake = args.of.place.location()?;
            match lake.drop_table(&args.of.table, args.delete_data).await? {
                Dropped::External { location } => println!(
                    "{}: forgotten (external; its data stays at {location})",
                    args.of.table
                ),
                Dropped::Managed { objects } => {
                    println!("{}: deleted ({objects} objects)", args.of.table)
                }
            }
            Ok(())
        }
    }
}

async fn verify(args: VerifyArgs) -> Result<(), CliError> {
    let table = args.of.open().await?;
    let report = table.verify(args.deep).await?;
    println!(
        "{}: version {}, {} files ({}) checked{}{}",
        args.of.table,
        report.version,
        report.files_checked,
        output::bytes(report.bytes_checked),
        if args.deep {
            ", every page decoded"
        } else {
            ""
        },
        match report.files_without_checksum {
            0 => String::new(),
            n => format!(
                "; {n} without a checksum (written by compaction, widening or another writer), \
                 their bytes not compared"
            ),
        }
    );
    if report.findings.is_empty() {
        println!("no problem found");
        return Ok(());
    }
    print(&[batch(&report.findings)?], args.of.place.format)?;
    Err(CliError::damaged(format!(
        "{}: {} problem(s) found",
        args.of.table,
        report.findings.len()
    )))
}

async fn compact(args: CompactArgs) -> Result<(), CliError> {
    let mut table = args.of.open().await?;
    let opts = CompactOptions {
        filters: args.filters,
        zorder: args.zorder,
        target_file_bytes: args.target_file_size,
    };
    let report = table.compact(&opts).await?;
    if report.files_removed == 0 {
        println!(
            "{}: nothing to compact (version {})",
            args.of.table, report.version
        );
    } else {
        println!(
            "{}: {} files ({}) rewritten as {} ({}) in {} partitions, version {}",
            args.of.table,
            report.files_removed,
            output::bytes(report.bytes_removed),
            report.files_added,
            output::bytes(report.bytes_added),
            report.partitions,
            report.version
        );
    }
    Ok(())
}

async fn vacuum(args: VacuumArgs) -> Result<(), CliError> {
    let mut table = args.of.open().await?;
    let opts = VacuumOptions {
        retain_hours: args.retain,
        force: args.force,
        dry_run: args.dry_run,
    };
    let report = table.vacuum(&opts).await?;
    for file in &report.files {
        println!("{file}");
    }
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    println!("{}: {verb} {} files", args.of.table, report.files.len());
    Ok(())
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
