//! `pipelab`: run data-pipeline architectures on one laptop.
//!
//! This binary parses arguments and prints; the work happens in the library crates.

mod bench;
mod bench_federation;
mod bench_partitions;
mod demo;
mod dlq;
mod error;
mod lab;
mod lake;
mod output;
mod python_peer;
mod shell;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use pipelab_devstack::{DevStack, DevStackConfig};
use pipelab_federate::QueryEngine;
use pipelab_lake::LakeLocation;
use pipelab_pipeline::{PipelineSpec, RunOptions};

use crate::error::CliError;
use crate::output::Format;

/// Shown at the end of `pipelab --help`: every variable pipelab reads. The `PIPELAB_*`
/// ones are the options' defaults (clap's `env`), shown in each command's help too.
const ENVIRONMENT: &str = "\
Environment:
  PIPELAB_BROKERS  Kafka bootstrap servers: --brokers of run, gen, produce, dlq replay
  PIPELAB_LAKE     the lake (directory, file:// or s3:// URL): --lake of run, query, serve, dlq
  PIPELAB_PYTHON   the interpreter of bench ingest's Python baseline: --python
  PIPELAB_LOG      log filter, as RUST_LOG: --log (default warn; e.g. pipelab_ingest=debug)
  PIPELAB_CATALOGS a catalogs file (TOML): --catalogs of query and serve
  PIPELAB_USERS    serve's users file (TOML): --users
  PIPELAB_HISTORY  the query shell's history file (default ~/.pipelab_history)
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP, ...
                   S3 settings of an s3:// lake, as object_store reads them; a spec's
                   [sink.storage_options] take precedence

Exit codes: 0 success; 2 the input needs fixing (arguments, spec, SQL, credentials, data
the spec refuses); 1 the environment failed (a service down or unreachable, a disk, a bug);
3 `lake verify` found damaged or stray files.";

#[derive(Parser)]
#[command(
    name = "pipelab",
    version,
    about = "Run data-pipeline architectures on one laptop: Kafka → DataFusion → Delta Lake on S3 → SQL",
    after_help = ENVIRONMENT
)]
struct Cli {
    /// Log filter for stderr, as RUST_LOG: a level (error, warn, info, debug, trace) or
    /// per-crate directives.
    #[arg(long, global = true, env = "PIPELAB_LOG", default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the embedded stack, stream a clickstream through Kafka into the lake, query it.
    Demo(demo::DemoArgs),
    /// Run the embedded Kafka broker and S3 endpoint in the foreground until Ctrl-C.
    Devstack(DevstackArgs),
    /// Run a pipeline spec (TOML): Kafka → SQL steps → lake table.
    Run(RunArgs),
    /// Run SQL over the lake's tables; with no SQL, an interactive shell.
    Query(QueryArgs),
    /// The lake's catalog: tables, a table's columns, partitions, history and schema history.
    Lake(lake::LakeArgs),
    /// Produce a generated clickstream to a Kafka topic (or print it as JSON lines).
    Gen(GenArgs),
    /// Produce the lines of a file (or stdin) to a Kafka topic, one record per line.
    Produce(ProduceArgs),
    /// List a dead-letter table, or produce its records again (replay).
    Dlq(dlq::DlqArgs),
    /// Measure pipelab's own paths beside a peer on the same data (results in bench-results/).
    Bench(bench::BenchArgs),
    /// Experiments: `lab partitions` compares partition layouts on the same data and queries.
    Lab(lab::LabArgs),
    /// Serve SQL over Trino's client protocol (POST /v1/statement), for Trino's clients.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// The lake, when no catalogs file is given.
    #[arg(long, default_value = "pipelab-demo/s3/lake", env = "PIPELAB_LAKE")]
    lake: String,
    /// A catalogs file (TOML): lakes, files, PostgreSQL, MySQL or SQLite databases and
    /// Kafka topics; with `[query_log]`, every query's events go to a Kafka topic.
    #[arg(long, value_name = "FILE", env = "PIPELAB_CATALOGS")]
    catalogs: Option<PathBuf>,
    /// The address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// A users file (TOML): `[users.NAME]` with `password_sha256`, `read` and `write`
    /// catalogs. Clients then sign in with HTTP basic authentication: over HTTPS, or on a
    /// loopback address.
    #[arg(long, value_name = "FILE", env = "PIPELAB_USERS")]
    users: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

#[derive(Args)]
struct DevstackArgs {
    /// Directory for the broker's log and the S3 endpoint's objects.
    #[arg(long, default_value = "pipelab-devstack")]
    dir: PathBuf,
    #[arg(long, default_value_t = 9092)]
    kafka_port: u16,
    #[arg(long, default_value_t = 9000)]
    s3_port: u16,
    /// Create a topic at start: NAME or NAME:PARTITIONS (repeatable).
    #[arg(long = "topic", value_name = "NAME[:PARTITIONS]")]
    topics: Vec<String>,
}

#[derive(Args)]
struct RunArgs {
    /// The pipeline spec.
    spec: PathBuf,
    /// Stop once the topic is drained (every partition read to its end).
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
    /// Print progress as JSON lines on stderr instead of a bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct QueryArgs {
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

#[derive(Args)]
struct GenArgs {
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

#[derive(Args)]
struct ProduceArgs {
    #[arg(long, default_value = "127.0.0.1:9092", env = "PIPELAB_BROKERS")]
    brokers: String,
    #[arg(long)]
    topic: String,
    /// A file of records, one per line; `-` for stdin.
    #[arg(default_value = "-")]
    file: PathBuf,
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    let mut filter = match tracing_subscriber::EnvFilter::try_new(&cli.log) {
        Ok(filter) => filter,
        Err(e) => {
            eprintln!("error: --log (or PIPELAB_LOG) {:?}: {e}", cli.log);
            return ExitCode::from(2);
        }
    };
    // deltalake logs at ERROR the commit conflicts and failures it returns to pipelab,
    // which retries or reports each one itself: unless the filter names deltalake, a
    // user sees a failure once, from pipelab.
    if !cli.log.contains("deltalake")
        && let Ok(quiet) = "deltalake_core::kernel::transaction=off".parse()
    {
        filter = filter.add_directive(quiet);
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.report());
            e.blame().exit_code()
        }
    }
}

/// glibc gives threads that allocate at once arenas of their own (up to 8 per core), and
/// memory freed into one is not reused by another: the same 64 MiB-budget run measured
/// 145 MiB of anonymous memory with the default and 95 MiB with two arenas, at the same
/// speed. Set before any thread starts.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a malloc parameter; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

async fn dispatch(command: Command) -> Result<(), CliError> {
    match command {
        Command::Demo(args) => demo::run(args).await,
        Command::Devstack(args) => devstack(args).await,
        Command::Run(args) => run(args).await,
        Command::Query(args) => query(args).await,
        Command::Lake(args) => lake::run(args).await,
        Command::Gen(args) => generate(args).await,
        Command::Produce(args) => produce(args).await,
        Command::Dlq(args) => dlq::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Lab(args) => lab::run(args).await,
        Command::Serve(args) => serve(args).await,
    }
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

async fn devstack(args: DevstackArgs) -> Result<(), CliError> {
    let mut cfg = DevStackConfig::new(absolute(&args.dir)?);
    cfg.kafka_port = args.kafka_port;
    cfg.s3_port = args.s3_port;
    let stack = DevStack::start(cfg).await?;
    for spec in &args.topics {
        let (name, partitions) = parse_topic(spec)?;
        stack.create_topic(name, partitions).await?;
        println!("topic {name} ({partitions} partitions) ready");
    }
    println!("Kafka bootstrap:  {}", stack.kafka_bootstrap());
    println!(
        "S3 endpoint:      {} (bucket '{}')",
        stack.s3_endpoint(),
        stack.bucket()
    );
    println!("lake:             {}", stack.lake_url());
    println!();
    println!("# paste into another shell to use them:");
    println!("export PIPELAB_BROKERS={}", stack.kafka_bootstrap());
    println!("{}", stack.export_lines());
    println!("export PIPELAB_LAKE={}", stack.lake_url());
    println!();
    println!("# kcat needs a current librdkafka (see README); then:");
    println!("#   kcat -b {} -L", stack.kafka_bootstrap());
    println!("running until Ctrl-C");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    stack.shutdown().await;
    Ok(())
}

fn parse_topic(spec: &str) -> Result<(&str, i32), CliError> {
    match spec.split_once(':') {
        None => Ok((spec, 1)),
        Some((name, n)) => match n.parse::<i32>() {
            Ok(p) if p > 0 && !name.is_empty() => Ok((name, p)),
            _ => Err(CliError::usage(format!(
                "--topic {spec}: expected NAME or NAME:PARTITIONS with PARTITIONS ≥ 1"
            ))),
        },
    }
}

fn absolute(p: &std::path::Path) -> Result<PathBuf, CliError> {
    std::path::absolute(p).map_err(|e| CliError::path(p, e))
}

async fn run(args: RunArgs) -> Result<(), CliError> {
    let spec = PipelineSpec::from_file(&args.spec)?;
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    if args.quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let on_progress = {
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
    let opts = RunOptions {
        until_idle: args.until_idle,
        max_records: args.max_records,
        stop: stop_on_ctrl_c(),
        on_progress: Some(on_progress),
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

/// The session of `query` and `serve`: a catalogs file's catalogs, or one lake (as of a
/// version or time, for `query --as-of`).
async fn open_engine(
    lake: &str,
    catalogs: Option<&PathBuf>,
    as_of: Option<pipelab_lake::AsOf>,
) -> Result<QueryEngine, CliError> {
    let lake = LakeLocation::parse(lake, HashMap::new())?;
    Ok(match (as_of, catalogs) {
        (None, Some(file)) => {
            let catalogs = pipelab_federate::catalogs::Catalogs::load(file)
                .map_err(pipelab_federate::FederateError::from)?;
            QueryEngine::open_catalogs(&catalogs).await?
        }
        (Some(_), Some(_)) => {
            return Err(CliError::usage(
                "--as-of reads one lake at an older version; it does not combine with --catalogs",
            ));
        }
        (None, None) => QueryEngine::open(&lake).await?,
        (Some(at), None) => {
            let (engine, absent) = QueryEngine::open_as_of(&lake, at).await?;
            if !absent.is_empty() {
                eprintln!("as of {at}, not yet created: {}", absent.join(", "));
            }
            engine
        }
    })
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(pipelab_serve::tls::server_config(cert, key).map_err(CliError::usage)?)
        }
        _ => None,
    };
    let users = match &args.users {
        Some(path) => {
            if !args.bind.is_loopback() && tls.is_none() {
                return Err(CliError::usage(format!(
                    "--users with --bind {}: passwords would cross the network in clear text; \
                     serve HTTPS (--tls-cert, --tls-key) or listen on a loopback address",
                    args.bind
                )));
            }
            Some(pipelab_serve::auth::Users::load(path).map_err(CliError::usage)?)
        }
        None => None,
    };
    let engine = open_engine(&args.lake, args.catalogs.as_ref(), None).await?;
    if let Some(users) = &users {
        let unknown = users.unknown_catalogs(&engine.context().catalog_names());
        if !unknown.is_empty() {
            return Err(CliError::usage(format!(
                "{}: grants name catalogs that do not exist: {}",
                args.users
                    .as_deref()
                    .unwrap_or(std::path::Path::new(""))
                    .display(),
                unknown.join(", ")
            )));
        }
    }
    for (view, why) in engine.broken_views() {
        eprintln!("view {view} left out: {why}");
    }
    let addr = std::net::SocketAddr::new(args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::environment(format!("cannot listen on {addr}: {e}")))?;
    let addr = listener.local_addr().map_err(CliError::environment)?;
    // The line a script waits for (with --port 0, the port the system chose).
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "pipelab serve: Trino protocol on {scheme}://{addr} over {}",
        engine.lake()
    );
    if let Some(log) = engine.query_log() {
        eprintln!("query events go to the Kafka topic {}", log.topic());
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    pipelab_serve::serve(
        Arc::new(engine),
        listener,
        pipelab_serve::ServeOptions {
            users: users.map(Arc::new),
            tls,
            ..Default::default()
        },
        shutdown,
    )
    .await
    .map_err(CliError::environment)
}

async fn query(args: QueryArgs) -> Result<(), CliError> {
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

async fn generate(args: GenArgs) -> Result<(), CliError> {
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

async fn produce(args: ProduceArgs) -> Result<(), CliError> {
    use std::io::BufRead;
    let reader: Box<dyn BufRead + Send> = if args.file.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(&args.file).map_err(|e| CliError::path(&args.file, e))?;
        Box::new(std::io::BufReader::new(f))
    };
    // Lines are bytes, sent as they are (not only UTF-8); each record's key is its line
    // number. A read error ends the input and is reported with its line.
    let read_error: Arc<std::sync::Mutex<Option<(usize, std::io::Error)>>> = Arc::default();
    let seen_error = read_error.clone();
    let records = reader
        .split(b'\n')
        .enumerate()
        .map_while(move |(i, line)| match line {
            Ok(line) => Some(((i + 1).to_string(), line)),
            Err(e) => {
                if let Ok(mut slot) = seen_error.lock() {
                    *slot = Some((i + 1, e));
                }
                None
            }
        });
    produce_and_report(
        args.brokers,
        args.topic,
        records,
        "records (key: line number)",
    )
    .await?;
    let failed = read_error.lock().ok().and_then(|mut e| e.take());
    match failed {
        Some((line, source)) => Err(CliError::environment(ReadStopped {
            file: args.file.display().to_string(),
            line,
            source,
        })),
        None => Ok(()),
    }
}

/// Reading the records to produce failed part way (the lines before were sent).
#[derive(Debug, thiserror::Error)]
#[error("{file}: reading stopped at line {line}: {source}; the lines before it were sent")]
struct ReadStopped {
    file: String,
    line: usize,
    #[source]
    source: std::io::Error,
}

/// Produce `records` (key, payload) to `topic` and print how many the broker took. The
/// records are generated or read on a blocking thread: librdkafka's queue blocks.
async fn produce_and_report<I>(
    brokers: String,
    topic: String,
    records: I,
    what: &str,
) -> Result<(), CliError>
where
    I: Iterator<Item = (String, Vec<u8>)> + Send + 'static,
{
    let stats = tokio::task::spawn_blocking(move || {
        pipelab_ingest::produce::produce_all(&brokers, &topic, records, |_| {})
    })
    .await??;
    println!(
        "produced {} {what} ({})",
        output::thousands(stats.acked),
        output::bytes(stats.bytes)
    );
    Ok(())
}
