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
    /// What it uses besides a local lake.
    pub needs: Vec<Need>,
    /// How long it takes at its default size, as measured on a 2-core machine.
    pub takes: String,
    /// The steps, run in order.
    pub steps: Vec<Step>,
    /// The folder it was read from: the steps' files are relative to it.
    pub folder: PathBuf,
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
    takes: String,
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
}

impl Target {
    /// The target's name, as `scenario.toml` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Target::Lake => "lake",
            Target::Database => "database",
            Target::Topic => "topic",
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
                },
                load.table
            ),
            Step::Query(query) => format!("query: {}", query.title),
            Step::Pipeline(pipeline) => format!("pipeline {}", pipeline.spec),
            Step::History(step) => format!("history of lake table {}", step.table),
            Step::Corrupt(step) => format!("corrupt a data file of lake table {}", step.table),
            Step::Verify(step) => format!("verify lake table {}", step.table),
        }
    }
}

impl LoadStep {
    /// The options that belong to one target are not given for another.
    fn check(&self, problem: &dyn Fn(String) -> ScenarioError) -> Result<(), ScenarioError> {
        let topic = self.into == Target::Topic;
        if topic && self.sql.is_some() {
            return Err(problem(
                "`sql` shapes rows for a table; a topic gets the file's lines as they are".into(),
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
            takes: written.takes,
            steps,
            folder: folder.to_path_buf(),
        };
        scenario.check_files(&path)?;
        Ok(scenario)
    }

    /// Whether it uses the operational database.
    pub fn needs(&self, need: Need) -> bool {
        self.needs.contains(&need)
    }

    /// Every file a step names exists, and a database step has the database declared.
    fn check_files(&self, path: &Path) -> Result<(), ScenarioError> {
        for (i, step) in self.steps.iter().enumerate() {
            let files: Vec<&str> = match step {
                Step::Load(load) => vec![load.file.as_str()],
                Step::Pipeline(pipeline) => vec![pipeline.spec.as_str()],
                Step::History(_) | Step::Corrupt(_) | Step::Verify(_) => vec![],
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
                Step::Pipeline(_) => (false, true),
                Step::History(_) | Step::Corrupt(_) | Step::Verify(_) => (false, false),
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
            if let Step::Query(query) = step
                && query.over.contains(&Target::Topic)
            {
                return Err(problem("`over` takes \"lake\" and \"database\"".into()));
            }
        }
        Ok(())
    }
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
