//! The runner: Kafka (a consumer-group member) → JSON decode → SQL steps → one Delta
//! commit per micro-batch. A landing source's run is [`crate::landing`]'s.
//!
//! Exactly-once as kafka-delta-ingest does it: every lake commit carries, in the
//! same atomic Delta commit, a `txn` action per (pipeline, topic, partition) whose
//! version is the next offset to read. When the group assigns a partition, the source
//! starts it at that version; before every commit the writer checks, in the snapshot the
//! commit is based on, that the batch continues exactly there (see [`crate::writer`]),
//! and Delta's conflict check refuses a commit racing another one for the same `txn`.
//! So N processes of one spec share a topic, and a crash at any moment neither loses nor
//! repeats a record. The consumer group's offsets are written afterwards, for lag tools.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pipelab_ingest::MicroBatch;
use pipelab_ingest::{KafkaSource, SourceControl, SourceOptions};
use pipelab_lake::LakeTable;
use tokio::sync::mpsc;

use crate::error::PipelineError;
use crate::memory::PeakSampler;
use crate::offsets::{LakeOffsets, open_existing};
use crate::progress::Progress;
use crate::setup::{lake_of, open_databases, thread_failed, transform_of, writer_for};
use crate::spec::{PipelineSpec, SourceKind};

pub use crate::run_options::{MetricsFn, ProgressFn, RunMetrics, RunOptions, RunReport};

/// Run a pipeline until `opts` stops it: read Kafka, run the steps, and commit each
/// micro-batch to the lake exactly once. Stops at the first error.
pub async fn run(spec: &PipelineSpec, opts: RunOptions) -> Result<RunReport, PipelineError> {
    if spec.source.kind == SourceKind::Landing {
        return crate::landing::run(spec, opts).await;
    }
    // `--brokers` stands for the spec's brokers everywhere: the source, and the Kafka
    // sinks that name none of their own.
    let mut overridden = spec.clone();
    if let Some(brokers) = &opts.brokers {
        overridden.source.brokers = brokers.clone();
    }
    let spec = &overridden;
    let started = Instant::now();
    let sampler = PeakSampler::start();
    let transform = transform_of(spec)?;
    let lake = lake_of(spec, &opts)?;
    let mut table = open_existing(&lake, &spec.sink.table).await?;

    let offsets = Arc::new(LakeOffsets::new(spec, &lake, open_databases(spec).await?));
    let databases = open_databases(spec).await?;
    let source = connect(spec, &opts, offsets.clone()).await?;
    let counters = source.counters();
    let (tx, mut rx) = mpsc::channel::<MicroBatch>(1);
    let (control, reader) = source.spawn(tx, opts.stop.clone())?;

    let mut writer = writer_for(spec, &lake, &transform, table.as_ref(), control, databases);
    let latest = Arc::new(std::sync::Mutex::new((Progress::default(), 0u64)));
    let live = opts.on_metrics.clone().map(|f| {
        let budget = spec.memory().map_or(0, |b| b.total_bytes);
        tokio::spawn(sample_metrics(
            f,
            latest.clone(),
            counters.clone(),
            started,
            budget,
        ))
    });
    let mut failure = None;
    while let Some(batch) = rx.recv().await {
        let bytes = batch.memory as u64;
        set_latest(&latest, writer.progress(), bytes);
        if let Err(e) = writer.write(&mut table, batch).await {
            failure = Some(e);
            break;
        }
        set_latest(&latest, writer.progress(), 0);
        if let Some(f) = &opts.on_progress {
            f(writer.progress());
        }
    }
    if let Some(live) = live {
        live.abort();
    }
    let progress = writer.progress().clone();
    // Stop the reader (it may be waiting to hand over a batch, or for the writer to say
    // it is done) and wait for it.
    opts.stop.store(true, Ordering::Relaxed);
    drop(writer);
    drop(rx);
    let stop = tokio::task::spawn_blocking(move || reader.join())
        .await
        .map_err(|e| thread_failed("Kafka consumer", e))?
        .map_err(|panic| thread_failed("Kafka consumer", panic_message(panic)));
    if let Some(e) = failure {
        return Err(e);
    }
    let stop = stop??;
    let resumed_from = offsets.resumed();
    Ok(RunReport {
        progress,
        stop,
        elapsed: started.elapsed(),
        resumed_from,
        table_version: table.as_ref().map(LakeTable::version),
        lake: lake.display(),
        rebalances: counters.rebalances.load(Ordering::Relaxed),
        out_of_range_resets: counters.out_of_range_resets.load(Ordering::Relaxed),
        transient_errors: counters.transient_errors.load(Ordering::Relaxed),
        memory: sampler.finish(),
        objects: None,
    })
}

/// Store micro-batches that are already in memory exactly as [`run`] stores what it
/// reads from Kafka: the offset guard, decoding, the steps, dead letters and one Delta
/// commit per batch. pipelab's own path without the broker (`pipelab bench ingest`).
pub async fn store_batches(
    spec: &PipelineSpec,
    opts: &RunOptions,
    batches: impl IntoIterator<Item = MicroBatch>,
) -> Result<Progress, PipelineError> {
    let transform = transform_of(spec)?;
    let lake = lake_of(spec, opts)?;
    let mut table = open_existing(&lake, &spec.sink.table).await?;
    let detached = SourceControl::detached();
    let databases = open_databases(spec).await?;
    let mut writer = writer_for(spec, &lake, &transform, table.as_ref(), detached, databases);
    for batch in batches {
        writer.write(&mut table, batch).await?;
    }
    Ok(writer.progress().clone())
}

fn set_latest(latest: &std::sync::Mutex<(Progress, u64)>, progress: &Progress, in_flight: u64) {
    *latest
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = (progress.clone(), in_flight);
}

/// Once a second until aborted: the latest counters and the source's partition
/// metrics, handed to `f`.
async fn sample_metrics(
    f: MetricsFn,
    latest: Arc<std::sync::Mutex<(Progress, u64)>>,
    counters: Arc<pipelab_ingest::SourceCounters>,
    started: Instant,
    budget_bytes: usize,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let (progress, in_flight) = latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let partitions = counters.partition_metrics();
        let prefetched: u64 = partitions.values().map(|p| p.prefetched_bytes).sum();
        let retries = progress.conflicts + counters.transient_errors.load(Ordering::Relaxed);
        f(&RunMetrics {
            elapsed: started.elapsed(),
            progress,
            partitions,
            budget_bytes,
            buffered_bytes: prefetched + in_flight,
            retries,
        });
    }
}

async fn connect(
    spec: &PipelineSpec,
    opts: &RunOptions,
    offsets: Arc<LakeOffsets>,
) -> Result<KafkaSource, PipelineError> {
    let mut source = SourceOptions::new(
        opts.brokers
            .clone()
            .unwrap_or_else(|| spec.source.brokers.clone()),
        spec.source.topic.clone(),
        spec.group(),
        (
            spec.sink.flush_rows,
            spec.flush_bytes(),
            Duration::from_secs_f64(spec.sink.flush_interval_secs),
        ),
    );
    // Checked when a spec is read from TOML; a spec built in code is checked here.
    let budget = spec.memory().map_err(|m| spec.error(m))?;
    source.prefetch_bytes = Some(budget.prefetch_bytes);
    source.max_record_bytes = budget.batch_bytes;
    source.until_idle = opts.until_idle;
    source.max_records = opts.max_records;
    source.on_out_of_range = spec.source.on_offset_out_of_range.into();
    source.assignment = spec.source.assignment.into();
    source.extra = spec.source.options.clone().into_iter().collect();
    // Connecting blocks (librdkafka); keep it off the async workers.
    let source = tokio::task::spawn_blocking(move || KafkaSource::connect(source, offsets))
        .await
        .map_err(|e| thread_failed("Kafka connect", e))??;
    Ok(source)
}

/// The text a panic was raised with (`panic!` gives a `&str` or a `String`).
fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(text) => format!("panicked: {text}"),
        Err(panic) => match panic.downcast_ref::<&str>() {
            Some(text) => format!("panicked: {text}"),
            None => "panicked".to_string(),
        },
    }
}
