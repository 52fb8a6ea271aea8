//! What a complete dynamic filter implies about the rows the database sends, as the SQL
//! condition written into its query: the join's keys, bounds and key lists, over the
//! columns the SQL names as DataFusion does.

use std::cell::Cell;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr, Operator};
use datafusion::physical_expr::expressions::{
    BinaryExpr, CaseExpr, CastExpr, Column, DynamicFilterPhysicalExpr, InListExpr, IsNullExpr,
    Literal,
};
use datafusion::physical_plan::PhysicalExpr;
use datafusion::sql::sqlparser::ast;
use datafusion::sql::unparser::Unparser;
use datafusion::sql::unparser::dialect::Dialect;
use futures::FutureExt;

use super::literals::{Kind, fits, integer_array, integer_value, nested};
use crate::engine::Engine;
use crate::pushdown::{PUSHED_COLUMN, Rules};

/// At most this many values in the `IN` lists of one query: a longer list costs the
/// database more to parse than it saves (the bounds are still written).
const MAX_LISTED: usize = 5000;

/// The AND of what each complete dynamic filter implies; `None` when none implies
/// anything.
pub(super) fn condition(
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

/// The value of a literal expression.
fn literal_value(expr: &Arc<dyn PhysicalExpr>) -> Option<&ScalarValue> {
    expr.downcast_ref::<Literal>().map(Literal::value)
}

/// True for the literal `false` (a partitioned join's `ELSE` branch).
fn is_false(expr: &Arc<dyn PhysicalExpr>) -> bool {
    expr.downcast_ref::<Literal>()
        .is_some_and(|l| l.value() == &ScalarValue::Boolean(Some(false)))
}
