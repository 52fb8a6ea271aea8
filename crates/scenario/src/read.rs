//! A data file as Arrow batches: CSV with a header, JSON lines or Parquet, read by
//! DataFusion, optionally shaped by SQL over `input` first.

use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext};

/// The rows of a data file, with their schema.
pub(crate) struct Rows {
    pub(crate) schema: SchemaRef,
    pub(crate) batches: Vec<RecordBatch>,
}

impl Rows {
    /// How many rows.
    pub(crate) fn count(&self) -> u64 {
        self.batches.iter().map(|b| b.num_rows() as u64).sum()
    }
}

/// Read `path` (by its extension) and run `sql` over it as table `input`.
pub(crate) async fn read_file(path: &Path, sql: Option<&str>) -> Result<Rows, DataFusionError> {
    let ctx = SessionContext::new();
    let location = path.display().to_string();
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    match extension {
        "csv" => {
            ctx.register_csv("input", &location, CsvReadOptions::new())
                .await?
        }
        "jsonl" | "json" => {
            let options = JsonReadOptions::default().file_extension(extension);
            ctx.register_json("input", &location, options).await?
        }
        "parquet" => {
            ctx.register_parquet("input", &location, ParquetReadOptions::default())
                .await?
        }
        other => {
            return Err(DataFusionError::Plan(format!(
                "unknown data file type {other:?}: use .csv (with a header), .jsonl or .parquet"
            )));
        }
    }
    let frame = ctx.sql(sql.unwrap_or("SELECT * FROM input")).await?;
    let schema = frame.schema().inner().clone();
    let batches = frame.collect().await?;
    Ok(Rows { schema, batches })
}
