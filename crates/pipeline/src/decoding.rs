//! How a spec's records are decoded: JSON objects (`format = "json"`, the default), or
//! text lines with the key and chosen headers beside them (`format = "lines"`, what
//! `pipelab ship` sends). A landing source's CSV rows arrive as JSON objects; a record
//! the source already refused (a CSV row of the wrong width) is a dead letter unread.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use pipelab_ingest::{
    DeadLetter, Decoded, IngestError, JsonDecoder, LinesDecoder, REFUSED_HEADER, RawRecord,
};

use crate::spec::{Format, PipelineSpec, SourceKind};

/// The column that holds, in a landing source's rows, the key of the object each row
/// came from.
pub(crate) const OBJECT_COLUMN: &str = "_object";

/// The decoder of a spec's records.
pub(crate) struct RecordDecoder {
    format: Decoder,
    /// A landing source's rows get [`OBJECT_COLUMN`].
    landing: bool,
}

enum Decoder {
    Json(JsonDecoder),
    Lines(LinesDecoder),
}

impl RecordDecoder {
    /// The spec's decoder; a restarted JSON pipeline decodes fields into the types the
    /// table already has.
    pub(crate) fn for_spec(spec: &PipelineSpec, table: Option<&Schema>) -> Self {
        let format = match spec.source.format {
            Format::Json | Format::Csv => {
                let json = table
                    .map_or_else(JsonDecoder::new, JsonDecoder::for_table)
                    .with_policy(spec.sink.on_type_mismatch.into())
                    .with_names(spec.source.name_rules());
                Decoder::Json(json)
            }
            Format::Lines => Decoder::Lines(LinesDecoder::new(spec.source.headers.clone())),
        };
        Self {
            format,
            landing: spec.source.kind == SourceKind::Landing,
        }
    }

    pub(crate) fn decode(
        &mut self,
        topic: &str,
        records: &[RawRecord],
    ) -> Result<Decoded, IngestError> {
        let (refused, kept): (Vec<usize>, Vec<usize>) =
            (0..records.len()).partition(|&i| refusal(&records[i]).is_some());
        if refused.is_empty() {
            return self.decode_all(topic, records);
        }
        let rest: Vec<RawRecord> = kept.iter().map(|&i| records[i].clone()).collect();
        let mut decoded = self.decode_all(topic, &rest)?;
        decoded.rows = decoded.rows.iter().map(|&r| kept[r]).collect();
        for i in refused {
            let why = refusal(&records[i]).unwrap_or_default();
            decoded
                .dead_letters
                .push(DeadLetter::new(topic, &records[i], "decode", why));
        }
        Ok(decoded)
    }

    fn decode_all(&mut self, topic: &str, records: &[RawRecord]) -> Result<Decoded, IngestError> {
        let mut decoded = match &mut self.format {
            Decoder::Json(d) => d.decode(topic, records)?,
            Decoder::Lines(d) => d.decode(topic, records)?,
        };
        if self.landing {
            decoded.batch = decoded
                .batch
                .map(|b| with_objects(b, records, &decoded.rows))
                .transpose()?;
        }
        Ok(decoded)
    }
}

/// Why the source refused the record, if it did.
fn refusal(record: &RawRecord) -> Option<String> {
    record
        .headers
        .iter()
        .find(|(k, _)| k == REFUSED_HEADER)
        .map(|(_, v)| String::from_utf8_lossy(v.as_deref().unwrap_or_default()).into_owned())
}

/// `batch` with [`OBJECT_COLUMN`] set to each row's object key (the record's key),
/// in place of a column of that name the decoder made, else added last.
fn with_objects(
    batch: RecordBatch,
    records: &[RawRecord],
    rows: &[usize],
) -> Result<RecordBatch, ArrowError> {
    let objects: StringArray = rows
        .iter()
        .map(|&i| {
            records[i]
                .key
                .as_deref()
                .and_then(|k| std::str::from_utf8(k).ok())
        })
        .collect();
    let schema = batch.schema();
    let mut fields = schema.fields().to_vec();
    let mut columns = batch.columns().to_vec();
    match schema.index_of(OBJECT_COLUMN) {
        Ok(i) => {
            let kind = fields[i].data_type().clone();
            columns[i] = arrow::compute::cast(&objects, &kind)?;
            fields[i] = Arc::new(Field::new(OBJECT_COLUMN, kind, true));
        }
        Err(_) => {
            fields.push(Arc::new(Field::new(OBJECT_COLUMN, DataType::Utf8, true)));
            columns.push(Arc::new(objects) as ArrayRef);
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}
