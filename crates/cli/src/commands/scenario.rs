//! `pipelab scenario`: the interview scenarios under `scenarios/`, listed or run one at a
//! time (the runner is `pipelab_scenario`'s; this prints around it).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use pipelab_scenario::definition::{LakeStore, Need};
use pipelab_scenario::{OpsDatabase, Outcome, RunOptions, Scenario};

use crate::error::{Blame, Blamed, CliError};
use crate::invocation::command_name;
use crate::output::{UntilClosed, emit};
use crate::paths::{absolute, fresh_dir};

#[derive(Args)]
pub(crate) struct ScenarioArgs {
    #[command(subcommand)]
    command: ScenarioCommand,
}

#[derive(Subcommand)]
enum ScenarioCommand {
    /// The scenarios: name, story, what each needs and how long it takes.
    List,
    /// Run a scenario by name (see `scenario list`) or the folder of one.
    Run(RunArgs),
}

#[derive(Args)]
struct RunArgs {
    /// A scenario's name, or a folder holding a scenario.toml.
    scenario: String,
    /// The run's working directory (lake, SQLite database, catalogs file); replaced on
    /// each run. Default: pipelab-scenario/NAME.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The operational database in this PostgreSQL database instead of SQLite (its
    /// tables of the scenario's names are replaced).
    #[arg(long, value_name = "URL", env = "PIPELAB_POSTGRES_URL")]
    postgres: Option<String>,
    /// The operational database in this MySQL/MariaDB database instead of SQLite (its
    /// tables of the scenario's names are replaced).
    #[arg(long, value_name = "URL", env = "PIPELAB_MYSQL_URL")]
    mysql: Option<String>,
    /// Print the architecture first, then what ran with its numbers and the trade-offs
    /// to mention.
    #[arg(long)]
    explain: bool,
    /// Run on generated data of this size (small, default, large) instead of the
    /// scenario's own files; answers are saved in DIR/answers, not compared.
    #[arg(long, value_parser = pipelab_scenario::Size::parse)]
    size: Option<pipelab_scenario::Size>,
    /// The seed of the generated data (implies generated data; default size: default).
    #[arg(long)]
    seed: Option<u64>,
}

impl Blamed for pipelab_scenario::ScenarioError {
    fn blame(&self) -> Blame {
        Blame::of(self.is_user_fixable())
    }
}

pub(crate) async fn run(args: ScenarioArgs) -> Result<(), CliError> {
    match args.command {
        ScenarioCommand::List => list(),
        ScenarioCommand::Run(args) => run_one(args).await,
    }
}

fn list() -> Result<(), CliError> {
    let scenarios = pipelab_scenario::list()?;
    let width = scenarios.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let root = absolute(&pipelab_scenario::scenarios_root())?;
    let mut text = format!("Scenarios in {}:\n", root.display());
    for s in &scenarios {
        let mut needs = vec![match s.lake {
            LakeStore::Local => "a local lake",
            LakeStore::S3 => "a lake on the embedded S3 endpoint",
        }];
        if s.needs(Need::Kafka) {
            needs.push("the embedded Kafka broker");
        }
        if s.needs(Need::Database) {
            needs.push("the operational database");
        }
        let needs = needs.join(", ");
        text += &format!("  {:width$}  {}\n", s.name, s.story);
        text += &format!("  {:width$}  needs {needs}; takes {}\n", "", s.takes);
    }
    text += &format!("\nRun one: {} scenario run NAME\n", command_name());
    emit(&text)
}

async fn run_one(args: RunArgs) -> Result<(), CliError> {
    let scenario = pipelab_scenario::find(&args.scenario)?;
    let database = match (args.postgres, args.mysql) {
        (Some(_), Some(_)) => {
            return Err(CliError::usage(
                "give one operational database: --postgres or --mysql (or one of \
                 PIPELAB_POSTGRES_URL, PIPELAB_MYSQL_URL), not both",
            ));
        }
        (Some(url), None) => Some(OpsDatabase::Postgres(url)),
        (None, Some(url)) => Some(OpsDatabase::MySql(url)),
        (None, None) => None,
    };
    let dir = args
        .dir
        .unwrap_or_else(|| PathBuf::from("pipelab-scenario").join(&scenario.name));
    let dir = absolute(&dir)?;
    fresh_dir(&dir, "pipelab scenario run", "--dir")?;
    emit(&format!(
        "pipelab scenario {}\n  {}\n  story and trade-offs: {}\n  working directory:    {}\n\n",
        scenario.name,
        scenario.story,
        scenario.folder.join("README.md").display(),
        dir.display()
    ))?;
    let opts = RunOptions {
        dir: dir.clone(),
        database,
        explain: args.explain,
        program: std::env::current_exe().ok(),
        generated: generated_data(args.size, args.seed),
    };
    let interrupted = crate::signals::interrupted()?;
    let mut out = UntilClosed(std::io::stdout().lock());
    // Ctrl-C drops the run: its server is killed, its broker stops with the process, and
    // its folder keeps what the steps so far wrote.
    let outcome = tokio::select! {
        outcome = pipelab_scenario::run(&scenario, opts, &mut out) => outcome?,
        () = interrupted => {
            return Err(CliError::interrupted(format!(
                "scenario {} interrupted; what it wrote so far is in {}",
                scenario.name,
                dir.display()
            )));
        }
    };
    emit(&follow_up(&scenario, &outcome))
}

/// The data to generate, when `--size` or `--seed` asks for it.
fn generated_data(
    size: Option<pipelab_scenario::Size>,
    seed: Option<u64>,
) -> Option<pipelab_scenario::GeneratedData> {
    (size.is_some() || seed.is_some()).then(|| pipelab_scenario::GeneratedData {
        size: size.unwrap_or(pipelab_scenario::Size::Default),
        seed: seed.unwrap_or(pipelab_scenario::DEFAULT_SEED),
        rows: None,
    })
}

/// What the run checked, and the commands that explore what it left behind.
fn follow_up(scenario: &Scenario, outcome: &Outcome) -> String {
    let me = command_name();
    let catalogs = outcome.catalogs.display();
    let answers = match outcome.unchecked {
        0 => format!("{} answers as expected", outcome.checked),
        n => format!(
            "{n} answers on generated data, saved in {}",
            outcome.catalogs.with_file_name("answers").display()
        ),
    };
    let mut text = format!(
        "{} finished in {:.1} s: {answers}.\n\nExplore what it left behind:\n",
        scenario.name,
        outcome.elapsed.as_secs_f64(),
    );
    text += &format!("  {me} query --catalogs {catalogs} \"SHOW TABLES\"\n");
    if let Some(table) = outcome.lake_tables.first() {
        text += &format!("  {me} query --catalogs {catalogs} \"SELECT * FROM {table} LIMIT 10\"\n");
        text += &format!(
            "  {me} lake history {table} --lake {}\n",
            outcome.lake.display()
        );
    }
    if let Some(database) = &outcome.database
        && let Ok(schema) = database.schema()
    {
        text += &format!(
            "  {me} query --catalogs {catalogs} \"SHOW TABLES FROM {}.{schema}\"    # {}\n",
            pipelab_scenario::OPS_CATALOG,
            database.describe()
        );
    }
    text += &format!("  {me} query --catalogs {catalogs}            # interactive shell\n");
    text += &format!("  {me} serve --catalogs {catalogs} --port 8080   # for Trino clients\n");
    if let (Some((kafka, s3)), false) = (outcome.stack_ports, outcome.pipelines.is_empty()) {
        let dir = outcome.catalogs.parent().unwrap_or(Path::new("."));
        text += "Serve its Kafka and S3 again on the same ports (keep it running), then from \
                 a second terminal\nrun its pipeline again (it resumes where the lake says \
                 it stopped):\n";
        text += &format!(
            "  {me} devstack --dir {} --kafka-port {kafka} --s3-port {s3}\n",
            dir.display()
        );
        // A spec that ran twice (a landing pipeline triggered again) is listed once.
        let mut listed = std::collections::BTreeSet::new();
        for run in outcome.pipelines.iter().filter(|r| listed.insert(&r.spec)) {
            text += &format!("  {me} run {} --until-idle\n", run.spec.display());
        }
    }
    text
}
