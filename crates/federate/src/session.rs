//! The DataFusion sessions queries run in: one over a lake's tables, or one federated
//! over the catalogs of a catalogs file, which hands what it may to each database.

use std::sync::Arc;

use datafusion::prelude::{SessionConfig, SessionContext};

use crate::{json, register, semi_join_build, source_metrics};

/// A session for one lake's tables, with information_schema and `json_parse`.
pub(crate) fn lake() -> SessionContext {
    pipelab_lake::register_handlers();
    let config = SessionConfig::new().with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    ctx.register_udf(json::json_parse());
    ctx
}

/// A session for the catalogs of a catalogs file: unqualified names are looked up in
/// `default_catalog`'s schema `default`, and plans are federated ([`federated_state`]).
pub(crate) fn federated(default_catalog: &str) -> SessionContext {
    pipelab_lake::register_handlers();
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_create_default_catalog_and_schema(false)
        .with_default_catalog_and_schema(default_catalog, register::DEFAULT_SCHEMA);
    let ctx = SessionContext::new_with_state(federated_state(config));
    ctx.register_udf(json::json_parse());
    ctx
}

/// A session that hands the parts of a plan over one database's tables to that database.
///
/// datafusion-federation's default puts its rule early, right after subqueries become
/// joins, so filters and projections are not yet pushed down to the scans: a filter above
/// a join with a lake table would not reach the database, and every column would be
/// fetched. Here it runs after DataFusion's own rules, over the plan they made, and
/// [`crate::pushdown`] keeps in DataFusion what a database would compute differently.
fn federated_state(mut config: SessionConfig) -> datafusion::execution::SessionState {
    use datafusion::execution::SessionStateBuilder;
    use datafusion::optimizer::Optimizer;
    // A hash join's build side reaches a database scan as an IN list of up to this many
    // keys (above it, only the keys' range): the rows a selective join fetches from a
    // database are then the matching ones (see `dynamic_where`).
    let optimizer = &mut config.options_mut().optimizer;
    optimizer.hash_join_inlist_pushdown_max_distinct_values = 5000;
    optimizer.hash_join_inlist_pushdown_max_size = 1 << 20;
    let mut rules = Optimizer::new().rules;
    rules.push(Arc::new(
        datafusion_federation::FederationOptimizerRule::new(),
    ));
    SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_optimizer_rules(rules)
        .with_query_planner(Arc::new(datafusion_federation::FederatedQueryPlanner::new()))
        .with_physical_optimizer_rules(physical_rules())
        .build()
}

/// DataFusion's physical rules, with semi and anti joins built on the subquery's side
/// where DataFusion cannot compare the sides (right after its `JoinSelection`), and every
/// database scan counted for `EXPLAIN ANALYZE` (last).
fn physical_rules()
-> Vec<Arc<dyn datafusion::physical_optimizer::PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules;
    let after = rules
        .iter()
        .position(|r| r.name() == "join_selection")
        .map_or(0, |i| i + 1);
    rules.insert(after, Arc::new(semi_join_build::SubqueryBuildSide));
    rules.push(Arc::new(source_metrics::CountDatabaseRows));
    rules
}
