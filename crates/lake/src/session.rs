//! DataFusion sessions for querying lake tables.
//!
//! deltalake 1.1's scan hands every filter on a data column to the Parquet reader as a
//! row filter (`with_pushdown_filters(true)`), whatever the session says. A row filter
//! decodes the filter's columns first and then the others for the surviving rows, in two
//! passes per file: on small files, or where matching rows are scattered (purchases among
//! clicks), it costs more than it saves, and it is why DataFusion leaves
//! `datafusion.execution.parquet.pushdown_filters` off by default. [`RowFiltersAsConfigured`]
//! gives that setting back before any other physical optimisation: the predicate stays on
//! the scan for row-group, page-index and bloom-filter pruning, and the filter above the
//! scan (deltalake reports data-column filters as inexact, so DataFusion plans one, and
//! a scan without row filters does not absorb it) selects the rows.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::physical_plan::{FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};

/// A session for lake queries: DataFusion's defaults with `config`, the lake's URL
/// handlers, and Parquet row filters only where the configuration asks for them.
pub fn lake_session(config: SessionConfig) -> SessionContext {
    crate::register_handlers();
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build();
    // First: DataFusion's FilterPushdown rule moves a filter into a scan that takes row
    // filters and drops it from the plan, so the scans must say no before it asks.
    let mut rules = state.physical_optimizers().to_vec();
    rules.insert(0, Arc::new(RowFiltersAsConfigured));
    let state = SessionStateBuilder::new_from_existing(state)
        .with_physical_optimizer_rules(rules)
        .build();
    SessionContext::new_with_state(state)
}

/// Turns a Parquet scan's row filter off unless
/// `datafusion.execution.parquet.pushdown_filters` is on; its predicate stays for pruning.
#[derive(Debug, Default)]
pub struct RowFiltersAsConfigured;

impl PhysicalOptimizerRule for RowFiltersAsConfigured {
    fn name(&self) -> &str {
        "row_filters_as_configured"
    }

    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if config.execution.parquet.pushdown_filters {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some((scan, parquet)) = exec.downcast_to_file_source::<ParquetSource>() else {
                return Ok(Transformed::no(node));
            };
            if !parquet.table_parquet_options().global.pushdown_filters {
                return Ok(Transformed::no(node));
            }
            let source = parquet.clone().with_pushdown_filters(false);
            let scan = FileScanConfigBuilder::from(scan.clone())
                .with_source(Arc::new(source))
                .build();
            Ok(Transformed::yes(DataSourceExec::from_data_source(scan)))
        })
        .map(|t| t.data)
    }

    fn schema_check(&self) -> bool {
        true
    }
}
