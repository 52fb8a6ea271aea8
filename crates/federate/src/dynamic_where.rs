//! A join's dynamic filter written into the SQL sent to a database, so that a selective
//! join (a few lake rows against a large database table) fetches only the rows that can
//! match instead of the whole table.
//!
//! DataFusion's hash join pushes a [`DynamicFilterPhysicalExpr`] down to its probe side;
//! datafusion-federation hands it to the database's executor and reports it unsupported,
//! so DataFusion still applies it (and the join still matches exactly). What is written
//! here needs only to keep every row the filter keeps: a superset. It is a predicate the
//! filter implies, over join keys the database compares as DataFusion does (integers;
//! dates where [`Rules::temporal`]; strings only in PostgreSQL and only as an `IN` list,
//! never by order: collations), with literals the database reads back unchanged.
//!
//! [`implied`] derives the condition from a filter's expression, [`literals`] holds the
//! literals and SQL syntax it is written with.
//!
//! [`DynamicFilterPhysicalExpr`]: datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr
//! [`Rules::temporal`]: crate::pushdown::Rules::temporal

mod implied;
mod literals;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::error::Result as DfResult;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{PhysicalExpr, SendableRecordBatchStream};
use datafusion::sql::unparser::dialect::Dialect;
use datafusion_federation::sql::SQLExecutor;
use futures::StreamExt;

use crate::engine::Engine;

/// Run `query`, narrowed by the `filters` complete now ([`narrowed`]). Called on the
/// stream's first poll: a hash join polls its probe side only once its build side is read
/// and its filter complete. Should the narrowed SQL fail before its first batch (a column
/// whose type rejects the literals, such as PostgreSQL's `uuid` or `money`), `query` runs
/// as it is: the narrowing only saves work.
pub(crate) async fn run_narrowed(
    inner: Arc<dyn SQLExecutor>,
    engine: Engine,
    query: String,
    schema: SchemaRef,
    filters: Vec<Arc<dyn PhysicalExpr>>,
) -> DfResult<SendableRecordBatchStream> {
    let sql = narrowed(&query, &filters, &schema, engine, inner.dialect().as_ref());
    tracing::debug!(engine = %engine, query = %sql, "query sent to the database");
    if sql == query {
        return inner.execute(&query, schema, &filters);
    }
    let mut stream = inner.execute(&sql, Arc::clone(&schema), &filters)?;
    match stream.next().await {
        Some(Err(e)) => {
            tracing::debug!(engine = %engine, error = %e, %query, "narrowed query failed: sent as it was");
            inner.execute(&query, schema, &filters)
        }
        first => {
            let rest = futures::stream::iter(first).chain(stream);
            Ok(Box::pin(RecordBatchStreamAdapter::new(schema, rest)))
        }
    }
}

/// `query` with a WHERE every row passing the complete dynamic `filters` passes too, in
/// `dialect`; `query` itself when no filter gives one. `schema` is the query's result.
///
/// The condition is built as SQL syntax directly, not as a DataFusion expression for the
/// unparser: a join's key list runs to thousands of values, and going through `Expr`, the
/// unparser and a rewrite of the result took 10 M instructions per query (callgrind), on
/// the path from the build side's end to the probe query's start.
pub(crate) fn narrowed(
    query: &str,
    filters: &[Arc<dyn PhysicalExpr>],
    schema: &Schema,
    engine: Engine,
    dialect: &dyn Dialect,
) -> String {
    match implied::condition(filters, schema, engine, dialect) {
        Some(condition) => format!("SELECT * FROM ({query}) AS pipelab_dyn WHERE {condition}"),
        None => query.to_string(),
    }
}
