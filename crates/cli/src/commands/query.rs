//! `pipelab query`: SQL over the lake or a catalogs file's catalogs, or the shell.

use std::path::PathBuf;

use clap::Args;

use crate::engine::open_engine;
use crate::error::CliError;
use crate::output::{self, Format};
use crate::shell;

#[derive(Args)]
pub(crate) struct QueryArgs {
    /// The SQL to run; omit it for an interactive shell.
    sql: Option<String>,
    /// The lake: a directory, file:///dir or s3://bucket[/prefix] (S3 settings from AWS_* variables).
    #[arg(long, default_value = "pipelab-demo/s3/lake", env = "PIPELAB_LAKE")]
    lake: String,
    /// A catalogs file (TOML, `[catalogs.NAME]` with `kind = "lake"`, `"files"`,
    /// `"postgres"`, `"mysql"`, `"sqlite"` or `"kafka"`): its tables are
    /// `catalog.schema.table`, unqualified names those of `default_catalog`; with
    /// `[query_log]`, every query's events go to a Kafka topic. Replaces --lake.
    #[arg(long, value_name = "FILE", env = "PIPELAB_CATALOGS")]
    catalogs: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Read every table as it was at a version (a number, from `pipelab lake history`) or
    /// a time (2026-11-25T10:00:00Z, 2026-11-25 10:00:00 in UTC, or 2026-11-25): the newest
    /// commit made at or before it. Tables that did not exist yet are left out.
    #[arg(long, value_name = "VERSION|TIME")]
    as_of: Option<pipelab_lake::AsOf>,
    /// After the result, print to stderr what the query's scans read: files (after
    /// partition pruning) and bytes, from DataFusion's scan metrics.
    #[arg(long)]
    stats: bool,
}

pub(crate) async fn run(args: QueryArgs) -> Result<(), CliError> {
    let engine = open_engine(&args.lake, args.catalogs.as_ref(), args.as_of).await?;
    for (view, why) in engine.broken_views() {
        eprintln!("view {view} left out: {why}");
    }
    match args.sql {
        Some(sql) => {
            let (batches, stats) = engine.sql_with_stats(&sql).await?;
            let mut out = std::io::stdout().lock();
            output::print(&batches, args.format, &mut out)?;
            if args.stats {
                eprintln!("{stats}");
            }
            Ok(())
        }
        None => shell::run(&engine, args.format).await,
    }
}
