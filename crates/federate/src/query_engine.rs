//! The [`QueryEngine`]: a SQL session over a lake or the catalogs of a catalogs file,
//! and running statements in it. It is opened in `open`, and plans statements for
//! clients of `pipelab serve` in `client`.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;
use pipelab_lake::LakeLocation;

use crate::error::FederateError;
use crate::listing::listing_statement;
use crate::query_log::{self, QueryLog};
use crate::scan_stats::{ScanStats, collect_with_stats};
use crate::views::{self, ViewChange, kept_view_change};

/// A SQL session over one lake.
pub struct QueryEngine {
    /// The DataFusion session the tables are registered in.
    pub(crate) ctx: SessionContext,
    /// The tables registered, as their names are written.
    pub(crate) tables: Vec<String>,
    /// What the session is over, for messages: a lake's location, or the catalogs.
    pub(crate) lake: String,
    /// The lake views are kept in (the default catalog's, with a catalogs file).
    pub(crate) location: Option<LakeLocation>,
    /// Views kept in the lake that no longer plan (a table or column gone), with why.
    pub(crate) broken_views: Vec<(String, String)>,
    /// Where every query's events go, if anywhere.
    pub(crate) query_log: Option<Arc<QueryLog>>,
}

impl QueryEngine {
    /// Views kept in the lake that could not be created in this session, with why.
    pub fn broken_views(&self) -> &[(String, String)] {
        &self.broken_views
    }

    /// The tables registered, as their names are written in SQL.
    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    /// What the session is over: the lake's location (with `as of …` when time
    /// travelling), or `the catalogs …`.
    pub fn lake(&self) -> &str {
        &self.lake
    }

    /// The DataFusion session, for plans run outside [`Self::sql`].
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The catalog unqualified names are looked up in.
    pub(crate) fn default_catalog(&self) -> String {
        self.ctx
            .state()
            .config_options()
            .catalog
            .default_catalog
            .clone()
    }

    /// The query event log, when the catalogs file has a `[query_log]`.
    pub fn query_log(&self) -> Option<&Arc<QueryLog>> {
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

    /// Plan and run `sql`, then keep the view it makes or drops.
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
    pub(crate) async fn logical_plan(
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
    pub(crate) async fn keep(&self, change: Option<ViewChange>) -> Result<(), FederateError> {
        views::keep(change, self.location.as_ref()).await
    }

    /// The error of `sql`, with the tables there are when a table was not found.
    pub(crate) fn sql_error(
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
