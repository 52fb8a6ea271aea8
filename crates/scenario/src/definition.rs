//! A scenario folder's `scenario.toml`: what the scenario is, what it needs and its steps,
//! each of a small fixed set of kinds. Nothing here knows any one scenario.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ScenarioError;

/// The file every scenario folder holds.
pub const DEFINITION_FILE: &str = "scenario.toml";

/// A scenario as its folder describes it.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name, as `pipelab scenario run NAME` takes it.
    pub name: String,
    /// The interview story in one line.
    pub story: String,
    /// What it uses besides a lake.
    pub needs: Vec<Need>,
    /// Where its lake is.
    pub lake: LakeStore,
    /// How long it takes at its default size, as measured on a 2-core machine.
    pub takes: String,
    /// The steps, run in order.
    pub steps: Vec<Step>,
    /// The data files `--size` and `--seed` generate instead of reading them.
    pub generate: Option<GeneratePlan>,
    /// The folder it was read from: the steps' files are relative to it.
    pub folder: PathBuf,
}

/// `[generate]`: which data files can be generated, of which kind, at which sizes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratePlan {
    /// Rows per size (the world's size: see [`crate::generate`]).
    pub rows: Sizes,
    /// Each data file (as the steps name it) and the kind of data it holds.
    pub files: std::collections::BTreeMap<String, String>,
}

/// Rows at each `--size`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sizes {
    /// `--size small`.
    pub small: u64,
    /// `--size default` (with `--seed`).
    pub default: u64,
    /// `--size large`.
    pub large: u64,
}

/// `scenario.toml` as written: each step kept as a table with its place in the file, so
/// that a mistake in one names its line (serde reads a tagged enum from a copy that has
/// no places).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    name: String,
    story: String,
    #[serde(default)]
    needs: Vec<Need>,
    #[serde(default)]
    lake: LakeStore,
    takes: String,
    #[serde(default)]
    generate: Option<GeneratePlan>,
    steps: Vec<toml::Spanned<toml::Table>>,
}

/// Something a scenario uses that has to be started or reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Need {
    /// The operational database: SQLite in the run's folder, or PostgreSQL / MySQL when
    /// their URLs are given.
    Database,
    /// A Kafka broker: the embedded one, started in the run's folder.
    Kafka,
}

/// Where a scenario's lake is (`lake = "local"` or `"s3"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LakeStore {
    /// A folder of the run (the default).
    #[default]
    Local,
    /// The bucket of the embedded S3 endpoint, started with the run; every read and
    /// write goes through S3 (its objects are files under the run's `s3/`).
    S3,
}

/// One step of a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Step {
    /// Load a data file into a lake table or a table of the operational database.
    Load(LoadStep),
    /// Run SQL, print its answer and compare it with an expected file.
    Query(QueryStep),
    /// Run a pipeline spec until its topic is read to the end.
    Pipeline(PipelineStep),
    /// Print a lake table's commits, newest first.
    History(TableStep),
    /// Damage one data file of a lake table on purpose (one byte flipped).
    Corrupt(CorruptStep),
    /// Check a lake table's files against its log, expecting it intact or damaged.
    Verify(VerifyStep),
    /// Start `pipelab serve` on the run's catalogs, or kill it.
    Server(ServerStep),
    /// Run SQL again and again until it answers with a row, or give up.
    Wait(WaitStep),
}

/// `kind = "server"`: `pipelab serve` as a child process of the run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerStep {
    /// What to do to it.
    pub action: ServerAction,
    /// Log every query's events to the broker's `pipelab_queries` topic (`[query_log]`);
    /// start only.
    #[serde(default)]
    pub query_log: bool,
}

/// What a server step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerAction {
    /// Start it on a port the system chooses, and wait until it listens.
    Start,
    /// Kill it with SIGKILL, as a crash would end it: nothing of it runs afterwards.
    Kill,
}

/// `kind = "wait"`: a condition, as SQL that answers with a row once it holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitStep {
    /// The condition, as printed.
    pub title: String,
    /// The SQL file, relative to the scenario's folder.
    pub file: String,
    /// How long to wait before the step fails (default 30).
    #[serde(default = "default_wait_seconds")]
    pub timeout_seconds: u64,
}

fn default_wait_seconds() -> u64 {
    30
}

/// Who runs a query step's SQL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The runner's own query engine, on the run's catalogs file.
    #[default]
    Engine,
    /// The running `pipelab serve`, through Trino's client protocol, as a client would.
    Server,
}

/// `kind = "history"`: a lake table's commits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableStep {
    /// The lake table.
    pub table: String,
}

/// `kind = "corrupt"`: one byte flipped in the middle of a data file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorruptStep {
    /// The lake table.
    pub table: String,
    /// The partition directory the file is taken from (`day=2026-11-02`); the table's
    /// first data file by path when absent.
    #[serde(default)]
    pub partition: Option<String>,
}

/// `kind = "verify"`: `pipelab lake verify` on a table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyStep {
    /// The lake table.
    pub table: String,
    /// What the check must find.
    pub expect: Integrity,
}

/// What a verify step expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Integrity {
    /// Every file as the log describes it.
    Intact,
    /// At least one finding.
    Damaged,
}

/// Where a load step puts its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// A Delta table of the scenario's lake.
    Lake,
    /// A table of the operational database (replaced if it exists).
    Database,
    /// A Kafka topic (made if missing): each line of a JSON-lines file is one record.
    Topic,
    /// The run's landing prefix (`landing/` in the lake's bucket or folder): the file as
    /// one object, under the key `table` names (`us/2026-12-01.jsonl`), as a regional
    /// bucket drops it; a landing pipeline reads it.
    Landing,
}

/// `kind = "load"`: a data file into a table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadStep {
    /// The file, relative to the scenario's folder: CSV with a header line (`.csv`), JSON
    /// lines (`.jsonl`, `.json`) or Parquet (`.parquet`).
    pub file: String,
    /// Where the rows go.
    pub into: Target,
    /// The table's name.
    pub table: String,
    /// SQL over the file's rows, named `input`, that shapes them first (casts, derived
    /// columns); the file as it is when absent.
    #[serde(default)]
    pub sql: Option<String>,
    /// The lake table's partition columns (lake only), as a pipeline spec writes them.
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// The JSON field whose value keys each record (topic only); records are keyed by
    /// their line number when absent.
    #[serde(default)]
    pub key: Option<String>,
    /// Partitions of a topic the step makes (topic only; default 3).
    #[serde(default)]
    pub partitions: Option<i32>,
    /// A SQL file with the `CREATE TABLE` the rows must fit (database only, JSON lines):
    /// a strict relational load, each document checked against the declared columns,
    /// the ones that do not fit kept in `TABLE_refused` with their line and why.
    #[serde(default)]
    pub schema: Option<String>,
    /// Data-quality rules measured on the rows of the commit (lake only), as a pipeline's
    /// `[[sink.quality]]` has them; the metrics go to lake table `TABLE_quality`.
    #[serde(default)]
    pub quality: Vec<pipelab_pipeline::quality::QualityRule>,
}

/// `kind = "pipeline"`: a pipeline spec run until its topic is drained, on the run's
/// broker and lake (the spec's `brokers` and `location` are replaced by them).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineStep {
    /// The spec file, relative to the scenario's folder.
    pub spec: String,
}

/// `kind = "query"`: SQL whose answer is printed and checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryStep {
    /// What the query answers, as printed above it.
    pub title: String,
    /// The SQL file, relative to the scenario's folder.
    pub file: String,
    /// The expected answer: a CSV file with a header line, relative to the folder.
    #[serde(default)]
    pub expect: Option<String>,
    /// Compare rows in order (the query sorts them); as a multiset otherwise.
    #[serde(default)]
    pub ordered: bool,
    /// Run the SQL over the lake as it was at this table version (time travel); lake
    /// tables only, named without a catalog.
    #[serde(default)]
    pub as_of: Option<u64>,
    /// Run the SQL once over each of these, with `{tables}` standing for its catalog and
    /// schema (`lake.default`, or `ops.SCHEMA`): the same answer is expected from each.
    #[serde(default)]
    pub over: Vec<Target>,
    /// Who runs it: the runner's engine (default) or the running server.
    #[serde(default)]
    pub via: Via,
    /// Submit it to the server and read no answer: it stays running, waiting on its
    /// client (a long query a server crash interrupts). `via = "server"` only.
    #[serde(default)]
    pub leave_running: bool,
}

impl Target {
    /// The target's name, as `scenario.toml` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Target::Lake => "lake",
            Target::Database => "database",
            Target::Topic => "topic",
            Target::Landing => "landing",
        }
    }
}

impl Step {
    /// The step as one line: what it does and to what.
    pub fn describe(&self) -> String {
        match self {
            Step::Load(load) => format!(
                "load {} into {} {}",
                load.file,
                match load.into {
                    Target::Topic => "topic",
                    Target::Lake => "lake table",
                    Target::Database => "database table",
                    Target::Landing => "the landing prefix as object",
                },
                load.table
            ),
            Step::Query(query) if query.via == Via::Server => {
                format!("query through pipelab serve: {}", query.title)
            }
            Step::Query(query) => format!("query: {}", query.title),
            Step::Pipeline(pipeline) => format!("pipeline {}", pipeline.spec),
            Step::History(step) => format!("history of lake table {}", step.table),
            Step::Corrupt(step) => format!("corrupt a data file of lake table {}", step.table),
            Step::Verify(step) => format!("verify lake table {}", step.table),
            Step::Server(step) => match step.action {
                ServerAction::Start => "start pipelab serve".into(),
                ServerAction::Kill => "kill pipelab serve (SIGKILL)".into(),
            },
            Step::Wait(step) => format!("wait: {}", step.title),
        }
    }
}

impl LoadStep {
    /// The options that belong to one target are not given for another.
    fn check(&self, problem: &dyn Fn(String) -> ScenarioError) -> Result<(), ScenarioError> {
        let topic = self.into == Target::Topic;
        if matches!(self.into, Target::Topic | Target::Landing) && self.sql.is_some() {
            return Err(problem(
                "`sql` shapes rows for a table; a topic or the landing prefix gets the file \
                 as it is"
                    .into(),
            ));
        }
        if !topic && (self.key.is_some() || self.partitions.is_some()) {
            return Err(problem(
                "`key` and `partitions` are for `into = \"topic\"`".into(),
            ));
        }
        if self.into != Target::Lake && !self.partition_by.is_empty() {
            return Err(problem("`partition_by` is for `into = \"lake\"`".into()));
        }
        if !self.quality.is_empty() && self.into != Target::Lake {
            return Err(problem("`quality` is for `into = \"lake\"`".into()));
        }
        if let Some(why) = self.quality.iter().find_map(|rule| rule.problem()) {
            return Err(problem(format!("quality rule: {why}")));
        }
        if self.schema.is_some() && (self.into != Target::Database || self.sql.is_some()) {
            return Err(problem(
                "`schema` is for `into = \"database\"`, and takes the documents as they are \
                 (no `sql`)"
                    .into(),
            ));
        }
        Ok(())
    }
}

impl QueryStep {
    /// The options that need the server, or not, are given only with it.
    fn check(&self, problem: &dyn Fn(String) -> ScenarioError) -> Result<(), ScenarioError> {
        if self.over.contains(&Target::Topic) {
            return Err(problem("`over` takes \"lake\" and \"database\"".into()));
        }
        if self.via == Via::Server && self.as_of.is_some() {
            return Err(problem(
                "`as_of` runs on the runner's engine; leave out `via = \"server\"`".into(),
            ));
        }
        if self.leave_running && (self.via != Via::Server || self.expect.is_some()) {
            return Err(problem(
                "`leave_running` is for `via = \"server\"` and reads no answer to `expect`".into(),
            ));
        }
        Ok(())
    }
}

impl Scenario {
    /// Read `folder/scenario.toml` and check that every file its steps name is there.
    pub fn load(folder: &Path) -> Result<Self, ScenarioError> {
        let path = folder.join(DEFINITION_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| ScenarioError::Definition {
            path: path.clone(),
            message: format!("cannot read it: {e}"),
        })?;
        let problem = |message: String| ScenarioError::Definition {
            path: path.clone(),
            message,
        };
        let written: Written =
            toml::from_str(&text).map_err(|e| problem(e.to_string().trim_end().to_string()))?;
        let mut steps = Vec::with_capacity(written.steps.len());
        for (i, table) in written.steps.into_iter().enumerate() {
            let line = text[..table.span().start.min(text.len())].lines().count() + 1;
            let step = toml::Value::Table(table.into_inner()).try_into().map_err(
                |e: toml::de::Error| {
                    problem(format!("line {line}, step {}: {}", i + 1, e.message()))
                },
            )?;
            steps.push(step);
        }
        let scenario = Scenario {
            name: written.name,
            story: written.story,
            needs: written.needs,
            lake: written.lake,
            takes: written.takes,
            steps,
            generate: written.generate,
            folder: folder.to_path_buf(),
        };
        scenario.check_files(&path)?;
        scenario.check_generate(&path)?;
        Ok(scenario)
    }

    /// Whether it uses the operational database.
    pub fn needs(&self, need: Need) -> bool {
        self.needs.contains(&need)
    }

    /// `[generate]` names kinds there are, and files the steps load.
    fn check_generate(&self, path: &Path) -> Result<(), ScenarioError> {
        let Some(plan) = &self.generate else {
            return Ok(());
        };
        let problem = |message: String| ScenarioError::Definition {
            path: path.to_path_buf(),
            message: format!("[generate]: {message}"),
        };
        for (file, kind) in &plan.files {
            crate::generate::Kind::parse(kind).map_err(problem)?;
            let loaded = self
                .steps
                .iter()
                .any(|s| matches!(s, Step::Load(load) if &load.file == file));
            if !loaded {
                return Err(problem(format!("no step loads {file}")));
            }
        }
        Ok(())
    }

    /// Every file a step names exists, and a database step has the database declared.
    fn check_files(&self, path: &Path) -> Result<(), ScenarioError> {
        for (i, step) in self.steps.iter().enumerate() {
            let files: Vec<&str> = match step {
                Step::Load(load) => [Some(load.file.as_str()), load.schema.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect(),
                Step::Pipeline(pipeline) => vec![pipeline.spec.as_str()],
                Step::History(_) | Step::Corrupt(_) | Step::Verify(_) | Step::Server(_) => {
                    vec![]
                }
                Step::Wait(step) => vec![step.file.as_str()],
                Step::Query(query) => [Some(query.file.as_str()), query.expect.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect(),
            };
            let problem = |message: String| ScenarioError::Definition {
                path: path.to_path_buf(),
                message: format!("step {} ({}): {message}", i + 1, step.describe()),
            };
            if let Some(missing) = files.iter().find(|f| !self.folder.join(f).is_file()) {
                return Err(problem(format!(
                    "no file {missing} in {}",
                    self.folder.display()
                )));
            }
            let (uses_database, uses_kafka) = match step {
                Step::Load(load) => (load.into == Target::Database, load.into == Target::Topic),
                Step::Query(query) => (query.over.contains(&Target::Database), false),
                Step::Pipeline(pipeline) => (false, reads_kafka(&self.folder.join(&pipeline.spec))),
                Step::Server(step) => (false, step.query_log),
                Step::History(_) | Step::Corrupt(_) | Step::Verify(_) | Step::Wait(_) => {
                    (false, false)
                }
            };
            if uses_database && !self.needs(Need::Database) {
                return Err(problem(
                    "uses the database, but `needs` lacks \"database\"".into(),
                ));
            }
            if uses_kafka && !self.needs(Need::Kafka) {
                return Err(problem("uses Kafka, but `needs` lacks \"kafka\"".into()));
            }
            if let Step::Load(load) = step {
                load.check(&problem)?;
            }
            if let Step::Query(query) = step {
                query.check(&problem)?;
            }
            if let Step::Server(step) = step
                && step.action == ServerAction::Kill
                && step.query_log
            {
                return Err(problem("`query_log` is for `action = \"start\"`".into()));
            }
        }
        Ok(())
    }
}

/// Whether a pipeline spec reads a Kafka topic (a spec that does not parse is taken to:
/// its step names the mistake when it runs).
fn reads_kafka(spec: &Path) -> bool {
    pipelab_pipeline::PipelineSpec::from_file(spec).map_or(true, |s| {
        s.source.kind == pipelab_pipeline::spec::SourceKind::Kafka
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = r#"name = "t"
story = "a test"
takes = "1 s"

[[steps]]
kind = "load"
file = "rows.csv"
into = "lake"
table = "rows"

[[steps]]
kind = "query"
title = "all rows"
file = "all.sql"
orderd = true
"#;

    fn folder_with(text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DEFINITION_FILE), text).unwrap();
        std::fs::write(dir.path().join("rows.csv"), "a\n1\n").unwrap();
        std::fs::write(dir.path().join("all.sql"), "SELECT * FROM rows").unwrap();
        dir
    }

    #[test]
    fn a_mistake_in_a_step_names_its_line_and_number() {
        let dir = folder_with(SCENARIO);
        let message = Scenario::load(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("line 11, step 2: unknown field `orderd`"),
            "{message}"
        );
        let fixed = folder_with(&SCENARIO.replace("orderd", "ordered"));
        let scenario = Scenario::load(fixed.path()).unwrap();
        assert_eq!(scenario.steps.len(), 2);
        assert_eq!(scenario.steps[1].describe(), "query: all rows");
    }

    #[test]
    fn missing_files_and_undeclared_databases_are_refused() {
        let dir = folder_with(&SCENARIO.replace("orderd = true", "expect = \"nowhere.csv\""));
        let message = Scenario::load(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("step 2 (query: all rows): no file nowhere.csv"),
            "{message}"
        );
        let dir = folder_with(
            &SCENARIO
                .replace("into = \"lake\"", "into = \"database\"")
                .replace("orderd = true\n", ""),
        );
        let message = Scenario::load(dir.path()).unwrap_err().to_string();
        assert!(message.contains("`needs` lacks \"database\""), "{message}");
    }
}
