//! Federated SQL: a DataFusion session with the lake's Delta tables registered by
//! name, or with the catalogs of a catalogs file ([`catalogs`]) as `catalog.schema.table`:
//! lakes, files and databases ([`databases`]), with what a query may run in a database
//! decided by [`pushdown`].

pub mod catalogs;
pub mod databases;
pub mod pushdown;
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
    Register(#[from] catalogs::RegisterError),
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
                catalogs::DEFAULT_SCHEMA,
            );
        let ctx = SessionContext::new_with_state(federated_state(config));
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
        Self::with_views(ctx, tables, display, lake).await
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
        })
    }

    /// Views kept in the lake that could not be created in this session, with why.
    pub fn broken_views(&self) -> &[(String, String)] {
        &self.broken_views
    }

    fn session() -> SessionContext {
        pipelab_lake::register_handlers();
        let config = SessionConfig::new().with_information_schema(true);
        SessionContext::new_with_config(config)
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

    /// [`Self::sql`], with what its scans read (from DataFusion's scan metrics).
    pub async fn sql_with_stats(
        &self,
        sql: &str,
    ) -> Result<(Vec<RecordBatch>, ScanStats), FederateError> {
        let default_catalog = self
            .ctx
            .state()
            .config_options()
            .catalog
            .default_catalog
            .clone();
        let rewritten = listing_statement(sql, &default_catalog);
        let sql = rewritten.as_deref().unwrap_or(sql);
        let plan = self
            .ctx
            .state()
            .create_logical_plan(sql)
            .await
            .map_err(|e| self.sql_error(sql, e))?;
        let kept = kept_view_change(&plan);
        let df = self
            .ctx
            .execute_logical_plan(plan)
            .await
            .map_err(|e| self.sql_error(sql, e))?;
        let (batches, stats) = collect_with_stats(df)
            .await
            .map_err(|e| self.sql_error(sql, e))?;
        match (kept, &self.location) {
            (Some(ViewChange::Create(view)), Some(location)) => location.save_view(view).await?,
            (Some(ViewChange::Drop(name)), Some(location)) => {
                location.drop_view(&name).await?;
            }
            // No lake to keep it in: the view lives in this session only.
            _ => {}
        }
        Ok((batches, stats))
    }

    /// Plan one query for a client of `pipelab serve`, with its session's catalog, schema
    /// and DataFusion settings (Trino's `X-Trino-Catalog`, `-Schema`, `-Session`), ready
    /// to stream. Statements that change the lake (views) are refused: they are made with
    /// `pipelab query`.
    pub async fn plan_for_client(
        &self,
        sql: &str,
        client: &ClientSession,
    ) -> Result<datafusion::dataframe::DataFrame, FederateError> {
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
        let rewritten = listing_statement(sql, &default_catalog);
        let sql = rewritten.as_deref().unwrap_or(sql);
        let plan = state
            .create_logical_plan(sql)
            .await
            .map_err(|e| self.sql_error(sql, e))?;
        if matches!(
            plan,
            LogicalPlan::Ddl(_) | LogicalPlan::Dml(_) | LogicalPlan::Copy(_)
        ) {
            return Err(self.sql_error(
                sql,
                "pipelab serve runs queries: tables and views are made with pipelab run and \
                 pipelab query",
            ));
        }
        Ok(datafusion::dataframe::DataFrame::new(state, plan))
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
fn federated_state(config: SessionConfig) -> datafusion::execution::SessionState {
    use datafusion::execution::SessionStateBuilder;
    use datafusion::optimizer::Optimizer;
    let mut rules = Optimizer::new().rules;
    rules.push(Arc::new(
        datafusion_federation::FederationOptimizerRule::new(),
    ));
    SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_optimizer_rules(rules)
        .with_query_planner(Arc::new(datafusion_federation::FederatedQueryPlanner::new()))
        .with_physical_optimizer_rule(Arc::new(source_metrics::CountDatabaseRows))
        .build()
}

/// `SHOW CATALOGS` and `SHOW SCHEMAS [FROM|IN catalog]`, which DataFusion does not
/// plan, as the queries over `information_schema` that answer them (Trino's column
/// names: `Catalog`, `Schema`).
fn listing_statement(sql: &str, default_catalog: &str) -> Option<String> {
    let text = sql.trim().trim_end_matches(';');
    let words: Vec<String> = text
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["SHOW", "CATALOGS"] => Some(
            "SELECT DISTINCT catalog_name AS \"Catalog\" FROM information_schema.schemata \
             ORDER BY 1"
                .to_string(),
        ),
        ["SHOW", "SCHEMAS"] => Some(schemas_of(default_catalog)),
        ["SHOW", "SCHEMAS", "FROM" | "IN", _] => {
            let catalog = text.split_whitespace().nth(3)?;
            Some(schemas_of(catalog.trim_matches('"')))
        }
        _ => None,
    }
}

fn schemas_of(catalog: &str) -> String {
    let catalog = catalog.replace('\'', "''");
    format!(
        "SELECT schema_name AS \"Schema\" FROM information_schema.schemata \
         WHERE catalog_name = '{catalog}' ORDER BY 1"
    )
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
