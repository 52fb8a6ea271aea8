//! The dead-letter table: every record that could not be stored, with all it takes to
//! replay it byte for byte (payload, key, headers, Kafka timestamp; null kept distinct
//! from empty) and to know why (stage and error).
//!
//! Before each commit it looks up which of the letters its newest snapshot already holds
//! (by partition and offset), and its commits carry `txn` versions so that two members
//! racing for a partition conflict: a batch read twice (a crash before the main commit,
//! or two members racing) stores its dead letters once.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::array::{
    ArrayRef, BinaryBuilder, Int32Array, Int64Array, ListBuilder, RecordBatch, StringArray,
    StringBuilder, StructBuilder, TimestampMicrosecondArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Fields, Int32Type, Int64Type, Schema, TimeUnit};
use datafusion::prelude::SessionContext;
use pipelab_ingest::{DeadLetter, RawRecord};
use pipelab_lake::{LakeLocation, LakeTable, TableSpec};

use crate::error::PipelineError;
use crate::offsets::{app_id, open_existing};

const ATTEMPTS: usize = 20;

pub(crate) struct DeadLetterSink {
    name: String,
    /// The pipeline: the `txn` app ids are the main table's, named by each letter's
    /// topic (or landing object) and partition.
    pipeline: String,
    table: Option<LakeTable>,
}

/// Where a letter was read: its topic (or landing object's stream name) and partition.
type Stream = (String, i32);

fn stream_of(d: &DeadLetter) -> Stream {
    (d.topic.clone(), d.record.partition)
}

impl DeadLetterSink {
    pub(crate) fn new(name: String, pipeline: &str) -> Self {
        Self {
            name,
            pipeline: pipeline.to_string(),
            table: None,
        }
    }

    /// Store the letters the table does not hold yet. The commit carries `txns` (the
    /// main batch's next offsets, never moving back): two members storing letters of the
    /// same partition at once conflict, and the loser looks again. Returns how many were
    /// stored.
    pub(crate) async fn write(
        &mut self,
        lake: &LakeLocation,
        letters: Vec<DeadLetter>,
        txns: &[(String, i64)],
    ) -> Result<u64, PipelineError> {
        if letters.is_empty() {
            return Ok(0);
        }
        for _ in 0..ATTEMPTS {
            if self.table.is_none() {
                self.table = open_existing(lake, &self.name).await?;
            }
            let stored = self.stored(&letters).await?;
            // Which letters are there is asked record by record, not by offset range:
            // whether a record is a dead letter can differ between attempts (a column
            // another member added meanwhile), and a range would hide the new ones.
            let present = self.present(&letters).await?;
            let fresh: Vec<&DeadLetter> = letters
                .iter()
                .filter(|d| !present.contains(&(stream_of(d), d.record.offset)))
                .collect();
            if fresh.is_empty() {
                return Ok(0);
            }
            let batch = dead_letter_batch(&fresh).map_err(|source| PipelineError::Batch {
                what: "building the dead letters",
                table: self.name.clone(),
                source,
            })?;
            let Some(table) = self.table.as_mut() else {
                let spec = TableSpec {
                    name: self.name.clone(),
                    ..TableSpec::default()
                };
                // Then look again: another member may have created it with letters.
                self.table = Some(LakeTable::open_or_create(lake, &spec, batch.schema()).await?);
                continue;
            };
            // Offsets only for partitions with letters here, and never backwards: a
            // shorter re-read must not make letters already stored look new.
            let with_letters: BTreeSet<Stream> = fresh.iter().map(|d| stream_of(d)).collect();
            let txns: Vec<(String, i64)> = with_letters
                .into_iter()
                .filter_map(|(topic, p)| {
                    let id = app_id(&self.pipeline, &topic, p);
                    let &(_, next) = txns.iter().find(|(t, _)| *t == id)?;
                    Some((id.clone(), stored.get(&id).map_or(next, |&s| s.max(next))))
                })
                .collect();
            match table.append(vec![batch], &txns).await {
                Ok(_) => return Ok(fresh.len() as u64),
                Err(e) if e.is_commit_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(PipelineError::Contended {
            table: self.name.clone(),
            attempts: ATTEMPTS,
        })
    }

    /// The (stream, offset) of those letters the table already holds, read from the
    /// snapshot `stored` just refreshed (the one the commit is based on).
    async fn present(
        &self,
        letters: &[DeadLetter],
    ) -> Result<HashSet<(Stream, i64)>, PipelineError> {
        let Some(table) = self.table.as_ref() else {
            return Ok(HashSet::new());
        };
        let offsets = letters.iter().map(|d| d.record.offset);
        let (Some(low), Some(high)) = (offsets.clone().min(), offsets.max()) else {
            return Ok(HashSet::new());
        };
        let partitions: BTreeSet<i32> = letters.iter().map(|d| d.record.partition).collect();
        let partitions: Vec<String> = partitions.iter().map(i32::to_string).collect();
        let topics: BTreeSet<&str> = letters.iter().map(|d| d.topic.as_str()).collect();
        let topics: Vec<String> = topics
            .iter()
            .map(|t| format!("'{}'", t.replace('\'', "''")))
            .collect();
        let ctx = SessionContext::new();
        pipelab_lake::register_table(&ctx, table).await?;
        let sql = format!(
            "SELECT topic, \"partition\", \"offset\" FROM \"{}\" WHERE topic IN ({}) AND \
             \"offset\" BETWEEN {low} AND {high} AND \"partition\" IN ({})",
            self.name,
            topics.join(", "),
            partitions.join(", ")
        );
        let query_err = |source| PipelineError::Read {
            table: self.name.clone(),
            source: Box::new(source),
        };
        let batches = ctx
            .sql(&sql)
            .await
            .map_err(query_err)?
            .collect()
            .await
            .map_err(query_err)?;
        let mut present = HashSet::new();
        for batch in &batches {
            let topic =
                arrow::compute::cast(batch.column(0), &DataType::Utf8).map_err(|source| {
                    PipelineError::Batch {
                        what: "reading the dead letters' topics",
                        table: self.name.clone(),
                        source,
                    }
                })?;
            let (t, p, o) = (
                topic.as_string::<i32>(),
                batch.column(1).as_primitive::<Int32Type>(),
                batch.column(2).as_primitive::<Int64Type>(),
            );
            present.extend(
                (0..batch.num_rows()).map(|i| ((t.value(i).to_string(), p.value(i)), o.value(i))),
            );
        }
        Ok(present)
    }

    /// Offsets below which each stream's letters are stored (newest snapshot), by `txn`
    /// app id.
    async fn stored(
        &mut self,
        letters: &[DeadLetter],
    ) -> Result<HashMap<String, i64>, PipelineError> {
        let Some(table) = self.table.as_mut() else {
            return Ok(HashMap::new());
        };
        let app_ids: BTreeSet<String> = letters
            .iter()
            .map(|d| app_id(&self.pipeline, &d.topic, d.record.partition))
            .collect();
        let app_ids: Vec<String> = app_ids.into_iter().collect();
        Ok(table.txn_versions(&app_ids).await?)
    }
}

/// A Kafka header: name and (possibly null) value.
fn header_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Binary, true),
    ])
}

/// The dead-letter table's columns.
fn dead_letter_schema() -> Schema {
    let header = header_fields();
    Schema::new(vec![
        Field::new("topic", DataType::Utf8, false),
        Field::new("partition", DataType::Int32, false),
        Field::new("offset", DataType::Int64, false),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new("key", DataType::Binary, true),
        Field::new(
            "headers",
            DataType::List(Arc::new(Field::new("item", DataType::Struct(header), true))),
            true,
        ),
        // Null for a record with a null payload, empty for an empty one.
        Field::new("raw", DataType::Binary, true),
        // The same bytes as text (lossy), because most bad records are text.
        Field::new("raw_text", DataType::Utf8, true),
        Field::new("stage", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, false),
        Field::new(
            "received_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ])
}

fn dead_letter_batch(letters: &[&DeadLetter]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let schema = Arc::new(dead_letter_schema());
    let now = chrono::Utc::now().timestamp_micros();
    let records = || letters.iter().map(|d| &d.record);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            letters.iter().map(|d| d.topic.as_str()),
        )),
        Arc::new(Int32Array::from_iter_values(records().map(|r| r.partition))),
        Arc::new(Int64Array::from_iter_values(records().map(|r| r.offset))),
        Arc::new(
            TimestampMillisecondArray::from_iter(records().map(|r| r.timestamp_ms))
                .with_timezone("UTC"),
        ),
        Arc::new(arrow::array::BinaryArray::from_iter(
            records().map(|r| r.key.as_deref()),
        )),
        Arc::new(headers_array(letters)),
        Arc::new(arrow::array::BinaryArray::from_iter(
            records().map(|r| r.payload.as_deref()),
        )),
        Arc::new(StringArray::from_iter(records().map(|r| {
            r.payload
                .as_deref()
                .map(|p| String::from_utf8_lossy(p).into_owned())
        }))),
        Arc::new(StringArray::from_iter_values(
            letters.iter().map(|d| d.stage.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            letters.iter().map(|d| d.error.as_str()),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(letters.iter().map(|_| now))
                .with_timezone("UTC"),
        ),
    ];
    RecordBatch::try_new(schema, columns)
}

fn headers_array(letters: &[&DeadLetter]) -> arrow::array::ListArray {
    let fields = header_fields();
    let builder = StructBuilder::new(
        fields.clone(),
        vec![
            Box::new(StringBuilder::new()),
            Box::new(BinaryBuilder::new()),
        ],
    );
    let mut list = ListBuilder::new(builder).with_field(Arc::new(Field::new(
        "item",
        DataType::Struct(fields),
        true,
    )));
    for d in letters {
        let entries = list.values();
        for (k, v) in &d.record.headers {
            if let Some(b) = entries.field_builder::<StringBuilder>(0) {
                b.append_value(k);
            }
            if let Some(b) = entries.field_builder::<BinaryBuilder>(1) {
                b.append_option(v.as_deref());
            }
            entries.append(true);
        }
        list.append(true);
    }
    list.finish()
}

/// The records of dead-letter rows (columns `partition`, `offset`, `key`, `headers` and
/// `raw`, as a query over the dead-letter table returns them), for replaying them byte
/// for byte: null keys, values and payloads stay null, empty ones stay empty.
pub fn replayable(batches: &[RecordBatch]) -> Result<Vec<RawRecord>, String> {
    let mut records = Vec::new();
    for batch in batches {
        let column = |name: &str, to: &DataType| -> Result<ArrayRef, String> {
            let col = batch
                .column_by_name(name)
                .ok_or_else(|| format!("the dead-letter rows have no column `{name}`"))?;
            arrow::compute::cast(col, to).map_err(|e| format!("column `{name}`: {e}"))
        };
        let header_list = DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(header_fields()),
            true,
        )));
        let partition = column("partition", &DataType::Int32)?;
        let offset = column("offset", &DataType::Int64)?;
        let key = column("key", &DataType::Binary)?;
        let headers = column("headers", &header_list)?;
        let raw = column("raw", &DataType::Binary)?;
        let (partition, offset) = (
            partition.as_primitive::<Int32Type>(),
            offset.as_primitive::<Int64Type>(),
        );
        let (key, raw, headers) = (
            key.as_binary::<i32>(),
            raw.as_binary::<i32>(),
            headers.as_list::<i32>(),
        );
        for row in 0..batch.num_rows() {
            let header_rows = headers.is_valid(row).then(|| headers.value(row));
            let header_rows = header_rows.as_ref().map(|h| h.as_struct());
            let names_values = header_rows.map(|h| {
                (
                    h.column(0).as_string::<i32>(),
                    h.column(1).as_binary::<i32>(),
                )
            });
            let headers = names_values.map_or_else(Vec::new, |(names, values)| {
                (0..names.len())
                    .map(|i| {
                        (
                            names.value(i).to_string(),
                            values.is_valid(i).then(|| values.value(i).to_vec()),
                        )
                    })
                    .collect()
            });
            records.push(RawRecord {
                partition: partition.value(row),
                offset: offset.value(row),
                timestamp_ms: None,
                key: key.is_valid(row).then(|| key.value(row).to_vec()),
                headers,
                payload: raw.is_valid(row).then(|| raw.value(row).to_vec()),
            });
        }
    }
    Ok(records)
}
