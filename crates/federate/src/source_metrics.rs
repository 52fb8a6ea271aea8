//! What each database sent back, for `EXPLAIN ANALYZE`: every scan of a database (the
//! federation's `VirtualExecutionPlan`, whose line shows the SQL sent) is wrapped in a
//! [`DatabaseRowsExec`] that counts the rows and the Arrow bytes it received.

use std::fmt;
use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::execution::TaskContext;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
    SendableRecordBatchStream,
};
use futures::TryStreamExt;

/// The name datafusion-federation gives the plan that runs SQL in a database.
const DATABASE_SCAN: &str = "sql_federation_exec";

/// Counts what one database scan returns.
#[derive(Debug)]
pub struct DatabaseRowsExec {
    input: Arc<dyn ExecutionPlan>,
    metrics: ExecutionPlanMetricsSet,
}

impl DatabaseRowsExec {
    fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        Self {
            input,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for DatabaseRowsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "DatabaseRowsExec")
    }
}

impl ExecutionPlan for DatabaseRowsExec {
    fn name(&self) -> &str {
        "DatabaseRowsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(Self::new(input))),
            _ => Err(datafusion::error::DataFusionError::Internal(
                "DatabaseRowsExec has one input".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let stream = self.input.execute(partition, context)?;
        let rows = MetricBuilder::new(&self.metrics).counter("rows_received", partition);
        let bytes = MetricBuilder::new(&self.metrics).counter("arrow_bytes_received", partition);
        let counted = stream.inspect_ok(move |batch| {
            rows.add(batch.num_rows());
            bytes.add(batch.get_array_memory_size());
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.input.schema(),
            counted,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The physical rule that puts a [`DatabaseRowsExec`] above every database scan.
#[derive(Debug, Default)]
pub struct CountDatabaseRows;

impl PhysicalOptimizerRule for CountDatabaseRows {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if node.name() == DATABASE_SCAN {
                Ok(Transformed::yes(
                    Arc::new(DatabaseRowsExec::new(node)) as Arc<dyn ExecutionPlan>
                ))
            } else {
                Ok(Transformed::no(node))
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "count_database_rows"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Rows every database scan of an executed plan received, summed.
pub fn rows_received(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let own = match plan.downcast_ref::<DatabaseRowsExec>() {
        Some(exec) => exec
            .metrics
            .clone_inner()
            .sum_by_name("rows_received")
            .map_or(0, |m| m.as_usize() as u64),
        None => 0,
    };
    own + plan.children().into_iter().map(rows_received).sum::<u64>()
}
