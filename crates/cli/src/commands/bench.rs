//! `pipelab bench …`: the benchmarks of the pipelab-bench crate. The partition
//! benchmark first runs the partition lab as `pipelab lab partitions` does, with the
//! same options, then hands its tables to the comparison.

use clap::{Args, Subcommand};
use pipelab_bench::{federation, freshness, ingest, landing, partitions, ship, sinks};

use crate::commands::lab::PartitionsArgs;
use crate::error::CliError;

#[derive(Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    what: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Decode → SQL step → Delta commit from records in memory, beside Python.
    Ingest(ingest::IngestArgs),
    /// Freshness: from the last record of a burst acknowledged by Kafka to its commit.
    Freshness(freshness::FreshnessArgs),
    /// The partition lab's queries on its tables, by pipelab and by DuckDB's delta
    /// extension; time per query as a ratio.
    Partitions(PartitionsBenchArgs),
    /// Federated queries over PostgreSQL, MySQL and the lake, by pipelab and by DuckDB's
    /// postgres, mysql and delta extensions; time per query as a ratio, answers compared.
    Federation(federation::FederationArgs),
    /// A database sink (rows and offsets in one transaction per batch) beside plain
    /// batched INSERTs of the same rows: SQLite, and PostgreSQL / MySQL when given.
    Sinks(sinks::SinksArgs),
    /// `pipelab ship` tailing log files into the embedded broker, beside `kcat -P`
    /// producing the same lines.
    Ship(ship::ShipArgs),
    /// The landing source (objects under a prefix into the lake) beside the job a
    /// Lambda function runs in Python (pyarrow + deltalake) on the same objects.
    Landing(landing::LandingArgs),
}

#[derive(Args)]
struct PartitionsBenchArgs {
    #[command(flatten)]
    lab: PartitionsArgs,
    #[command(flatten)]
    peer: partitions::PeerArgs,
}

pub(crate) async fn run(args: BenchArgs) -> Result<(), CliError> {
    match args.what {
        BenchCommand::Ingest(args) => Ok(ingest::run(args).await?),
        BenchCommand::Freshness(args) => Ok(freshness::run(args).await?),
        BenchCommand::Partitions(args) => {
            let work = tempfile::tempdir()?;
            let mut lab_args = args.lab;
            lab_args.out = work.path().join("lab");
            let lab = crate::commands::lab::partitions(&lab_args).await?;
            Ok(partitions::compare(&lab, &lab_args.out, &args.peer)?)
        }
        BenchCommand::Federation(args) => Ok(federation::run(args).await?),
        BenchCommand::Sinks(args) => Ok(sinks::run(args).await?),
        BenchCommand::Ship(args) => Ok(ship::run(args).await?),
        BenchCommand::Landing(args) => Ok(landing::run(args).await?),
    }
}
