//! Where a run keeps its lake, and the catalogs files that name it: a local folder, or
//! the embedded S3 endpoint's bucket (`lake = "s3"`), whose objects are files under the
//! run's folder, so that what the run leaves behind reads as a local lake once the
//! endpoint has stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use pipelab_devstack::DevStack;
use pipelab_lake::LakeLocation;

use crate::definition::LakeStore;
use crate::error::ScenarioError;
use crate::ops::OpsDatabase;

/// The catalog a run's Kafka topics are tables of.
pub(crate) const KAFKA_CATALOG: &str = "kafka";

/// A run's lake and catalogs.
pub(crate) struct Site {
    /// The lake as the run writes and reads it (through S3 for `lake = "s3"`).
    pub(crate) lake: LakeLocation,
    /// Its URL or folder, as a pipeline spec's `location` takes it.
    pub(crate) lake_url: String,
    /// The storage options that reach it (empty for a folder).
    pub(crate) storage: HashMap<String, String>,
    /// The folder its files are in, during the run and after.
    pub(crate) lake_dir: PathBuf,
    /// The catalogs file the run leaves behind: the lake's folder, the database.
    pub(crate) catalogs: PathBuf,
    /// The catalogs the run's own queries see: the lake as the run reaches it, the
    /// database and, while the broker runs, its topics as catalog `kafka`.
    pub(crate) live_catalogs: PathBuf,
}

/// Lay out the run's lake and catalogs files in `dir`.
pub(crate) fn lay_out(
    dir: &Path,
    store: LakeStore,
    stack: Option<&DevStack>,
    database: Option<&OpsDatabase>,
) -> Result<Site, ScenarioError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScenarioError::Io { path, source }
    };
    let (lake_url, storage, lake_dir) = match (store, stack) {
        (LakeStore::S3, Some(stack)) => (
            stack.lake_url(),
            stack.s3_storage_options(),
            stack.data_dir().join("s3").join(stack.bucket()),
        ),
        _ => {
            let local = dir.join("lake");
            (local.display().to_string(), HashMap::new(), local)
        }
    };
    std::fs::create_dir_all(&lake_dir).map_err(io(&lake_dir))?;
    let lake = LakeLocation::parse(&lake_url, storage.clone()).map_err(|e| ScenarioError::Io {
        path: lake_dir.clone(),
        source: std::io::Error::other(e),
    })?;
    let database_toml = match database {
        Some(database) => database
            .catalog_toml()
            .map_err(|message| ScenarioError::Database { message })?,
        None => String::new(),
    };
    let catalogs = dir.join("catalogs.toml");
    let left = catalogs_toml(
        &lake_dir.display().to_string(),
        &HashMap::new(),
        &database_toml,
    );
    std::fs::write(&catalogs, left).map_err(io(&catalogs))?;
    let live_catalogs = match stack {
        Some(stack) => {
            let live = dir.join("live-catalogs.toml");
            let text = format!(
                "{}\n[catalogs.{KAFKA_CATALOG}]\nkind = \"kafka\"\nbrokers = {:?}\n",
                catalogs_toml(&lake_url, &storage, &database_toml),
                stack.kafka_bootstrap()
            );
            std::fs::write(&live, text).map_err(io(&live))?;
            live
        }
        None => catalogs.clone(),
    };
    Ok(Site {
        lake,
        lake_url,
        storage,
        lake_dir,
        catalogs,
        live_catalogs,
    })
}

/// A catalogs file: the lake at `location` as catalog `lake` (the default), then the
/// operational database's section as `ops`.
fn catalogs_toml(location: &str, storage: &HashMap<String, String>, database: &str) -> String {
    let mut text = format!(
        "# Written by `pipelab scenario run`: the run's lake and operational database.\n\
         default_catalog = \"lake\"\n\n[catalogs.lake]\nkind = \"lake\"\nlocation = {location:?}\n"
    );
    if !storage.is_empty() {
        let mut options: Vec<_> = storage.iter().collect();
        options.sort();
        text.push_str("\n[catalogs.lake.storage_options]\n");
        for (key, value) in options {
            text.push_str(&format!("{key} = {value:?}\n"));
        }
    }
    if !database.is_empty() {
        text.push('\n');
        text.push_str(database);
    }
    text
}
