//! A scenario folder's `scenario.toml`: what the scenario is, what it needs and its steps,
//! each of a small fixed set of kinds. Nothing here knows any one scenario.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ScenarioError;

/// The file every scenario folder holds.
pub const DEFINITION_FILE: &str = "scenario.toml";

/// A scenario as its folder describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name, as `pipelab scenario run NAME` takes it.
    pub name: String,
    /// The interview story in one line.
    pub story: String,
    /// What it uses besides a local lake.
    #[serde(default)]
    pub needs: Vec<Need>,
    /// How long it takes at its default size, as measured on a 2-core machine.
    pub takes: String,
    /// The steps, run in order.
    pub steps: Vec<Step>,
    /// The folder it was read from: the steps' files are relative to it.
    #[serde(skip)]
    pub folder: PathBuf,
}

/// Something a scenario uses that has to be started or reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Need {
    /// The operational database: SQLite in the run's folder, or PostgreSQL / MySQL when
    /// their URLs are given.
    Database,
}

/// One step of a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Step {
    /// Load a data file into a lake table or a table of the operational database.
    Load(LoadStep),
    /// Run SQL, print its answer and compare it with an expected file.
    Query(QueryStep),
}

/// Where a load step puts its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// A Delta table of the scenario's lake.
    Lake,
    /// A table of the operational database (replaced if it exists).
    Database,
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
        }
    }
}

impl Step {
    /// The step as one line: what it does and to what.
    pub fn describe(&self) -> String {
        match self {
            Step::Load(load) => format!(
                "load {} into {} table {}",
                load.file,
                load.into.name(),
                load.table
            ),
            Step::Query(query) => format!("query: {}", query.title),
        }
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
        let mut scenario: Scenario =
            toml::from_str(&text).map_err(|e| ScenarioError::Definition {
                path: path.clone(),
                message: e.to_string().trim_end().to_string(),
            })?;
        scenario.folder = folder.to_path_buf();
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
            let uses_database = match step {
                Step::Load(load) => load.into == Target::Database,
                Step::Query(query) => query.over.contains(&Target::Database),
            };
            if uses_database && !self.needs(Need::Database) {
                return Err(problem(
                    "uses the database, but `needs` lacks \"database\"".into(),
                ));
            }
        }
        Ok(())
    }
}
