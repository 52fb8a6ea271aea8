//! What every run sets up before reading its source: the steps, the lake it writes
//! to, and the batch writer with its decoder and dead-letter table.

use std::collections::HashMap;

use pipelab_dbsink::DatabaseSink;
use pipelab_ingest::SourceControl;
use pipelab_lake::{LakeLocation, LakeTable};
use pipelab_transform::{Step, Transform};

use crate::dead_letters::DeadLetterSink;
use crate::decoding::RecordDecoder;
use crate::error::PipelineError;
use crate::run_options::RunOptions;
use crate::spec::PipelineSpec;
use crate::writer::BatchWriter;

pub(crate) fn transform_of(spec: &PipelineSpec) -> Result<Transform, PipelineError> {
    let steps = spec.steps.iter().map(|s| Step {
        name: s.name.clone(),
        sql: s.sql.clone(),
    });
    Ok(Transform::new(steps.collect())?)
}

/// The lake the run writes to: `--lake`, else the spec's.
pub(crate) fn lake_of(
    spec: &PipelineSpec,
    opts: &RunOptions,
) -> Result<LakeLocation, PipelineError> {
    pipelab_lake::register_handlers();
    let location = opts.lake.as_deref().unwrap_or(&spec.sink.location);
    // The spec's storage options, each overridden by the caller's.
    let mut options: HashMap<String, String> =
        spec.sink.storage_options.clone().into_iter().collect();
    options.extend(opts.storage_options.clone());
    Ok(LakeLocation::parse(location, options)?)
}

pub(crate) fn writer_for<'a>(
    spec: &'a PipelineSpec,
    lake: &'a LakeLocation,
    transform: &'a Transform,
    table: Option<&LakeTable>,
    source: SourceControl,
    databases: Vec<DatabaseSink>,
) -> BatchWriter<'a> {
    let schema = table.map(LakeTable::schema);
    let decoder = RecordDecoder::for_spec(spec, schema.as_deref());
    let dead_letters = DeadLetterSink::new(spec.dead_letter_table(), &spec.name);
    BatchWriter::new(
        spec,
        lake,
        transform,
        decoder,
        dead_letters,
        source,
        databases,
    )
}

pub(crate) fn thread_failed(
    what: &'static str,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> PipelineError {
    PipelineError::Thread {
        what,
        source: source.into(),
    }
}

/// Connect to every database sink of the spec (each creates its offsets table).
pub(crate) async fn open_databases(
    spec: &PipelineSpec,
) -> Result<Vec<DatabaseSink>, PipelineError> {
    let mut sinks = Vec::with_capacity(spec.databases.len());
    for db in &spec.databases {
        sinks.push(DatabaseSink::open(db.config(), &spec.name, &spec.source.topic).await?);
    }
    Ok(sinks)
}
