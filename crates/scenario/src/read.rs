//! A data file as Arrow batches: CSV with a header, JSON lines or Parquet, read as a files
//! catalog reads them, optionally shaped by SQL over `input` first.

use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::common::TableReference;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use pipelab_federate::catalogs::FileTable;

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

/// Read `path` (by its extension, as a files catalog reads it) and run `sql` over it as
/// table `input`.
pub(crate) async fn read_file(path: &Path, sql: Option<&str>) -> Result<Rows, DataFusionError> {
    let ctx = SessionContext::new();
    let location = path.display().to_string();
    let file = FileTable::at(&location).ok_or_else(|| {
        let extension = path.extension().unwrap_or_default().to_string_lossy();
        DataFusionError::Plan(format!(
            "unknown data file type {extension:?}: use .csv (with a header), .jsonl or .parquet"
        ))
    })?;
    file.register(&ctx, TableReference::bare("input")).await?;
    let frame = ctx.sql(sql.unwrap_or("SELECT * FROM input")).await?;
    let schema = frame.schema().inner().clone();
    let batches = frame.collect().await?;
    Ok(Rows { schema, batches })
}
