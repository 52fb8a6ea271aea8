//! Where scenarios are: a folder the user names, or a name looked up among the
//! scenarios of `$PIPELAB_SCENARIOS`, `./scenarios` or the source tree the binary was
//! built from, in that order.

use std::path::{Path, PathBuf};

use crate::definition::{DEFINITION_FILE, Scenario};
use crate::error::ScenarioError;

/// The environment variable naming a folder of scenarios.
pub const SCENARIOS_ENV: &str = "PIPELAB_SCENARIOS";

/// The folder whose subfolders are the named scenarios.
pub fn scenarios_root() -> PathBuf {
    if let Some(root) = std::env::var_os(SCENARIOS_ENV) {
        return PathBuf::from(root);
    }
    let here = Path::new("scenarios");
    if has_scenarios(here) {
        return here.to_path_buf();
    }
    // The repository's, for a binary built from it and run elsewhere.
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    built_from.canonicalize().unwrap_or(built_from)
}

fn has_scenarios(root: &Path) -> bool {
    std::fs::read_dir(root)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.path().join(DEFINITION_FILE).is_file())
        })
        .unwrap_or(false)
}

/// Every scenario under [`scenarios_root`], by name.
pub fn list() -> Result<Vec<Scenario>, ScenarioError> {
    let root = scenarios_root();
    let entries = std::fs::read_dir(&root).map_err(|source| ScenarioError::Io {
        path: root.clone(),
        source,
    })?;
    let mut folders: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(DEFINITION_FILE).is_file())
        .collect();
    folders.sort();
    folders.iter().map(|f| Scenario::load(f)).collect()
}

/// The scenario `name_or_path` names: a folder holding a `scenario.toml`, else a
/// scenario's name.
pub fn find(name_or_path: &str) -> Result<Scenario, ScenarioError> {
    let path = Path::new(name_or_path);
    if path.join(DEFINITION_FILE).is_file() {
        return Scenario::load(path);
    }
    let root = scenarios_root();
    let named = root.join(name_or_path);
    if !name_or_path.contains('/') && named.join(DEFINITION_FILE).is_file() {
        return Scenario::load(&named);
    }
    let mut known: Vec<String> = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join(DEFINITION_FILE).is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    known.sort();
    Err(ScenarioError::Unknown {
        name: name_or_path.to_string(),
        root: root.display().to_string(),
        known: if known.is_empty() {
            "none".into()
        } else {
            known.join(", ")
        },
    })
}
