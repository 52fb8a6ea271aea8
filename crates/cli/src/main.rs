//! `pipelab`: run data-pipeline architectures on one laptop.
//!
//! This file parses the arguments and dispatches; each command is a module under
//! `commands/`, and the work happens in the library crates.

mod commands;
mod engine;
mod error;
mod invocation;
mod kafka_out;
mod live;
mod logging;
mod output;
mod paths;
mod shell;
mod signals;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;

/// Shown at the end of `pipelab --help`: every variable pipelab reads. The `PIPELAB_*`
/// ones are the options' defaults (clap's `env`), shown in each command's help too.
const ENVIRONMENT: &str = "\
Environment:
  PIPELAB_BROKERS  Kafka bootstrap servers: --brokers of run, gen, produce, ship, dlq replay
  PIPELAB_LAKE     the lake (directory, file:// or s3:// URL): --lake of run, query, serve, dlq
  PIPELAB_PYTHON   the interpreter of bench ingest's Python baseline: --python
  PIPELAB_LOG      log filter, as RUST_LOG: --log (default warn; e.g. pipelab_ingest=debug)
  PIPELAB_CATALOGS a catalogs file (TOML): --catalogs of query and serve
  PIPELAB_USERS    serve's users file (TOML): --users
  PIPELAB_HISTORY  the query shell's history file (default ~/.pipelab_history)
  PIPELAB_POSTGRES_URL, PIPELAB_MYSQL_URL
                   a scenario's operational database: --postgres, --mysql of scenario run
  PIPELAB_SCENARIOS the folder of named scenarios (default ./scenarios, else the source tree's)
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
    Demo(commands::demo::DemoArgs),
    /// Run the embedded Kafka broker and S3 endpoint in the foreground until Ctrl-C.
    Devstack(commands::devstack::DevstackArgs),
    /// Run a pipeline spec (TOML): Kafka → SQL steps → lake table.
    Run(commands::run::RunArgs),
    /// Run SQL over the lake's tables; with no SQL, an interactive shell.
    Query(commands::query::QueryArgs),
    /// The lake's catalog: tables, a table's columns, partitions, history and schema history.
    Lake(commands::lake::LakeArgs),
    /// Generate data (a clickstream, logins, orders, support requests, documents, ...) to a
    /// Kafka topic, or print it as JSON lines or CSV.
    Gen(commands::generate::GenArgs),
    /// Produce the lines of a file (or stdin) to a Kafka topic, one record per line.
    Produce(commands::produce::ProduceArgs),
    /// Tail log files through rotation into a Kafka topic, masking what must not leave.
    Ship(commands::ship::ShipArgs),
    /// List a dead-letter table, or produce its records again (replay).
    Dlq(commands::dlq::DlqArgs),
    /// Measure pipelab's own paths beside a peer on the same data (results in bench-results/).
    Bench(commands::bench::BenchArgs),
    /// Experiments: `lab partitions` compares partition layouts on the same data and queries.
    Lab(commands::lab::LabArgs),
    /// Serve SQL over Trino's client protocol (POST /v1/statement), for Trino's clients.
    Serve(commands::serve::ServeArgs),
    /// The interview scenarios: `scenario list`, `scenario run NAME|FOLDER`.
    Scenario(commands::scenario::ScenarioArgs),
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    if let Err(message) = logging::init(&cli.log) {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
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
    use commands::*;
    match command {
        Command::Demo(args) => demo::run(args).await,
        Command::Devstack(args) => devstack::run(args).await,
        Command::Run(args) => run::run(args).await,
        Command::Query(args) => query::run(args).await,
        Command::Lake(args) => lake::run(args).await,
        Command::Gen(args) => generate::run(args).await,
        Command::Produce(args) => produce::run(args).await,
        Command::Ship(args) => ship::run(args).await,
        Command::Dlq(args) => dlq::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Lab(args) => lab::run(args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Scenario(args) => scenario::run(args).await,
    }
}
