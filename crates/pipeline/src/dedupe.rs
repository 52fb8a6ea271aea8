//! `dedupe_by` in `[sink]`: rows whose identity (the listed columns, such as the host,
//! file identity and byte offset `pipelab ship` puts on each line) the lake table
//! already holds, or that came twice in the batch, are dropped before the commit. A
//! producer that sends a line again after a crash (at least once) then lands it once:
//! the table is read from the snapshot the commit is based on, and the commit's offset
//! guard keeps a second writer of the same partitions out. A row lacking part of its
//! identity (a null) has none, and is kept.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::row::{RowConverter, Rows, SortField};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use pipelab_lake::LakeTable;

use crate::error::PipelineError;

/// The rows of `batches` whose identity is neither in `table` nor earlier in the
/// batches, and how many were dropped.
pub(crate) async fn fresh_rows(
    table: Option<&LakeTable>,
    batches: Vec<RecordBatch>,
    by: &[String],
) -> Result<(Vec<RecordBatch>, u64), PipelineError> {
    let Some(first) = batches.first() else {
        return Ok((batches, 0));
    };
    let fail = |what: &'static str| {
        let table = table.map_or_else(String::new, |t| t.name().to_string());
        move |source| PipelineError::Batch {
            what,
            table,
            source,
        }
    };
    let converter = RowConverter::new(
        identity(first, by)?
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )
    .map_err(fail("comparing identities"))?;
    let mut seen: HashSet<Vec<u8>> = match table {
        Some(t) => present(t, &batches, by, &converter).await?,
        None => HashSet::new(),
    };
    let (mut kept, mut dropped) = (Vec::with_capacity(batches.len()), 0);
    for batch in batches {
        let keys = converter
            .convert_columns(&identity(&batch, by)?)
            .map_err(fail("comparing identities"))?;
        let identified = identified(&identity(&batch, by)?);
        let keep: BooleanArray = keys
            .iter()
            .enumerate()
            // A row without its whole identity cannot repeat one: it is kept.
            .map(|(i, k)| Some(!identified[i] || seen.insert(k.as_ref().to_vec())))
            .collect();
        dropped += keep.false_count() as u64;
        kept.push(filter_record_batch(&batch, &keep).map_err(fail("dropping repeated rows"))?);
    }
    Ok((kept, dropped))
}

/// Per row, whether every identity column has a value.
fn identified(columns: &[ArrayRef]) -> Vec<bool> {
    let rows = columns.first().map_or(0, |c| c.len());
    (0..rows)
        .map(|i| columns.iter().all(|c| c.is_valid(i)))
        .collect()
}

/// The identity columns of a batch; a spec naming a column the rows lack is refused.
fn identity(batch: &RecordBatch, by: &[String]) -> Result<Vec<ArrayRef>, PipelineError> {
    by.iter()
        .map(|c| {
            batch.column_by_name(c).cloned().ok_or_else(|| {
                PipelineError::Spec(crate::SpecError {
                    path: "sink.dedupe_by".into(),
                    message: format!(
                        "the rows have no column {c:?} (they have: {})",
                        names(batch)
                    ),
                })
            })
        })
        .collect()
}

fn names(batch: &RecordBatch) -> String {
    let names: Vec<&str> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    names.join(", ")
}

fn incoming_types(
    batches: &[RecordBatch],
    by: &[String],
) -> Result<Vec<arrow::datatypes::DataType>, PipelineError> {
    let first = batches
        .first()
        .map(|b| identity(b, by))
        .transpose()?
        .unwrap_or_default();
    Ok(first.iter().map(|c| c.data_type().clone()).collect())
}

/// The identities among the batches' that the table holds, as row-format keys.
async fn present(
    table: &LakeTable,
    batches: &[RecordBatch],
    by: &[String],
    converter: &RowConverter,
) -> Result<HashSet<Vec<u8>>, PipelineError> {
    let read = |source| PipelineError::Read {
        table: table.name().to_string(),
        source: Box::new(source),
    };
    let incoming: Vec<RecordBatch> = batches
        .iter()
        .map(|b| {
            let columns = identity(b, by)?;
            let fields: Vec<_> = by
                .iter()
                .zip(&columns)
                .map(|(n, c)| arrow::datatypes::Field::new(n, c.data_type().clone(), true))
                .collect();
            RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns).map_err(
                |source| PipelineError::Batch {
                    what: "collecting identities",
                    table: table.name().to_string(),
                    source,
                },
            )
        })
        .collect::<Result<_, _>>()?;
    let ctx = SessionContext::new();
    pipelab_lake::register_table(&ctx, table).await?;
    let schema = incoming[0].schema();
    let memory = MemTable::try_new(schema, vec![incoming]).map_err(read)?;
    ctx.register_table("pipelab_incoming", Arc::new(memory))
        .map_err(read)?;
    let quoted = |c: &String| format!("\"{}\"", c.replace('"', "\"\""));
    let columns: Vec<String> = by.iter().map(|c| format!("t.{}", quoted(c))).collect();
    let on: Vec<String> = by
        .iter()
        .map(|c| format!("t.{q} = i.{q}", q = quoted(c)))
        .collect();
    let sql = format!(
        "SELECT DISTINCT {} FROM \"{}\" t JOIN pipelab_incoming i ON {}",
        columns.join(", "),
        table.name().replace('"', "\"\""),
        on.join(" AND ")
    );
    let found = ctx
        .sql(&sql)
        .await
        .map_err(read)?
        .collect()
        .await
        .map_err(read)?;
    let failed = |source| PipelineError::Batch {
        what: "comparing identities",
        table: table.name().to_string(),
        source,
    };
    // The table's columns may read back in another layout (Utf8View for Utf8, say).
    let types: Vec<_> = incoming_types(batches, by)?;
    let mut present = HashSet::new();
    for batch in &found {
        let columns: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .zip(&types)
            .map(|(c, t)| arrow::compute::cast(c, t))
            .collect::<Result<_, _>>()
            .map_err(failed)?;
        let rows: Rows = converter.convert_columns(&columns).map_err(failed)?;
        present.extend(rows.iter().map(|r| r.as_ref().to_vec()));
    }
    Ok(present)
}
