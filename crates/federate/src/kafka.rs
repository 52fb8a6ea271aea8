//! Kafka catalogs: each topic of a Kafka cluster is a table `catalog.default.topic`, as
//! in Trino's Kafka connector. A query reads the topic as it is when the query runs
//! (each partition from its first offset to its high watermark), with no consumer group
//! and nothing committed.
//!
//! A table's columns are Trino's internal columns of a message, then the fields of its
//! JSON value, typed from a sample of the topic (its first and its latest records) the
//! way `pipelab run` types a micro-batch:
//!
//! | column | type | what |
//! |---|---|---|
//! | `_partition_id` | int | the partition |
//! | `_partition_offset` | bigint | the record's offset |
//! | `_timestamp` | timestamp(3) with time zone | the record's timestamp, if it has one |
//! | `_key` | varchar | the key as text (null when null or not UTF-8) |
//! | `_key_corrupt` | boolean | the key is not UTF-8 |
//! | `_headers` | map(varchar, varbinary) | the headers, in record order |
//! | `_message` | varchar | the value as text (null when null or not UTF-8) |
//! | `_message_corrupt` | boolean | the value is not a JSON object, or a field of it does not fit its column |
//!
//! Nothing is lost: a record whose value does not decode has null value columns,
//! `_message_corrupt = true` and its text in `_message`. Filters on `_partition_id` and
//! `_partition_offset` narrow what is read from Kafka.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, BinaryBuilder, BooleanArray, Int32Array, Int64Array, MapBuilder, StringArray,
    StringBuilder, TimestampMillisecondArray, UInt32Array, new_null_array,
};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session};
use datafusion::common::ScalarValue;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use datafusion::prelude::SessionContext;
use pipelab_ingest::{IngestError, JsonDecoder, PartitionRange, RawRecord, TopicReader};

use crate::register::{DEFAULT_SCHEMA, RegisterError};

/// Records read to type a topic's value fields: this many from the start of each
/// partition and as many of its latest (fields added later are in those).
const SAMPLE_PER_END: i64 = 500;

/// How long a topic's columns are kept before a query samples it again: a long-running
/// `pipelab serve` sees fields added to a topic.
const COLUMNS_KEPT: Duration = Duration::from_secs(30);

/// The internal columns every topic table has, before its value fields.
fn internal_fields() -> Vec<Field> {
    vec![
        Field::new("_partition_id", DataType::Int32, false),
        Field::new("_partition_offset", DataType::Int64, false),
        Field::new(
            "_timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new("_key", DataType::Utf8, true),
        Field::new("_key_corrupt", DataType::Boolean, false),
        Field::new_map(
            "_headers",
            "entries",
            Field::new("keys", DataType::Utf8, false),
            Field::new("values", DataType::Binary, true),
            false,
            false,
        ),
        Field::new("_message", DataType::Utf8, true),
        Field::new("_message_corrupt", DataType::Boolean, false),
    ]
}

const INTERNAL_COLUMNS: usize = 8;
/// `_message_corrupt`'s index: knowing it takes decoding the values.
const MESSAGE_CORRUPT: usize = 7;

/// A Kafka catalog's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaCatalog {
    pub brokers: String,
    /// Only these topics, when given.
    pub topics: Option<Vec<String>>,
}

impl KafkaCatalog {
    /// Connect, list the topics and register them in `ctx` as catalog `name`, schema
    /// `default`. A topic's columns are sampled when a query first names it. Returns the
    /// tables as `catalog.default.topic`.
    pub async fn register(
        &self,
        ctx: &SessionContext,
        name: &str,
    ) -> Result<Vec<String>, RegisterError> {
        let brokers = self.brokers.clone();
        let error = |message: String| RegisterError::Database {
            catalog: name.to_string(),
            address: self.brokers.clone(),
            message,
            user_fixable: false,
        };
        let found = blocking(move || TopicReader::connect(&brokers)?.topics())
            .await
            .map_err(|e| error(e.to_string()))?;
        let mut topics: Vec<String> = found.into_iter().map(|(topic, _)| topic).collect();
        if let Some(wanted) = &self.topics {
            if let Some(missing) = wanted.iter().find(|t| !topics.contains(t)) {
                return Err(RegisterError::Database {
                    catalog: name.to_string(),
                    address: self.brokers.clone(),
                    message: format!(
                        "no topic {missing:?}; the topics are: {}",
                        topics.join(", ")
                    ),
                    user_fixable: true,
                });
            }
            topics.clone_from(wanted);
        }
        let registered = topics
            .iter()
            .map(|t| format!("{name}.{DEFAULT_SCHEMA}.{t}"))
            .collect();
        let schema = TopicSchema {
            brokers: self.brokers.clone(),
            only: self.topics.clone(),
            listed: topics,
            opened: Mutex::default(),
        };
        ctx.register_catalog(name, Arc::new(KafkaCatalogProvider(Arc::new(schema))));
        Ok(registered)
    }
}

/// Run blocking Kafka calls off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, IngestError> + Send + 'static,
) -> Result<T, IngestError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| IngestError::Thread {
            what: "Kafka catalog",
            source: std::io::Error::other(e.to_string()),
        })?
}

#[derive(Debug)]
struct KafkaCatalogProvider(Arc<TopicSchema>);

impl CatalogProvider for KafkaCatalogProvider {
    fn schema_names(&self) -> Vec<String> {
        vec![DEFAULT_SCHEMA.to_string()]
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        (name == DEFAULT_SCHEMA).then(|| Arc::clone(&self.0) as Arc<dyn SchemaProvider>)
    }
}

/// The topics of one cluster, as tables.
struct TopicSchema {
    brokers: String,
    only: Option<Vec<String>>,
    /// The topics when the catalog was registered (what `SHOW TABLES` lists); a topic
    /// made since is still found by name.
    listed: Vec<String>,
    opened: Mutex<HashMap<String, (Instant, Arc<TopicTable>)>>,
}

impl fmt::Debug for TopicSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopicSchema")
            .field("brokers", &self.brokers)
            .field("topics", &self.listed)
            .finish()
    }
}

#[async_trait]
impl SchemaProvider for TopicSchema {
    fn table_names(&self) -> Vec<String> {
        self.listed.clone()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if self
            .only
            .as_ref()
            .is_some_and(|only| !only.iter().any(|t| t == name))
        {
            return Ok(None);
        }
        if let Some((at, table)) = self.opened.lock().ok().and_then(|o| o.get(name).cloned())
            && at.elapsed() < COLUMNS_KEPT
        {
            return Ok(Some(table as Arc<dyn TableProvider>));
        }
        let brokers = self.brokers.clone();
        let topic = name.to_string();
        let table = blocking(move || TopicTable::sample(&brokers, &topic))
            .await
            .map_err(|e| DataFusionError::Plan(format!("Kafka topic {name:?}: {e}")))?;
        let Some(table) = table else {
            return Ok(None);
        };
        let table = Arc::new(table);
        if let Ok(mut opened) = self.opened.lock() {
            opened.insert(name.to_string(), (Instant::now(), Arc::clone(&table)));
        }
        Ok(Some(table as Arc<dyn TableProvider>))
    }

    /// Without sampling the topic (`information_schema.tables` asks this of every table).
    async fn table_type(&self, name: &str) -> DfResult<Option<TableType>> {
        Ok(self.table_exist(name).then_some(TableType::Base))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.listed.iter().any(|t| t == name)
    }
}

/// One topic as a table.
#[derive(Debug)]
struct TopicTable {
    brokers: String,
    topic: String,
    /// Internal columns, then value fields.
    schema: SchemaRef,
}

impl TopicTable {
    /// The topic's table, its value fields typed from a sample; `None` when there is no
    /// such topic.
    fn sample(brokers: &str, topic: &str) -> Result<Option<Self>, IngestError> {
        let reader = TopicReader::connect(brokers)?;
        let Some(partitions) = reader.partitions(topic)? else {
            return Ok(None);
        };
        let mut ranges = Vec::new();
        for range in reader.snapshot(topic, &partitions)? {
            let head_end = range.to.min(range.from + SAMPLE_PER_END);
            ranges.push(PartitionRange {
                to: head_end,
                ..range
            });
            ranges.push(PartitionRange {
                from: (range.to - SAMPLE_PER_END).max(head_end),
                ..range
            });
        }
        let mut decoder = JsonDecoder::new();
        for range in ranges {
            reader.read(topic, &[range], SAMPLE_PER_END as usize, |records| {
                // Records that do not decode only leave the sample's types as they are.
                let _ = decoder.decode(topic, &records);
                true
            })?;
        }
        let mut fields = internal_fields();
        for field in decoder.schema().fields() {
            if fields.iter().any(|f| f.name() == field.name()) {
                tracing::warn!(
                    topic,
                    field = %field.name(),
                    "value field left out: its name is an internal column's (it is in _message)"
                );
                continue;
            }
            fields.push(field.as_ref().clone().with_nullable(true));
        }
        Ok(Some(Self {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
            schema: Arc::new(Schema::new(fields)),
        }))
    }
}

#[async_trait]
impl TableProvider for TopicTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Bounds narrow the read; DataFusion still applies every filter.
        Ok(filters
            .iter()
            .map(|f| {
                if Bounds::of(f).is_some() {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let columns: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let projected = Arc::new(self.schema.project(&columns)?);
        let bounds = filters
            .iter()
            .filter_map(Bounds::of)
            .fold(Bounds::default(), Bounds::and);
        let stream = TopicStream {
            brokers: self.brokers.clone(),
            topic: self.topic.clone(),
            table: Arc::clone(&self.schema),
            columns,
            projected: Arc::clone(&projected),
            bounds,
        };
        Ok(Arc::new(StreamingTableExec::try_new(
            projected,
            vec![Arc::new(stream) as Arc<dyn PartitionStream>],
            None,
            Vec::new(),
            false,
            limit,
        )?))
    }
}

/// What filters on `_partition_id` and `_partition_offset` allow to be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Bounds {
    partition: Option<i64>,
    /// Offsets from (inclusive) and to (exclusive).
    from: Option<i64>,
    to: Option<i64>,
    /// Filters that no record passes (two different partitions).
    none: bool,
}

impl Bounds {
    /// The bounds one filter sets: `column op literal` or `literal op column`.
    fn of(filter: &Expr) -> Option<Self> {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = filter else {
            return None;
        };
        let (column, op, value) = match (left.as_ref(), right.as_ref()) {
            (Expr::Column(c), Expr::Literal(v, _)) => (c, *op, v),
            (Expr::Literal(v, _), Expr::Column(c)) => (c, op.swap()?, v),
            _ => return None,
        };
        let value = match value {
            ScalarValue::Int8(Some(v)) => i64::from(*v),
            ScalarValue::Int16(Some(v)) => i64::from(*v),
            ScalarValue::Int32(Some(v)) => i64::from(*v),
            ScalarValue::Int64(Some(v)) => *v,
            _ => return None,
        };
        let mut bounds = Bounds::default();
        match (column.name.as_str(), op) {
            ("_partition_id", Operator::Eq) => bounds.partition = Some(value),
            ("_partition_offset", Operator::Eq) => {
                bounds.from = Some(value);
                bounds.to = Some(value.saturating_add(1));
            }
            ("_partition_offset", Operator::Gt) => bounds.from = Some(value.saturating_add(1)),
            ("_partition_offset", Operator::GtEq) => bounds.from = Some(value),
            ("_partition_offset", Operator::Lt) => bounds.to = Some(value),
            ("_partition_offset", Operator::LtEq) => bounds.to = Some(value.saturating_add(1)),
            _ => return None,
        }
        Some(bounds)
    }

    fn and(self, other: Self) -> Self {
        let partition = match (self.partition, other.partition) {
            (Some(a), Some(b)) if a != b => return Self { none: true, ..self },
            (a, b) => a.or(b),
        };
        Self {
            partition,
            from: self.from.max(other.from),
            to: match (self.to, other.to) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            none: self.none || other.none,
        }
    }

    /// The part of a partition's range these bounds keep.
    fn apply(&self, range: PartitionRange) -> Option<PartitionRange> {
        if self.none
            || self
                .partition
                .is_some_and(|p| p != i64::from(range.partition))
        {
            return None;
        }
        Some(PartitionRange {
            partition: range.partition,
            from: range.from.max(self.from.unwrap_or(i64::MIN)),
            to: range.to.min(self.to.unwrap_or(i64::MAX)),
        })
    }
}

/// The read of one query: every partition of the topic, within the bounds.
#[derive(Debug)]
struct TopicStream {
    brokers: String,
    topic: String,
    table: SchemaRef,
    /// The table's columns the query wants, in `projected`'s order.
    columns: Vec<usize>,
    projected: SchemaRef,
    bounds: Bounds,
}

impl PartitionStream for TopicStream {
    fn schema(&self) -> &SchemaRef {
        &self.projected
    }

    fn execute(&self, ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let mut builder = RecordBatchReceiverStreamBuilder::new(Arc::clone(&self.projected), 2);
        let tx = builder.tx();
        let chunk = ctx.session_config().batch_size();
        let brokers = self.brokers.clone();
        let topic = self.topic.clone();
        let bounds = self.bounds.clone();
        let mut batches = BatchMaker::new(&self.table, &self.columns, &self.projected);
        builder.spawn_blocking(move || {
            let reader = TopicReader::connect(&brokers).map_err(external)?;
            let partitions = reader
                .partitions(&topic)
                .map_err(external)?
                .ok_or_else(|| DataFusionError::Execution(format!("topic {topic:?} is gone")))?;
            let ranges: Vec<PartitionRange> = reader
                .snapshot(&topic, &partitions)
                .map_err(external)?
                .into_iter()
                .filter_map(|r| bounds.apply(r))
                .collect();
            reader
                .read(&topic, &ranges, chunk, |records| {
                    let batch = batches.make(&topic, &records);
                    let failed = batch.is_err();
                    // A closed channel: the query ended (LIMIT, cancel).
                    tx.blocking_send(batch).is_ok() && !failed
                })
                .map_err(external)
        });
        builder.build()
    }
}

fn external(e: IngestError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Turns chunks of records into batches of the projected columns.
struct BatchMaker {
    decoder: JsonDecoder,
    /// For each projected column: an internal column's index, or a value field.
    columns: Vec<Column>,
    projected: SchemaRef,
    decodes: bool,
}

enum Column {
    Internal(usize),
    Value(Arc<Field>),
}

impl BatchMaker {
    fn new(table: &SchemaRef, columns: &[usize], projected: &SchemaRef) -> Self {
        let values = Schema::new(table.fields()[INTERNAL_COLUMNS..].to_vec());
        let columns: Vec<Column> = columns
            .iter()
            .map(|&i| {
                if i < INTERNAL_COLUMNS {
                    Column::Internal(i)
                } else {
                    Column::Value(Arc::clone(&table.fields()[i]))
                }
            })
            .collect();
        let decodes = columns
            .iter()
            .any(|c| matches!(c, Column::Value(_) | Column::Internal(MESSAGE_CORRUPT)));
        Self {
            decoder: JsonDecoder::for_table(&values),
            columns,
            projected: Arc::clone(projected),
            decodes,
        }
    }

    fn make(&mut self, topic: &str, records: &[RawRecord]) -> DfResult<RecordBatch> {
        let (decoded, rows) = if self.decodes {
            let decoded = self
                .decoder
                .decode(topic, records)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            // Which decoded row each record is, if it decoded.
            let mut rows = vec![None; records.len()];
            for (row, &record) in decoded.rows.iter().enumerate() {
                rows[record] = Some(row as u32);
            }
            (decoded.batch, UInt32Array::from(rows))
        } else {
            (None, UInt32Array::from(vec![None::<u32>; records.len()]))
        };
        let mut corrupt: Vec<bool> = rows.iter().map(|r| r.is_none()).collect();
        let mut arrays: Vec<Option<ArrayRef>> = Vec::with_capacity(self.columns.len());
        for column in &self.columns {
            arrays.push(match column {
                Column::Internal(_) => None,
                Column::Value(field) => {
                    Some(value_column(field, decoded.as_ref(), &rows, &mut corrupt)?)
                }
            });
        }
        let arrays = arrays
            .into_iter()
            .zip(&self.columns)
            .map(|(array, column)| match (array, column) {
                (Some(array), _) => array,
                (None, Column::Internal(i)) => internal_column(*i, records, &corrupt),
                (None, Column::Value(_)) => unreachable!("value columns are made above"),
            })
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(records.len()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.projected),
            arrays,
            &options,
        )?)
    }
}

/// A value field's column: the decoded rows put back in record order (null for records
/// that did not decode). A column whose decoded type cannot be cast to the table's (the
/// topic's records changed since the sample) is null, and its rows are marked corrupt.
fn value_column(
    field: &Field,
    decoded: Option<&RecordBatch>,
    rows: &UInt32Array,
    corrupt: &mut [bool],
) -> DfResult<ArrayRef> {
    let Some(column) = decoded.and_then(|b| b.column_by_name(field.name())) else {
        return Ok(new_null_array(field.data_type(), rows.len()));
    };
    let taken = take(column.as_ref(), rows, None)?;
    if taken.data_type() == field.data_type() {
        return Ok(taken);
    }
    match cast(&taken, field.data_type()) {
        Ok(cast) => Ok(cast),
        Err(_) => {
            for (row, is_corrupt) in corrupt.iter_mut().enumerate() {
                *is_corrupt |= taken.is_valid(row);
            }
            Ok(new_null_array(field.data_type(), rows.len()))
        }
    }
}

/// One of the internal columns, by its index in [`internal_fields`].
fn internal_column(index: usize, records: &[RawRecord], corrupt: &[bool]) -> ArrayRef {
    let text = |bytes: &Option<Vec<u8>>| {
        bytes
            .as_deref()
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(str::to_string)
    };
    match index {
        0 => Arc::new(Int32Array::from_iter_values(
            records.iter().map(|r| r.partition),
        )),
        1 => Arc::new(Int64Array::from_iter_values(
            records.iter().map(|r| r.offset),
        )),
        2 => Arc::new(
            TimestampMillisecondArray::from(
                records.iter().map(|r| r.timestamp_ms).collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        3 => Arc::new(StringArray::from(
            records.iter().map(|r| text(&r.key)).collect::<Vec<_>>(),
        )),
        4 => Arc::new(BooleanArray::from(
            records
                .iter()
                .map(|r| {
                    r.key
                        .as_deref()
                        .is_some_and(|k| std::str::from_utf8(k).is_err())
                })
                .collect::<Vec<_>>(),
        )),
        5 => headers_column(records),
        6 => Arc::new(StringArray::from(
            records.iter().map(|r| text(&r.payload)).collect::<Vec<_>>(),
        )),
        _ => Arc::new(BooleanArray::from(corrupt.to_vec())),
    }
}

fn headers_column(records: &[RawRecord]) -> ArrayRef {
    let mut builder = MapBuilder::new(None, StringBuilder::new(), BinaryBuilder::new());
    for record in records {
        for (key, value) in &record.headers {
            builder.keys().append_value(key);
            match value {
                Some(v) => builder.values().append_value(v),
                None => builder.values().append_null(),
            }
        }
        // A map per record, empty when it has no headers.
        let _ = builder.append(true);
    }
    Arc::new(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    #[test]
    fn offset_and_partition_filters_bound_the_read() {
        let bounds = [
            col("_partition_offset").gt_eq(lit(10i64)),
            col("_partition_offset").lt(lit(20i64)),
            lit(1i32).eq(col("_partition_id")),
        ]
        .iter()
        .map(|f| Bounds::of(f).expect("a bound"))
        .fold(Bounds::default(), Bounds::and);
        let range = |partition| PartitionRange {
            partition,
            from: 0,
            to: 100,
        };
        assert_eq!(
            bounds.apply(range(1)),
            Some(PartitionRange {
                partition: 1,
                from: 10,
                to: 20
            })
        );
        assert_eq!(bounds.apply(range(0)), None);
        assert!(Bounds::of(&col("country").eq(lit("DE"))).is_none());
        let two = Bounds::of(&col("_partition_id").eq(lit(1i64)))
            .unwrap()
            .and(Bounds::of(&col("_partition_id").eq(lit(2i64))).unwrap());
        assert_eq!(two.apply(range(1)), None);
    }

    #[test]
    fn records_become_rows_and_bad_values_are_marked_not_lost() {
        let table = {
            let mut fields = internal_fields();
            fields.push(Field::new("n", DataType::Int64, true));
            Arc::new(Schema::new(fields))
        };
        let columns: Vec<usize> = (0..table.fields().len()).collect();
        let mut maker = BatchMaker::new(&table, &columns, &table);
        let mut good = RawRecord::new(0, 5, br#"{"n": 7}"#.to_vec());
        good.key = Some(b"k".to_vec());
        good.headers = vec![("h".into(), Some(b"v".to_vec()))];
        let bad = RawRecord::new(1, 9, b"not json".to_vec());
        let misfit = RawRecord::new(1, 10, br#"{"n": 1.5}"#.to_vec());
        let batch = maker.make("t", &[good, bad, misfit]).unwrap();
        let ints = |name: &str| {
            batch
                .column_by_name(name)
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(ints("_partition_offset"), [Some(5), Some(9), Some(10)]);
        assert_eq!(ints("n"), [Some(7), None, None]);
        let corrupt = batch.column_by_name("_message_corrupt").unwrap();
        let corrupt = corrupt.as_any().downcast_ref::<BooleanArray>().unwrap();
        assert_eq!(
            corrupt.iter().collect::<Vec<_>>(),
            [Some(false), Some(true), Some(true)]
        );
        let message = batch.column_by_name("_message").unwrap();
        let message = message.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(message.value(1), "not json");
        let key = batch.column_by_name("_key").unwrap();
        let key = key.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!((key.value(0), key.is_null(1)), ("k", true));
    }
}
