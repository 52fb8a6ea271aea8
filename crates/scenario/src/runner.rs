//! Running a scenario: its steps in order, in a folder of its own (the lake, the SQLite
//! database, the catalogs file), printing what each did as it goes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::util::pretty::pretty_format_batches;
use pipelab_devstack::{DevStack, DevStackConfig};
use pipelab_federate::QueryEngine;
use pipelab_federate::answer::{is_plan, plans_as_text};
use pipelab_federate::catalogs::Catalogs;
use pipelab_lake::LakeLocation;

use crate::compare::{Table, difference};
use crate::definition::{LakeStore, Need, QueryStep, Scenario, Step, Target, Via};
use crate::error::ScenarioError;
use crate::explain::{Arrow, draw, readme_section};
use crate::ops::{OPS_CATALOG, OpsDatabase};
use crate::server_steps::Server;
use crate::site::lay_out;
use crate::sizes::{GeneratedData, generate_files};

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run's folder, empty or new: the lake, the SQLite file and the catalogs file go
    /// there.
    pub dir: PathBuf,
    /// The operational database; a SQLite file in `dir` when `None`.
    pub database: Option<OpsDatabase>,
    /// Print the architecture before the steps, and after them what ran with its
    /// numbers and the trade-offs to mention (from the scenario's README).
    pub explain: bool,
    /// The pipelab program, which server steps start as `pipelab serve`.
    pub program: Option<PathBuf>,
    /// Generated data instead of the scenario's own files (`--size`, `--seed`).
    pub generated: Option<GeneratedData>,
}

/// What a run left behind, for the commands that explore it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The catalogs file naming the lake and the operational database.
    pub catalogs: PathBuf,
    /// The lake's folder.
    pub lake: PathBuf,
    /// The lake tables the steps wrote.
    pub lake_tables: Vec<String>,
    /// The operational database, when the scenario used one.
    pub database: Option<OpsDatabase>,
    /// Answers checked against their expected files.
    pub checked: usize,
    /// Answers saved but not checked (generated data).
    pub unchecked: usize,
    /// The ports the embedded broker and S3 endpoint listened on, when it ran
    /// (`pipelab devstack --dir DIR --kafka-port --s3-port` serves the same again).
    pub stack_ports: Option<(u16, u16)>,
    /// What each load into a topic produced.
    pub produced: Vec<Produced>,
    /// What each pipeline step did, with the spec as it ran.
    pub pipelines: Vec<PipelineRun>,
    /// The whole run's time.
    pub elapsed: Duration,
}

/// Records a load step produced to a topic.
#[derive(Debug, Clone)]
pub struct Produced {
    /// The topic.
    pub topic: String,
    /// Records the broker acknowledged.
    pub records: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// How long it took.
    pub elapsed: Duration,
}

/// A pipeline step's run.
#[derive(Debug, Clone)]
pub struct PipelineRun {
    /// The spec as it ran (the run's broker and lake), in the run's folder.
    pub spec: PathBuf,
    /// Its counters at the end.
    pub progress: pipelab_pipeline::Progress,
    /// How long it took.
    pub elapsed: Duration,
}

/// Why a step failed, and whether the user can fix it.
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) user_fixable: bool,
}

impl Failure {
    /// A failure the user can fix or not, as the error that caused it says.
    pub(crate) fn of(user_fixable: bool, message: impl ToString) -> Self {
        Failure {
            message: message.to_string(),
            user_fixable,
        }
    }

    /// The user can fix it: a data file, SQL, an expected answer, a URL.
    pub(crate) fn user(message: impl ToString) -> Self {
        Self::of(true, message)
    }

    /// The environment failed: a database, the disk, the broker.
    pub(crate) fn environment(message: impl ToString) -> Self {
        Self::of(false, message)
    }
}

/// A run in progress.
pub(crate) struct Run<'a> {
    pub(crate) scenario: &'a Scenario,
    /// The run's folder.
    pub(crate) dir: PathBuf,
    /// The pipelab program, for server steps.
    pub(crate) program: Option<PathBuf>,
    /// The running `pipelab serve`, between a start and a kill step.
    pub(crate) server: Option<Server>,
    pub(crate) lake: LakeLocation,
    /// The lake's URL or folder, and the options that reach it, for pipeline steps.
    pub(crate) lake_url: String,
    pub(crate) storage: std::collections::HashMap<String, String>,
    /// The folder the lake's files are in.
    pub(crate) lake_dir: PathBuf,
    /// The embedded broker (and S3 endpoint), when the scenario needs Kafka.
    pub(crate) stack: Option<DevStack>,
    /// The catalogs the run's queries see: the lake, the database and, while the broker
    /// runs, its topics as catalog `kafka`.
    pub(crate) catalogs: PathBuf,
    pub(crate) database: Option<OpsDatabase>,
    /// Opened at the first query, and again after a load changed what there is.
    pub(crate) engine: Option<QueryEngine>,
    pub(crate) lake_tables: BTreeSet<String>,
    pub(crate) checked: usize,
    pub(crate) unchecked: usize,
    /// The data files generated in place of the scenario's, by the name steps give them.
    pub(crate) generated: BTreeMap<String, PathBuf>,
    /// The step running, from 1 (answers are saved by it).
    pub(crate) step: usize,
    pub(crate) produced: Vec<Produced>,
    pub(crate) pipelines: Vec<PipelineRun>,
    /// What moved where, with the numbers, for `--explain`.
    pub(crate) arrows: Vec<Arrow>,
}

/// Run every step of `scenario`, printing to `out`.
pub async fn run(
    scenario: &Scenario,
    opts: RunOptions,
    out: &mut dyn Write,
) -> Result<Outcome, ScenarioError> {
    let started = Instant::now();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScenarioError::Io { path, source }
    };
    let database = scenario.needs(Need::Database).then(|| {
        opts.database
            .unwrap_or_else(|| OpsDatabase::Sqlite(opts.dir.join("ops.db")))
    });
    pipelab_lake::register_handlers();
    let generated = match opts.generated {
        Some(data) => {
            let (files, said) = generate_files(scenario, data, &opts.dir)?;
            writeln!(out, "{said}\n").map_err(io(&opts.dir))?;
            files
        }
        None => BTreeMap::new(),
    };
    let stack = if scenario.needs(Need::Kafka) || scenario.lake == LakeStore::S3 {
        // In the run's folder itself, as `pipelab devstack --dir` lays it out (`kafka/`,
        // `s3/BUCKET/`), so that the same command serves it again.
        Some(start_stack(&opts.dir).await?)
    } else {
        None
    };
    let site = lay_out(&opts.dir, scenario.lake, stack.as_ref(), database.as_ref())?;
    let mut run = Run {
        scenario,
        dir: opts.dir.clone(),
        program: opts.program.clone(),
        server: None,
        lake: site.lake,
        lake_url: site.lake_url,
        storage: site.storage,
        lake_dir: site.lake_dir.clone(),
        stack,
        catalogs: site.live_catalogs,
        database: database.clone(),
        engine: None,
        lake_tables: BTreeSet::new(),
        checked: 0,
        unchecked: 0,
        generated,
        step: 0,
        produced: Vec::new(),
        pipelines: Vec::new(),
        arrows: Vec::new(),
    };
    if let Some(database) = &database {
        let line = format!("operational database: {}\n", database.describe());
        writeln!(out, "{line}").map_err(io(&opts.dir))?;
    }
    if opts.explain {
        let drawn = readme_section(&scenario.folder, "Architecture")
            .unwrap_or_else(|| "(the README draws none)".into());
        writeln!(out, "Architecture (README.md):\n{drawn}\n").map_err(io(&opts.dir))?;
    }
    let stack_ports = run.stack.as_ref().map(DevStack::ports);
    let steps = run.steps(out).await;
    // The server uses the broker: it goes first.
    run.server = None;
    if let Some(stack) = run.stack.take() {
        stack.shutdown().await;
    }
    steps?;
    if opts.explain {
        let tradeoffs = readme_section(&scenario.folder, "Trade-offs to mention")
            .unwrap_or_else(|| "(the README lists none)".into());
        writeln!(
            out,
            "What ran, with its numbers:\n{}\nTrade-offs to mention (README.md):\n{tradeoffs}\n",
            draw(&run.arrows)
        )
        .map_err(io(&opts.dir))?;
    }
    Ok(Outcome {
        catalogs: site.catalogs,
        lake: site.lake_dir,
        lake_tables: run.lake_tables.into_iter().collect(),
        database,
        checked: run.checked,
        unchecked: run.unchecked,
        stack_ports,
        produced: run.produced,
        pipelines: run.pipelines,
        elapsed: started.elapsed(),
    })
}

/// The embedded broker and S3 endpoint, in `dir`.
async fn start_stack(dir: &Path) -> Result<DevStack, ScenarioError> {
    DevStack::start(DevStackConfig::new(dir))
        .await
        .map_err(|e| ScenarioError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::other(e),
        })
}

/// An answer as a table; an `EXPLAIN`'s plans as their own text, one after the other
/// (in a table, every line would be as wide as the widest).
pub(crate) fn printed(batches: &[arrow::array::RecordBatch]) -> Result<String, Failure> {
    if batches.iter().all(|b| b.num_columns() == 0) {
        // A statement with no answer (CREATE VIEW).
        return Ok(String::new());
    }
    if is_plan(batches) {
        return Ok(plans_as_text(batches).trim_end().to_string());
    }
    Ok(pretty_format_batches(batches)
        .map_err(Failure::environment)?
        .to_string())
}

/// `n` and the noun, in the plural unless `n` is 1.
pub(crate) fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

impl Run<'_> {
    /// Every step in turn, each printed as it ends; the first failure stops the run.
    async fn steps(&mut self, out: &mut dyn Write) -> Result<(), ScenarioError> {
        let scenario = self.scenario;
        let total = scenario.steps.len();
        for (i, step) in scenario.steps.iter().enumerate() {
            let failed = |f: Failure| ScenarioError::Step {
                scenario: scenario.name.clone(),
                step: i + 1,
                what: step.describe(),
                message: f.message,
                user_fixable: f.user_fixable,
            };
            let printed = |e: std::io::Error| failed(Failure::environment(e));
            let started = Instant::now();
            self.step = i + 1;
            let done = match step {
                Step::Load(load) => self.load(load).await,
                Step::Query(query) => self.query(query).await,
                Step::Pipeline(pipeline) => self.pipeline(pipeline).await,
                Step::History(step) => self.history(step).await,
                Step::Corrupt(step) => self.corrupt(step).await,
                Step::Verify(step) => self.verify(step).await,
                Step::Server(step) => self.server(step).await,
                Step::Wait(step) => self.wait(step).await,
            };
            let (summary, body) = done.map_err(&failed)?;
            let ms = started.elapsed().as_millis();
            let line = format!(
                "[{}/{total}] {}: {summary} ({ms} ms)",
                i + 1,
                step.describe()
            );
            if line.chars().count() <= 100 {
                writeln!(out, "{line}").map_err(printed)?;
            } else {
                // The step and its time, then what it did, a part (`; `) a line.
                let head = format!("[{}/{total}] {} ({ms} ms)", i + 1, step.describe());
                let parts = summary.split("; ").collect::<Vec<_>>().join("\n      ");
                writeln!(out, "{head}\n      {parts}").map_err(printed)?;
            }
            if !body.is_empty() {
                writeln!(out, "{body}\n").map_err(printed)?;
            }
        }
        Ok(())
    }

    /// Run the step's SQL; its answer as a table, checked against the expected file.
    async fn query(&mut self, step: &QueryStep) -> Result<(String, String), Failure> {
        let path = self.scenario.folder.join(&step.file);
        let sql = std::fs::read_to_string(&path)
            .map_err(|e| Failure::user(format!("{}: {e}", path.display())))?;
        let sql = self.placeholders(&sql)?;
        if step.leave_running {
            return self.leave_running(step, &sql).await;
        }
        if step.over.is_empty() {
            return self.answer(step, &sql, "").await;
        }
        let (mut summaries, mut tables) = (Vec::new(), Vec::new());
        for target in &step.over {
            let over = self.tables_of(*target)?;
            let (summary, table) = self
                .answer(step, &sql.replace("{tables}", &over), target.name())
                .await?;
            summaries.push(format!("{}: {summary}", target.name()));
            tables.push(format!("over the {} ({over}):\n{table}", target.name()));
        }
        Ok((summaries.join("; "), tables.join("\n")))
    }

    /// Run one statement and check its answer; `over` names what it ran over, for messages.
    async fn answer(
        &mut self,
        step: &QueryStep,
        sql: &str,
        over: &str,
    ) -> Result<(String, String), Failure> {
        let at = if over.is_empty() {
            step.file.clone()
        } else {
            format!("{} over the {over}", step.file)
        };
        let (table, mut actual) = match step.via {
            Via::Server => self.answer_of_server(sql, &at).await?,
            Via::Engine => self.answer_of_engine(step, sql, &at).await?,
        };
        let rows = plural(actual.rows.len() as u64, "row");
        let saved = self.save_answer(over, &actual)?;
        let expect = match &step.expect {
            Some(_) if !self.generated.is_empty() => {
                self.unchecked += 1;
                let summary = format!("{rows}, saved in {saved}");
                self.arrow_to_query(step, over, &rows);
                return Ok((summary, table));
            }
            Some(expect) => expect,
            None => {
                self.arrow_to_query(step, over, &rows);
                return Ok((rows, table));
            }
        };
        let expected = Table::of_csv(&self.scenario.folder.join(expect)).map_err(Failure::user)?;
        // An empty answer may come with no batch, and so with no column names.
        if actual.columns.is_empty() && actual.rows.is_empty() {
            actual.columns = expected.columns.clone();
        }
        if let Some(diff) = difference(&expected, &actual, step.ordered) {
            return Err(Failure::user(format!(
                "{at}: the answer differs from {expect}: {diff}\n{table}"
            )));
        }
        self.checked += 1;
        let summary = format!("{rows} as expected");
        self.arrow_to_query(step, over, &summary);
        Ok((summary, table))
    }

    /// Run the SQL on the runner's engine (over the lake as it was, for `as_of`).
    async fn answer_of_engine(
        &mut self,
        step: &QueryStep,
        sql: &str,
        at: &str,
    ) -> Result<(String, Table), Failure> {
        let time_travel;
        let engine = match step.as_of {
            Some(version) => {
                time_travel = self.engine_as_of(version).await?;
                &time_travel
            }
            None => self.engine().await?,
        };
        let batches = engine
            .sql(sql)
            .await
            .map_err(|e| Failure::of(e.is_user_fixable(), format!("{at}: {e}")))?;
        let columns = batches
            .first()
            .map(|b| {
                b.schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect()
            })
            .unwrap_or_default();
        let actual = Table::of_batches(columns, &batches).map_err(Failure::environment)?;
        Ok((printed(&batches)?, actual))
    }

    /// Keep an answer as CSV in `answers/` (`step-07.csv`, `step-11-lake.csv`), for a
    /// comparison with another engine; its path relative to the run's folder.
    fn save_answer(&self, over: &str, answer: &Table) -> Result<String, Failure> {
        let name = match over {
            "" => format!("answers/step-{:02}.csv", self.step),
            over => format!("answers/step-{:02}-{over}.csv", self.step),
        };
        let path = self.dir.join(&name);
        let write = || -> Result<(), Box<dyn std::error::Error>> {
            std::fs::create_dir_all(self.dir.join("answers"))?;
            let mut csv = csv::Writer::from_path(&path)?;
            csv.write_record(&answer.columns)?;
            for row in &answer.rows {
                csv.write_record(row)?;
            }
            csv.flush()?;
            Ok(())
        };
        write().map_err(|e| Failure::environment(format!("{}: {e}", path.display())))?;
        Ok(name)
    }

    /// Where a data file a step names is: generated in the run's folder, or the
    /// scenario's own.
    pub(crate) fn data_path(&self, file: &str) -> PathBuf {
        self.generated
            .get(file)
            .cloned()
            .unwrap_or_else(|| self.scenario.folder.join(file))
    }

    /// A query's arrow for `--explain`: from what it read, its answer's size, to it.
    fn arrow_to_query(&mut self, step: &QueryStep, over: &str, answer: &str) {
        // What the run's catalogs hold: the SQL may read any of it.
        let source = match over {
            "" if step.via == Via::Server => "pipelab serve".to_string(),
            "" => {
                let mut catalogs = vec!["lake"];
                if self.database.is_some() {
                    catalogs.push("database");
                }
                if self.stack.is_some() {
                    catalogs.push("topics");
                }
                catalogs.join(" + ")
            }
            over => over.to_string(),
        };
        self.arrows
            .push(Arrow::new(source, answer, format!("query: {}", step.title)));
    }

    /// The catalog and schema `{tables}` stands for when a query runs over `target`.
    fn tables_of(&self, target: Target) -> Result<String, Failure> {
        match target {
            Target::Lake => Ok("lake.default".into()),
            Target::Database => {
                let ops = self.database.as_ref().ok_or_else(|| {
                    Failure::user("the scenario does not declare `needs = [\"database\"]`")
                })?;
                Ok(format!(
                    "{OPS_CATALOG}.{}",
                    ops.schema().map_err(Failure::user)?
                ))
            }
            Target::Topic | Target::Landing => {
                Err(Failure::user("a query runs over the lake or the database"))
            }
        }
    }

    /// `{ops}` stands for the operational database's catalog and schema.
    fn placeholders(&self, sql: &str) -> Result<String, Failure> {
        if !sql.contains("{ops}") {
            return Ok(sql.to_string());
        }
        Ok(sql.replace("{ops}", &self.tables_of(Target::Database)?))
    }

    pub(crate) async fn engine(&mut self) -> Result<&QueryEngine, Failure> {
        if self.engine.is_none() {
            let catalogs = Catalogs::load(&self.catalogs).map_err(Failure::user)?;
            let engine = QueryEngine::open_catalogs(&catalogs)
                .await
                .map_err(|e| Failure::of(e.is_user_fixable(), e))?;
            self.engine = Some(engine);
        }
        Ok(self.engine.as_ref().expect("opened above"))
    }
}
