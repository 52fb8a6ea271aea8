//! Loading rows into a database catalog's database: the table is dropped if it is there,
//! created with the rows' schema and filled, all through datafusion-table-providers (its
//! table factories map Arrow types to the database's and write the rows in batches). The
//! scenarios' operational data arrives this way.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{SchemaRef, UInt64Type};
use datafusion::catalog::TableProviderFactory;
use datafusion::common::{DFSchema, TableReference};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::CreateExternalTable;
use datafusion::prelude::SessionContext;
use datafusion_table_providers_mysql::MySQLTableProviderFactory;
use datafusion_table_providers_postgres::PostgresTableProviderFactory;
use datafusion_table_providers_sqlite::SqliteTableProviderFactory;
use secrecy::{ExposeSecret, SecretString};

use crate::databases::{BoxError, Database};
use crate::engine::Engine;
use crate::register::RegisterError;

impl Database {
    /// Replace `table` with `batches` (of `schema`): drop it if it exists, create it, insert
    /// every row. `catalog` names the database in errors. Returns the rows inserted.
    pub async fn replace_table(
        &self,
        catalog: &str,
        table: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<u64, RegisterError> {
        if self.engine == Engine::Sqlite {
            // A SQLite catalog must name an existing file (a typo is not a new database);
            // loading is what makes one.
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.address)
                .map_err(|e| self.error(catalog, e))?;
        }
        let pool = self.connect(catalog).await?;
        pool.execute(&format!("DROP TABLE IF EXISTS {}", self.quoted(table)))
            .await
            .map_err(|e| self.error(catalog, e))?;
        self.insert_new(table, schema, batches)
            .await
            .map_err(|e| self.error(catalog, e))
    }

    /// Create `table` through the engine's table factory and insert the rows with
    /// DataFusion's `INSERT INTO`.
    async fn insert_new(
        &self,
        table: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<u64, BoxError> {
        let (factory, options): (Arc<dyn TableProviderFactory>, _) = match self.engine {
            Engine::Postgres => (
                Arc::new(PostgresTableProviderFactory::new()),
                exposed(self.postgres_params()?),
            ),
            Engine::MySql => (
                Arc::new(MySQLTableProviderFactory::new()),
                exposed(self.mysql_params()?),
            ),
            Engine::Sqlite => (
                Arc::new(SqliteTableProviderFactory::new()),
                HashMap::from([
                    ("file".to_string(), self.address.clone()),
                    ("mode".to_string(), "file".to_string()),
                ]),
            ),
        };
        let df_schema = Arc::new(DFSchema::try_from(Arc::clone(&schema))?);
        let create = CreateExternalTable::builder(
            TableReference::bare(table),
            String::new(),
            self.engine.name(),
            df_schema,
        )
        .with_options(options)
        .build();
        let ctx = SessionContext::new();
        let target = factory.create(&ctx.state(), &create).await?;
        ctx.register_table("pipelab_target", target)?;
        let rows = MemTable::try_new(schema, vec![batches])?;
        ctx.register_table("pipelab_rows", Arc::new(rows))?;
        let done = ctx
            .sql("INSERT INTO pipelab_target SELECT * FROM pipelab_rows")
            .await?
            .collect()
            .await?;
        // INSERT answers one row: the count.
        Ok(done
            .first()
            .and_then(|b| b.column(0).as_primitive_opt::<UInt64Type>())
            .map_or(0, |c| c.value(0)))
    }

    /// A table name quoted for the engine's SQL.
    fn quoted(&self, table: &str) -> String {
        match self.engine {
            Engine::MySql => format!("`{}`", table.replace('`', "``")),
            _ => format!("\"{}\"", table.replace('"', "\"\"")),
        }
    }
}

/// The providers' factories take their options as plain strings.
fn exposed(params: HashMap<String, SecretString>) -> HashMap<String, String> {
    params
        .into_iter()
        .map(|(k, v)| (k, v.expose_secret().to_string()))
        .collect()
}
