//! The narrowed SQL for each shape of dynamic filter, per engine, and the fallback to
//! the query as it was.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Date32Array, Int32Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{
    BinaryExpr, CaseExpr, CastExpr, Column, DynamicFilterPhysicalExpr, InListExpr, NotExpr,
    lit as plit,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{PhysicalExpr, SendableRecordBatchStream};
use datafusion::sql::unparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect, SqliteDialect};
use datafusion_federation::sql::SQLExecutor;
use futures::TryStreamExt;

use super::{narrowed, run_narrowed};
use crate::engine::Engine;

const QUERY: &str = "SELECT a FROM t";

fn schema(data_type: DataType) -> Schema {
    Schema::new(vec![Field::new("pipelab_col0", data_type, true)])
}

fn key() -> Arc<dyn PhysicalExpr> {
    Arc::new(Column::new("pipelab_col0", 0))
}

fn binary(
    l: Arc<dyn PhysicalExpr>,
    op: Operator,
    r: Arc<dyn PhysicalExpr>,
) -> Arc<dyn PhysicalExpr> {
    Arc::new(BinaryExpr::new(l, op, r))
}

/// `k >= low AND k <= high`, as the hash join writes its bounds.
fn bounds(k: Arc<dyn PhysicalExpr>, low: i64, high: i64) -> Arc<dyn PhysicalExpr> {
    let low = binary(Arc::clone(&k), Operator::GtEq, plit(low));
    let high = binary(k, Operator::LtEq, plit(high));
    binary(low, Operator::And, high)
}

fn in_list(k: Arc<dyn PhysicalExpr>, values: ArrayRef, schema: &Schema) -> Arc<dyn PhysicalExpr> {
    Arc::new(InListExpr::try_new_from_array(k, values, false, schema).unwrap())
}

/// A join's dynamic filter, complete with `expr`.
fn complete(expr: Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
    let filter = DynamicFilterPhysicalExpr::new(vec![key()], plit(true));
    filter.update(expr).unwrap();
    filter.mark_complete();
    Arc::new(filter)
}

fn sent(
    filter: Arc<dyn PhysicalExpr>,
    schema: &Schema,
    engine: Engine,
    dialect: &dyn Dialect,
) -> String {
    narrowed(QUERY, &[filter], schema, engine, dialect)
}

fn with_where(condition: &str) -> String {
    format!("SELECT * FROM ({QUERY}) AS pipelab_dyn WHERE {condition}")
}

#[test]
fn bounds_are_sent() {
    let s = schema(DataType::Int64);
    let sql = sent(
        complete(bounds(key(), 3, 9)),
        &s,
        Engine::MySql,
        &MySqlDialect {},
    );
    assert_eq!(
        sql,
        with_where("((`pipelab_col0` >= 3) AND (`pipelab_col0` <= 9))")
    );
}

#[test]
fn the_distinct_keys_are_sent_without_their_bounds() {
    let s = schema(DataType::Int64);
    let list = in_list(key(), Arc::new(Int64Array::from(vec![3, -5, 9])), &s);
    let filter = complete(binary(bounds(key(), -5, 9), Operator::And, list));
    let sql = sent(Arc::clone(&filter), &s, Engine::MySql, &MySqlDialect {});
    assert_eq!(sql, with_where("`pipelab_col0` IN (-5, 3, 9)"));
    // PostgreSQL gets the integers as one array literal.
    let sql = sent(filter, &s, Engine::Postgres, &PostgreSqlDialect {});
    assert_eq!(
        sql,
        with_where(r#""pipelab_col0" = ANY('{-5,3,9}'::BIGINT[])"#)
    );
}

#[test]
fn a_partitioned_joins_case_is_the_or_of_its_branches() {
    let s = schema(DataType::Int64);
    let routing = binary(key(), Operator::Modulo, plit(2i64));
    let list = in_list(key(), Arc::new(Int64Array::from(vec![4, 6])), &s);
    let case = CaseExpr::try_new(
        Some(routing),
        vec![(plit(0i64), bounds(key(), 3, 9)), (plit(1i64), list)],
        Some(plit(false)),
    )
    .unwrap();
    let sql = sent(
        complete(Arc::new(case)),
        &s,
        Engine::Postgres,
        &PostgreSqlDialect {},
    );
    assert_eq!(
        sql,
        with_where(
            r#"((("pipelab_col0" >= 3) AND ("pipelab_col0" <= 9)) OR "pipelab_col0" = ANY('{4,6}'::BIGINT[]))"#
        )
    );
}

#[test]
fn a_partitioned_joins_key_lists_become_one_list_without_duplicates() {
    let s = schema(DataType::Int64);
    let list = |keys: Vec<i64>| {
        let with_bounds = bounds(key(), 0, 100);
        let list = in_list(key(), Arc::new(Int64Array::from(keys)), &s);
        binary(with_bounds, Operator::And, list)
    };
    let routing = binary(key(), Operator::Modulo, plit(2i64));
    let case = CaseExpr::try_new(
        Some(routing),
        vec![
            (plit(0i64), list(vec![8, 2, 8, 4])),
            (plit(1i64), list(vec![7, 1, 1])),
        ],
        Some(plit(false)),
    )
    .unwrap();
    let filter = complete(Arc::new(case));
    let sql = sent(Arc::clone(&filter), &s, Engine::MySql, &MySqlDialect {});
    assert_eq!(sql, with_where("`pipelab_col0` IN (1, 2, 4, 7, 8)"));
    let sql = sent(filter, &s, Engine::Postgres, &PostgreSqlDialect {});
    assert_eq!(
        sql,
        with_where(r#""pipelab_col0" = ANY('{1,2,4,7,8}'::BIGINT[])"#)
    );
}

#[test]
fn strings_go_to_postgres_as_a_list_only() {
    let s = schema(DataType::Utf8);
    let list = in_list(key(), Arc::new(StringArray::from(vec!["eu", "us"])), &s);
    let sql = sent(
        complete(Arc::clone(&list)),
        &s,
        Engine::Postgres,
        &PostgreSqlDialect {},
    );
    assert_eq!(sql, with_where(r#""pipelab_col0" IN ('eu', 'us')"#));
    let mysql = sent(complete(list), &s, Engine::MySql, &MySqlDialect {});
    assert_eq!(mysql, QUERY);
    let quoted = in_list(key(), Arc::new(StringArray::from(vec!["eu", "o'k"])), &s);
    let sql = sent(
        complete(quoted),
        &s,
        Engine::Postgres,
        &PostgreSqlDialect {},
    );
    assert_eq!(sql, QUERY);
    let order = binary(key(), Operator::GtEq, plit("eu"));
    let sql = sent(complete(order), &s, Engine::Postgres, &PostgreSqlDialect {});
    assert_eq!(sql, QUERY);
}

#[test]
fn dates_go_where_dates_compare_as_in_datafusion() {
    let s = schema(DataType::Date32);
    let list = in_list(key(), Arc::new(Date32Array::from(vec![19727])), &s);
    let sql = sent(
        complete(Arc::clone(&list)),
        &s,
        Engine::Postgres,
        &PostgreSqlDialect {},
    );
    assert_eq!(
        sql,
        with_where(r#""pipelab_col0" IN (CAST('2024-01-05' AS DATE))"#)
    );
    let sqlite = sent(complete(list), &s, Engine::Sqlite, &SqliteDialect {});
    assert_eq!(sqlite, QUERY);
}

#[test]
fn unknown_shapes_send_the_query_unchanged() {
    let s = schema(DataType::Int64);
    let list = in_list(key(), Arc::new(Int64Array::from(vec![3])), &s);
    let lookup_like = Arc::new(NotExpr::new(list)) as Arc<dyn PhysicalExpr>;
    assert_eq!(
        sent(complete(lookup_like), &s, Engine::MySql, &MySqlDialect {}),
        QUERY
    );
    assert_eq!(
        sent(complete(plit(true)), &s, Engine::MySql, &MySqlDialect {}),
        QUERY
    );
    // The known half of an AND is kept, an OR needs both.
    let half = binary(bounds(key(), 1, 2), Operator::And, plit(true));
    let sql = sent(complete(half), &s, Engine::MySql, &MySqlDialect {});
    assert_eq!(
        sql,
        with_where("((`pipelab_col0` >= 1) AND (`pipelab_col0` <= 2))")
    );
    let either = binary(bounds(key(), 1, 2), Operator::Or, plit(true));
    assert_eq!(
        sent(complete(either), &s, Engine::MySql, &MySqlDialect {}),
        QUERY
    );
}

#[test]
fn a_column_not_named_as_in_the_sql_is_not_sent() {
    let s = schema(DataType::Int64);
    let other: Arc<dyn PhysicalExpr> = Arc::new(Column::new("other", 0));
    assert_eq!(
        sent(
            complete(bounds(other, 3, 9)),
            &s,
            Engine::MySql,
            &MySqlDialect {}
        ),
        QUERY
    );
    let plain = Schema::new(vec![Field::new("k", DataType::Int64, true)]);
    let k: Arc<dyn PhysicalExpr> = Arc::new(Column::new("k", 0));
    assert_eq!(
        sent(
            complete(bounds(k, 3, 9)),
            &plain,
            Engine::MySql,
            &MySqlDialect {}
        ),
        QUERY
    );
}

#[test]
fn a_widening_cast_is_seen_through_a_filter_in_progress_is_not_used() {
    let s = schema(DataType::Int32);
    let cast: Arc<dyn PhysicalExpr> = Arc::new(CastExpr::new(key(), DataType::Int64, None));
    let sql = sent(
        complete(bounds(cast, 3, 9)),
        &s,
        Engine::Sqlite,
        &SqliteDialect {},
    );
    assert_eq!(
        sql,
        with_where("((`pipelab_col0` >= 3) AND (`pipelab_col0` <= 9))")
    );
    let pending = DynamicFilterPhysicalExpr::new(vec![key()], plit(true));
    pending.update(bounds(key(), 3, 9)).unwrap();
    let pending: Arc<dyn PhysicalExpr> = Arc::new(pending);
    assert_eq!(sent(pending, &s, Engine::MySql, &MySqlDialect {}), QUERY);
}

/// A database that records what it is sent and rejects any WHERE.
struct Rejecting {
    sent: Mutex<Vec<String>>,
}

#[async_trait]
impl SQLExecutor for Rejecting {
    fn name(&self) -> &str {
        "test"
    }

    fn compute_context(&self) -> Option<String> {
        None
    }

    fn dialect(&self) -> Arc<dyn Dialect> {
        Arc::new(MySqlDialect {})
    }

    fn execute(
        &self,
        query: &str,
        schema: SchemaRef,
        _filters: &[Arc<dyn PhysicalExpr>],
    ) -> DfResult<SendableRecordBatchStream> {
        self.sent.lock().unwrap().push(query.to_string());
        let answer = if query.contains("WHERE") {
            Err(DataFusionError::Execution("operator does not exist".into()))
        } else {
            let column = Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef;
            Ok(RecordBatch::try_new(Arc::clone(&schema), vec![column])?)
        };
        let stream = futures::stream::iter([answer]);
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    async fn table_names(&self) -> DfResult<Vec<String>> {
        Ok(vec![])
    }

    async fn get_table_schema(&self, _table_name: &str) -> DfResult<SchemaRef> {
        Err(DataFusionError::NotImplemented("test".into()))
    }
}

#[tokio::test]
async fn a_rejected_narrowed_query_is_sent_again_as_it_was() {
    let db = Arc::new(Rejecting {
        sent: Mutex::new(vec![]),
    });
    let s = Arc::new(schema(DataType::Int32));
    let filters = vec![complete(bounds(key(), 3, 9))];
    let executor = Arc::clone(&db) as Arc<dyn SQLExecutor>;
    let stream = run_narrowed(executor, Engine::MySql, QUERY.into(), s, filters)
        .await
        .unwrap();
    let batches: Vec<RecordBatch> = stream.try_collect().await.unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    let sent = db.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert!(sent[0].contains("WHERE"), "{sent:?}");
    assert_eq!(sent[1], QUERY);
}
