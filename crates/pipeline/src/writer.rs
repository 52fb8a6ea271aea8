//! Writing one micro-batch: the offset guard, decoding, dead letters, the SQL steps with
//! bad records isolated, a transaction per database sink that holds its rows and
//! offsets, and the one Delta commit that holds the lake's rows and offsets.
//!
//! Each sink keeps its own offsets, so after a crash between two sinks' commits they
//! stand at different places: the batch is aligned to the earliest, and each sink that
//! stands further gets the batch trimmed to where it stands.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use pipelab_dbsink::DatabaseSink;
use pipelab_ingest::SourceControl;
use pipelab_ingest::{DeadLetter, MicroBatch, Position, RawRecord};
use pipelab_lake::maintain::CompactOptions;
use pipelab_lake::{
    FAILPOINT_ENV, LakeLocation, LakeTable, TableSpec, conform, widen_batch, widened_schema,
};
use pipelab_transform::{StepOutput, Transform};

use crate::dead_letters::DeadLetterSink;
use crate::decoding::RecordDecoder;
use crate::error::PipelineError;
use crate::guard::{Guard, guard};
use crate::offsets::{app_id, earliest, open_existing, txn_offsets};
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
    decoder: RecordDecoder,
    dead_letters: DeadLetterSink,
    quality: QualitySink,
    source: SourceControl,
    /// The database sinks, in the spec's order (`spec.databases`).
    databases: Vec<DatabaseSink>,
    progress: Progress,
    /// Before the table exists it holds no offsets: where this process's batches of
    /// only dead letters ended, so the next batch is known to continue there.
    handled_without_table: BTreeMap<i32, i64>,
}

enum Attempt {
    Done,
    Created,
}

/// The rows a batch produced for each sink, and the records that could not be stored.
struct Output {
    rows: Rows,
    dead_letters: Vec<DeadLetter>,
}

/// The rows of a record range for every sink.
struct Rows {
    /// The lake's rows (fitted to its table).
    lake: Vec<RecordBatch>,
    /// Each database sink's rows, in the spec's order.
    databases: Vec<Vec<RecordBatch>>,
    /// Each Kafka sink's rows, in the spec's order.
    topics: Vec<Vec<RecordBatch>>,
}

impl Rows {
    fn empty(databases: usize, topics: usize) -> Self {
        Self {
            lake: Vec::new(),
            databases: vec![Vec::new(); databases],
            topics: vec![Vec::new(); topics],
        }
    }

    /// Add a further range's rows, sink by sink.
    fn extend(&mut self, more: Rows) {
        self.lake.extend(more.lake);
        for (all, more) in self.databases.iter_mut().zip(more.databases) {
            all.extend(more);
        }
        for (all, more) in self.topics.iter_mut().zip(more.topics) {
            all.extend(more);
        }
    }
}

/// A batch and the sinks it is written to: those standing where it starts.
struct Share<'b> {
    batch: Cow<'b, MicroBatch>,
    lake: bool,
    databases: Vec<usize>,
}

impl<'a> BatchWriter<'a> {
    pub(crate) fn new(
        spec: &'a PipelineSpec,
        lake: &'a LakeLocation,
        transform: &'a Transform,
        decoder: RecordDecoder,
        dead_letters: DeadLetterSink,
        source: SourceControl,
        databases: Vec<DatabaseSink>,
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
            databases,
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
            let mut positions = Vec::with_capacity(self.databases.len());
            for sink in &mut self.databases {
                positions.push(sink.positions_for(&batch.streams).await?);
            }
            self.align(&mut batch, &earliest(&stored, &positions));
            if batch.is_empty() {
                return Ok(());
            }
            match self.write_shares(table, &batch, &stored, &positions).await {
                Ok(Attempt::Done) => return Ok(()),
                // The table was just created (by us or by another member): check the
                // batch against it before the first commit.
                Ok(Attempt::Created) => {}
                Err(PipelineError::Lake(e)) if e.is_commit_conflict() => {
                    // Someone committed offsets of these partitions first: look again.
                    tracing::info!("{e}; checking where the table stands and trying again");
                    self.progress.conflicts += 1;
                }
                Err(PipelineError::Sink(e)) if e.is_conflict() => {
                    tracing::info!("{e}; checking where the sinks stand and trying again");
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
        txn_offsets(t, &self.app_ids(batch, batch.starts.keys().copied())).await
    }

    fn app_ids(
        &self,
        batch: &MicroBatch,
        partitions: impl Iterator<Item = i32>,
    ) -> BTreeMap<i32, String> {
        partitions.map(|p| (p, self.app_id(batch, p))).collect()
    }

    /// The `txn` app id of the batch's partition `p`: the topic's partition, or the
    /// landing object the source numbered `p`.
    fn app_id(&self, batch: &MicroBatch, p: i32) -> String {
        match batch.streams.get(&p) {
            Some(stream) => app_id(&self.spec.name, stream, 0),
            None => app_id(&self.spec.name, &self.spec.source.topic, p),
        }
    }

    /// Write the aligned batch to every sink: the sinks standing where it starts share
    /// one run of the steps; a sink standing further gets the batch trimmed to where it
    /// stands (after a crash between two sinks' commits).
    async fn write_shares(
        &mut self,
        table: &mut Option<LakeTable>,
        batch: &MicroBatch,
        stored: &BTreeMap<i32, i64>,
        positions: &[BTreeMap<i32, i64>],
    ) -> Result<Attempt, PipelineError> {
        let mut front = Share {
            batch: Cow::Borrowed(batch),
            lake: true,
            databases: Vec::new(),
        };
        let mut ahead = Vec::new();
        match trimmed(batch, stored) {
            None => {}
            Some(b) => {
                front.lake = false;
                ahead.push(Share {
                    batch: Cow::Owned(b),
                    lake: true,
                    databases: Vec::new(),
                });
            }
        }
        for (i, at) in positions.iter().enumerate() {
            match trimmed(batch, at) {
                None => front.databases.push(i),
                Some(b) => ahead.push(Share {
                    batch: Cow::Owned(b),
                    lake: false,
                    databases: vec![i],
                }),
            }
        }
        let mut outcome = Attempt::Done;
        for share in ahead.into_iter().chain(std::iter::once(front)) {
            if share.batch.is_empty() || (!share.lake && share.databases.is_empty()) {
                continue;
            }
            if share.lake {
                if let Attempt::Created = self
                    .write_aligned(table, &share.batch, &share.databases, positions)
                    .await?
                {
                    outcome = Attempt::Created;
                }
            } else {
                // The lake holds these records and their dead letters already.
                let output = self.process(&share.batch.records, None).await?;
                self.write_databases(&share.databases, &output, positions, &share.batch)
                    .await?;
            }
        }
        Ok(outcome)
    }

    /// Each of `which` database sinks' rows with their offsets, a transaction each.
    async fn write_databases(
        &mut self,
        which: &[usize],
        output: &Output,
        positions: &[BTreeMap<i32, i64>],
        batch: &MicroBatch,
    ) -> Result<(), PipelineError> {
        for &i in which {
            let rows = output.rows.databases.get(i).map_or(&[][..], Vec::as_slice);
            let written = self.databases[i]
                .write(rows, (&positions[i], &batch.next_offsets), &batch.streams)
                .await?;
            self.progress.database_rows += written;
            self.progress.database_commits += 1;
        }
        Ok(())
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
        databases: &[usize],
        positions: &[BTreeMap<i32, i64>],
    ) -> Result<Attempt, PipelineError> {
        let txns: Vec<(String, i64)> = batch
            .next_offsets
            .iter()
            .map(|(&p, &o)| (self.app_id(batch, p), o))
            .collect();
        // Widening: the table's types give way to the batch's (below), so records are not
        // checked against them one by one.
        let table_schema = table
            .as_ref()
            .filter(|_| !self.widening())
            .map(LakeTable::schema);
        let mut output = self
            .process(&batch.records, table_schema.as_deref())
            .await?;
        // Dead letters first: if the main commit never happens, the batch is read again
        // and the dead-letter table skips what it already holds.
        let mut letters = std::mem::take(&mut output.dead_letters);
        for d in &mut letters {
            // A landing object's letters are known by the object, not this run's number.
            if let Some(stream) = batch.streams.get(&d.record.partition) {
                d.topic = stream.clone();
                d.record.partition = 0;
            }
        }
        self.progress.dead_letters += self.dead_letters.write(self.lake, letters, &txns).await?;
        // The databases before the lake: whichever commit a crash falls between, the
        // next run finds each sink where it stands and gives it only what it lacks.
        self.write_databases(databases, &output, positions, batch)
            .await?;
        // The topics follow the lake: produced again if its commit does not happen.
        for (sink, rows) in self.spec.topics.iter().zip(&output.rows.topics) {
            self.progress.produced +=
                crate::topics::produce(sink, &self.spec.source.brokers, rows).await?;
        }
        let rows: u64 = output.rows.lake.iter().map(|b| b.num_rows() as u64).sum();
        let (t, created) = match table {
            Some(t) => (t, false),
            None => {
                let Some(schema) = output.rows.lake.first().map(RecordBatch::schema) else {
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
        let mut batches = output.rows.lake;
        if created {
            // Another member may have created it first: commit the work done so far only
            // if none of this batch's partitions has offsets there yet and the rows fit
            // its schema; else check the batch against it from the start.
            let stored = txn_offsets(t, &self.app_ids(batch, batch.starts.keys().copied())).await?;
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
        let mut rows = rows;
        if !self.spec.sink.dedupe_by.is_empty() {
            let existing = (!created).then_some(&*t);
            let (fresh, dropped) =
                crate::dedupe::fresh_rows(existing, batches, &self.spec.sink.dedupe_by).await?;
            batches = fresh;
            rows -= dropped;
            self.progress.duplicates += dropped;
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
        let mut output = Output {
            rows: Rows::empty(self.databases.len(), self.spec.topics.len()),
            dead_letters: decoded.dead_letters,
        };
        let Some(input) = decoded.batch else {
            return Ok(output);
        };
        // Row ranges of `input` still to try, with the error that made them split.
        let mut pending = vec![(0, input.num_rows())];
        while let Some((offset, len)) = pending.pop() {
            let slice = input.slice(offset, len);
            let started = Instant::now();
            let result = self.transform_and_fit(slice, table).await?;
            self.progress.steps_time += started.elapsed();
            match result {
                Ok(rows) => output.rows.extend(rows),
                Err((stage, error)) if len == 1 => {
                    let record = &records[decoded.rows[offset]];
                    output
                        .dead_letters
                        .push(DeadLetter::new(&topic, record, &stage, error));
                }
                Err(_) => {
                    let half = len / 2;
                    pending.push((offset + half, len - half));
                    pending.push((offset, half));
                }
            }
        }
        Ok(output)
    }

    /// Every sink's rows from `input`; `Ok(Err((stage, error)))` when some record of
    /// `input` is to blame (a step fails on it, its row does not fit the lake table, or
    /// it has no value for a database sink's key).
    async fn transform_and_fit(
        &self,
        input: RecordBatch,
        table: Option<&Schema>,
    ) -> Result<Result<Rows, (String, String)>, PipelineError> {
        let raw = vec![input];
        let steps = match self.transform.apply_all(raw.clone()).await {
            Ok(steps) => steps,
            Err(e) if e.is_data_error() => {
                return Ok(Err((e.step().to_string(), e.message())));
            }
            Err(e) => return Err(e.into()),
        };
        let rows_of = |from: Option<&str>| -> Vec<RecordBatch> {
            match self.spec.step_for(from) {
                Some(name) => steps
                    .iter()
                    .find(|s| s.name == name)
                    .map(|s: &StepOutput| s.batches.clone())
                    .unwrap_or_default(),
                None => raw.clone(),
            }
        };
        let mut databases = Vec::with_capacity(self.spec.databases.len());
        for sink in &self.spec.databases {
            let rows = rows_of(sink.from.as_deref());
            if let Some(problem) = key_problem(&rows, &sink.key) {
                return Ok(Err((format!("sink {}", sink.sink_name()), problem)));
            }
            databases.push(rows);
        }
        let topics = self
            .spec
            .topics
            .iter()
            .map(|t| rows_of(t.from.as_deref()))
            .collect();
        let output = rows_of(self.spec.sink.from.as_deref());
        let Some(table) = table else {
            return Ok(Ok(Rows {
                lake: output,
                databases,
                topics,
            }));
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
        Ok(Ok(Rows {
            lake: fitted,
            databases,
            topics,
        }))
    }
}

/// Why rows cannot go to a sink keyed by `key`: a key column missing or null.
fn key_problem(rows: &[RecordBatch], key: &[String]) -> Option<String> {
    for batch in rows.iter().filter(|b| b.num_rows() > 0) {
        for k in key {
            match batch.column_by_name(k) {
                None => return Some(format!("the key column {k} is missing")),
                Some(c) if c.null_count() > 0 => {
                    return Some(format!("the key column {k} is null"));
                }
                Some(_) => {}
            }
        }
    }
    None
}

/// The batch without what a sink standing at `stored` holds already; `None` when the
/// sink holds none of it (it takes the batch as it is).
fn trimmed(batch: &MicroBatch, stored: &BTreeMap<i32, i64>) -> Option<MicroBatch> {
    // The commit guard's own rule: what the sink holds already is dropped, and a move
    // by `on_offset_out_of_range` away from where it stands is taken as found.
    let holds = |p: i32, start: &Position| {
        let reset = batch.resets.get(&p).copied();
        matches!(
            guard(stored.get(&p).copied(), *start, reset),
            Guard::DropBefore(_)
        )
    };
    if !batch.starts.iter().any(|(&p, s)| holds(p, s)) {
        return None;
    }
    let mut share = batch.clone();
    for (&p, &at) in stored {
        if batch.starts.get(&p).is_some_and(|s| holds(p, s)) {
            share.trim_before(p, at);
        }
    }
    Some(share)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> MicroBatch {
        let records = (0..10)
            .map(|o| RawRecord::new(o % 2, i64::from(o / 2), b"{}".to_vec()))
            .collect::<Vec<_>>();
        MicroBatch {
            records,
            starts: BTreeMap::from([(0, Position::Offset(0)), (1, Position::Offset(0))]),
            next_offsets: BTreeMap::from([(0, 5), (1, 5)]),
            ..MicroBatch::default()
        }
    }

    #[test]
    fn a_sink_ahead_gets_only_what_it_lacks() {
        let b = batch();
        assert!(trimmed(&b, &BTreeMap::from([(0, 0), (1, 0)])).is_none());
        assert!(trimmed(&b, &BTreeMap::new()).is_none());
        let share = trimmed(&b, &BTreeMap::from([(0, 3)])).unwrap();
        assert_eq!(share.records.len(), 2 + 5);
        assert_eq!(share.starts[&0], Position::Offset(3));
        let share = trimmed(&b, &BTreeMap::from([(0, 5), (1, 5)])).unwrap();
        assert!(share.is_empty() && share.next_offsets.is_empty());
        // A partition moved on by on_offset_out_of_range from where the sink stands.
        let moved = MicroBatch {
            resets: BTreeMap::from([(0, 1000)]),
            ..batch()
        };
        assert!(trimmed(&moved, &BTreeMap::from([(0, 1000)])).is_none());
    }
}
