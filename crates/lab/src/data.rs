//! The data the lab lays out: a generated clickstream, a lake table or a file.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use chrono::NaiveDate;
use datafusion::prelude::{ParquetReadOptions, SessionContext, col};
use pipelab_ingest::generate::{ClickEvent, Clickstream, ClickstreamConfig};
use pipelab_ingest::{JsonDecoder, NameRules, RawRecord};
use pipelab_lake::{LakeLocation, LakeTable};

use crate::LabError;

/// Rows per generated batch.
const BATCH_ROWS: usize = 65_536;

/// Where the lab's data comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// `--events N`: a clickstream of N events over the 7 days before `until`.
    Generate {
        /// Events to generate.
        events: u64,
        /// Random seed: the same seed gives the same events.
        seed: u64,
        /// The day after the last day of events (UTC), usually today.
        until: NaiveDate,
    },
    /// `--source`: a Delta table (its directory or URL), or a Parquet, CSV or JSON-lines
    /// file.
    Path(String),
}

/// What [`load`] read.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The rows read; a time column of text or dates is cast to a UTC timestamp.
    pub batches: Vec<RecordBatch>,
    /// The lines of a JSON-lines source that do not decode, as a pipeline's dead
    /// letters: the lab leaves them out and says so, it never drops them silently.
    pub refused: Vec<RefusedLine>,
}

/// A line of a JSON-lines source the decoder refused, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RefusedLine {
    /// Counted from 1.
    pub line: i64,
    /// The decoder's error for the line.
    pub error: String,
    /// The line as read, invalid UTF-8 replaced.
    pub text: String,
}

/// The source's rows, with the time column as a UTC timestamp (text is parsed). A
/// JSON-lines file is decoded as `pipelab run` decodes a topic's records, under `names`.
pub async fn load(
    source: &Source,
    time_column: &str,
    names: NameRules,
) -> Result<Loaded, LabError> {
    match source {
        Source::Generate {
            events,
            seed,
            until,
        } => {
            let mut cfg = ClickstreamConfig::new(*events, *until);
            cfg.seed = *seed;
            let events: Vec<ClickEvent> = Clickstream::new(cfg).collect();
            Ok(Loaded {
                batches: events
                    .chunks(BATCH_ROWS)
                    .map(clickstream_batch)
                    .collect::<Result<_, _>>()?,
                refused: Vec::new(),
            })
        }
        Source::Path(path) => read(path, time_column, names).await,
    }
}

/// Events as typed columns: text, a UTC timestamp and a double.
fn clickstream_batch(events: &[ClickEvent]) -> Result<RecordBatch, LabError> {
    let text = |f: fn(&ClickEvent) -> Option<&str>| -> ArrayRef {
        Arc::new(events.iter().map(f).collect::<StringArray>())
    };
    let ts: TimestampMicrosecondArray = events
        .iter()
        .map(|e| {
            chrono::DateTime::parse_from_rfc3339(&e.ts)
                .ok()
                .map(|t| t.timestamp_micros())
        })
        .collect();
    let columns: Vec<ArrayRef> = vec![
        text(|e| Some(&e.event_id)),
        text(|e| Some(&e.user_id)),
        text(|e| Some(&e.session_id)),
        text(|e| Some(e.event_type)),
        text(|e| Some(&e.page)),
        text(|e| e.referrer),
        text(|e| Some(e.device)),
        text(|e| Some(e.country)),
        Arc::new(ts.with_timezone("UTC")),
        Arc::new(events.iter().map(|e| e.price).collect::<Float64Array>()),
    ];
    let utf8 = |name: &str| Field::new(name, DataType::Utf8, true);
    let schema = Schema::new(vec![
        utf8("event_id"),
        utf8("user_id"),
        utf8("session_id"),
        utf8("event_type"),
        utf8("page"),
        utf8("referrer"),
        utf8("device"),
        utf8("country"),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("price", DataType::Float64, true),
    ]);
    RecordBatch::try_new(Arc::new(schema), columns).map_err(|e| LabError::Source {
        origin: "generated clickstream".into(),
        reason: e.to_string(),
    })
}

/// A Delta table or a file, read through DataFusion (a JSON-lines file through
/// pipelab's decoder first).
async fn read(path: &str, time_column: &str, names: NameRules) -> Result<Loaded, LabError> {
    let fail = |reason: String| LabError::Source {
        origin: path.to_string(),
        reason,
    };
    pipelab_lake::register_handlers();
    let ctx = SessionContext::new();
    let lower = path.to_ascii_lowercase();
    let mut refused = Vec::new();
    let registered = if lower.ends_with(".parquet") {
        ctx.register_parquet("source", path, ParquetReadOptions::default())
            .await
    } else if lower.ends_with(".csv") {
        ctx.register_csv("source", path, Default::default()).await
    } else if [".json", ".jsonl", ".ndjson"]
        .iter()
        .any(|e| lower.ends_with(e))
    {
        let batch;
        (batch, refused) = decode_json_lines(path, names)?;
        ctx.register_batch("source", batch).map(|_| ())
    } else {
        let table = open_table(path).await?;
        pipelab_lake::register_table_as(&ctx, &table, "source").await?;
        Ok(())
    };
    registered.map_err(|e| fail(e.to_string()))?;
    let mut df = ctx.table("source").await.map_err(|e| fail(e.to_string()))?;
    let time = df
        .schema()
        .field_with_unqualified_name(time_column)
        .map_err(|_| {
            fail(format!(
                "no time column {time_column:?} (name it with --time-column)"
            ))
        })?
        .data_type()
        .clone();
    // Partition columns come back dictionary-encoded from a Delta scan; the lab's tables
    // store plain values.
    let dictionaries: Vec<(String, DataType)> = df
        .schema()
        .fields()
        .iter()
        .filter_map(|f| match f.data_type() {
            DataType::Dictionary(_, value) => Some((f.name().clone(), value.as_ref().clone())),
            _ => None,
        })
        .collect();
    for (name, value) in dictionaries {
        df = df
            .with_column(&name, datafusion::prelude::cast(col(&name), value))
            .map_err(|e| fail(e.to_string()))?;
    }
    if !matches!(time, DataType::Timestamp(_, _)) {
        // Text times (the demo's ISO strings) and dates become UTC timestamps, which the
        // time transforms and the queries' TIMESTAMP bounds compare with.
        let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        df = df
            .with_column(
                time_column,
                datafusion::prelude::cast(col(time_column), utc),
            )
            .map_err(|e| fail(e.to_string()))?;
    }
    let batches = df
        .collect()
        .await
        .map_err(|e| fail(format!("reading it failed: {e}")))?;
    Ok(Loaded { batches, refused })
}

/// A JSON-lines file decoded as a topic's records are (types inferred, the name rules
/// applied): its rows, and the lines refused with their errors. Blank lines are no
/// records.
fn decode_json_lines(
    path: &str,
    names: NameRules,
) -> Result<(RecordBatch, Vec<RefusedLine>), LabError> {
    let fail = |reason: String| LabError::Source {
        origin: path.to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| LabError::io(std::path::Path::new(path), e))?;
    let records: Vec<RawRecord> = bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.trim_ascii().is_empty())
        .map(|(i, line)| RawRecord::new(0, i as i64 + 1, line))
        .collect();
    let decoded = JsonDecoder::new()
        .with_names(names)
        .decode(path, &records)
        .map_err(|e| fail(e.to_string()))?;
    let refused: Vec<RefusedLine> = decoded
        .dead_letters
        .into_iter()
        .map(|d| RefusedLine {
            line: d.record.offset,
            error: d.error,
            text: String::from_utf8_lossy(d.record.payload.as_deref().unwrap_or_default())
                .into_owned(),
        })
        .collect();
    match decoded.batch {
        Some(batch) => Ok((batch, refused)),
        None => Err(fail(match refused.first() {
            Some(first) => format!("no line decodes; line {}: {}", first.line, first.error),
            None => "no records (the file is empty)".into(),
        })),
    }
}

/// A Delta table at a directory or URL: its parent is the lake, its last part the name.
async fn open_table(path: &str) -> Result<LakeTable, LabError> {
    let trimmed = path.trim_end_matches('/');
    let (lake, name) = trimmed.rsplit_once('/').unwrap_or((".", trimmed));
    let loc = LakeLocation::parse(lake, Default::default())?;
    Ok(LakeTable::open(&loc, name).await?)
}
