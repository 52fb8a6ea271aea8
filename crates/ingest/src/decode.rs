//! JSON records → Arrow, with the schema inferred from the data and widened as new
//! fields appear. A record that is not a JSON object, or whose value does not fit the
//! type its field already has, becomes a [`DeadLetter`]: it never stops the batch and
//! never disappears.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::json::reader::{ReaderBuilder, infer_json_schema_from_iterator};
use arrow::record_batch::RecordBatch;
use serde_json::Value;

use crate::error::IngestError;
use crate::kafka::RawRecord;

/// A record that could not be decoded, kept with everything needed to replay it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub raw: Vec<u8>,
    pub error: String,
}

/// The result of decoding one micro-batch.
#[derive(Debug)]
pub struct Decoded {
    /// `None` when no record of the batch was valid.
    pub batch: Option<RecordBatch>,
    pub dead_letters: Vec<DeadLetter>,
}

/// Decodes JSON micro-batches, remembering the schema seen so far so that a field
/// keeps its first inferred type across batches (the lake table's column type).
#[derive(Debug, Default)]
pub struct JsonDecoder {
    known: Vec<Arc<Field>>,
    /// Types a field gets when it first appears, from the table a restarted pipeline
    /// writes to: without them a batch where `price` is null everywhere would infer text
    /// and clash with the table's double column.
    hints: Vec<Arc<Field>>,
}

impl JsonDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Give the fields named in `schema` (a restarted pipeline's table) their types where
    /// they first appear in the data with nothing but nulls. Only hints: fields absent from
    /// the data (columns a SQL step derives, such as a partition column) do not become
    /// input columns.
    pub fn with_type_hints(schema: &Schema) -> Self {
        Self {
            known: Vec::new(),
            hints: schema
                .fields()
                .iter()
                .filter(|f| !f.data_type().is_nested())
                .cloned()
                .collect(),
        }
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(self.known.clone()))
    }

    pub fn decode(&mut self, topic: &str, records: &[RawRecord]) -> Result<Decoded, IngestError> {
        let mut dead_letters = Vec::new();
        let mut valid: Vec<(usize, Value)> = Vec::with_capacity(records.len());
        for (i, record) in records.iter().enumerate() {
            match serde_json::from_slice::<Value>(&record.payload) {
                Ok(v @ Value::Object(_)) => valid.push((i, v)),
                Ok(other) => dead_letters.push(dead_letter(
                    topic,
                    record,
                    format!("expected a JSON object, found {}", json_kind(&other)),
                )),
                Err(e) => {
                    dead_letters.push(dead_letter(topic, record, format!("invalid JSON: {e}")))
                }
            }
        }
        if valid.is_empty() {
            return Ok(Decoded {
                batch: None,
                dead_letters,
            });
        }
        self.widen(&valid);
        let schema = self.schema();
        let batch = match decode_values(&schema, valid.iter().map(|(_, v)| v)) {
            Ok(batch) => batch,
            // Some value does not fit its column's type: find which, one by one, so
            // only those records go to the dead-letter table.
            Err(_) => {
                let mut good = Vec::with_capacity(valid.len());
                for (i, value) in &valid {
                    match decode_values(&schema, std::iter::once(value)) {
                        Ok(_) => good.push(value),
                        Err(e) => dead_letters.push(dead_letter(
                            topic,
                            &records[*i],
                            format!("does not fit the table's schema: {e}"),
                        )),
                    }
                }
                if good.is_empty() {
                    return Ok(Decoded {
                        batch: None,
                        dead_letters,
                    });
                }
                decode_values(&schema, good.into_iter())?
            }
        };
        Ok(Decoded {
            batch: Some(batch),
            dead_letters,
        })
    }

    /// Add the fields this batch has that the known schema lacks. A field's type is
    /// fixed by the first batch that saw it.
    fn widen(&mut self, valid: &[(usize, Value)]) {
        for field in infer_fields(valid) {
            if self.known.iter().any(|k| k.name() == field.name()) {
                continue;
            }
            // A field that is null in every record of its first batch has no type
            // yet; text is the one that every later JSON scalar can be read as.
            // A hint only fills that gap: where the data has a type, a SQL step may
            // turn it into another one before the table sees it.
            let field = if field.data_type() == &DataType::Null {
                let hinted = self.hints.iter().find(|h| h.name() == field.name());
                let hint = hinted.map_or(DataType::Utf8, |h| h.data_type().clone());
                Field::new(field.name(), hint, true)
            } else {
                field.as_ref().clone().with_nullable(true)
            };
            self.known.push(Arc::new(field));
        }
    }
}

/// The fields of a batch with their inferred types. When the records disagree in a way
/// inference cannot merge (an object here, a number there), each field takes the type of
/// the first record that has it; records that do not fit it become dead letters when
/// decoded, instead of failing the whole batch.
fn infer_fields(valid: &[(usize, Value)]) -> Vec<Arc<Field>> {
    let infer = |values: &mut dyn Iterator<Item = &Value>| {
        infer_json_schema_from_iterator(values.map(Ok::<_, arrow::error::ArrowError>))
    };
    if let Ok(schema) = infer(&mut valid.iter().map(|(_, v)| v)) {
        return schema.fields().iter().cloned().collect();
    }
    let mut fields: Vec<Arc<Field>> = Vec::new();
    for (_, value) in valid {
        let Ok(schema) = infer(&mut std::iter::once(value)) else {
            continue;
        };
        for field in schema.fields() {
            match fields.iter_mut().find(|f| f.name() == field.name()) {
                None => fields.push(field.clone()),
                // A field null so far takes the first real type seen.
                Some(f) if f.data_type() == &DataType::Null => *f = field.clone(),
                Some(_) => {}
            }
        }
    }
    fields
}

fn decode_values<'a>(
    schema: &SchemaRef,
    values: impl Iterator<Item = &'a Value>,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let values: Vec<&Value> = values.collect();
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(values.len().max(1))
        // A text column (say one that was all null when first seen) takes later numbers
        // and booleans as their text instead of rejecting them.
        .with_coerce_primitive(true)
        .build_decoder()?;
    decoder.serialize(&values)?;
    Ok(decoder
        .flush()?
        .unwrap_or_else(|| RecordBatch::new_empty(schema.clone())))
}

fn dead_letter(topic: &str, record: &RawRecord, error: String) -> DeadLetter {
    DeadLetter {
        topic: topic.to_string(),
        partition: record.partition,
        offset: record.offset,
        raw: record.payload.clone(),
        error,
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    fn rec(offset: i64, s: &str) -> RawRecord {
        RawRecord {
            partition: 0,
            offset,
            timestamp_ms: None,
            payload: s.as_bytes().to_vec(),
        }
    }

    #[test]
    fn bad_records_become_dead_letters_and_the_rest_decode() {
        let mut d = JsonDecoder::new();
        let out = d
            .decode(
                "t",
                &[
                    rec(0, r#"{"a":1,"b":"x"}"#),
                    rec(1, "not json"),
                    rec(2, "[1]"),
                    rec(3, r#"{"a":2}"#),
                ],
            )
            .unwrap();
        let batch = out.batch.unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(out.dead_letters.len(), 2);
        assert_eq!(out.dead_letters[0].offset, 1);
        assert!(
            out.dead_letters[0].error.contains("invalid JSON"),
            "{}",
            out.dead_letters[0].error
        );
        assert!(out.dead_letters[1].error.contains("array"));
        assert_eq!(out.dead_letters[1].raw, b"[1]");
    }

    #[test]
    fn new_fields_widen_the_schema_and_types_stay_fixed() {
        let mut d = JsonDecoder::new();
        d.decode("t", &[rec(0, r#"{"a":1}"#)]).unwrap();
        let out = d
            .decode(
                "t",
                &[
                    rec(1, r#"{"a":2,"c":"new"}"#),
                    rec(2, r#"{"a":{"nested":true}}"#),
                ],
            )
            .unwrap();
        let batch = out.batch.unwrap();
        assert_eq!(batch.schema().field(0).data_type(), &DataType::Int64);
        assert_eq!(batch.schema().field(1).name(), "c");
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.column(1).as_string::<i32>().value(0), "new");
        assert_eq!(out.dead_letters.len(), 1);
        assert_eq!(out.dead_letters[0].offset, 2);
    }

    #[test]
    fn type_hints_fix_types_of_fields_null_in_the_first_batch() {
        let hints = Schema::new(vec![
            Field::new("price", DataType::Float64, true),
            Field::new("dt", DataType::Utf8, true),
        ]);
        let mut d = JsonDecoder::with_type_hints(&hints);
        let out = d.decode("t", &[rec(0, r#"{"price":null,"a":1}"#)]).unwrap();
        let batch = out.batch.unwrap();
        let price = batch.schema().field_with_name("price").unwrap().clone();
        assert_eq!(price.data_type(), &DataType::Float64);
        // A hinted column the data does not have is not added to the input.
        assert!(batch.schema().field_with_name("dt").is_err());
    }

    #[test]
    fn clashing_types_in_one_batch_keep_the_first_and_dead_letter_the_rest() {
        let mut d = JsonDecoder::new();
        let out = d
            .decode(
                "t",
                &[
                    rec(0, r#"{"a":1}"#),
                    rec(1, r#"{"a":{"x":1}}"#),
                    rec(2, r#"{"a":3}"#),
                ],
            )
            .unwrap();
        let batch = out.batch.unwrap();
        assert_eq!(batch.schema().field(0).data_type(), &DataType::Int64);
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(out.dead_letters.len(), 1);
        assert_eq!(out.dead_letters[0].offset, 1);
    }

    #[test]
    fn all_null_field_becomes_text() {
        let mut d = JsonDecoder::new();
        let out = d.decode("t", &[rec(0, r#"{"a":null}"#)]).unwrap();
        let batch = out.batch.unwrap();
        assert_eq!(batch.schema().field(0).data_type(), &DataType::Utf8);
        assert!(batch.column(0).is_null(0));
    }
}
