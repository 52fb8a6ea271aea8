//! `pipelab lab partitions`: the same data in several layouts, the same queries against
//! each, compared in a table, a chart and a report.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use pipelab_ingest::{DuplicateKeys, FieldNames, NameRules};
use pipelab_lab::data::RefusedLine;
use pipelab_lab::{LabOptions, Source, chart, queries, report};

use crate::error::CliError;

#[derive(Args)]
pub(crate) struct LabArgs {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(Subcommand)]
enum LabCommand {
    /// Write the same data in each layout and run the same queries on each: files,
    /// bytes, files and bytes read per query, partitions pruned and time per query, as a
    /// table, a chart (SVG and PNG) and a Markdown report under --out.
    Partitions(PartitionsArgs),
}

#[derive(Args)]
pub(crate) struct PartitionsArgs {
    /// The data: a Delta table (its directory or URL) or a Parquet, CSV or JSON-lines
    /// file. Without it, a clickstream of --events events is generated.
    #[arg(long, conflicts_with = "events")]
    pub(crate) source: Option<String>,
    /// Generate this many clickstream events (over the 7 days before today).
    #[arg(long)]
    pub(crate) events: Option<u64>,
    /// The layouts, comma-separated: none, or parts joined by +: year, month, day, hour
    /// (of --time-column), bucketN(col), truncateN(col), a column, or a partition_by
    /// entry such as bucket(16, user_id).
    #[arg(long, default_value = "none,day,hour,bucket16(user_id),day+country")]
    pub(crate) layouts: String,
    /// A file of named queries over the table `events` (`-- name: …` before each
    /// statement; ${day}, ${next_day}, ${user_id}, ${country} are filled from the data).
    /// Default: a query set for the clickstream.
    #[arg(long)]
    pub(crate) queries: Option<PathBuf>,
    /// Timed runs of each query on each layout (after one untimed run); the median is
    /// reported.
    #[arg(long, default_value_t = 5)]
    pub(crate) runs: usize,
    /// Commits each table is written in, as micro-batches would.
    #[arg(long, default_value_t = 1)]
    pub(crate) commits: usize,
    /// The column the time layouts (day, hour, …) and ${day} use.
    #[arg(long, default_value = "ts")]
    pub(crate) time_column: String,
    /// Where the tables (lake/), results.json, report.md, chart.svg and chart.png go
    /// (replaced when an earlier lab run made it; another directory is refused).
    #[arg(long, default_value = "pipelab-lab")]
    pub(crate) out: PathBuf,
    /// The generated clickstream's seed.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// A JSON-lines source's field that differs only by case from another's: refuse its
    /// line (exact) or write it to that column (fold), as a pipeline's `field_names`.
    #[arg(long, value_enum, default_value = "exact")]
    pub(crate) field_names: FieldNamesArg,
    /// A JSON-lines source's line that repeats a key: refuse it (dead-letter) or keep
    /// the last value (last), as a pipeline's `duplicate_keys`.
    #[arg(long, value_enum, default_value = "dead-letter")]
    pub(crate) duplicate_keys: DuplicateKeysArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum FieldNamesArg {
    Exact,
    Fold,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum DuplicateKeysArg {
    DeadLetter,
    Last,
}

impl PartitionsArgs {
    fn name_rules(&self) -> NameRules {
        NameRules {
            field_names: match self.field_names {
                FieldNamesArg::Exact => FieldNames::Exact,
                FieldNamesArg::Fold => FieldNames::Fold,
            },
            duplicate_keys: match self.duplicate_keys {
                DuplicateKeysArg::DeadLetter => DuplicateKeys::DeadLetter,
                DuplicateKeysArg::Last => DuplicateKeys::Last,
            },
        }
    }
}

pub(crate) async fn run(args: LabArgs) -> Result<(), CliError> {
    match args.command {
        LabCommand::Partitions(args) => {
            let results = partitions(&args).await?;
            print!("{}", report::text(&results));
            println!(
                "\nreport: {}\nchart:  {} and {}",
                args.out.join("report.md").display(),
                args.out.join("chart.svg").display(),
                args.out.join("chart.png").display()
            );
            Ok(())
        }
    }
}

/// Run the lab and write its files; the results for the caller to print or compare.
pub(crate) async fn partitions(args: &PartitionsArgs) -> Result<pipelab_lab::LabResults, CliError> {
    let layouts = pipelab_lab::parse_layouts(&args.layouts, &args.time_column)?;
    let text = match &args.queries {
        Some(path) => std::fs::read_to_string(path).map_err(|e| CliError::path(path, e))?,
        None => queries::CLICKSTREAM.to_string(),
    };
    let queries = queries::parse(&text).map_err(|e| {
        let file = args
            .queries
            .as_ref()
            .map_or("the default queries".into(), |p| p.display().to_string());
        CliError::usage(format!("{file}: {e}"))
    })?;
    if args.runs == 0 || args.commits == 0 {
        return Err(CliError::usage("--runs and --commits must be at least 1"));
    }
    let source = match (&args.source, args.events) {
        (Some(path), _) => Source::Path(path.clone()),
        (None, events) => Source::Generate {
            events: events.unwrap_or(200_000),
            seed: args.seed,
            until: chrono::Utc::now().date_naive(),
        },
    };
    let loaded = pipelab_lab::data::load(&source, &args.time_column, args.name_rules()).await?;
    // A second run replaces the first one's directory; one the lab did not make is kept.
    crate::paths::fresh_dir(&args.out, "pipelab lab partitions", "--out")?;
    keep_refused(&loaded.refused, args)?;
    let batches = loaded.batches;
    let opts = LabOptions {
        layouts,
        queries,
        runs: args.runs,
        commits: args.commits,
        time_column: args.time_column.clone(),
        out: args.out.clone(),
    };
    let results = pipelab_lab::run(batches, &opts).await?;
    write(
        &args.out.join("results.json"),
        &serde_json::to_vec_pretty(&results)?,
    )?;
    write(
        &args.out.join("report.md"),
        report::markdown(&results).as_bytes(),
    )?;
    chart::draw(
        &results,
        &args.out.join("chart.svg"),
        &args.out.join("chart.png"),
    )?;
    Ok(results)
}

/// Lines of the source that did not decode go to `refused.jsonl` under --out (line,
/// error, text), and stderr says how many and why the first was refused.
fn keep_refused(refused: &[RefusedLine], args: &PartitionsArgs) -> Result<(), CliError> {
    let Some(first) = refused.first() else {
        return Ok(());
    };
    let path = args.out.join("refused.jsonl");
    let mut text = String::new();
    for line in refused {
        text.push_str(&serde_json::to_string(line)?);
        text.push('\n');
    }
    write(&path, text.as_bytes())?;
    eprintln!(
        "{} line(s) of {} refused and left out (kept in {}); line {}: {}",
        refused.len(),
        args.source.as_deref().unwrap_or_default(),
        path.display(),
        first.line,
        first.error
    );
    Ok(())
}

fn write(path: &std::path::Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes).map_err(|e| CliError::path(path, e))
}
