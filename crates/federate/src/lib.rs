//! Federated SQL: a DataFusion session with the lake's Delta tables registered by
//! name. (Catalogs for PostgreSQL, MySQL and SQLite, and the Trino protocol, join
//! here later.)

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::DFParser;
use pipelab_lake::views::ViewDef;
use pipelab_lake::{AsOf, LakeError, LakeLocation};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum FederateError {
    #[error(transparent)]
    Lake(#[from] LakeError),
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
            FederateError::Sql { source, .. } => {
                let source = source.as_ref() as &(dyn std::error::Error + 'static);
                pipelab_lake::storage_refused(source) || !pipelab_lake::storage_failed(source)
            }
        }
    }
}

/// A SQL session over one lake.
pub struct QueryEngine {
    ctx: SessionContext,
    tables: Vec<String>,
    lake: String,
    location: LakeLocation,
    /// Views kept in the lake that no longer plan (a table or column gone), with why.
    broken_views: Vec<(String, String)>,
}

impl QueryEngine {
    /// Register every Delta table found at the lake location.
    pub async fn open(lake: &LakeLocation) -> Result<Self, FederateError> {
        let ctx = Self::session();
        let tables = pipelab_lake::register_lake(&ctx, lake).await?;
        Self::with_views(ctx, tables, lake.display(), lake).await
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
        let engine = Self::with_views(ctx, tables, display, lake).await?;
        Ok((engine, absent))
    }

    /// Create the lake's kept views in the session, in the order they were made (a view
    /// may use an earlier one). One that no longer plans is left out, not fatal.
    async fn with_views(
        ctx: SessionContext,
        tables: Vec<String>,
        lake: String,
        location: &LakeLocation,
    ) -> Result<Self, FederateError> {
        let mut broken_views = Vec::new();
        for view in location.views().await? {
            if let Err(e) = ctx.sql(&view.definition).await {
                tracing::warn!(view = %view.name, "view left out: {e}");
                broken_views.push((view.name, e.to_string()));
            }
        }
        Ok(Self {
            ctx,
            tables,
            lake,
            location: location.clone(),
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
        let batches = df.collect().await.map_err(|e| self.sql_error(sql, e))?;
        match kept {
            Some(ViewChange::Create(view)) => self.location.save_view(view).await?,
            Some(ViewChange::Drop(name)) => {
                self.location.drop_view(&name).await?;
            }
            None => {}
        }
        Ok(batches)
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
