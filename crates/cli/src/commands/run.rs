//! `pipelab run`: a pipeline spec until Ctrl-C, idle or a record count, with a progress
//! line and a summary.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use pipelab_pipeline::{PipelineSpec, RunMetrics, RunOptions};

use crate::error::CliError;
use crate::live::LiveView;
use crate::output;

#[derive(Args)]
pub(crate) struct RunArgs {
    /// The pipeline spec.
    spec: PathBuf,
    /// Stop once the topic is drained (every partition read to its end), or for a
    /// landing source, once a listing finds no new object.
    #[arg(long)]
    until_idle: bool,
    /// Stop after this many records.
    #[arg(long)]
    max_records: Option<u64>,
    /// Kafka bootstrap servers, instead of the spec's.
    #[arg(long, env = "PIPELAB_BROKERS")]
    brokers: Option<String>,
    /// Lake location, instead of the spec's.
    #[arg(long, env = "PIPELAB_LAKE")]
    lake: Option<String>,
    /// No progress display (the summary is still printed).
    #[arg(long)]
    quiet: bool,
    /// `json`: once a second, the live view's numbers (per partition lag and records/s,
    /// rates, buffered bytes against the budget, commits, dead letters, retries) as one
    /// JSON line on stdout.
    #[arg(long, value_enum)]
    metrics: Option<MetricsFormat>,
}

/// `--metrics`: how the live view's numbers are written for scripts.
#[derive(Clone, Copy, ValueEnum)]
enum MetricsFormat {
    /// One JSON object per line, once a second.
    Json,
}

pub(crate) async fn run(args: RunArgs) -> Result<(), CliError> {
    let spec = PipelineSpec::from_file(&args.spec)?;
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    if args.quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let on_progress: pipelab_pipeline::runner::ProgressFn = {
        let bar = bar.clone();
        Arc::new(move |p: &pipelab_pipeline::Progress| {
            bar.set_message(format!(
                "read {}  written {}  dead letters {}  commits {}",
                output::thousands(p.read),
                output::thousands(p.written),
                output::thousands(p.dead_letters),
                p.commits
            ));
        })
    };
    let live = Arc::new(LiveView::default());
    // At a terminal the live view replaces the progress line; `--metrics json` prints.
    let at_terminal = !args.quiet && std::io::stderr().is_terminal();
    let on_metrics: Option<pipelab_pipeline::runner::MetricsFn> = match args.metrics {
        Some(MetricsFormat::Json) => Some(Arc::new(move |m: &RunMetrics| {
            println!("{}", live.json_line(m));
        })),
        None if at_terminal => {
            let bar = bar.clone();
            Some(Arc::new(move |m: &RunMetrics| {
                bar.set_message(live.text(m))
            }))
        }
        None => None,
    };
    let on_progress = if at_terminal && args.metrics.is_none() {
        None
    } else {
        Some(on_progress)
    };
    let opts = RunOptions {
        until_idle: args.until_idle,
        max_records: args.max_records,
        stop: stop_on_ctrl_c(),
        on_progress,
        on_metrics,
        brokers: args.brokers,
        lake: args.lake,
        storage_options: HashMap::new(),
    };
    let report = pipelab_pipeline::run(&spec, opts).await?;
    bar.finish_and_clear();
    let p = &report.progress;
    let secs = report.elapsed.as_secs_f64();
    println!(
        "pipeline '{}': read {} records ({}), wrote {} rows to {} in {} commits ({} files, {}), {} dead letters, {:.1} s, {}; stopped: {:?}",
        spec.name,
        output::thousands(p.read),
        output::rate(p.read, secs),
        output::thousands(p.written),
        report.lake,
        p.commits,
        p.files,
        output::bytes(p.bytes),
        output::thousands(p.dead_letters),
        secs,
        report
            .table_version
            .map_or("no table yet".to_string(), |v| format!("table version {v}")),
        report.stop
    );
    for db in &spec.databases {
        println!(
            "  database sink '{}': table {} ({})",
            db.sink_name(),
            db.table,
            if db.key.is_empty() {
                "inserts".to_string()
            } else {
                format!("upsert by {}", db.key.join(", "))
            }
        );
    }
    if let Some(o) = report.objects {
        println!(
            "  landing objects: {} read ({}), {} listed that the lake held already",
            output::thousands(o.read),
            output::bytes(o.bytes),
            output::thousands(o.already_stored)
        );
    }
    for topic in &spec.topics {
        println!(
            "  kafka sink: topic {} ({} records produced in all, idempotent producer, at least once)",
            topic.topic,
            output::thousands(p.produced)
        );
    }
    if !spec.databases.is_empty() {
        println!(
            "  database sinks: {} rows in {} transactions, each with its offsets (pipelab_offsets)",
            output::thousands(p.database_rows),
            p.database_commits
        );
    }
    if let Some(m) = report.memory {
        println!(
            "  peak memory: data {} (records are held within memory_budget_mb = {}); \
             resident {} with the program's code",
            output::bytes(m.data_bytes),
            spec.memory_budget_mb,
            output::bytes(m.resident_bytes),
        );
    }
    if report.transient_errors > 0 {
        println!(
            "  {} transient Kafka errors, retried (see the log)",
            report.transient_errors
        );
    }
    if p.duplicates > 0 {
        println!(
            "  {} rows dropped: the table held their identity already (sink.dedupe_by)",
            output::thousands(p.duplicates)
        );
    }
    if p.widenings > 0 {
        println!(
            "  column types widened in {} rewrite(s) of the table (on_type_mismatch = widen; \
             see the log for which columns)",
            p.widenings
        );
    }
    if p.compactions > 0 {
        println!(
            "  {} partition compaction(s) after writes ([sink.compaction])",
            p.compactions
        );
    }
    if p.already_stored + p.reseeks + p.conflicts + report.out_of_range_resets > 0 {
        println!(
            "  shared with other members: {} records already stored, {} partitions re-read, \
             {} commits retried; {} partitions moved by on_offset_out_of_range",
            output::thousands(p.already_stored),
            p.reseeks,
            p.conflicts,
            report.out_of_range_resets
        );
    }
    Ok(())
}

/// Set the returned flag on Ctrl-C (the first one; a second one kills as usual).
fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping at the next batch boundary (Ctrl-C again to abort)");
            flag.store(true, Ordering::SeqCst);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    stop
}
