//! Scenarios: the architectures of the interview notes as folders of data (a
//! `scenario.toml` of steps, data files, SQL, expected answers), run by one runner that
//! knows a small set of step kinds and nothing of any one scenario.
//!
//! [`find`] locates a scenario by name or folder, [`definition`] reads its
//! `scenario.toml`, [`run`] runs its steps on a lake in a folder of its own and the
//! operational database ([`OpsDatabase`]), checking each answer against its expected file.

mod compare;
pub mod definition;
mod error;
mod explain;
mod find;
pub mod generate;
mod lake_steps;
mod landing_steps;
mod load_steps;
mod ops;
mod read;
mod runner;
mod server_steps;
mod site;
mod sizes;
mod spec_as_run;
mod strict;
mod trino;

pub use definition::{Scenario, Step};
pub use error::ScenarioError;
pub use find::{SCENARIOS_ENV, find, list, scenarios_root};
pub use ops::{OPS_CATALOG, OpsDatabase};
pub use runner::{Outcome, PipelineRun, Produced, RunOptions, run};
pub use sizes::{DEFAULT_SEED, GeneratedData, Size};
