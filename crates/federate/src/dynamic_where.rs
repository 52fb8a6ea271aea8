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

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, Operator};
use datafusion::physical_expr::expressions::{
    BinaryExpr, CaseExpr, CastExpr, Column, DynamicFilterPhysicalExpr, InListExpr, IsNullExpr,
    Literal,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{PhysicalExpr, SendableRecordBatchStream};
use datafusion::sql::sqlparser::ast;
use datafusion::sql::unparser::Unparser;
use datafusion::sql::unparser::dialect::Dialect;
use datafusion_federation::sql::SQLExecutor;
use futures::{FutureExt, StreamExt};

use crate::engine::Engine;
use crate::pushdown::Rules;

/// At most this many values in the `IN` lists of one query: a longer list costs the
/// database more to parse than it saves (the bounds are still written).
const MAX_LISTED: usize = 5000;

/// The prefix [`crate::pushdown`] gives the columns of the SQL it sends: a column named
/// otherwise may be named differently in that SQL, and the query would fail.
const PUSHED_COLUMN: &str = "pipelab_col";

/// Dates the unparser writes as `YYYY-MM-DD` and every engine reads back (MySQL's DATE
/// range): days since 1970-01-01 of 1000-01-01 and 9999-12-31.
const FIRST_DAY: i32 = -354_285;
const LAST_DAY: i32 = 2_932_896;

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
    match condition(filters, schema, engine, dialect) {
        Some(condition) => format!("SELECT * FROM ({query}) AS pipelab_dyn WHERE {condition}"),
        None => query.to_string(),
    }
}

/// The AND of what each complete dynamic filter implies; `None` when none implies
/// anything.
fn condition(
    filters: &[Arc<dyn PhysicalExpr>],
    schema: &Schema,
    engine: Engine,
    dialect: &dyn Dialect,
) -> Option<ast::Expr> {
    let target = Target {
        schema,
        engine,
        dialect,
        listed: Cell::new(0),
    };
    filters
        .iter()
        .filter_map(completed)
        .filter_map(|f| {
            target
                .implied(&f)
                .and_then(|implied| target.written(implied))
        })
        .reduce(|l, r| nested(l, ast::BinaryOperator::And, r))
}

/// What a filter implies, before it is written as SQL. A key list is kept as values so
/// that a partitioned join's lists, one per partition, become one list without the
/// duplicates (the build side's keys repeat): measured in PostgreSQL on the benchmark's
/// EXISTS, an OR of two 1,000-value arrays took 2.75 ms, one array of their 999 distinct
/// values 1.85 ms.
enum Implied<'e> {
    /// `column IN (values)`.
    Keys {
        key: Key,
        values: Vec<&'e ScalarValue>,
    },
    Sql(ast::Expr),
}

/// The dynamic filter's expression, when it will not change any more. A filter still in
/// progress (its join's build side not read yet, or a TopK's) could drop rows it will
/// later keep; this never waits for it.
fn completed(filter: &Arc<dyn PhysicalExpr>) -> Option<Arc<dyn PhysicalExpr>> {
    let dynamic = filter.downcast_ref::<DynamicFilterPhysicalExpr>()?;
    dynamic.wait_complete().now_or_never()?;
    dynamic.current().ok()
}

/// What a join key is, for what the database compares as DataFusion does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Date,
    Text,
}

/// A join key: a column of the SQL's result, as the condition names it.
#[derive(PartialEq)]
struct Key {
    column: ast::Expr,
    kind: Kind,
}

/// The query's result, engine and dialect, with the `IN` values written so far.
struct Target<'a> {
    schema: &'a Schema,
    engine: Engine,
    dialect: &'a dyn Dialect,
    listed: Cell<usize>,
}

impl<'e> Target<'_> {
    /// A predicate every row passing `expr` passes too; `None` stands for "true" (nothing
    /// known, or nothing the database may be sent).
    fn implied(&self, expr: &'e Arc<dyn PhysicalExpr>) -> Option<Implied<'e>> {
        if let Some(binary) = expr.downcast_ref::<BinaryExpr>() {
            self.binary(binary)
        } else if let Some(list) = expr.downcast_ref::<InListExpr>() {
            self.in_list(list)
        } else if let Some(is_null) = expr.downcast_ref::<IsNullExpr>() {
            // The join keeps NULL keys for null-aware and null-equal joins.
            let column = self.key(is_null.arg())?.column;
            Some(Implied::Sql(ast::Expr::IsNull(Box::new(column))))
        } else if let Some(case) = expr.downcast_ref::<CaseExpr>() {
            self.case(case)
        } else {
            // The hash table's lookup, a struct IN list (several keys), `true`.
            None
        }
    }

    fn binary(&self, binary: &'e BinaryExpr) -> Option<Implied<'e>> {
        use ast::BinaryOperator as Op;
        let (left, right) = (binary.left(), binary.right());
        let compared = |op| self.bound(left, op, right).map(Implied::Sql);
        match binary.op() {
            // A row passing `a AND b` passes either: what cannot be written is left out.
            Operator::And => match (self.implied(left), self.implied(right)) {
                // The join's keys imply their own bounds: the list alone is less to check.
                (Some(keys @ Implied::Keys { .. }), Some(_))
                | (Some(_), Some(keys @ Implied::Keys { .. })) => Some(keys),
                (Some(l), Some(r)) => {
                    let (l, r) = (self.written(l)?, self.written(r)?);
                    Some(Implied::Sql(nested(l, Op::And, r)))
                }
                (one, other) => one.or(other),
            },
            // A row passing `a OR b` passes one of them, which one is unknown: both needed.
            Operator::Or => self.either(self.implied(left)?, self.implied(right)?),
            Operator::GtEq => compared(Op::GtEq),
            Operator::LtEq => compared(Op::LtEq),
            Operator::Gt => compared(Op::Gt),
            Operator::Lt => compared(Op::Lt),
            Operator::Eq => compared(Op::Eq),
            _ => None,
        }
    }

    /// `key op literal`, the join's min/max bounds.
    fn bound(
        &self,
        key: &Arc<dyn PhysicalExpr>,
        op: ast::BinaryOperator,
        value: &Arc<dyn PhysicalExpr>,
    ) -> Option<ast::Expr> {
        let key = self.key(key)?;
        // Strings are ordered by the database's collation, not by code point.
        if key.kind == Kind::Text {
            return None;
        }
        let value = self.literal(literal_value(value)?, key.kind)?;
        Some(nested(key.column, op, value))
    }

    /// `a OR b`: one list when both are lists of the same key.
    fn either(&self, a: Implied<'e>, b: Implied<'e>) -> Option<Implied<'e>> {
        match (a, b) {
            (
                Implied::Keys { key, mut values },
                Implied::Keys {
                    key: other,
                    values: more,
                },
            ) if key == other => {
                values.extend(more);
                Some(Implied::Keys { key, values })
            }
            (a, b) => {
                let (a, b) = (self.written(a)?, self.written(b)?);
                Some(Implied::Sql(nested(a, ast::BinaryOperator::Or, b)))
            }
        }
    }

    /// `implied` as SQL: a key list sorted and without duplicates; PostgreSQL gets
    /// integers as one array ([`integer_array`]).
    fn written(&self, implied: Implied<'e>) -> Option<ast::Expr> {
        let (key, mut values) = match implied {
            Implied::Sql(sql) => return Some(sql),
            Implied::Keys { key, values } => (key, values),
        };
        values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        values.dedup();
        if self.engine == Engine::Postgres && key.kind == Kind::Integer {
            return integer_array(key.column, &values);
        }
        let list = values
            .into_iter()
            .map(|v| self.literal(v, key.kind))
            .collect::<Option<Vec<_>>>()?;
        Some(ast::Expr::InList {
            expr: Box::new(key.column),
            list,
            negated: false,
        })
    }

    /// `key IN (…)`, the join's distinct keys when they are few.
    fn in_list(&self, list: &'e InListExpr) -> Option<Implied<'e>> {
        if list.negated() {
            return None;
        }
        let key = self.key(list.expr())?;
        // A NULL in the list matches no row: leaving it out keeps the same rows.
        let values = list
            .list()
            .iter()
            .map(literal_value)
            .filter(|v| !v.is_some_and(ScalarValue::is_null))
            .map(|v| v.filter(|v| fits(key.kind, v)))
            .collect::<Option<Vec<_>>>()?;
        let listed = self.listed.get() + values.len();
        if values.is_empty() || listed > MAX_LISTED {
            return None;
        }
        self.listed.set(listed);
        Some(Implied::Keys { key, values })
    }

    /// A partitioned join's `CASE hash(key) % n WHEN i THEN filter_i … ELSE false END`:
    /// whichever branch a row takes, it passed that branch (no ELSE gives NULL, which
    /// fails), so it passes their OR. `false` branches add nothing.
    fn case(&self, case: &'e CaseExpr) -> Option<Implied<'e>> {
        let branches = case.when_then_expr().iter().map(|(_, then)| then);
        branches
            .chain(case.else_expr())
            .filter(|b| !is_false(b))
            .map(|b| self.implied(b))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .try_fold(None, |either: Option<Implied<'e>>, branch| match either {
                None => Some(Some(branch)),
                Some(either) => self.either(either, branch).map(Some),
            })?
    }

    /// The join key `expr` as a column of the SQL's result, when it is one (under a cast
    /// that keeps every value, the coercion of a join of two types) of a kind this engine
    /// compares as DataFusion does.
    fn key(&self, expr: &Arc<dyn PhysicalExpr>) -> Option<Key> {
        let (expr, cast_to) = match expr.downcast_ref::<CastExpr>() {
            Some(cast) => (cast.expr(), Some(cast.cast_type())),
            None => (expr, None),
        };
        let column = expr.downcast_ref::<Column>()?;
        let field = self.schema.fields().get(column.index())?;
        let name = field.name();
        if name != column.name() || !name.starts_with(PUSHED_COLUMN) {
            return None;
        }
        let kind = self.kind(field.data_type())?;
        let cast_ok = cast_to
            .is_none_or(|to| self.kind(to) == Some(kind) && keeps_values(field.data_type(), to));
        if !cast_ok {
            return None;
        }
        let ident = match self.dialect.identifier_quote_style(name) {
            Some(quote) => ast::Ident::with_quote(quote, name),
            None => ast::Ident::new(name),
        };
        Some(Key {
            column: ast::Expr::Identifier(ident),
            kind,
        })
    }

    fn kind(&self, data_type: &DataType) -> Option<Kind> {
        match data_type {
            t if t.is_integer() => Some(Kind::Integer),
            // SQLite keeps dates as text.
            DataType::Date32 if Rules::of(self.engine).temporal => Some(Kind::Date),
            // MySQL compares by collation ('a' = 'A '), SQLite's columns may hold blobs.
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                if self.engine == Engine::Postgres =>
            {
                Some(Kind::Text)
            }
            _ => None,
        }
    }

    /// `value` as a literal of `kind` that the database reads back as the same value.
    fn literal(&self, value: &ScalarValue, kind: Kind) -> Option<ast::Expr> {
        if !fits(kind, value) {
            return None;
        }
        let value = match value {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => ast::Value::SingleQuotedString(s.clone()),
            // Dates are few (bounds, short lists): the unparser writes them as the
            // dialect reads them.
            ScalarValue::Date32(_) => {
                return Unparser::new(self.dialect)
                    .expr_to_sql(&Expr::Literal(value.clone(), None))
                    .ok();
            }
            integer => ast::Value::Number(integer_value(integer)?.to_string(), false),
        };
        Some(ast::Expr::value(value))
    }
}

/// True when `value` is a literal of `kind` that the database reads back as the same
/// value.
fn fits(kind: Kind, value: &ScalarValue) -> bool {
    match (kind, value) {
        (Kind::Integer, v) => integer_value(v).is_some(),
        (Kind::Date, ScalarValue::Date32(Some(days))) => (FIRST_DAY..=LAST_DAY).contains(days),
        (
            Kind::Text,
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
        ) => plain_text(s),
        _ => false,
    }
}

/// A cast from `from` to `to` (of one kind) that keeps every value, so that comparing
/// the column itself means the same.
fn keeps_values(from: &DataType, to: &DataType) -> bool {
    if !from.is_integer() {
        return true; // string to string, date to date
    }
    let (Some(from_width), Some(to_width)) = (from.primitive_width(), to.primitive_width()) else {
        return false;
    };
    match (from.is_signed_integer(), to.is_signed_integer()) {
        (true, true) | (false, false) => from_width <= to_width,
        (false, true) => from_width < to_width,
        (true, false) => false,
    }
}

/// `(left op right)`: the conditions combined here spell out their precedence.
fn nested(left: ast::Expr, op: ast::BinaryOperator, right: ast::Expr) -> ast::Expr {
    ast::Expr::Nested(Box::new(ast::Expr::BinaryOp {
        left: Box::new(left),
        op,
        right: Box::new(right),
    }))
}

/// PostgreSQL's `column = ANY('{1,2,…}'::BIGINT[])` of integer `values`: one literal to
/// parse instead of thousands, and planned several times faster (measured on 999 keys:
/// parse and plan 2.8 ms as an IN list, 0.3 ms as an array). The same rows: `= ANY` of an
/// array is what PostgreSQL makes of an IN list, and every integer column compares with
/// `bigint`.
fn integer_array(column: ast::Expr, values: &[&ScalarValue]) -> Option<ast::Expr> {
    let mut array = String::with_capacity(values.len() * 8 + 2);
    array.push('{');
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            array.push(',');
        }
        write!(array, "{}", integer_value(value)?).ok()?;
    }
    array.push('}');
    let element = Box::new(ast::DataType::BigInt(None));
    Some(ast::Expr::AnyOp {
        left: Box::new(column),
        compare_op: ast::BinaryOperator::Eq,
        right: Box::new(ast::Expr::Cast {
            kind: ast::CastKind::DoubleColon,
            expr: Box::new(ast::Expr::value(ast::Value::SingleQuotedString(array))),
            data_type: ast::DataType::Array(ast::ArrayElemTypeDef::SquareBracket(element, None)),
            array: false,
            format: None,
        }),
        is_some: false,
    })
}

/// An integer's value (every integer type fits in an `i128`); `None` for any other
/// value and for NULL.
fn integer_value(value: &ScalarValue) -> Option<i128> {
    let value = match value {
        ScalarValue::Int8(Some(v)) => i128::from(*v),
        ScalarValue::Int16(Some(v)) => i128::from(*v),
        ScalarValue::Int32(Some(v)) => i128::from(*v),
        ScalarValue::Int64(Some(v)) => i128::from(*v),
        ScalarValue::UInt8(Some(v)) => i128::from(*v),
        ScalarValue::UInt16(Some(v)) => i128::from(*v),
        ScalarValue::UInt32(Some(v)) => i128::from(*v),
        ScalarValue::UInt64(Some(v)) => i128::from(*v),
        _ => return None,
    };
    Some(value)
}

/// The value of a literal expression.
fn literal_value(expr: &Arc<dyn PhysicalExpr>) -> Option<&ScalarValue> {
    expr.downcast_ref::<Literal>().map(Literal::value)
}

/// A string written as a literal safely: the SQL writer doubles a lone `'` but not `''`
/// nor `\'`, a backslash is an escape where `standard_conforming_strings` is off, and
/// PostgreSQL's text holds no NUL.
fn plain_text(s: &str) -> bool {
    !s.contains(['\'', '\\', '\0'])
}

fn is_false(expr: &Arc<dyn PhysicalExpr>) -> bool {
    expr.downcast_ref::<Literal>()
        .is_some_and(|l| l.value() == &ScalarValue::Boolean(Some(false)))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use datafusion::arrow::array::{ArrayRef, Date32Array, Int32Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::Field;
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::error::DataFusionError;
    use datafusion::physical_expr::expressions::{NotExpr, lit as plit};
    use datafusion::sql::unparser::dialect::{MySqlDialect, PostgreSqlDialect, SqliteDialect};
    use futures::TryStreamExt;

    use super::*;

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

    fn in_list(
        k: Arc<dyn PhysicalExpr>,
        values: ArrayRef,
        schema: &Schema,
    ) -> Arc<dyn PhysicalExpr> {
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
}
