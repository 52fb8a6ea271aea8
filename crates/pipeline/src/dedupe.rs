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
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use arrow::row::{RowConverter, SortField};
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
    if batches.is_empty() {
        return Ok((batches, 0));
    }
    let name = table.map_or_else(String::new, |t| t.name().to_string());
    let fail = |what: &'static str| {
        let table = name.clone();
        move |source| PipelineError::Batch {
            what,
            table,
            source,
        }
    };
    // Each batch's identity columns, projected once.
    let identities: Vec<RecordBatch> = batches
        .iter()
        .map(|b| identity(b, by))
        .collect::<Result<_, _>>()?;
    let types: Vec<DataType> = identities[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    let converter = RowConverter::new(types.iter().cloned().map(SortField::new).collect())
        .map_err(fail("comparing identities"))?;
    let mut seen: HashSet<Vec<u8>> = match table {
        Some(t) => present(t, &identities, &types, &converter).await?,
        None => HashSet::new(),
    };
    let (mut kept, mut dropped) = (Vec::with_capacity(batches.len()), 0);
    for (batch, ids) in batches.iter().zip(&identities) {
        let keys = converter
            .convert_columns(ids.columns())
            .map_err(fail("comparing identities"))?;
        let keep: BooleanArray = keys
            .iter()
            .enumerate()
            // A row without its whole identity cannot repeat one: it is kept.
            .map(|(i, k)| {
                let whole = ids.columns().iter().all(|c| c.is_valid(i));
                Some(!whole || seen.insert(k.as_ref().to_vec()))
            })
            .collect();
        dropped += keep.false_count() as u64;
        kept.push(filter_record_batch(batch, &keep).map_err(fail("dropping repeated rows"))?);
    }
    Ok((kept, dropped))
}

/// The identity columns of a batch; a spec naming a column the rows lack is refused.
fn identity(batch: &RecordBatch, by: &[String]) -> Result<RecordBatch, PipelineError> {
    let schema = batch.schema_ref();
    let indices = by
        .iter()
        .map(|c| {
            schema.index_of(c).map_err(|_| {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                PipelineError::Spec(crate::SpecError {
                    path: "sink.dedupe_by".into(),
                    message: format!(
                        "the rows have no column {c:?} (they have: {})",
                        names.join(", ")
                    ),
                })
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    batch
        .project(&indices)
        .map_err(|source| PipelineError::Batch {
            what: "collecting identities",
            table: String::new(),
            source,
        })
}

/// The identities among the batches' that the table holds, as row-format keys: a join
/// of the table's identity columns with the batches', in the snapshot just refreshed.
async fn present(
    table: &LakeTable,
    identities: &[RecordBatch],
    types: &[DataType],
    converter: &RowConverter,
) -> Result<HashSet<Vec<u8>>, PipelineError> {
    let read = |source| PipelineError::Read {
        table: table.name().to_string(),
        source: Box::new(source),
    };
    let ctx = SessionContext::new();
    pipelab_lake::register_table(&ctx, table).await?;
    let memory =
        MemTable::try_new(identities[0].schema(), vec![identities.to_vec()]).map_err(read)?;
    ctx.register_table("pipelab_incoming", Arc::new(memory))
        .map_err(read)?;
    let quoted = |f: &arrow::datatypes::FieldRef| format!("\"{}\"", f.name().replace('"', "\"\""));
    let fields = identities[0].schema().fields().clone();
    let columns: Vec<String> = fields.iter().map(|f| format!("t.{}", quoted(f))).collect();
    let on: Vec<String> = fields
        .iter()
        .map(|f| format!("t.{q} = i.{q}", q = quoted(f)))
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
    let mut present = HashSet::new();
    for batch in &found {
        // The table's columns may read back in another layout (Utf8View for Utf8, say).
        let columns: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .zip(types)
            .map(|(c, t)| cast(c, t))
            .collect::<Result<_, ArrowError>>()
            .map_err(failed)?;
        let rows = converter.convert_columns(&columns).map_err(failed)?;
        present.extend(rows.iter().map(|r| r.as_ref().to_vec()));
    }
    Ok(present)
}
