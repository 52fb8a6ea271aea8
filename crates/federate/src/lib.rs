//! Federated SQL: a DataFusion session with the lake's Delta tables registered by
//! name, or with the catalogs of a catalogs file ([`catalogs`]) as `catalog.schema.table`:
//! lakes, files and databases ([`databases`]), with what a query may run in a database
//! decided by [`pushdown`].

pub mod catalogs;
pub mod databases;
mod dynamic_where;
mod engine;
pub mod json;
pub mod kafka;
pub mod pushdown;
pub mod query_log;
mod register;
mod semi_join_build;
pub mod source_metrics;

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::DFParser;
use pipelab_lake::views::ViewDef;
use pipelab_lake::{AsOf, LakeError, LakeLocation};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum FederateError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Catalogs(#[from] catalogs::CatalogsError),
    #[error(transparent)]
    Register(#[from] register::RegisterError),
    #[error(transparent)]
    QueryLog(#[from] Box<query_log::QueryLogError>),
    #[error("{source}\n  in SQL: {sql}{hint}")]
    Sql {
        sql: String,
        /// DataFusion's error, or its SQL parser's.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        hint: String,
    },
}

impl FederateError {
    /// True when the user can fix this in the SQL or the lake settings; false when
    /// reading the data failed (storage unreachable, files missing or unreadable).
    pub fn is_user_fixable(&self) -> bool {
        match self {
            FederateError::Lake(e) => e.is_user_fixable(),
            FederateError::Catalogs(_) => true,
            FederateError::Register(e) => e.is_user_fixable(),
            FederateError::QueryLog(_) => false,
            FederateError::Sql { source, .. } => {
                let source = source.as_ref() as &(dyn std::error::Error + 'static);
                pipelab_lake::storage_refused(source) || !pipelab_lake::storage_failed(source)
            }
        }
    }
}

/// Run a DataFrame to the end, with what its scans read.
pub async fn collect_with_stats(
    df: datafusion::dataframe::DataFrame,
) -> datafusion::error::Result<(Vec<RecordBatch>, ScanStats)> {
    let task = Arc::new(df.task_ctx());
    let physical = df.create_physical_plan().await?;
    let batches = datafusion::physical_plan::collect(physical.clone(), task).await?;
    Ok((batches, ScanStats::of(&physical)))
}

/// What the scans of one executed query read: the Parquet files they opened (after
/// partition and file pruning) and the bytes DataFusion's Parquet reader fetched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Files the scans were planned over.
    pub files: usize,
    /// Directories (partitions) those files are in.
    pub partitions: usize,
    /// Those files' sizes, summed.
    pub file_bytes: u64,
    /// Bytes read from them (`bytes_scanned`: footers, pages of the columns needed).
    pub bytes_scanned: u64,
}

impl ScanStats {
    /// Summed over every file scan in an executed plan. A file DataFusion splits into
    /// byte ranges over several partitions is counted once.
    pub fn of(plan: &Arc<dyn ExecutionPlan>) -> Self {
        let mut stats = Self::default();
        let mut files = std::collections::HashMap::new();
        stats.add(plan, &mut files);
        stats.files = files.len();
        stats.file_bytes = files.values().sum();
        stats.partitions = files
            .keys()
            .map(|path| path.rsplit_once('/').map_or("", |(dir, _)| dir))
            .collect::<std::collections::HashSet<_>>()
            .len();
        stats
    }

    /// Adds the bytes read; collects each file's URL and size into `files`.
    fn add(
        &mut self,
        plan: &Arc<dyn ExecutionPlan>,
        files: &mut std::collections::HashMap<String, u64>,
    ) {
        if let Some(exec) = plan.downcast_ref::<DataSourceExec>()
            && let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>()
        {
            for file in config.file_groups.iter().flat_map(|g| g.iter()) {
                let url = format!(
                    "{}{}",
                    config.object_store_url.as_str(),
                    file.object_meta.location
                );
                files.insert(url, file.object_meta.size);
            }
            if let Some(metrics) = plan.metrics()
                && let Some(bytes) = metrics.sum_by_name("bytes_scanned")
            {
                self.bytes_scanned += bytes.as_usize() as u64;
            }
        }
        for child in plan.children() {
            self.add(child, files);
        }
    }
}

impl std::fmt::Display for ScanStats {
    /// `scanned 3 file(s) of 1234567 bytes, read 310112 bytes`: exact counts, for scripts.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scanned {} file(s) of {} bytes, read {} bytes",
            self.files, self.file_bytes, self.bytes_scanned
        )
    }
}

/// A SQL session over one lake.
pub struct QueryEngine {
    ctx: SessionContext,
    tables: Vec<String>,
    lake: String,
    /// The lake views are kept in (the default catalog's, with a catalogs file).
    location: Option<LakeLocation>,
    /// Views kept in the lake that no longer plan (a table or column gone), with why.
    broken_views: Vec<(String, String)>,
    /// Where every query's events go, if anywhere.
    query_log: Option<Arc<query_log::QueryLog>>,
}

impl QueryEngine {
    /// Register every Delta table found at the lake location.
    pub async fn open(lake: &LakeLocation) -> Result<Self, FederateError> {
        let ctx = Self::session();
        let tables = pipelab_lake::register_lake(&ctx, lake).await?;
        Self::with_views(ctx, tables, lake.display(), Some(lake.clone())).await
    }

    /// Register every Delta table as it was at `at` (time travel). Also returns the
    /// tables that did not exist yet then, which are left out.
    pub async fn open_as_of(
        lake: &LakeLocation,
        at: AsOf,
    ) -> Result<(Self, Vec<String>), FederateError> {
        let ctx = Self::session();
        let (tables, absent) = pipelab_lake::register_lake_as_of(&ctx, lake, at).await?;
        let display = format!("{} as of {at}", lake.display());
        let engine = Self::with_views(ctx, tables, display, Some(lake.clone())).await?;
        Ok((engine, absent))
    }

    /// Register every catalog of a catalogs file, as `catalog.schema.table`; unqualified
    /// names are looked up in the default catalog's schema `default`, whose lake (if it is
    /// one) keeps the views.
    pub async fn open_catalogs(catalogs: &catalogs::Catalogs) -> Result<Self, FederateError> {
        pipelab_lake::register_handlers();
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(
                catalogs.default_catalog.as_str(),
                register::DEFAULT_SCHEMA,
            );
        let ctx = SessionContext::new_with_state(federated_state(config));
        ctx.register_udf(json::json_parse());
        let tables = catalogs.register(&ctx).await?;
        let display = format!(
            "the catalogs {}",
            catalogs
                .catalogs
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
        let lake = catalogs.default_lake()?;
        let mut engine = Self::with_views(ctx, tables, display, lake).await?;
        if let Some(config) = &catalogs.query_log {
            engine.query_log = Some(Arc::new(
                query_log::QueryLog::connect(config.clone())
                    .await
                    .map_err(Box::new)?,
            ));
        }
        Ok(engine)
    }

    /// Create the lake's kept views in the session, in the order they were made (a view
    /// may use an earlier one). One that no longer plans is left out, not fatal.
    async fn with_views(
        ctx: SessionContext,
        tables: Vec<String>,
        lake: String,
        location: Option<LakeLocation>,
    ) -> Result<Self, FederateError> {
        let mut broken_views = Vec::new();
        let views = match &location {
            Some(location) => location.views().await?,
            None => Vec::new(),
        };
        for view in views {
            if let Err(e) = ctx.sql(&view.definition).await {
                tracing::warn!(view = %view.name, "view left out: {e}");
                broken_views.push((view.name, e.to_string()));
            }
        }
        Ok(Self {
            ctx,
            tables,
            lake,
            location,
            broken_views,
            query_log: None,
        })
    }

    /// Views kept in the lake that could not be created in this session, with why.
    pub fn broken_views(&self) -> &[(String, String)] {
        &self.broken_views
    }

    fn session() -> SessionContext {
        pipelab_lake::register_handlers();
        let config = SessionConfig::new().with_information_schema(true);
        let ctx = SessionContext::new_with_config(config);
        ctx.register_udf(json::json_parse());
        ctx
    }

    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    pub fn lake(&self) -> &str {
        &self.lake
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The catalog unqualified names are looked up in.
    fn default_catalog(&self) -> String {
        self.ctx
            .state()
            .config_options()
            .catalog
            .default_catalog
            .clone()
    }

    /// The query event log, when the catalogs file has a `[query_log]`.
    pub fn query_log(&self) -> Option<&Arc<query_log::QueryLog>> {
        self.query_log.as_ref()
    }

    /// Split a script into its statements (`;`-separated, quotes and comments
    /// respected), each as SQL text that [`QueryEngine::sql`] runs.
    pub fn split_statements(&self, script: &str) -> Result<Vec<String>, FederateError> {
        let statements = DFParser::parse_sql(script).map_err(|e| self.sql_error(script, e))?;
        Ok(statements.iter().map(ToString::to_string).collect())
    }

    /// Plan and run one SQL statement, collecting its result. `CREATE VIEW` and `DROP
    /// VIEW` (not `TEMPORARY`) are also kept in the lake, for every later session.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>, FederateError> {
        Ok(self.sql_with_stats(sql).await?.0)
    }

    /// [`Self::sql`], with what its scans read (from DataFusion's scan metrics). With a
    /// query log, the statement is logged as submitted before it runs and as finished
    /// (or failed) after.
    pub async fn sql_with_stats(
        &self,
        sql: &str,
    ) -> Result<(Vec<RecordBatch>, ScanStats), FederateError> {
        let Some(log) = &self.query_log else {
            return self.run_sql(sql).await;
        };
        let user = std::env::var("USER").unwrap_or_else(|_| "pipelab".to_string());
        let query = query_log::LoggedQuery::new(query_log::new_query_id(), user, sql, "query");
        log.submitted(&query).await.map_err(Box::new)?;
        let mut guard = query_log::FinishGuard::new(Arc::clone(log), query);
        let result = self.run_sql(sql).await;
        if let Ok((batches, _)) = &result {
            batches.iter().for_each(|b| guard.add(b));
        }
        guard.ended(result.as_ref().err()).await;
        result
    }

    async fn run_sql(&self, sql: &str) -> Result<(Vec<RecordBatch>, ScanStats), FederateError> {
        let (plan, sql) = self.logical_plan(&self.ctx.state(), sql).await?;
        let sql = sql.as_str();
        let kept = kept_view_change(&plan);
        let df = self
            .ctx
            .execute_logical_plan(plan)
            .await
            .map_err(|e| self.sql_error(sql, e))?;
        let (batches, stats) = collect_with_stats(df)
            .await
            .map_err(|e| self.sql_error(sql, e))?;
        self.keep(kept).await?;
        Ok((batches, stats))
    }

    /// Plan `sql` in `state`, Trino's listings (`SHOW TABLES`, …) rewritten first; with
    /// the SQL planned, for messages.
    async fn logical_plan(
        &self,
        state: &datafusion::execution::SessionState,
        sql: &str,
    ) -> Result<(LogicalPlan, String), FederateError> {
        let defaults = &state.config_options().catalog;
        let sql = listing_statement(sql, &defaults.default_catalog, &defaults.default_schema)
            .unwrap_or_else(|| sql.to_string());
        let plan = state
            .create_logical_plan(&sql)
            .await
            .map_err(|e| self.sql_error(&sql, e))?;
        Ok((plan, sql))
    }

    /// Keep a view made or dropped in the lake, for every later session.
    async fn keep(&self, change: Option<ViewChange>) -> Result<(), FederateError> {
        match (change, &self.location) {
            (Some(ViewChange::Create(view)), Some(location)) => location.save_view(view).await?,
            (Some(ViewChange::Drop(name)), Some(location)) => {
                location.drop_view(&name).await?;
            }
            // No lake to keep it in: the view lives in this session only.
            _ => {}
        }
        Ok(())
    }

    /// Plan one statement for a client of `pipelab serve`, with its session's catalog,
    /// schema and DataFusion settings (Trino's `X-Trino-Catalog`, `-Schema`, `-Session`),
    /// and the catalogs it reads and changes (for access control). Queries are ready to
    /// stream; of the statements that change something, `CREATE VIEW` and `DROP VIEW` are
    /// taken ([`Self::run_view_change`] keeps them in the lake), others are refused.
    pub async fn plan_for_client(
        &self,
        sql: &str,
        client: &ClientSession,
    ) -> Result<(ClientStatement, Access), FederateError> {
        let mut state = self.ctx.state();
        let options = state.config_mut().options_mut();
        if let Some(catalog) = &client.catalog {
            options.catalog.default_catalog = catalog.clone();
        }
        if let Some(schema) = &client.schema {
            options.catalog.default_schema = schema.clone();
        }
        for (key, value) in &client.properties {
            options
                .set(key, value)
                .map_err(|e| self.sql_error(sql, e))?;
        }
        let default_catalog = options.catalog.default_catalog.clone();
        let default_schema = options.catalog.default_schema.clone();
        let (plan, sql) = self.logical_plan(&state, sql).await?;
        let sql = sql.as_str();
        let mut access = Access::default();
        access
            .add_reads(&plan, &default_catalog, &default_schema)
            .map_err(|e| self.sql_error(sql, e))?;
        // A view is made in the engine's own session, whose default catalog a bare name
        // is taken in (not the client's).
        let engine_catalog = self.default_catalog();
        let statement = match &plan {
            LogicalPlan::Ddl(DdlStatement::CreateView(view)) => {
                access
                    .writes
                    .insert(catalog_of(&view.name, &engine_catalog));
                StatementKind::ViewChange
            }
            LogicalPlan::Ddl(DdlStatement::DropView(view)) => {
                access
                    .writes
                    .insert(catalog_of(&view.name, &engine_catalog));
                StatementKind::ViewChange
            }
            LogicalPlan::Ddl(_) | LogicalPlan::Dml(_) | LogicalPlan::Copy(_) => {
                return Err(self.sql_error(
                    sql,
                    "pipelab serve changes views only (CREATE VIEW, DROP VIEW): tables are \
                     made with pipelab run and pipelab lake",
                ));
            }
            _ => StatementKind::Query,
        };
        let df = datafusion::dataframe::DataFrame::new(state, plan);
        Ok((statement.with(df), access))
    }

    /// Run a `CREATE VIEW` or `DROP VIEW` planned by [`Self::plan_for_client`], and keep
    /// it in the lake as `pipelab query` does.
    pub async fn run_view_change(
        &self,
        df: datafusion::dataframe::DataFrame,
    ) -> Result<(), FederateError> {
        let (_, plan) = df.into_parts();
        let kept = kept_view_change(&plan);
        let sql = plan.display().to_string();
        self.ctx
            .execute_logical_plan(plan)
            .await
            .map_err(|e| self.sql_error(&sql, e))?;
        self.keep(kept).await
    }

    fn sql_error(
        &self,
        sql: &str,
        e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> FederateError {
        let source = e.into();
        let message = source.to_string();
        // The most common mistake is a table name: say which ones exist.
        let hint = if message.contains("not found") && message.contains("table") {
            if self.tables.is_empty() {
                format!("\n  the lake at {} has no tables yet", self.lake)
            } else {
                format!("\n  tables in {}: {}", self.lake, self.tables.join(", "))
            }
        } else {
            String::new()
        };
        FederateError::Sql {
            sql: sql.trim().to_string(),
            source,
            hint,
        }
    }
}

/// A session that hands the parts of a plan over one database's tables to that database.
///
/// datafusion-federation's default puts its rule early, right after subqueries become
/// joins, so filters and projections are not yet pushed down to the scans: a filter above
/// a join with a lake table would not reach the database, and every column would be
/// fetched. Here it runs after DataFusion's own rules, over the plan they made, and
/// [`pushdown`] keeps in DataFusion what a database would compute differently.
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

/// Trino's `SHOW CATALOGS`, `SHOW SCHEMAS [FROM|IN catalog]` and `SHOW TABLES [FROM|IN
/// [catalog.]schema]` (each with an optional `LIKE 'pattern'`), which DataFusion does not
/// plan as Trino does, as the queries over `information_schema` that answer them, with
/// Trino's column names (`Catalog`, `Schema`, `Table`). `SHOW TABLES` lists the current
/// schema's tables, as in Trino.
fn listing_statement(sql: &str, default_catalog: &str, default_schema: &str) -> Option<String> {
    let text = sql.trim().trim_end_matches(';');
    let original: Vec<&str> = text.split_whitespace().collect();
    let upper: Vec<String> = original.iter().map(|w| w.to_ascii_uppercase()).collect();
    let words: Vec<&str> = upper.iter().map(String::as_str).collect();
    // A trailing LIKE 'pattern' filters the one column listed.
    let (words, like) = match words.as_slice() {
        [head @ .., "LIKE", _] => (head, Some(original[words.len() - 1])),
        all => (all, None),
    };
    let name = |i: usize| original[i].trim_matches('"');
    let (query, column) = match words {
        ["SHOW", "CATALOGS"] => (
            "SELECT DISTINCT catalog_name AS \"Catalog\" FROM information_schema.schemata \
             WHERE true"
                .to_string(),
            "catalog_name",
        ),
        ["SHOW", "SCHEMAS"] => (schemas_of(default_catalog), "schema_name"),
        ["SHOW", "SCHEMAS", "FROM" | "IN", _] => (schemas_of(name(3)), "schema_name"),
        ["SHOW", "TABLES"] => (tables_of(default_catalog, default_schema), "table_name"),
        ["SHOW", "TABLES", "FROM" | "IN", _] => {
            let (catalog, schema) = match name(3).split_once('.') {
                Some((catalog, schema)) => (catalog.trim_matches('"'), schema.trim_matches('"')),
                None => (default_catalog, name(3)),
            };
            (tables_of(catalog, schema), "table_name")
        }
        _ => return None,
    };
    let filter = match like {
        // The pattern is kept as written: a quoted SQL string.
        Some(pattern) => format!(" AND {column} LIKE {pattern}"),
        None => String::new(),
    };
    Some(format!("{query}{filter} ORDER BY 1"))
}

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn schemas_of(catalog: &str) -> String {
    format!(
        "SELECT schema_name AS \"Schema\" FROM information_schema.schemata \
         WHERE catalog_name = {}",
        quoted(catalog)
    )
}

fn tables_of(catalog: &str, schema: &str) -> String {
    format!(
        "SELECT table_name AS \"Table\" FROM information_schema.tables \
         WHERE table_catalog = {} AND table_schema = {}",
        quoted(catalog),
        quoted(schema)
    )
}

/// A statement of a client of `pipelab serve`, planned.
pub enum ClientStatement {
    /// A query, to stream.
    Query(datafusion::dataframe::DataFrame),
    /// A `CREATE VIEW` or `DROP VIEW`, for [`QueryEngine::run_view_change`].
    ViewChange(datafusion::dataframe::DataFrame),
}

/// What kind of statement, before its DataFrame is made.
enum StatementKind {
    Query,
    ViewChange,
}

impl StatementKind {
    fn with(self, df: datafusion::dataframe::DataFrame) -> ClientStatement {
        match self {
            StatementKind::Query => ClientStatement::Query(df),
            StatementKind::ViewChange => ClientStatement::ViewChange(df),
        }
    }
}

/// The catalogs a statement reads (through views too) and changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    pub reads: std::collections::BTreeSet<String>,
    pub writes: std::collections::BTreeSet<String>,
}

impl Access {
    /// Add the catalog of every table `plan` scans, in subqueries and in the plans of
    /// the views it names (a view must not open a catalog its reader may not read).
    fn add_reads(
        &mut self,
        plan: &LogicalPlan,
        default_catalog: &str,
        default_schema: &str,
    ) -> datafusion::error::Result<()> {
        use datafusion::common::tree_node::TreeNodeRecursion;
        plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                let table = scan
                    .table_name
                    .clone()
                    .resolve(default_catalog, default_schema);
                self.reads.insert(table.catalog.to_string());
                if let Ok(provider) = datafusion::datasource::source_as_provider(&scan.source)
                    && let Some(view) = provider.get_logical_plan()
                {
                    self.add_reads(&view, default_catalog, default_schema)?;
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok(())
    }
}

fn catalog_of(name: &datafusion::common::TableReference, default_catalog: &str) -> String {
    name.catalog().unwrap_or(default_catalog).to_string()
}

/// A client's session settings (Trino's headers).
#[derive(Debug, Clone, Default)]
pub struct ClientSession {
    pub catalog: Option<String>,
    pub schema: Option<String>,
    /// DataFusion settings, such as `datafusion.execution.batch_size`.
    pub properties: Vec<(String, String)>,
}

/// A view statement whose effect is kept in the lake.
enum ViewChange {
    Create(ViewDef),
    Drop(String),
}

fn kept_view_change(plan: &LogicalPlan) -> Option<ViewChange> {
    match plan {
        LogicalPlan::Ddl(DdlStatement::CreateView(create)) if !create.temporary => {
            let definition = create.definition.clone()?;
            Some(ViewChange::Create(ViewDef {
                name: create.name.table().to_string(),
                definition,
            }))
        }
        LogicalPlan::Ddl(DdlStatement::DropView(drop)) => {
            Some(ViewChange::Drop(drop.name.table().to_string()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::listing_statement;

    #[test]
    fn trinos_listings_become_information_schema_queries() {
        let listed = |sql: &str| listing_statement(sql, "lake", "default");
        assert_eq!(
            listed("show tables").unwrap(),
            "SELECT table_name AS \"Table\" FROM information_schema.tables \
             WHERE table_catalog = 'lake' AND table_schema = 'default' ORDER BY 1"
        );
        assert!(
            listed("SHOW TABLES FROM pg.public LIKE 'pl%';")
                .unwrap()
                .ends_with("table_catalog = 'pg' AND table_schema = 'public' AND table_name LIKE 'pl%' ORDER BY 1")
        );
        assert!(
            listed("SHOW TABLES IN test")
                .unwrap()
                .contains("table_catalog = 'lake' AND table_schema = 'test'")
        );
        assert!(
            listed("SHOW CATALOGS LIKE 'p%'")
                .unwrap()
                .contains("WHERE true AND catalog_name LIKE 'p%'")
        );
        assert!(
            listed("SHOW SCHEMAS FROM \"my\"")
                .unwrap()
                .contains("catalog_name = 'my'")
        );
        assert_eq!(listed("SELECT 1"), None);
    }
}
