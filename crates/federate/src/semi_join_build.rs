//! Which side of a semi or anti join (`EXISTS`, `IN (subquery)`, `NOT EXISTS`) a hash
//! join builds on when DataFusion cannot compare the two sides' sizes.
//!
//! Decorrelation makes such a query `LeftSemi(outer, subquery)`, and a hash join builds on
//! its left side; DataFusion's `JoinSelection` swaps the sides only when it has row counts
//! for both, and a database table has none. The outer side is then read whole into the
//! hash table, and the subquery's keys never narrow it. Trino and Spark build on the
//! subquery's side (the filtering source) instead: its keys then become the outer scan's
//! dynamic filter, written into the SQL a database receives (see `dynamic_where`). This
//! rule does the same, and only where DataFusion had nothing to decide by.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{JoinType, Result};
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::joins::HashJoinExec;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};

/// Builds semi and anti joins on the subquery's side when either side's row count is
/// unknown. Runs right after DataFusion's `JoinSelection`, before the distribution is
/// enforced and before dynamic filters are made.
#[derive(Debug, Default)]
pub(crate) struct SubqueryBuildSide;

impl PhysicalOptimizerRule for SubqueryBuildSide {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(join) = node.downcast_ref::<HashJoinExec>() else {
                return Ok(Transformed::no(node));
            };
            if !builds_on_outer_side(join) || sizes_known(join)? {
                return Ok(Transformed::no(node));
            }
            Ok(Transformed::yes(join.swap_inputs(*join.partition_mode())?))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "subquery_build_side"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A semi or anti join keeping its left (outer) side's rows, whose hash table is built
/// from them. A null-aware anti join (`NOT IN`) is defined only as `LeftAnti`.
fn builds_on_outer_side(join: &HashJoinExec) -> bool {
    matches!(join.join_type(), JoinType::LeftSemi | JoinType::LeftAnti) && !join.null_aware
}

/// Whether both sides have a row count, exact or estimated: then `JoinSelection` chose.
fn sizes_known(join: &HashJoinExec) -> Result<bool> {
    let rows = |side: &Arc<dyn ExecutionPlan>| -> Result<bool> {
        let stats = StatisticsContext::new().compute(side.as_ref(), &StatisticsArgs::new())?;
        Ok(stats.num_rows.get_value().is_some())
    };
    Ok(rows(join.left())? && rows(join.right())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::common::NullEquality;
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::physical_expr::expressions::Column;
    use datafusion::physical_plan::PhysicalExpr;
    use datafusion::physical_plan::joins::PartitionMode;

    fn side(name: &str, known: bool) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new(name, DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from(vec![1]))],
        )
        .unwrap();
        let exec = MemorySourceConfig::try_new_exec(&[vec![batch]], schema, None).unwrap();
        if known {
            exec
        } else {
            // A scan that reports no statistics, as a database's does.
            Arc::new(NoStatistics(exec))
        }
    }

    fn join(
        join_type: JoinType,
        left: Arc<dyn ExecutionPlan>,
        right: Arc<dyn ExecutionPlan>,
    ) -> Arc<dyn ExecutionPlan> {
        let on = vec![(
            Arc::new(Column::new("outer_id", 0)) as _,
            Arc::new(Column::new("sub_id", 0)) as _,
        )];
        Arc::new(
            HashJoinExec::try_new(
                left,
                right,
                on,
                None,
                &join_type,
                None,
                PartitionMode::Partitioned,
                NullEquality::NullEqualsNothing,
                false,
            )
            .unwrap(),
        )
    }

    fn optimized(plan: Arc<dyn ExecutionPlan>) -> (JoinType, String) {
        let plan = SubqueryBuildSide
            .optimize(plan, &ConfigOptions::default())
            .unwrap();
        let join = plan.downcast_ref::<HashJoinExec>().unwrap();
        let build = join.left().schema().field(0).name().clone();
        (*join.join_type(), build)
    }

    #[test]
    fn a_semi_join_over_a_database_builds_on_the_subquery() {
        let plan = join(
            JoinType::LeftSemi,
            side("outer_id", false),
            side("sub_id", false),
        );
        assert_eq!(optimized(plan), (JoinType::RightSemi, "sub_id".into()));
        let plan = join(
            JoinType::LeftAnti,
            side("outer_id", true),
            side("sub_id", false),
        );
        assert_eq!(optimized(plan), (JoinType::RightAnti, "sub_id".into()));
    }

    #[test]
    fn known_sizes_and_other_joins_are_left_as_they_are() {
        let known = join(
            JoinType::LeftSemi,
            side("outer_id", true),
            side("sub_id", true),
        );
        assert_eq!(optimized(known), (JoinType::LeftSemi, "outer_id".into()));
        let inner = join(
            JoinType::Inner,
            side("outer_id", false),
            side("sub_id", false),
        );
        assert_eq!(optimized(inner), (JoinType::Inner, "outer_id".into()));
    }

    /// Hides its input's statistics.
    #[derive(Debug)]
    struct NoStatistics(Arc<dyn ExecutionPlan>);

    impl datafusion::physical_plan::DisplayAs for NoStatistics {
        fn fmt_as(
            &self,
            _t: datafusion::physical_plan::DisplayFormatType,
            f: &mut std::fmt::Formatter,
        ) -> std::fmt::Result {
            write!(f, "NoStatistics")
        }
    }

    impl ExecutionPlan for NoStatistics {
        fn name(&self) -> &str {
            "NoStatistics"
        }
        fn properties(&self) -> &Arc<datafusion::physical_plan::PlanProperties> {
            self.0.properties()
        }
        fn apply_expressions(
            &self,
            _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
        ) -> Result<TreeNodeRecursion> {
            Ok(TreeNodeRecursion::Continue)
        }
        fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
            vec![&self.0]
        }
        fn with_new_children(
            self: Arc<Self>,
            children: Vec<Arc<dyn ExecutionPlan>>,
        ) -> Result<Arc<dyn ExecutionPlan>> {
            Ok(Arc::new(NoStatistics(Arc::clone(&children[0]))))
        }
        fn execute(
            &self,
            partition: usize,
            context: Arc<datafusion::execution::TaskContext>,
        ) -> Result<datafusion::physical_plan::SendableRecordBatchStream> {
            self.0.execute(partition, context)
        }
        fn statistics_from_inputs(
            &self,
            _input_stats: &[Arc<datafusion::common::Statistics>],
            _args: &StatisticsArgs,
        ) -> Result<Arc<datafusion::common::Statistics>> {
            Ok(Arc::new(datafusion::common::Statistics::new_unknown(
                &self.schema(),
            )))
        }
    }
}
