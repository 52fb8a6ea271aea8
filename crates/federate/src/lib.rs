//! Federated SQL: a DataFusion session with the lake's Delta tables registered by
//! name. (Catalogs for PostgreSQL, MySQL and SQLite, and the Trino protocol, join
//! here later.)

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::DFParser;
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
}

impl QueryEngine {
    /// Register every Delta table found at the lake location.
    pub async fn open(lake: &LakeLocation) -> Result<Self, FederateError> {
        let ctx = Self::session();
        let tables = pipelab_lake::register_lake(&ctx, lake).await?;
        Ok(Self {
            ctx,
            tables,
            lake: lake.display(),
        })
    }

    /// Register every Delta table as it was at `at` (time travel). Also returns the
    /// tables that did not exist yet then, which are left out.
    pub async fn open_as_of(
        lake: &LakeLocation,
        at: AsOf,
    ) -> Result<(Self, Vec<String>), FederateError> {
        let ctx = Self::session();
        let (tables, absent) = pipelab_lake::register_lake_as_of(&ctx, lake, at).await?;
        let engine = Self {
            ctx,
            tables,
            lake: format!("{} as of {at}", lake.display()),
        };
        Ok((engine, absent))
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

    /// Plan and run one SQL statement, collecting its result.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>, FederateError> {
        let df = self
            .ctx
            .sql(sql)
            .await
            .map_err(|e| self.sql_error(sql, e))?;
        df.collect().await.map_err(|e| self.sql_error(sql, e))
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
