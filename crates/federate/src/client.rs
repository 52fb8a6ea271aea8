//! Statements of clients of `pipelab serve`: planned with the client's session settings,
//! with the catalogs they read and change (for access control), and view changes run.

use std::collections::BTreeSet;

use datafusion::common::TableReference;
use datafusion::dataframe::DataFrame;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};

use crate::error::FederateError;
use crate::query_engine::QueryEngine;
use crate::views::kept_view_change;

/// Why a client's statement that changes tables or data is refused.
const VIEWS_ONLY: &str = "pipelab serve changes views only (CREATE VIEW, DROP VIEW): tables are \
                          made with pipelab run and pipelab lake";

/// A client's session settings (Trino's headers).
#[derive(Debug, Clone, Default)]
pub struct ClientSession {
    /// The catalog unqualified names are looked up in (`X-Trino-Catalog`).
    pub catalog: Option<String>,
    /// The schema unqualified names are looked up in (`X-Trino-Schema`).
    pub schema: Option<String>,
    /// DataFusion settings, such as `datafusion.execution.batch_size`.
    pub properties: Vec<(String, String)>,
}

/// A statement of a client of `pipelab serve`, planned.
pub enum ClientStatement {
    /// A query, to stream.
    Query(DataFrame),
    /// A `CREATE VIEW` or `DROP VIEW`, for [`QueryEngine::run_view_change`].
    ViewChange(DataFrame),
}

/// What kind of statement, before its DataFrame is made.
enum StatementKind {
    Query,
    ViewChange,
}

impl StatementKind {
    /// The planned statement of this kind.
    fn with(self, df: DataFrame) -> ClientStatement {
        match self {
            StatementKind::Query => ClientStatement::Query(df),
            StatementKind::ViewChange => ClientStatement::ViewChange(df),
        }
    }
}

/// The catalogs a statement reads (through views too) and changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// The catalogs of the tables it scans.
    pub reads: BTreeSet<String>,
    /// The catalogs of the views it makes or drops.
    pub writes: BTreeSet<String>,
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

/// The catalog `name` is in: its own, or `default_catalog` when it names none.
fn catalog_of(name: &TableReference, default_catalog: &str) -> String {
    name.catalog().unwrap_or(default_catalog).to_string()
}

impl QueryEngine {
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
        let state = self.client_state(sql, client)?;
        let defaults = &state.config_options().catalog;
        let default_catalog = defaults.default_catalog.clone();
        let default_schema = defaults.default_schema.clone();
        let (plan, sql) = self.logical_plan(&state, sql).await?;
        let sql = sql.as_str();
        let mut access = Access::default();
        access
            .add_reads(&plan, &default_catalog, &default_schema)
            .map_err(|e| self.sql_error(sql, e))?;
        let statement = self.statement_kind(&plan, sql, &mut access)?;
        let df = DataFrame::new(state, plan);
        Ok((statement.with(df), access))
    }

    /// The engine's session state with the client's catalog, schema and DataFusion
    /// settings; `sql` is for the error of a setting DataFusion refuses.
    fn client_state(
        &self,
        sql: &str,
        client: &ClientSession,
    ) -> Result<SessionState, FederateError> {
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
        Ok(state)
    }

    /// What kind of statement `plan` is, with the catalog of a view it makes or drops
    /// added to `access`'s writes. Other changes (tables, data) are refused.
    fn statement_kind(
        &self,
        plan: &LogicalPlan,
        sql: &str,
        access: &mut Access,
    ) -> Result<StatementKind, FederateError> {
        // A view is made in the engine's own session, whose default catalog a bare name
        // is taken in (not the client's).
        let engine_catalog = self.default_catalog();
        match plan {
            LogicalPlan::Ddl(DdlStatement::CreateView(view)) => {
                access
                    .writes
                    .insert(catalog_of(&view.name, &engine_catalog));
                Ok(StatementKind::ViewChange)
            }
            LogicalPlan::Ddl(DdlStatement::DropView(view)) => {
                access
                    .writes
                    .insert(catalog_of(&view.name, &engine_catalog));
                Ok(StatementKind::ViewChange)
            }
            LogicalPlan::Ddl(_) | LogicalPlan::Dml(_) | LogicalPlan::Copy(_) => {
                Err(self.sql_error(sql, VIEWS_ONLY))
            }
            _ => Ok(StatementKind::Query),
        }
    }

    /// Run a `CREATE VIEW` or `DROP VIEW` planned by [`Self::plan_for_client`], and keep
    /// it in the lake as `pipelab query` does.
    pub async fn run_view_change(&self, df: DataFrame) -> Result<(), FederateError> {
        let (_, plan) = df.into_parts();
        let kept = kept_view_change(&plan);
        let sql = plan.display().to_string();
        self.ctx
            .execute_logical_plan(plan)
            .await
            .map_err(|e| self.sql_error(&sql, e))?;
        self.keep(kept).await
    }
}
