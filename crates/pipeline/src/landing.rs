//! A run of a landing source: the objects under a prefix → decode → SQL steps → one
//! Delta commit per micro-batch, each object's key and ETag recorded in the commit that
//! holds its rows (a `txn` action named by both), so a restart neither skips nor repeats
//! an object.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use pipelab_dbsink::DatabaseSink;
use pipelab_ingest::landing::StoredFn;
use pipelab_ingest::{
    LandingOptions, LandingSource, MicroBatch, ObjectFormat, SourceControl, StoreError,
};
use pipelab_lake::{LakeLocation, LakeTable};
use tokio::sync::mpsc;

use crate::error::PipelineError;
use crate::memory::PeakSampler;
use crate::offsets::{app_id, open_existing};
use crate::run_options::{ObjectCounts, RunOptions, RunReport};
use crate::setup::{lake_of, open_databases, thread_failed, transform_of, writer_for};
use crate::spec::{Format, PipelineSpec};

/// Read the landing location until `opts` stops the run (or, with `until_idle`, until a
/// listing finds nothing new), committing each batch of objects to the lake once.
pub(crate) async fn run(spec: &PipelineSpec, opts: RunOptions) -> Result<RunReport, PipelineError> {
    let started = Instant::now();
    let sampler = PeakSampler::start();
    let transform = transform_of(spec)?;
    let lake = lake_of(spec, &opts)?;
    let mut table = open_existing(&lake, &spec.sink.table).await?;
    // The ledger asks on connections of its own: the writer holds its sinks.
    let ledger = stored(spec, &lake, open_databases(spec).await?);
    let source = LandingSource::new(landing_options(spec, &opts)?, ledger);
    let counters = source.counters();
    let (tx, mut rx) = mpsc::channel::<MicroBatch>(1);
    let reader = tokio::spawn(source.run(tx, opts.stop.clone()));
    let detached = SourceControl::detached();
    let databases = open_databases(spec).await?;
    let mut writer = writer_for(spec, &lake, &transform, table.as_ref(), detached, databases);
    let mut failure = None;
    while let Some(batch) = rx.recv().await {
        if let Err(e) = writer.write(&mut table, batch).await {
            failure = Some(e);
            break;
        }
        if let Some(f) = &opts.on_progress {
            f(writer.progress());
        }
    }
    let progress = writer.progress().clone();
    // A reader waiting to hand over a batch sees the channel closed and stops.
    drop(rx);
    let stop = reader
        .await
        .map_err(|e| thread_failed("landing source", e))?;
    if let Some(e) = failure {
        return Err(e);
    }
    let stop = stop?;
    Ok(RunReport {
        progress,
        stop,
        elapsed: started.elapsed(),
        resumed_from: Default::default(),
        table_version: table.as_ref().map(LakeTable::version),
        lake: lake.display(),
        rebalances: 0,
        out_of_range_resets: 0,
        transient_errors: 0,
        memory: sampler.finish(),
        objects: Some(ObjectCounts {
            read: counters.objects_read.load(Ordering::Relaxed),
            already_stored: counters.objects_already_stored.load(Ordering::Relaxed),
            bytes: counters.bytes_read.load(Ordering::Relaxed),
        }),
    })
}

/// The source's options from the spec: its location (with the lake sink's storage
/// options unless it has its own), format, and batch and object limits from the budget.
fn landing_options(
    spec: &PipelineSpec,
    opts: &RunOptions,
) -> Result<LandingOptions, PipelineError> {
    let spec_error = |message: String| spec.error(message);
    let location = spec
        .source
        .location
        .clone()
        .ok_or_else(|| spec_error("a landing source needs `location`".into()))?;
    let budget = spec.memory().map_err(spec_error)?;
    let own = &spec.source.storage_options;
    let chosen = if own.is_empty() {
        &spec.sink.storage_options
    } else {
        own
    };
    let mut options: HashMap<String, String> = chosen.clone().into_iter().collect();
    options.extend(opts.storage_options.clone());
    let landing = LakeLocation::parse(&location, options)?;
    // A directory that is not there is a typo more often than a prefix yet to come.
    if landing.is_local() && !std::path::Path::new(&landing.display()).is_dir() {
        return Err(spec_error(format!(
            "`source.location`: the landing directory {} does not exist",
            landing.display()
        ))
        .into());
    }
    let store = landing.object_store()?;
    Ok(LandingOptions {
        store,
        location,
        format: match spec.source.format {
            Format::Json => ObjectFormat::JsonLines,
            Format::Csv => ObjectFormat::Csv,
            Format::Lines => ObjectFormat::Lines,
        },
        poll: Duration::from_secs_f64(spec.source.poll_interval_secs),
        until_idle: opts.until_idle,
        max_records: opts.max_records,
        batch_rows: spec.sink.flush_rows,
        batch_bytes: spec.flush_bytes(),
        max_object_bytes: budget.batch_bytes,
    })
}

type Stored = BoxFuture<'static, Result<HashSet<String>, StoreError>>;

/// Which objects (by stream name) every sink holds: the lake's table in its `txn`
/// actions (before the table exists, the dead-letter table's: an object of only bad
/// records), each database sink in its offsets table.
fn stored(spec: &PipelineSpec, lake: &LakeLocation, databases: Vec<DatabaseSink>) -> StoredFn {
    let lake = lake.clone();
    let tables = [spec.sink.table.clone(), spec.dead_letter_table()];
    let pipeline = spec.name.clone();
    let databases = Arc::new(tokio::sync::Mutex::new(databases));
    Arc::new(move |names: Vec<String>| -> Stored {
        let (lake, tables, pipeline) = (lake.clone(), tables.clone(), pipeline.clone());
        let databases = databases.clone();
        Box::pin(async move {
            let mut held = in_lake(&lake, &tables, &pipeline, &names).await?;
            let streams: BTreeMap<i32, String> = (0..)
                .zip(names.iter().filter(|n| held.contains(*n)).cloned())
                .collect();
            for sink in databases.lock().await.iter_mut() {
                let at = sink.positions_for(&streams).await.map_err(boxed)?;
                held.retain(|n| streams.iter().any(|(p, s)| s == n && at.contains_key(p)));
            }
            Ok(held)
        })
    })
}

/// The names of `names` the lake holds (see [`stored`]).
async fn in_lake(
    lake: &LakeLocation,
    tables: &[String; 2],
    pipeline: &str,
    names: &[String],
) -> Result<HashSet<String>, StoreError> {
    let ids: Vec<String> = names.iter().map(|n| app_id(pipeline, n, 0)).collect();
    for name in tables {
        let Some(mut table) = open_existing(lake, name).await.map_err(boxed)? else {
            continue;
        };
        let versions = table.txn_versions(&ids).await.map_err(boxed)?;
        return Ok(names
            .iter()
            .zip(&ids)
            .filter(|(_, id)| versions.contains_key(*id))
            .map(|(n, _)| n.clone())
            .collect());
    }
    Ok(HashSet::new())
}

fn boxed(e: impl Into<PipelineError>) -> StoreError {
    Box::new(e.into())
}
