//! Text-line records → Arrow: each record's payload is one line of text (what
//! `pipelab ship` produces from a log file), decoded as the column `line`, with the
//! record's key as `key` and the headers asked for as columns of their names. Parsing
//! the line (syslog, nginx, `key=value`) is the steps' SQL. A payload that is missing or
//! not UTF-8 makes its record a dead letter.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::dead_letter::DeadLetter;
use crate::decode::Decoded;
use crate::error::IngestError;
use crate::record::RawRecord;

/// Decodes micro-batches of text lines.
#[derive(Debug, Clone, Default)]
pub struct LinesDecoder {
    headers: Vec<String>,
}

impl LinesDecoder {
    /// A decoder that also makes a column of each of these headers (text; null where a
    /// record lacks it or its value is not UTF-8).
    pub fn new(headers: Vec<String>) -> Self {
        Self { headers }
    }

    /// The columns: `line`, `key`, then the headers.
    pub fn schema(&self) -> Arc<Schema> {
        let mut fields = vec![
            Field::new("line", DataType::Utf8, false),
            Field::new("key", DataType::Utf8, true),
        ];
        fields.extend(
            self.headers
                .iter()
                .map(|h| Field::new(h, DataType::Utf8, true)),
        );
        Arc::new(Schema::new(fields))
    }

    /// One row per record whose payload is UTF-8 text; the others are dead letters.
    pub fn decode(&mut self, topic: &str, records: &[RawRecord]) -> Result<Decoded, IngestError> {
        let mut line = StringBuilder::new();
        let mut key = StringBuilder::new();
        let mut headers: Vec<StringBuilder> =
            self.headers.iter().map(|_| StringBuilder::new()).collect();
        let mut rows = Vec::with_capacity(records.len());
        let mut dead_letters = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let text = match record.payload.as_deref().map(std::str::from_utf8) {
                Some(Ok(text)) => text,
                Some(Err(e)) => {
                    let why = format!("the line is not UTF-8 text: {e}");
                    dead_letters.push(DeadLetter::new(topic, record, "decode", why));
                    continue;
                }
                None => {
                    let why = "the record has no payload (a null value)".to_string();
                    dead_letters.push(DeadLetter::new(topic, record, "decode", why));
                    continue;
                }
            };
            line.append_value(text.strip_suffix('\n').unwrap_or(text));
            key.append_option(
                record
                    .key
                    .as_deref()
                    .and_then(|k| std::str::from_utf8(k).ok()),
            );
            for (name, column) in self.headers.iter().zip(headers.iter_mut()) {
                let value = record
                    .headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .and_then(|(_, v)| v.as_deref())
                    .and_then(|v| std::str::from_utf8(v).ok());
                column.append_option(value);
            }
            rows.push(i);
        }
        if rows.is_empty() {
            return Ok(Decoded {
                batch: None,
                rows,
                dead_letters,
            });
        }
        let mut columns: Vec<ArrayRef> = vec![Arc::new(line.finish()), Arc::new(key.finish())];
        columns.extend(headers.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        let batch = RecordBatch::try_new(self.schema(), columns)?;
        Ok(Decoded {
            batch: Some(batch),
            rows,
            dead_letters,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keys_and_headers_become_columns_and_bad_bytes_dead_letters() {
        let mut good = RawRecord::new(0, 0, b"GET /index.html 200\n".to_vec());
        good.key = Some(b"web-1:/var/log/access.log".to_vec());
        good.headers = vec![
            ("host".into(), Some(b"web-1".to_vec())),
            ("offset".into(), Some(b"0".to_vec())),
        ];
        let bad = RawRecord::new(0, 1, vec![0xff, 0xfe]);
        let mut decoder = LinesDecoder::new(vec!["host".into(), "offset".into(), "file".into()]);
        let decoded = decoder.decode("logs", &[good, bad]).unwrap();
        let batch = decoded.batch.unwrap();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(decoded.rows, [0]);
        assert_eq!(decoded.dead_letters.len(), 1);
        let text = arrow::util::pretty::pretty_format_batches(&[batch])
            .unwrap()
            .to_string();
        assert!(
            text.contains("GET /index.html 200 ") && text.contains("web-1"),
            "{text}"
        );
    }
}
