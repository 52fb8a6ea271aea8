//! A scenario's pipeline spec as the run runs it: the spec with the run's broker (and
//! the embedded broker's consumer settings), the run's lake (with the options that
//! reach it) and the run's operational database for its database sinks, written into
//! the run's folder. The pipeline step runs that file, so that
//! `pipelab run FILE` runs the same pipeline again while `pipelab devstack` serves the
//! same ports.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use pipelab_devstack::KAFKA_CONSUMER_OVERRIDES;
use toml::{Table, Value};

use crate::ops::OpsDatabase;

/// Where the run's pipeline is: its broker and its lake.
pub(crate) struct RunTarget<'a> {
    pub(crate) brokers: String,
    pub(crate) lake: &'a str,
    pub(crate) storage: &'a HashMap<String, String>,
    /// The operational database, which every database sink of the spec writes to.
    pub(crate) database: Option<&'a OpsDatabase>,
    /// The run's landing prefix, which a landing source reads.
    pub(crate) landing: &'a str,
}

/// Write `spec` (a checked spec file) with `target` into `dir` as `NAME.toml`; its path.
pub(crate) fn write_spec_as_run(
    spec: &Path,
    name: &str,
    target: &RunTarget<'_>,
    dir: &Path,
) -> Result<PathBuf, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", spec.display());
    let text = std::fs::read_to_string(spec).map_err(|e| at(&e))?;
    let mut table: Table = toml::from_str(&text).map_err(|e| at(&e))?;
    let source = section(&mut table, "source");
    if source.get("kind").and_then(Value::as_str) == Some("landing") {
        // Its objects are in the run's bucket or folder, reached as the lake is.
        source.insert("location".into(), Value::from(target.landing));
        source.remove("storage_options");
    } else {
        source.insert("brokers".into(), Value::from(target.brokers.clone()));
        let options = section(source, "options");
        for (key, value) in KAFKA_CONSUMER_OVERRIDES {
            options
                .entry(key.to_string())
                .or_insert_with(|| Value::from(value.to_string()));
        }
    }
    let sink = section(&mut table, "sink");
    sink.insert("location".into(), Value::from(target.lake));
    if target.storage.is_empty() {
        sink.remove("storage_options");
    } else {
        let options = target
            .storage
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        sink.insert("storage_options".into(), Value::Table(options));
    }
    point_sinks_at(&mut table, target.database)?;
    let written = toml::to_string(&table).map_err(|e| at(&e))?;
    let path = dir.join(format!("{name}.toml"));
    let header = format!(
        "# Written by `pipelab scenario run` from {}, with the run's broker and lake.\n\
         # While `pipelab devstack` serves the same ports: pipelab run {} --until-idle\n\n",
        spec.display(),
        path.display()
    );
    std::fs::write(&path, header + written.as_str())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Every `[[sinks]]` entry of a database kind writes to the run's operational database
/// (the scenario's stand-in for the email service's database, say).
fn point_sinks_at(table: &mut Table, database: Option<&OpsDatabase>) -> Result<(), String> {
    let Some(Value::Array(sinks)) = table.get_mut("sinks") else {
        return Ok(());
    };
    for sink in sinks.iter_mut().filter_map(Value::as_table_mut) {
        let kind = sink.get("kind").and_then(Value::as_str).unwrap_or_default();
        if !matches!(kind, "postgres" | "mysql" | "sqlite") {
            continue;
        }
        let Some(database) = database else {
            return Err(
                "the pipeline has a database sink, but the scenario does not declare \
                         `needs = [\"database\"]`"
                    .into(),
            );
        };
        sink.remove("url");
        sink.remove("location");
        let (kind, field, address) = match database {
            OpsDatabase::Sqlite(path) => ("sqlite", "location", path.display().to_string()),
            OpsDatabase::Postgres(url) => ("postgres", "url", url.clone()),
            OpsDatabase::MySql(url) => ("mysql", "url", url.clone()),
        };
        sink.insert("kind".into(), Value::from(kind));
        sink.insert(field.into(), Value::from(address));
    }
    Ok(())
}

/// `table[name]` as a table, made if missing (a spec that had it as something else was
/// refused by its check before).
fn section<'t>(table: &'t mut Table, name: &str) -> &'t mut Table {
    let entry = table
        .entry(name.to_string())
        .or_insert_with(|| Value::Table(Table::new()));
    if !entry.is_table() {
        *entry = Value::Table(Table::new());
    }
    match entry {
        Value::Table(t) => t,
        _ => unreachable!("made a table above"),
    }
}
