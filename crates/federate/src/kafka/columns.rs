//! A topic table's columns: the internal columns every topic has, then its value fields,
//! and the batches of them made from chunks of records.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryBuilder, BooleanArray, Int32Array, Int64Array, MapBuilder, StringArray,
    StringBuilder, TimestampMillisecondArray, UInt32Array, new_null_array,
};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::error::{DataFusionError, Result as DfResult};
use pipelab_ingest::{JsonDecoder, RawRecord};

/// The internal columns every topic table has, before its value fields.
pub(super) fn internal_fields() -> Vec<Field> {
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

/// How many internal columns a table has: its value fields start at this index.
const INTERNAL_COLUMNS: usize = 8;
/// `_message_corrupt`'s index: knowing it takes decoding the values.
const MESSAGE_CORRUPT: usize = 7;

/// Turns chunks of records into batches of the projected columns.
pub(super) struct BatchMaker {
    decoder: JsonDecoder,
    /// For each projected column: an internal column's index, or a value field.
    columns: Vec<Column>,
    projected: SchemaRef,
    decodes: bool,
}

/// Where one projected column's values come from.
enum Column {
    Internal(usize),
    Value(Arc<Field>),
}

impl BatchMaker {
    /// For the `columns` of `table` (by index) a query wants, as schema `projected`.
    pub(super) fn new(table: &SchemaRef, columns: &[usize], projected: &SchemaRef) -> Self {
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

    /// One batch of `records`, in their order.
    pub(super) fn make(&mut self, topic: &str, records: &[RawRecord]) -> DfResult<RecordBatch> {
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
