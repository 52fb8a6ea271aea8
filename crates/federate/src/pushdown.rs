//! What of a query may run in a source database: only what the database computes exactly
//! as DataFusion would. The rest runs in DataFusion over what the database sends.
//!
//! datafusion-federation hands the largest subplan whose tables all live in one database to
//! that database, as SQL. Its answer must equal DataFusion's, and engines differ:
//!
//! - **MySQL/MariaDB compare strings by collation**: the default `utf8mb4_general_ci`
//!   makes `'eu' = 'EU'` true, pads trailing spaces, and groups, sorts, joins, `DISTINCT`s
//!   and `LIKE`s case-insensitively. So no string comparison, grouping, join key or sort is
//!   pushed to MySQL; projections, numeric and date filters, limits, numeric aggregates
//!   and joins on numeric keys are. Its `||` is OR and its `/` of integers is exact.
//! - **SQLite's `LIKE` ignores ASCII case**, and it keeps dates as text, so a date
//!   comparison compares text with what the unparser writes for a date: neither is pushed.
//! - **MySQL and SQLite sort NULLs first** in ascending order (DataFusion and PostgreSQL
//!   last), and the unparser cannot write `NULLS LAST` for MySQL: sorts go only to
//!   PostgreSQL.
//! - **Everywhere**: integer division, casts that narrow or round, date arithmetic,
//!   functions other than a few whose meaning is the same, window functions, semi and anti
//!   joins, set operations, and a LIMIT or ORDER BY anywhere but the top of what is pushed
//!   (the SQL unparser's known weak spots) stay in DataFusion.
//!
//! PostgreSQL's string comparisons and sorts are pushed: with the C (or C.UTF-8)
//! collation they order by code point, as DataFusion does. (A database created with
//! another collation would sort its pushed `ORDER BY`s by it.)

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, JoinType, NullEquality, Result};
use datafusion::logical_expr::expr::{AggregateFunction, InList, Like};
use datafusion::logical_expr::{
    Between, BinaryExpr, Cast, Distinct, Expr, ExprSchemable, Extension, Limit, LogicalPlan,
    LogicalPlanBuilder, Operator, Projection, Sort,
};
use datafusion_federation::FederatedPlanNode;

use crate::engine::Engine;

/// What one engine computes as DataFusion does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// `=`, `<>`, `IN`, grouping, `DISTINCT` and join keys on strings.
    pub string_equality: bool,
    /// `<`, `>`, `BETWEEN`, `min`/`max` on strings.
    pub string_order: bool,
    /// `LIKE` (case-sensitive in DataFusion).
    pub like: bool,
    /// `a || b` is string concatenation.
    pub concat: bool,
    /// Comparisons of dates and timestamps.
    pub temporal: bool,
    /// `ORDER BY` (with DataFusion's NULLS LAST for ascending order).
    pub sort: bool,
}

impl Rules {
    /// What `engine` computes exactly as DataFusion does.
    pub fn of(engine: Engine) -> Self {
        match engine {
            Engine::Postgres => Rules {
                string_equality: true,
                string_order: true,
                like: true,
                concat: true,
                temporal: true,
                sort: true,
            },
            Engine::MySql => Rules {
                string_equality: false,
                string_order: false,
                like: false,
                concat: false,
                temporal: true,
                sort: false,
            },
            Engine::Sqlite => Rules {
                string_equality: true,
                string_order: true,
                like: false,
                concat: true,
                temporal: false,
                sort: false,
            },
        }
    }

    /// True when the database evaluates `expr` (over the table's columns, `schema`, which
    /// is unqualified) exactly as DataFusion does. A table scan's filters name the table,
    /// its schema does not: the filter's qualifiers are dropped.
    pub fn pushable(&self, expr: &Expr, schema: &DFSchema) -> bool {
        let unqualified = expr.clone().transform(|e| match e {
            Expr::Column(c) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                c.name,
            )))),
            e => Ok(Transformed::no(e)),
        });
        unqualified.is_ok_and(|e| self.expr(&e.data, schema))
    }

    fn expr(&self, expr: &Expr, schema: &DFSchema) -> bool {
        let ty = |e: &Expr| e.get_type(schema).ok();
        match expr {
            Expr::Column(_) | Expr::Literal(..) => true,
            Expr::Alias(alias) => self.expr(&alias.expr, schema),
            Expr::Not(e) | Expr::IsNull(e) | Expr::IsNotNull(e) => self.expr(e, schema),
            Expr::Negative(e) => ty(e).is_some_and(|t| t.is_numeric()) && self.expr(e, schema),
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                self.expr(left, schema)
                    && self.expr(right, schema)
                    && self.operator(*op, ty(left), ty(right))
            }
            Expr::Between(Between {
                expr, low, high, ..
            }) => {
                [expr, low, high].iter().all(|e| self.expr(e, schema))
                    && self.operator(Operator::Lt, ty(expr), ty(low))
            }
            Expr::InList(InList { expr, list, .. }) => {
                list.len() <= 1000
                    && self.expr(expr, schema)
                    && list.iter().all(|e| self.expr(e, schema))
                    && self.operator(Operator::Eq, ty(expr), ty(expr))
            }
            Expr::Like(Like {
                expr,
                pattern,
                escape_char: None,
                case_insensitive: false,
                ..
            }) => self.like && self.expr(expr, schema) && self.expr(pattern, schema),
            Expr::Cast(Cast { expr, field }) => {
                ty(expr).is_some_and(|from| widening(&from, field.data_type()))
                    && self.expr(expr, schema)
            }
            Expr::ScalarFunction(f) => {
                SAME_EVERYWHERE.contains(&f.name()) && f.args.iter().all(|a| self.expr(a, schema))
            }
            _ => false,
        }
    }

    /// Whether `op` over operands of these types means the same in the database.
    fn operator(&self, op: Operator, left: Option<DataType>, right: Option<DataType>) -> bool {
        let (Some(left), Some(right)) = (left, right) else {
            return false;
        };
        let string = is_string(&left) || is_string(&right);
        let temporal = left.is_temporal() || right.is_temporal();
        let numeric = left.is_numeric() && right.is_numeric();
        match op {
            Operator::And | Operator::Or => true,
            Operator::Eq | Operator::NotEq => {
                (!string || self.string_equality) && (!temporal || self.temporal)
            }
            Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
                (!string || self.string_order) && (!temporal || self.temporal)
            }
            Operator::Plus | Operator::Minus | Operator::Multiply => numeric,
            Operator::StringConcat => self.concat && is_string(&left) && is_string(&right),
            _ => false,
        }
    }

    /// Whether this node alone (not its inputs) may run in the database. `top` is true
    /// while only projections, aliases and a limit are above it in what is pushed.
    fn node(&self, plan: &LogicalPlan, top: bool) -> bool {
        let all = |exprs: &[Expr], schema: &DFSchema| exprs.iter().all(|e| self.expr(e, schema));
        match plan {
            LogicalPlan::TableScan(scan) => {
                let schema = scan.source.schema();
                DFSchema::try_from(schema.as_ref().clone())
                    .is_ok_and(|s| scan.filters.iter().all(|f| self.pushable(f, &s)))
            }
            // An alias of an alias (a decorrelated subquery over an aliased table): the
            // unparser names the inner alias in the WHERE and the outer one in the FROM.
            LogicalPlan::SubqueryAlias(alias) => {
                !matches!(alias.input.as_ref(), LogicalPlan::SubqueryAlias(_))
            }
            LogicalPlan::Projection(p) => all(&p.expr, p.input.schema()),
            LogicalPlan::Filter(f) => self.expr(&f.predicate, f.input.schema()),
            LogicalPlan::Limit(_) => top,
            LogicalPlan::Sort(sort) => {
                self.sort
                    && top
                    && sort.expr.iter().all(|s| {
                        self.expr(&s.expr, sort.input.schema())
                            && s.expr
                                .get_type(sort.input.schema())
                                .is_ok_and(|t| !is_string(&t) || self.string_order)
                            // DataFusion's default placement; the unparser writes it out.
                            && s.nulls_first != s.asc
                    })
            }
            LogicalPlan::Aggregate(agg) => {
                let schema = agg.input.schema();
                agg.group_expr.iter().all(|g| self.grouping_key(g, schema))
                    && agg.aggr_expr.iter().all(|a| self.aggregate(a, schema))
            }
            LogicalPlan::Join(join) => {
                matches!(
                    join.join_type,
                    JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full
                ) && join.null_equality == NullEquality::NullEqualsNothing
                    && !join.null_aware
                    && join.on.iter().all(|(l, r)| {
                        self.grouping_key(l, join.left.schema())
                            && self.grouping_key(r, join.right.schema())
                    })
                    && join
                        .filter
                        .as_ref()
                        .is_none_or(|f| self.expr(f, &join.schema))
            }
            LogicalPlan::Distinct(Distinct::All(input)) => input
                .schema()
                .fields()
                .iter()
                .all(|f| !is_string(f.data_type()) || self.string_equality),
            _ => false,
        }
    }

    /// An expression compared for equality (group key, join key).
    fn grouping_key(&self, expr: &Expr, schema: &DFSchema) -> bool {
        self.expr(expr, schema)
            && expr
                .get_type(schema)
                .is_ok_and(|t| (!is_string(&t) || self.string_equality) && !t.is_floating())
    }

    fn aggregate(&self, expr: &Expr, schema: &DFSchema) -> bool {
        let expr = match expr {
            Expr::Alias(alias) => alias.expr.as_ref(),
            e => e,
        };
        let Expr::AggregateFunction(AggregateFunction { func, params }) = expr else {
            return false;
        };
        let name = func.name();
        let args_ok = params.args.iter().all(|a| self.expr(a, schema));
        let strings = params
            .args
            .iter()
            .any(|a| a.get_type(schema).is_ok_and(|t| is_string(&t)));
        let plain = params.filter.is_none() && params.order_by.is_empty();
        let kind_ok = match name {
            "count" => !params.distinct || !strings || self.string_equality,
            "sum" | "avg" => !params.distinct && !strings,
            "min" | "max" => !strings || self.string_order,
            _ => false,
        };
        args_ok && plain && kind_ok
    }

    /// Whether the whole subtree may run in the database.
    fn subtree(&self, plan: &LogicalPlan, top: bool) -> bool {
        let below_top = top
            && matches!(
                plan,
                LogicalPlan::Projection(_) | LogicalPlan::SubqueryAlias(_) | LogicalPlan::Limit(_)
            );
        self.node(plan, top) && plan.inputs().iter().all(|i| self.subtree(i, below_top))
    }
}

/// Functions whose result is the same in DataFusion and in PostgreSQL, MySQL and SQLite.
const SAME_EVERYWHERE: &[&str] = &["abs", "coalesce"];

fn is_string(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, value) => is_string(value),
        _ => false,
    }
}

/// A cast that keeps every value: a wider integer, an integer or a float to a double.
fn widening(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let rank = |t: &DataType| match t {
        Int8 => Some(1),
        Int16 => Some(2),
        Int32 => Some(3),
        Int64 => Some(4),
        _ => None,
    };
    match (from, to) {
        (a, b) if a == b => true,
        (a, b) if rank(a).is_some() && rank(b).is_some() => rank(a) <= rank(b),
        (Int8 | Int16 | Int32 | Float32, Float64) => true,
        _ => false,
    }
}

/// The rule itself, as the federation provider's logical optimizer: `plan` is the
/// subplan datafusion-federation would send to one database. What may run there is
/// wrapped again for the database; every other node stays in DataFusion, over the pushed
/// parts below it.
pub fn keep_unpushable_in_datafusion(plan: LogicalPlan, rules: &Rules) -> Result<LogicalPlan> {
    let LogicalPlan::Extension(Extension { node }) = &plan else {
        return Ok(plan);
    };
    let Some(federated) = node.as_any().downcast_ref::<FederatedPlanNode>() else {
        return Ok(plan);
    };
    split(federated.plan.clone(), rules, federated)
}

fn split(plan: LogicalPlan, rules: &Rules, federated: &FederatedPlanNode) -> Result<LogicalPlan> {
    // The federation's optimizer runs its rule again over what this returned (its root
    // is no longer a federated node): the parts cut then are left as they are.
    if is_federated(&plan) || is_renamed_pushdown(&plan) {
        return Ok(plan);
    }
    if rules.subtree(&plan, true) || matches!(plan, LogicalPlan::TableScan(_)) {
        return pushed(plan, federated);
    }
    // A leaf of no database (VALUES, an empty relation) that the federation put in the
    // database's part because it names no table: DataFusion's own.
    if plan.inputs().is_empty() {
        return Ok(plan);
    }
    let inputs = plan
        .inputs()
        .into_iter()
        .map(|input| split(input.clone(), rules, federated))
        .collect::<Result<Vec<_>>>()?;
    plan.with_new_exprs(plan.expressions(), inputs)
}

/// The prefix of the names a pushed part's columns are given in the SQL sent. A column
/// named otherwise may be named differently in that SQL: a condition added to the SQL
/// later (a join's dynamic filter) names only columns with this prefix.
pub(crate) const PUSHED_COLUMN: &str = "pipelab_col";

/// `plan` to run in the database: its columns named `pipelab_col0…` in the SQL sent (the
/// MySQL provider finds result columns by name, and MySQL names `sum(x)` its own way),
/// and given their names back in DataFusion above it.
fn pushed(plan: LogicalPlan, federated: &FederatedPlanNode) -> Result<LogicalPlan> {
    let fields: Vec<_> = plan
        .schema()
        .iter()
        .map(|(q, f)| (q.cloned(), f.name().clone()))
        .collect();
    let node = FederatedPlanNode::new(renamed(plan)?, Arc::clone(&federated.planner));
    let back = fields.into_iter().enumerate().map(|(i, (q, name))| {
        Expr::Column(Column::new_unqualified(format!("{PUSHED_COLUMN}{i}")))
            .alias_qualified(q, name)
    });
    LogicalPlanBuilder::from(LogicalPlan::Extension(Extension {
        node: Arc::new(node),
    }))
    .project(back)?
    .build()
}

/// `plan` with its output columns named `pipelab_col0…`, renamed below the sorts and
/// limits at its top: the unparser turns a projection above a sort into a derived table
/// whose columns it still names by the table's name, and loses a table alias under a
/// stacked projection (so a top projection is renamed in place).
fn renamed(plan: LogicalPlan) -> Result<LogicalPlan> {
    match plan {
        LogicalPlan::Projection(p) => {
            let renamed = p
                .expr
                .iter()
                .enumerate()
                .map(|(i, e)| e.clone().unalias().alias(format!("{PUSHED_COLUMN}{i}")))
                .collect();
            Ok(LogicalPlan::Projection(Projection::try_new(
                renamed, p.input,
            )?))
        }
        LogicalPlan::Limit(limit) => {
            let input = renamed(Arc::unwrap_or_clone(limit.input))?;
            Ok(LogicalPlan::Limit(Limit {
                input: Arc::new(input),
                ..limit
            }))
        }
        LogicalPlan::Sort(sort) => {
            let schema = Arc::clone(sort.input.schema());
            // The sort keys name the projection's columns: name them as renamed.
            let expr = sort
                .expr
                .into_iter()
                .map(|key| {
                    let e = key.expr.clone().transform(|e| match &e {
                        Expr::Column(c) => match schema.index_of_column(c) {
                            Ok(i) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                                format!("{PUSHED_COLUMN}{i}"),
                            )))),
                            Err(_) => Ok(Transformed::no(e)),
                        },
                        _ => Ok(Transformed::no(e)),
                    })?;
                    Ok(key.with_expr(e.data))
                })
                .collect::<Result<Vec<_>>>()?;
            let input = renamed(Arc::unwrap_or_clone(sort.input))?;
            Ok(LogicalPlan::Sort(Sort {
                expr,
                input: Arc::new(input),
                fetch: sort.fetch,
            }))
        }
        other => {
            let renamed: Vec<Expr> = other
                .schema()
                .iter()
                .enumerate()
                .map(|(i, (q, f))| {
                    Expr::Column(Column::new(q.cloned(), f.name()))
                        .alias(format!("{PUSHED_COLUMN}{i}"))
                })
                .collect();
            LogicalPlanBuilder::from(other).project(renamed)?.build()
        }
    }
}

/// The projection [`pushed`] puts above a part it handed to the database.
fn is_renamed_pushdown(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Projection(p) => {
            is_federated(&p.input)
                && p.input
                    .schema()
                    .fields()
                    .iter()
                    .all(|f| f.name().starts_with(PUSHED_COLUMN))
        }
        _ => false,
    }
}

fn is_federated(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Extension(Extension { node }) if node.as_any().is::<FederatedPlanNode>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::prelude::{col, lit};

    fn schema() -> DFSchema {
        DFSchema::try_from(Schema::new(vec![
            Field::new("code", DataType::Utf8, true),
            Field::new("n", DataType::Int32, true),
            Field::new("x", DataType::Float64, true),
        ]))
        .unwrap()
    }

    #[test]
    fn mysql_gets_no_string_comparison_postgres_does() {
        let s = schema();
        let eq = col("code").eq(lit("eu"));
        assert!(!Rules::of(Engine::MySql).pushable(&eq, &s));
        assert!(Rules::of(Engine::Postgres).pushable(&eq, &s));
        assert!(Rules::of(Engine::Sqlite).pushable(&eq, &s));
        let like = col("code").like(lit("e%"));
        assert!(!Rules::of(Engine::Sqlite).pushable(&like, &s));
        assert!(Rules::of(Engine::Postgres).pushable(&like, &s));
        let numeric = col("n").gt(lit(3)).and(col("x").lt_eq(lit(2.5)));
        for engine in [Engine::Postgres, Engine::MySql, Engine::Sqlite] {
            assert!(Rules::of(engine).pushable(&numeric, &s), "{engine}");
        }
    }

    #[test]
    fn division_and_unknown_functions_stay_in_datafusion() {
        let s = schema();
        let div = (col("n") / lit(2)).gt(lit(1));
        assert!(!Rules::of(Engine::Postgres).pushable(&div, &s));
        let f = datafusion::functions::string::expr_fn::upper(col("code")).eq(lit("EU"));
        assert!(!Rules::of(Engine::Postgres).pushable(&f, &s));
    }

    #[test]
    fn only_widening_casts_are_pushed() {
        assert!(widening(&DataType::Int32, &DataType::Int64));
        assert!(!widening(&DataType::Int64, &DataType::Int32));
        assert!(!widening(&DataType::Float64, &DataType::Int64));
        assert!(widening(&DataType::Int32, &DataType::Float64));
    }
}
