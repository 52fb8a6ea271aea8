//! Kafka sinks (`[[sinks]]` of kind `kafka`): a step's rows as JSON records to a topic,
//! keyed by a column, through an idempotent producer (no duplicates from the producer's
//! own retries). They are produced before the lake's commit, so a crash between the two
//! produces the batch again on the next run: at least once.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::json::LineDelimitedWriter;
use pipelab_ingest::RawRecord;

use crate::error::PipelineError;
use crate::spec::KafkaSinkSpec;

/// Produce `rows` to the sink's topic and wait for every acknowledgement; the records sent.
pub(crate) async fn produce(
    sink: &KafkaSinkSpec,
    source_brokers: &str,
    rows: &[RecordBatch],
) -> Result<u64, PipelineError> {
    let records = records(sink, rows)?;
    if records.is_empty() {
        return Ok(0);
    }
    let brokers = sink
        .brokers
        .clone()
        .unwrap_or_else(|| source_brokers.to_string());
    let topic = sink.topic.clone();
    let stats = tokio::task::spawn_blocking(move || {
        pipelab_ingest::produce::produce_records_with(
            &brokers,
            &topic,
            &[("enable.idempotence", "true")],
            records,
            |_| {},
        )
    })
    .await
    .map_err(|e| PipelineError::Thread {
        what: "Kafka sink",
        source: e.into(),
    })??;
    Ok(stats.acked)
}

/// One JSON object per row (arrow's JSON writer: nulls left out), keyed by the key
/// column's value as text.
fn records(sink: &KafkaSinkSpec, rows: &[RecordBatch]) -> Result<Vec<RawRecord>, PipelineError> {
    let failed = |source| PipelineError::Batch {
        what: "encoding rows as JSON",
        table: sink.topic.clone(),
        source,
    };
    let mut out = Vec::new();
    for batch in rows.iter().filter(|b| b.num_rows() > 0) {
        let mut writer = LineDelimitedWriter::new(Vec::new());
        writer.write(batch).map_err(failed)?;
        writer.finish().map_err(failed)?;
        let text = writer.into_inner();
        let keys = match sink.key.as_deref().and_then(|c| batch.column_by_name(c)) {
            Some(c) => Some(cast(c, &DataType::Utf8).map_err(failed)?),
            None => None,
        };
        let keys = keys.as_ref().map(|k| k.as_string::<i32>());
        for (i, line) in text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let key = keys
                .as_ref()
                .filter(|k| k.is_valid(i))
                .map(|k| k.value(i).as_bytes().to_vec());
            out.push(RawRecord {
                key,
                ..RawRecord::new(0, 0, line.to_vec())
            });
        }
    }
    Ok(out)
}
