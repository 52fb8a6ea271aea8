//! Writing one micro-batch: the offset guard, decoding, dead letters, the SQL steps with
//! bad records isolated, and the one Delta commit that holds rows and offsets.

use std::collections::BTreeMap;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use pipelab_ingest::SourceControl;
use pipelab_ingest::{DeadLetter, JsonDecoder, MicroBatch, Position, RawRecord};
use pipelab_lake::maintain::CompactOptions;
use pipelab_lake::{
    FAILPOINT_ENV, LakeLocation, LakeTable, TableSpec, conform, widen_batch, widened_schema,
};
use pipelab_transform::Transform;

use crate::dead_letters::DeadLetterSink;
use crate::error::PipelineError;
use crate::guard::{Guard, guard};
use crate::offsets::{app_id, open_existing, txn_offsets};
use crate::progress::Progress;
use crate::quality::QualitySink;
use crate::spec::{OnTypeMismatch, PipelineSpec};

/// `PIPELAB_FAILPOINT=pipeline-after-commit`: crash tests die right after a lake commit.
const AFTER_COMMIT: &str = "pipeline-after-commit";

/// How many times a commit lost to a concurrent writer is tried again before the run
/// stops (each try re-reads where the table stands).
const COMMIT_ATTEMPTS: usize = 20;

pub(crate) struct BatchWriter<'a> {
    spec: &'a PipelineSpec,
    lake: &'a LakeLocation,
    transform: &'a Transform,
    decoder: JsonDecoder,
    dead_letters: DeadLetterSink,
    quality: QualitySink,
    source: SourceControl,
    progress: Progress,
    /// Before the table exists it holds no offsets: where this process's batches of
    /// only dead letters ended, so the next batch is known to continue there.
    handled_without_table: BTreeMap<i32, i64>,
}

enum Attempt {
    Done,
    Created,
}

/// The rows a batch produced, and the records that could not be stored.
struct Output {
    batches: Vec<RecordBatch>,
    dead_letters: Vec<DeadLetter>,
}

impl<'a> BatchWriter<'a> {
    pub(crate) fn new(
        spec: &'a PipelineSpec,
        lake: &'a LakeLocation,
        transform: &'a Transform,
        decoder: JsonDecoder,
        dead_letters: DeadLetterSink,
        source: SourceControl,
    ) -> Self {
        let quality = QualitySink::new(
            spec.quality_table(),
            &spec.name,
            &spec.sink.table,
            spec.sink.quality.clone(),
        );
        Self {
            spec,
            lake,
            transform,
            decoder,
            dead_letters,
            quality,
            source,
            progress: Progress::default(),
            handled_without_table: BTreeMap::new(),
        }
    }

    pub(crate) fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Store one batch (or refuse what does not continue where the table stands), then
    /// tell the source it is handled.
    pub(crate) async fn write(
        &mut self,
        table: &mut Option<LakeTable>,
        batch: MicroBatch,
    ) -> Result<(), PipelineError> {
        let result = self.write_batch(table, batch).await;
        self.source.processed();
        result
    }

    async fn write_batch(
        &mut self,
        table: &mut Option<LakeTable>,
        mut batch: MicroBatch,
    ) -> Result<(), PipelineError> {
        self.progress.read += batch.records.len() as u64;
        self.progress.read_bytes += batch.bytes as u64;
        for _ in 0..COMMIT_ATTEMPTS {
            if table.is_none() {
                // Another member may have created it meanwhile.
                *table = open_existing(self.lake, &self.spec.sink.table).await?;
            }
            let stored = self.stored_offsets(table, &batch).await?;
            self.align(&mut batch, &stored);
            if batch.is_empty() {
                return Ok(());
            }
            match self.write_aligned(table, &batch).await {
                Ok(Attempt::Done) => return Ok(()),
                // The table was just created (by us or by another member): check the
                // batch against it before the first commit.
                Ok(Attempt::Created) => {}
                Err(PipelineError::Lake(e)) if e.is_commit_conflict() => {
                    // Someone committed offsets of these partitions first: look again.
                    tracing::info!("{e}; checking where the table stands and trying again");
                    self.progress.conflicts += 1;
                }
                Err(e) => return Err(e),
            }
        }
        Err(PipelineError::Contended {
            table: self.spec.sink.table.clone(),
            attempts: COMMIT_ATTEMPTS,
        })
    }

    /// The table's `txn` version of each partition in the batch, from its newest snapshot
    /// (the one the commit will be based on).
    async fn stored_offsets(
        &self,
        table: &mut Option<LakeTable>,
        batch: &MicroBatch,
    ) -> Result<BTreeMap<i32, i64>, PipelineError> {
        let Some(t) = table.as_mut() else {
            return Ok(self.handled_without_table.clone());
        };
        txn_offsets(t, &self.app_ids(batch.starts.keys().copied())).await
    }

    fn app_ids(&self, partitions: impl Iterator<Item = i32>) -> BTreeMap<i32, String> {
        partitions
            .map(|p| (p, app_id(&self.spec.name, &self.spec.source.topic, p)))
            .collect()
    }

    /// The guard: each partition of the batch must continue exactly where the table
    /// stands. Records the table already holds are dropped (another member, or an
    /// earlier attempt, committed them); a partition that starts past that point, or
    /// where the table has nothing, is dropped and read again from the right place.
    fn align(&mut self, batch: &mut MicroBatch, stored: &BTreeMap<i32, i64>) {
        let partitions: Vec<(i32, Position)> = batch.starts.iter().map(|(&p, &s)| (p, s)).collect();
        for (p, start) in partitions {
            let expected = stored.get(&p).copied();
            match guard(expected, start, batch.resets.get(&p).copied()) {
                Guard::Store => {}
                Guard::DropBefore(next) => self.trim(batch, p, next),
                Guard::Reread(position) => {
                    tracing::info!(
                        "partition {p}: batch starts at {start:?} but the table stands at \
                         {expected:?}; re-reading"
                    );
                    batch.drop_partitions(&std::collections::HashSet::from([p]));
                    self.source.reseek(p, position);
                    self.progress.reseeks += 1;
                }
            }
        }
    }

    fn trim(&mut self, batch: &mut MicroBatch, p: i32, stored: i64) {
        let before = batch.records.len();
        batch.trim_before(p, stored);
        self.progress.already_stored += (before - batch.records.len()) as u64;
    }

    async fn write_aligned(
        &mut self,
        table: &mut Option<LakeTable>,
        batch: &MicroBatch,
    ) -> Result<Attempt, PipelineError> {
        let topic = &self.spec.source.topic;
        let txns: Vec<(String, i64)> = batch
            .next_offsets
            .iter()
            .map(|(&p, &o)| (app_id(&self.spec.name, topic, p), o))
            .collect();
        // Widening: the table's types give way to the batch's (below), so records are not
        // checked against them one by one.
        let table_schema = table
            .as_ref()
            .filter(|_| !self.widening())
            .map(LakeTable::schema);
        let output = self
            .process(&batch.records, table_schema.as_deref())
            .await?;
        // Dead letters first: if the main commit never happens, the batch is read again
        // and the dead-letter table skips what it already holds.
        self.progress.dead_letters += self
            .dead_letters
            .write(self.lake, output.dead_letters, &txns)
            .await?;
        let rows: u64 = output.batches.iter().map(|b| b.num_rows() as u64).sum();
        let (t, created) = match table {
            Some(t) => (t, false),
            None => {
                let Some(schema) = output.batches.first().map(RecordBatch::schema) else {
                    // Nothing storable yet and no table to hold offsets: the batch will be
                    // read again on restart; its dead letters are already kept once.
                    self.handled_without_table
                        .extend(batch.next_offsets.iter().map(|(&p, &o)| (p, o)));
                    self.source.commit_group(&batch.next_offsets);
                    return Ok(Attempt::Done);
                };
                let spec = TableSpec {
                    name: self.spec.sink.table.clone(),
                    partitioning: self.spec.sink.partitioning.clone(),
                    properties: self.spec.sink.table_properties.clone(),
                };
                let opened = LakeTable::open_or_create(self.lake, &spec, schema).await?;
                (table.insert(opened), true)
            }
        };
        let mut batches = output.batches;
        if created {
            // Another member may have created it first: commit the work done so far only
            // if none of this batch's partitions has offsets there yet and the rows fit
            // its schema; else check the batch against it from the start.
            let stored = txn_offsets(t, &self.app_ids(batch.starts.keys().copied())).await?;
            let schema = t.schema();
            let fitted: Result<Vec<RecordBatch>, _> =
                batches.iter().map(|b| conform(b, &schema)).collect();
            match fitted {
                Ok(fitted) if stored.is_empty() => batches = fitted,
                _ => return Ok(Attempt::Created),
            }
        }
        if self.widening() && !created {
            batches = self.widen(t, batches).await?;
        }
        let measured = self.quality.measure(&batches).await?;
        let started = Instant::now();
        t.set_layout(self.spec.sink.layout.clone());
        let stats = t.append(batches, &txns).await?;
        self.progress.commit_time += started.elapsed();
        if std::env::var(FAILPOINT_ENV).is_ok_and(|v| v == AFTER_COMMIT) {
            // Crash tests: die like a SIGKILL between the lake commit and the group commit.
            std::process::abort();
        }
        self.progress.written += rows;
        self.progress.commits += 1;
        self.progress.files += stats.files_added as u64;
        self.progress.bytes += stats.bytes_added;
        self.source.commit_group(&batch.next_offsets);
        self.quality
            .record(self.lake, stats.version, measured)
            .await;
        self.compact_crowded(t).await;
        Ok(Attempt::Done)
    }

    /// `[sink.compaction]`: compact the partitions that hold too many small files. Best
    /// effort: the batch is committed already, so a failed compaction (another writer's
    /// conflicting commit, say) is logged and the next write tries again.
    async fn compact_crowded(&mut self, table: &mut LakeTable) {
        let Some(policy) = &self.spec.sink.compaction else {
            return;
        };
        let crowded = match table.crowded_partitions(policy) {
            Ok(crowded) => crowded,
            Err(e) => {
                tracing::warn!("automatic compaction skipped: {e}");
                return;
            }
        };
        for filters in crowded {
            let opts = CompactOptions {
                filters,
                ..CompactOptions::default()
            };
            match table.compact(&opts).await {
                Ok(report) => {
                    self.progress.compactions += 1;
                    tracing::info!(
                        files = report.files_removed,
                        version = report.version,
                        "compacted a partition of {}",
                        self.spec.sink.table
                    );
                }
                Err(e) => tracing::warn!("automatic compaction failed, retried later: {e}"),
            }
        }
    }

    fn widening(&self) -> bool {
        self.spec.sink.on_type_mismatch == OnTypeMismatch::Widen
    }

    /// `on_type_mismatch = "widen"`: the table's columns that cannot hold the batch's
    /// values are widened first (one rewrite commit), then the batch takes its types.
    async fn widen(
        &mut self,
        table: &mut LakeTable,
        batches: Vec<RecordBatch>,
    ) -> Result<Vec<RecordBatch>, PipelineError> {
        let target = widened_schema(&table.schema(), &batches);
        if table.widen(&target).await? {
            self.progress.widenings += 1;
        }
        let schema = table.schema();
        batches
            .iter()
            .map(|b| widen_batch(b, &schema))
            .collect::<Result<_, _>>()
            .map_err(|source| PipelineError::Batch {
                what: "fitting a batch to the widened columns",
                table: self.spec.sink.table.clone(),
                source,
            })
    }

    /// Decode, run the steps and fit the result to the table. Records that fail (do not
    /// decode, make a step fail, or do not fit the table's columns) become dead letters,
    /// the rest is stored: a step or fit failure is narrowed down by running halves.
    async fn process(
        &mut self,
        records: &[RawRecord],
        table: Option<&Schema>,
    ) -> Result<Output, PipelineError> {
        let topic = self.spec.source.topic.clone();
        let started = Instant::now();
        let decoded = self.decoder.decode(&topic, records)?;
        self.progress.decode_time += started.elapsed();
        let mut dead_letters = decoded.dead_letters;
        let Some(input) = decoded.batch else {
            return Ok(Output {
                batches: Vec::new(),
                dead_letters,
            });
        };
        let mut batches = Vec::new();
        // Row ranges of `input` still to try, with the error that made them split.
        let mut pending = vec![(0, input.num_rows())];
        while let Some((offset, len)) = pending.pop() {
            let slice = input.slice(offset, len);
            let started = Instant::now();
            let result = self.transform_and_fit(slice, table).await?;
            self.progress.steps_time += started.elapsed();
            match result {
                Ok(out) => batches.extend(out),
                Err((stage, error)) if len == 1 => {
                    let record = &records[decoded.rows[offset]];
                    dead_letters.push(DeadLetter::new(&topic, record, &stage, error));
                }
                Err(_) => {
                    let half = len / 2;
                    pending.push((offset + half, len - half));
                    pending.push((offset, half));
                }
            }
        }
        Ok(Output {
            batches,
            dead_letters,
        })
    }

    /// `Ok(Err((stage, error)))` when some record of `input` is to blame.
    async fn transform_and_fit(
        &self,
        input: RecordBatch,
        table: Option<&Schema>,
    ) -> Result<Result<Vec<RecordBatch>, (String, String)>, PipelineError> {
        let output = match self.transform.apply(input).await {
            Ok(output) => output,
            Err(e) if e.is_data_error() => {
                return Ok(Err((e.step().to_string(), e.message())));
            }
            Err(e) => return Err(e.into()),
        };
        let Some(table) = table else {
            return Ok(Ok(output));
        };
        let mut fitted = Vec::with_capacity(output.len());
        for batch in &output {
            match conform(batch, table) {
                Ok(b) => fitted.push(b),
                Err(misfit) => {
                    return Ok(Err((
                        "sink".to_string(),
                        format!("does not fit the table: {}", misfit.message()),
                    )));
                }
            }
        }
        // Passed on as they are: deltalake's writer groups rows into files by partition,
        // so copying them into one batch first would only cost time.
        Ok(Ok(fitted))
    }
}
