//! How a scenario fails: which scenario, which file or step, and who can fix it.

use std::path::PathBuf;

use thiserror::Error;

/// A scenario that could not be found, read or run to the end.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// No folder of that name, and not a path to one.
    #[error(
        "no scenario {name:?}: it is not a folder with a scenario.toml, nor one of the scenarios in {root} ({known})"
    )]
    Unknown {
        /// What the user asked for.
        name: String,
        /// Where the named scenarios were looked for.
        root: String,
        /// The scenarios that are there, comma-separated.
        known: String,
    },
    /// A `scenario.toml` that cannot be read or used.
    #[error("{path}: {message}")]
    Definition {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line where toml gives one.
        message: String,
    },
    /// A step that failed.
    #[error("scenario {scenario}, step {step} ({what}): {message}")]
    Step {
        /// The scenario's name.
        scenario: String,
        /// The step's number, from 1.
        step: usize,
        /// The step as one line.
        what: String,
        /// Why, naming the file and line where there is one.
        message: String,
        /// The user can fix it (a data file, SQL, an expected answer, a URL); else the
        /// environment failed (a database or the disk).
        user_fixable: bool,
    },
    /// The operational database given cannot be used as one (a MySQL URL naming no
    /// database).
    #[error("the operational database: {message}")]
    Database {
        /// What is wrong with it.
        message: String,
    },
    /// The run's folder could not be made or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

impl ScenarioError {
    /// Whether the user can fix it (exit 2) rather than the environment (exit 1).
    pub fn is_user_fixable(&self) -> bool {
        match self {
            ScenarioError::Unknown { .. }
            | ScenarioError::Definition { .. }
            | ScenarioError::Database { .. } => true,
            ScenarioError::Step { user_fixable, .. } => *user_fixable,
            ScenarioError::Io { .. } => false,
        }
    }
}
