//! The runner: Kafka → JSON decode → SQL steps → one Delta commit per micro-batch.
//!
//! Exactly-once as kafka-delta-ingest does it: every lake commit carries, in the
//! same atomic Delta commit, a `txn` action per (pipeline, topic, partition) whose
//! version is the next offset to read. On start the runner reads those versions and
//! seeks each partition there, so a crash at any moment neither loses nor repeats a
//! record. The consumer group's offsets are written afterwards, for lag tools only.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use arrow::array::{BinaryArray, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use pipelab_ingest::kafka::{GroupCommitter, KafkaSource, SourceOptions, StopReason};
use pipelab_ingest::{DeadLetter, JsonDecoder, MicroBatch};
use pipelab_lake::{LakeError, LakeLocation, LakeTable, TableSpec};
use pipelab_transform::{Step, Transform};
use tokio::sync::mpsc;

use crate::error::PipelineError;
use crate::spec::PipelineSpec;

/// Counters a progress display or a summary reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub read: u64,
    pub read_bytes: u64,
    pub written: u64,
    pub dead_letters: u64,
    pub commits: u64,
    pub files: u64,
    pub bytes: u64,
}

pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

#[derive(Clone, Default)]
pub struct RunOptions {
    /// Stop once every partition has been read to its end.
    pub until_idle: bool,
    /// Stop after reading this many records (and committing them).
    pub max_records: Option<u64>,
    /// Set to stop at the next batch boundary (Ctrl-C).
    pub stop: Arc<AtomicBool>,
    pub on_progress: Option<ProgressFn>,
    /// Overrides the spec's brokers (`--brokers`).
    pub brokers: Option<String>,
    /// Overrides the spec's lake location (`--lake`).
    pub lake: Option<String>,
    /// Storage options for an S3 lake (endpoint, keys); AWS_* variables also work.
    pub storage_options: HashMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct RunReport {
    pub progress: Progress,
    pub stop: StopReason,
    pub elapsed: Duration,
    /// Where each partition started (next offset, from the lake's `txn` actions).
    pub resumed_from: BTreeMap<i32, i64>,
    pub table_version: Option<i64>,
    pub lake: String,
}

/// The Delta `txn` app id that holds a partition's next offset.
pub fn app_id(pipeline: &str, topic: &str, partition: i32) -> String {
    format!("pipelab/{pipeline}/{topic}/{partition}")
}

pub async fn run(spec: &PipelineSpec, opts: RunOptions) -> Result<RunReport, PipelineError> {
    let started = Instant::now();
    let transform = Transform::new(
        spec.steps
            .iter()
            .map(|s| Step {
                name: s.name.clone(),
                sql: s.sql.clone(),
            })
            .collect(),
    )?;
    pipelab_lake::register_handlers();
    let location = opts
        .lake
        .clone()
        .unwrap_or_else(|| spec.sink.location.clone());
    let lake = LakeLocation::parse(&location, opts.storage_options.clone())?;

    let source = connect(spec, &opts).await?;
    let topic = spec.source.topic.clone();
    let app_ids: BTreeMap<i32, String> = source
        .partitions()
        .iter()
        .map(|&p| (p, app_id(&spec.name, &topic, p)))
        .collect();

    let mut table = open_existing(&lake, &spec.sink.table).await?;
    let resumed_from = match table.as_mut() {
        Some(t) => txn_offsets(t, &app_ids).await?,
        None => BTreeMap::new(),
    };
    let mut dead_letters = DeadLetterSink::open(&lake, spec.dead_letter_table(), &app_ids).await?;

    let (tx, mut rx) = mpsc::channel::<MicroBatch>(1);
    let committer = source.group_committer();
    let start: HashMap<i32, i64> = resumed_from.iter().map(|(&p, &o)| (p, o)).collect();
    let reader = source.spawn(&start, tx, opts.stop.clone())?;

    let mut writer = BatchWriter {
        spec,
        lake: &lake,
        transform: &transform,
        // A restarted pipeline decodes fields into the types the table already has.
        decoder: table.as_ref().map_or_else(JsonDecoder::new, |t| {
            JsonDecoder::with_type_hints(&t.schema())
        }),
        table: &mut table,
        dead_letters: &mut dead_letters,
        committer,
        app_ids: &app_ids,
        progress: Progress::default(),
    };
    while let Some(batch) = rx.recv().await {
        writer.write(batch).await?;
        if let Some(f) = &opts.on_progress {
            f(&writer.progress);
        }
    }
    let progress = writer.progress;
    let stop = tokio::task::spawn_blocking(move || reader.join())
        .await
        .map_err(|e| PipelineError::Internal(format!("consumer thread: {e}")))?
        .map_err(|_| PipelineError::Internal("the consumer thread panicked".into()))??;
    Ok(RunReport {
        progress,
        stop,
        elapsed: started.elapsed(),
        resumed_from,
        table_version: table.as_ref().map(LakeTable::version),
        lake: lake.display(),
    })
}

async fn connect(spec: &PipelineSpec, opts: &RunOptions) -> Result<KafkaSource, PipelineError> {
    let mut source = SourceOptions::new(
        opts.brokers
            .clone()
            .unwrap_or_else(|| spec.source.brokers.clone()),
        spec.source.topic.clone(),
        spec.group(),
    );
    source.flush_rows = spec.sink.flush_rows;
    source.flush_bytes = spec.sink.flush_bytes;
    source.flush_interval = Duration::from_secs_f64(spec.sink.flush_interval_secs);
    source.until_idle = opts.until_idle;
    source.max_records = opts.max_records;
    source.extra = spec.source.options.clone().into_iter().collect();
    // Connecting blocks (librdkafka); keep it off the async workers.
    let source = tokio::task::spawn_blocking(move || KafkaSource::connect(source))
        .await
        .map_err(|e| PipelineError::Internal(format!("connect: {e}")))??;
    Ok(source)
}

async fn open_existing(
    lake: &LakeLocation,
    name: &str,
) -> Result<Option<LakeTable>, PipelineError> {
    match LakeTable::open(lake, name).await {
        Ok(t) => Ok(Some(t)),
        Err(LakeError::TableNotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Next offset per partition, from the table's `txn` actions.
async fn txn_offsets(
    table: &mut LakeTable,
    app_ids: &BTreeMap<i32, String>,
) -> Result<BTreeMap<i32, i64>, PipelineError> {
    let ids: Vec<String> = app_ids.values().cloned().collect();
    let versions = table.txn_versions(&ids).await?;
    Ok(app_ids
        .iter()
        .filter_map(|(&p, id)| versions.get(id).map(|&v| (p, v)))
        .collect())
}

struct BatchWriter<'a> {
    spec: &'a PipelineSpec,
    lake: &'a LakeLocation,
    transform: &'a Transform,
    decoder: JsonDecoder,
    table: &'a mut Option<LakeTable>,
    dead_letters: &'a mut DeadLetterSink,
    committer: GroupCommitter,
    app_ids: &'a BTreeMap<i32, String>,
    progress: Progress,
}

impl BatchWriter<'_> {
    async fn write(&mut self, batch: MicroBatch) -> Result<(), PipelineError> {
        self.progress.read += batch.records.len() as u64;
        self.progress.read_bytes += batch.bytes as u64;
        let txns: Vec<(String, i64)> = batch
            .next_offsets
            .iter()
            .filter_map(|(p, &o)| self.app_ids.get(p).map(|id| (id.clone(), o)))
            .collect();
        let decoded = self
            .decoder
            .decode(&self.spec.source.topic, &batch.records)?;
        drop(batch.records);
        // Dead letters first: if we crash before the main commit, the batch is read
        // again and the dead-letter table skips what it already holds.
        self.progress.dead_letters += self
            .dead_letters
            .write(self.lake, decoded.dead_letters, &txns)
            .await?;
        let output = match decoded.batch {
            Some(b) => self.transform.apply(b).await?,
            None => Vec::new(),
        };
        let rows: u64 = output.iter().map(|b| b.num_rows() as u64).sum();
        if self.table.is_none() {
            let Some(schema) = output.first().map(RecordBatch::schema) else {
                // Nothing decodable yet and no table to hold offsets: the batch will
                // be read again on restart; its dead letters are already kept once.
                self.commit_group(&batch.next_offsets);
                return Ok(());
            };
            let spec = TableSpec {
                name: self.spec.sink.table.clone(),
                partition_by: self.spec.sink.partition_by.clone(),
            };
            *self.table = Some(LakeTable::open_or_create(self.lake, &spec, schema).await?);
        }
        let Some(table) = self.table.as_mut() else {
            return Err(PipelineError::Internal("lake table vanished".into()));
        };
        let stats = table.append(output, &txns).await?;
        self.progress.written += rows;
        self.progress.commits += 1;
        self.progress.files += stats.files_added as u64;
        self.progress.bytes += stats.bytes_added;
        self.commit_group(&batch.next_offsets);
        Ok(())
    }

    fn commit_group(&self, next_offsets: &BTreeMap<i32, i64>) {
        // Only lag tools read the group's offsets; failing to write them loses nothing.
        if let Err(e) = self.committer.commit(next_offsets) {
            tracing::warn!("consumer group commit: {e}");
        }
    }
}

/// The dead-letter table: raw bytes, topic, partition, offset and error of every
/// record that could not be decoded. It keeps its own `txn` versions so that a
/// batch read twice (crash before the main commit) stores its dead letters once.
struct DeadLetterSink {
    name: String,
    table: Option<LakeTable>,
    app_ids: BTreeMap<i32, String>,
    /// Offsets below these are already in the table.
    stored_until: BTreeMap<i32, i64>,
}

impl DeadLetterSink {
    async fn open(
        lake: &LakeLocation,
        name: String,
        app_ids: &BTreeMap<i32, String>,
    ) -> Result<Self, PipelineError> {
        let mut table = open_existing(lake, &name).await?;
        let stored_until = match table.as_mut() {
            Some(t) => txn_offsets(t, app_ids).await?,
            None => BTreeMap::new(),
        };
        Ok(Self {
            name,
            table,
            app_ids: app_ids.clone(),
            stored_until,
        })
    }

    async fn write(
        &mut self,
        lake: &LakeLocation,
        letters: Vec<DeadLetter>,
        txns: &[(String, i64)],
    ) -> Result<u64, PipelineError> {
        let letters: Vec<DeadLetter> = letters
            .into_iter()
            .filter(|d| {
                self.stored_until
                    .get(&d.partition)
                    .is_none_or(|&until| d.offset >= until)
            })
            .collect();
        if letters.is_empty() {
            return Ok(0);
        }
        let n = letters.len() as u64;
        let batch =
            dead_letter_batch(&letters).map_err(|e| PipelineError::Internal(e.to_string()))?;
        if self.table.is_none() {
            let spec = TableSpec {
                name: self.name.clone(),
                partition_by: Vec::new(),
            };
            self.table = Some(LakeTable::open_or_create(lake, &spec, batch.schema()).await?);
        }
        if let Some(table) = self.table.as_mut() {
            table.append(vec![batch], txns).await?;
        }
        for (id, offset) in txns {
            if let Some((&p, _)) = self.app_ids.iter().find(|(_, a)| *a == id) {
                self.stored_until.insert(p, *offset);
            }
        }
        Ok(n)
    }
}

fn dead_letter_batch(letters: &[DeadLetter]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("topic", DataType::Utf8, false),
        Field::new("partition", DataType::Int32, false),
        Field::new("offset", DataType::Int64, false),
        Field::new("error", DataType::Utf8, false),
        Field::new("raw", DataType::Binary, false),
        // The same bytes as text (lossy), because most bad records are text.
        Field::new("raw_text", DataType::Utf8, false),
        Field::new("received_at", DataType::Utf8, false),
    ]));
    let now = chrono::Utc::now().to_rfc3339();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                letters.iter().map(|d| d.topic.as_str()),
            )),
            Arc::new(Int32Array::from_iter_values(
                letters.iter().map(|d| d.partition),
            )),
            Arc::new(Int64Array::from_iter_values(
                letters.iter().map(|d| d.offset),
            )),
            Arc::new(StringArray::from_iter_values(
                letters.iter().map(|d| d.error.as_str()),
            )),
            Arc::new(BinaryArray::from_iter_values(
                letters.iter().map(|d| d.raw.as_slice()),
            )),
            Arc::new(StringArray::from_iter_values(
                letters.iter().map(|d| String::from_utf8_lossy(&d.raw)),
            )),
            Arc::new(StringArray::from_iter_values(
                letters.iter().map(|_| now.as_str()),
            )),
        ],
    )
}
