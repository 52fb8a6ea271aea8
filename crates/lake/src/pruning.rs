//! Predicates on a source column carried over to its derived partition columns.
//!
//! A table partitioned by `day(ts) AS dt` is pruned by deltalake only from predicates on
//! `dt`; users write them on `ts`. [`PruningTable`] wraps the table's provider and, for
//! each filter on a source column, adds the filter it implies on the derived column:
//! `ts >= T` gives `dt >= day(T)`, `user_id = 42` gives `user_id_bucket = bucket(42)`.
//! An implied filter holds for every row the original holds for, so adding it changes no
//! answer; DataFusion still applies the original filter above the scan.
//!
//! Ranges carry over only through transforms that keep order (all but `bucket`). Local
//! time in a zone with daylight saving can step back, so near an offset change (26 hours
//! either side) a bound is widened by 26 hours; the bound computed elsewhere is exact.
//! A column under a cast is followed only where the cast keeps the value's meaning
//! (integer to integer, timestamp to timestamp, text to text).

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::Array;
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{Column, Result};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::{
    Between, BinaryExpr, Expr, LogicalPlan, Operator, TableProviderFilterPushDown, lit,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::scalar::ScalarValue;

use crate::partition_values::utc_micros;
use crate::partitioning::{PartitionField, Partitioning};

/// Hours either side of a bound in which a zone's offset change widens it.
const OFFSET_CHANGE_HOURS: i64 = 26;

/// A lake table's provider that also prunes derived partitions.
#[derive(Debug)]
pub(crate) struct PruningTable {
    inner: Arc<dyn TableProvider>,
    partitioning: Partitioning,
}

impl PruningTable {
    /// Wrap `inner`, the provider of a table partitioned by `partitioning`.
    pub(crate) fn new(inner: Arc<dyn TableProvider>, partitioning: Partitioning) -> Self {
        Self {
            inner,
            partitioning,
        }
    }

    /// The filter `expr` implies on derived partition columns, if any.
    pub(crate) fn implied(&self, expr: &Expr) -> Option<Expr> {
        implied(&self.partitioning, &self.inner.schema(), expr)
    }
}

#[async_trait]
impl TableProvider for PruningTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.inner.get_table_definition()
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        self.inner.get_logical_plan()
    }

    /// A filter the inner provider cannot use but that implies one on a derived column is
    /// asked for as `Inexact`, so that DataFusion hands it to [`Self::scan`].
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let inner = self.inner.supports_filters_pushdown(filters)?;
        Ok(inner
            .into_iter()
            .zip(filters)
            .map(|(support, f)| match support {
                TableProviderFilterPushDown::Unsupported if self.implied(f).is_some() => {
                    TableProviderFilterPushDown::Inexact
                }
                support => support,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let refs: Vec<&Expr> = filters.iter().collect();
        let support = self.inner.supports_filters_pushdown(&refs)?;
        let mut pushed = Vec::with_capacity(filters.len() * 2);
        for (filter, support) in filters.iter().zip(support) {
            if support != TableProviderFilterPushDown::Unsupported {
                pushed.push(filter.clone());
            }
            if let Some(extra) = self.implied(filter) {
                tracing::debug!("partition pruning: {filter} implies {extra}");
                pushed.push(extra);
            }
        }
        self.inner.scan(state, projection, &pushed, limit).await
    }
}

/// The conjunction of the filters `expr` implies on derived columns.
fn implied(partitioning: &Partitioning, schema: &SchemaRef, expr: &Expr) -> Option<Expr> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => {
                let (l, r) = (
                    implied(partitioning, schema, left),
                    implied(partitioning, schema, right),
                );
                match (l, r) {
                    (Some(l), Some(r)) => Some(l.and(r)),
                    (one, other) => one.or(other),
                }
            }
            // Each side must imply something, or the disjunction implies nothing.
            Operator::Or => {
                Some(implied(partitioning, schema, left)?.or(implied(partitioning, schema, right)?))
            }
            _ => comparison(partitioning, schema, left, *op, right),
        },
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) => {
            let low = comparison(partitioning, schema, expr, Operator::GtEq, low);
            let high = comparison(partitioning, schema, expr, Operator::LtEq, high);
            match (low, high) {
                (Some(l), Some(h)) => Some(l.and(h)),
                (one, other) => one.or(other),
            }
        }
        Expr::InList(InList {
            expr,
            list,
            negated: false,
        }) => {
            let source = source_column(schema, expr)?;
            let values: Vec<&ScalarValue> = list
                .iter()
                .map(|e| match e {
                    Expr::Literal(v, _) if !v.is_null() => Some(v),
                    _ => None,
                })
                .collect::<Option<_>>()?;
            all_of(partitioning.derived_from(&source).filter_map(|f| {
                let mapped = values
                    .iter()
                    .map(|v| f.apply_scalar(v).map(lit))
                    .collect::<Option<Vec<Expr>>>()?;
                Some(derived(f).in_list(mapped, false))
            }))
        }
        Expr::IsNull(inner) => {
            let source = source_column(schema, inner)?;
            all_of(
                partitioning
                    .derived_from(&source)
                    .map(|f| derived(f).is_null()),
            )
        }
        _ => None,
    }
}

/// `left op right` with a source column on one side and a literal on the other.
fn comparison(
    partitioning: &Partitioning,
    schema: &SchemaRef,
    left: &Expr,
    op: Operator,
    right: &Expr,
) -> Option<Expr> {
    let (column, op, value) = match (left, right) {
        (c, Expr::Literal(v, _)) => (c, op, v),
        (Expr::Literal(v, _), c) => (c, op.swap()?, v),
        _ => return None,
    };
    if value.is_null() {
        return None;
    }
    let source = source_column(schema, column)?;
    all_of(
        partitioning
            .derived_from(&source)
            .filter_map(|f| bound(f, op, value)),
    )
}

/// The filter on `f`'s column implied by `source op value`. A strict bound is first
/// made inclusive on the next value (`ts < midnight` is `ts <= midnight - 1µs`), so
/// that it does not select the partition starting at the bound.
fn bound(f: &PartitionField, op: Operator, value: &ScalarValue) -> Option<Expr> {
    let column = derived(f);
    let stepped = |by: i64| step(value, by).unwrap_or_else(|| value.clone());
    match op {
        // Equal values have equal transforms, whatever the transform.
        Operator::Eq => Some(column.eq(lit(f.apply_scalar(value)?))),
        Operator::Gt | Operator::GtEq if f.transform.preserves_order() => {
            let low = if op == Operator::Gt {
                stepped(1)
            } else {
                value.clone()
            };
            Some(column.gt_eq(lit(edge(f, &low, -1)?)))
        }
        Operator::Lt | Operator::LtEq if f.transform.preserves_order() => {
            let high = if op == Operator::Lt {
                stepped(-1)
            } else {
                value.clone()
            };
            Some(column.lt_eq(lit(edge(f, &high, 1)?)))
        }
        _ => None,
    }
}

/// The value `by` steps away in a column's own precision: integers by one, times by one
/// microsecond (Delta keeps timestamps in microseconds; a date is a whole day of them).
fn step(value: &ScalarValue, by: i64) -> Option<ScalarValue> {
    use ScalarValue as S;
    let int = |v: i64| v.checked_add(by);
    Some(match value {
        S::Int8(Some(v)) => S::Int8(Some(i8::try_from(int((*v).into())?).ok()?)),
        S::Int16(Some(v)) => S::Int16(Some(i16::try_from(int((*v).into())?).ok()?)),
        S::Int32(Some(v)) => S::Int32(Some(i32::try_from(int((*v).into())?).ok()?)),
        S::Int64(Some(v)) => S::Int64(Some(int(*v)?)),
        S::TimestampNanosecond(Some(ns), _) if by < 0 && ns % 1_000 != 0 => {
            // The microseconds below a fractional bound are all before it.
            S::TimestampMicrosecond(Some(ns.div_euclid(1_000)), None)
        }
        S::TimestampSecond(..)
        | S::TimestampMillisecond(..)
        | S::TimestampMicrosecond(..)
        | S::TimestampNanosecond(..)
        | S::Date32(_)
        | S::Date64(_) => {
            let micros = utc_micros(&value.to_array().ok()?).ok()?;
            if micros.is_null(0) {
                return None;
            }
            S::TimestampMicrosecond(Some(micros.value(0).checked_add(by)?), None)
        }
        _ => return None,
    })
}

/// The transform of a range bound. A time in a zone whose offset changes nearby is
/// first moved 26 hours outwards (`direction` -1 for a lower bound, 1 for an upper one),
/// as local time can step back there.
fn edge(f: &PartitionField, value: &ScalarValue, direction: i64) -> Option<ScalarValue> {
    let Some(zone) = f.transform.zone() else {
        return f.apply_scalar(value);
    };
    let micros = utc_micros(&value.to_array().ok()?).ok()?;
    let micros = micros.value(0);
    if zone.steady_around(micros, OFFSET_CHANGE_HOURS) {
        return f.apply_scalar(value);
    }
    let moved = micros + direction * OFFSET_CHANGE_HOURS * 3_600_000_000;
    f.apply_scalar(&ScalarValue::TimestampMicrosecond(Some(moved), None))
}

fn derived(f: &PartitionField) -> Expr {
    Expr::Column(Column::from_name(&f.name))
}

fn all_of(exprs: impl Iterator<Item = Expr>) -> Option<Expr> {
    exprs.reduce(Expr::and)
}

/// The table column `expr` reads, directly or through a cast that keeps its values'
/// meaning (a wider integer, another timestamp unit, another string type).
fn source_column(schema: &SchemaRef, expr: &Expr) -> Option<String> {
    match expr {
        Expr::Column(c) => Some(c.name.clone()),
        Expr::Cast(cast) => {
            let name = source_column(schema, &cast.expr)?;
            let from = schema.field_with_name(&name).ok()?.data_type().clone();
            same_meaning(&from, cast.field.data_type()).then_some(name)
        }
        _ => None,
    }
}

fn same_meaning(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let integer = |t: &DataType| matches!(t, Int8 | Int16 | Int32 | Int64);
    let text = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
    let instant = |t: &DataType| matches!(t, Timestamp(_, _));
    let widening = |a: &DataType, b: &DataType| {
        a.primitive_width()
            .zip(b.primitive_width())
            .is_some_and(|(a, b)| a <= b)
    };
    (integer(from) && integer(to) && widening(from, to))
        || (text(from) && text(to))
        || (instant(from) && instant(to) && !matches!(to, Timestamp(TimeUnit::Second, _)))
        || (matches!(from, Date32 | Date64) && instant(to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partitioning::Transform;
    use arrow::datatypes::{Field, Schema};
    use datafusion::logical_expr::col;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("user_id", DataType::Int64, true),
            Field::new("page", DataType::Utf8, true),
        ]))
    }

    fn rewrite(entries: &[&str], filter: Expr) -> Option<String> {
        let p = Partitioning::parse(entries).unwrap();
        implied(&p, &schema(), &filter).map(|e| e.to_string())
    }

    fn ts(s: &str) -> Expr {
        let micros = chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_micros();
        lit(ScalarValue::TimestampMicrosecond(
            Some(micros),
            Some("UTC".into()),
        ))
    }

    #[test]
    fn ranges_on_time_prune_days() {
        let got = rewrite(
            &["day(ts) AS dt"],
            col("ts")
                .gt_eq(ts("2026-11-23T10:00:00Z"))
                .and(col("ts").lt(ts("2026-11-24T00:00:00Z"))),
        );
        assert_eq!(
            got.as_deref(),
            Some("dt >= Date32(\"2026-11-23\") AND dt <= Date32(\"2026-11-23\")")
        );
        // A strict bound off a partition's start keeps its partition.
        let got = rewrite(
            &["day(ts) AS dt"],
            col("ts").gt(ts("2026-11-23T23:59:59.999999Z")),
        );
        assert_eq!(got.as_deref(), Some("dt >= Date32(\"2026-11-24\")"));
        let got = rewrite(&["truncate(10, user_id)"], col("user_id").lt(lit(100i64)));
        assert_eq!(got.as_deref(), Some("user_id_trunc <= Int64(90)"));
        // A literal on the left flips the operator.
        let got = rewrite(&["hour(ts)"], ts("2026-11-23T10:30:00Z").gt(col("ts")));
        assert_eq!(got.as_deref(), Some("ts_hour <= Utf8(\"2026-11-23-10\")"));
    }

    #[test]
    fn bucket_prunes_equality_only() {
        let got = rewrite(&["bucket(16, user_id)"], col("user_id").eq(lit(42i64))).unwrap();
        assert!(got.starts_with("user_id_bucket = Int32("), "{got}");
        assert_eq!(
            rewrite(&["bucket(16, user_id)"], col("user_id").gt(lit(42i64))),
            None
        );
        let got = rewrite(
            &["bucket(16, user_id)"],
            col("user_id").in_list(vec![lit(1i64), lit(2i64)], false),
        )
        .unwrap();
        assert!(got.starts_with("user_id_bucket IN ("), "{got}");
        assert!(!Transform::Bucket(2).preserves_order());
    }

    #[test]
    fn or_needs_both_sides_and_casts_must_keep_meaning() {
        let p = &["truncate(2, page)"];
        let either = col("page").eq(lit("abc")).or(col("page").eq(lit("xyz")));
        assert_eq!(
            rewrite(p, either).as_deref(),
            Some("page_trunc = Utf8(\"ab\") OR page_trunc = Utf8(\"xy\")")
        );
        let half = col("page").eq(lit("abc")).or(col("user_id").eq(lit(1i64)));
        assert_eq!(rewrite(p, half), None);
        // A number compared as text says nothing about the number's bucket.
        let as_text = Expr::Cast(datafusion::logical_expr::Cast::new(
            Box::new(col("user_id")),
            DataType::Utf8,
        ))
        .eq(lit("42"));
        assert_eq!(rewrite(&["bucket(4, user_id)"], as_text), None);
    }

    #[test]
    fn bounds_widen_near_a_daylight_saving_change() {
        let p = &["day(ts, 'Europe/Berlin') AS dt"];
        let steady = rewrite(p, col("ts").gt_eq(ts("2026-06-10T12:00:00Z")));
        assert_eq!(steady.as_deref(), Some("dt >= Date32(\"2026-06-10\")"));
        let near = rewrite(p, col("ts").gt_eq(ts("2026-03-29T12:00:00Z")));
        assert_eq!(near.as_deref(), Some("dt >= Date32(\"2026-03-28\")"));
    }
}
