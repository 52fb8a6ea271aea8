//! Database catalogs: a PostgreSQL or MySQL/MariaDB database, or a SQLite file, whose
//! schemas and tables become `catalog.schema.table`. Connections, type mapping and SQL
//! generation are datafusion-table-providers'; what of a plan may run in the database is
//! [`crate::pushdown`]'s, through the executor wrapper [`SourceExecutor`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, SchemaProvider, Session};
use datafusion::common::{Statistics, TableReference};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr, SendableRecordBatchStream};
use datafusion::prelude::SessionContext;
use datafusion::sql::unparser::dialect::{Dialect, PostgreSqlDialect};
use datafusion_federation::FederatedTableProviderAdaptor;
use datafusion_federation::sql::{
    AstAnalyzer, LogicalOptimizer, RemoteTableRef, SQLExecutor, SQLFederationProvider,
    SQLTableSource,
};
use datafusion_table_providers_common::sql::db_connection_pool::dbconnection::{
    get_schema, get_schemas, get_tables,
};
use datafusion_table_providers_common::sql::db_connection_pool::{DbConnectionPool, Mode};
use datafusion_table_providers_common::sql::sql_provider_datafusion::SqlTable;
use datafusion_table_providers_mysql::pool::MySQLConnectionPool;
use datafusion_table_providers_mysql::sql_table::MySQLTable;
use datafusion_table_providers_postgres::DynPostgresConnectionPool;
use datafusion_table_providers_postgres::pool::PostgresConnectionPool;
use datafusion_table_providers_sqlite::DynSqliteConnectionPool;
use datafusion_table_providers_sqlite::pool::{SqliteConnectionPool, SqliteConnectionPoolFactory};
use datafusion_table_providers_sqlite::sql_table::SQLiteTable;
use futures::TryStreamExt;

use pipelab_dbsink::redact;
use secrecy::SecretString;

use crate::engine::Engine;
use crate::pushdown::Rules;
use crate::register::RegisterError;

/// A database catalog as the catalogs file gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// Which database engine.
    pub engine: Engine,
    /// The connection URL (PostgreSQL, MySQL) or the file's path (SQLite).
    pub address: String,
    /// Only these schemas, when given.
    pub schemas: Option<Vec<String>>,
}

impl Database {
    /// Check the address's form; the database itself is reached only by [`Self::register`].
    pub fn new(
        engine: Engine,
        address: String,
        schemas: Option<Vec<String>>,
    ) -> Result<Self, String> {
        let schemes: &[&str] = match engine {
            Engine::Postgres => &["postgres://", "postgresql://"],
            Engine::MySql => &["mysql://"],
            Engine::Sqlite => &[],
        };
        if !schemes.is_empty() && !schemes.iter().any(|s| address.starts_with(s)) {
            return Err(format!(
                "url {:?} does not start with {}",
                redact(&address),
                schemes.join(" or ")
            ));
        }
        let address = match engine {
            Engine::Sqlite => address
                .strip_prefix("sqlite://")
                .or_else(|| address.strip_prefix("sqlite:"))
                .unwrap_or(&address)
                .to_string(),
            _ => address,
        };
        if let Some(schemas) = &schemas
            && schemas.is_empty()
        {
            return Err("`schemas` is empty: name at least one, or leave it out".into());
        }
        Ok(Self {
            engine,
            address,
            schemas,
        })
    }

    /// The address with any password replaced by `***`, for messages.
    pub fn display_address(&self) -> String {
        redact(&self.address)
    }

    /// Connect, list the schemas and their tables, and register them in `ctx` as catalog
    /// `name`. A table's columns are read when a query first names it. Returns the
    /// tables as `catalog.schema.table`.
    pub async fn register(
        &self,
        ctx: &SessionContext,
        name: &str,
    ) -> Result<Vec<String>, RegisterError> {
        let source = Arc::new(self.connect(name).await?);
        let found = source.schemas().await.map_err(|e| self.error(name, e))?;
        let schemas = self.chosen_schemas(name, found)?;
        let catalog = MemoryCatalogProvider::new();
        let mut registered = Vec::new();
        for schema in schemas {
            let tables = source
                .tables(&schema)
                .await
                .map_err(|e| self.error(name, e))?;
            registered.extend(tables.iter().map(|t| format!("{name}.{schema}.{t}")));
            let provider = RemoteSchema {
                source: Arc::clone(&source),
                schema: schema.clone(),
                tables,
                opened: Mutex::default(),
            };
            catalog
                .register_schema(&schema, Arc::new(provider))
                .map_err(|e| self.error(name, e))?;
        }
        ctx.register_catalog(name, Arc::new(catalog));
        Ok(registered)
    }

    /// The database's schemas, or those the file names (each of which must exist).
    fn chosen_schemas(&self, name: &str, found: Vec<String>) -> Result<Vec<String>, RegisterError> {
        let Some(wanted) = &self.schemas else {
            return Ok(found);
        };
        match wanted.iter().find(|s| !found.contains(s)) {
            Some(missing) => Err(RegisterError::Database {
                catalog: name.to_string(),
                address: self.display_address(),
                message: format!(
                    "schema {missing:?} is not in the database (it has: {})",
                    found.join(", ")
                ),
                user_fixable: true,
            }),
            None => Ok(wanted.clone()),
        }
    }

    pub(crate) async fn connect(&self, name: &str) -> Result<Source, RegisterError> {
        let source = match self.engine {
            Engine::Postgres => {
                let params = self.postgres_params().map_err(|m| self.error(name, m))?;
                PostgresConnectionPool::new(params)
                    .await
                    .map(|p| Source::Postgres(Arc::new(p)))
                    .map_err(|e| self.error(name, e))?
            }
            Engine::MySql => {
                let params = self.mysql_params().map_err(|m| self.error(name, m))?;
                MySQLConnectionPool::new(params)
                    .await
                    .map(|p| Source::MySql(Arc::new(p)))
                    .map_err(|e| self.error(name, e))?
            }
            Engine::Sqlite => {
                // SQLite would create a missing file: a typo must not become an empty catalog.
                if !std::path::Path::new(&self.address).is_file() {
                    return Err(RegisterError::Database {
                        catalog: name.to_string(),
                        address: self.address.clone(),
                        message: "no such SQLite database file".into(),
                        user_fixable: true,
                    });
                }
                let busy = std::time::Duration::from_secs(5);
                SqliteConnectionPoolFactory::new(&self.address, Mode::File, busy)
                    .build()
                    .await
                    .map(|p| Source::Sqlite(Arc::new(p)))
                    .map_err(|e| self.error(name, e))?
            }
        };
        Ok(source)
    }

    /// The provider's parameters for a `postgres://user:password@host:port/db?sslmode=…`
    /// URL: it reads libpq's `key=value` form. TLS is preferred, not required, unless the
    /// URL says otherwise: a local server usually has none.
    pub(crate) fn postgres_params(&self) -> Result<HashMap<String, SecretString>, String> {
        let url = url::Url::parse(&self.address).map_err(|e| format!("invalid url: {e}"))?;
        let mut parts = vec![format!("host={}", url.host_str().unwrap_or("localhost"))];
        parts.push(format!("port={}", url.port().unwrap_or(5432)));
        if !url.username().is_empty() {
            parts.push(format!("user={}", decoded(url.username())));
        }
        if let Some(password) = url.password() {
            parts.push(format!("password={}", decoded(password)));
        }
        let database = url.path().trim_start_matches('/');
        if !database.is_empty() {
            parts.push(format!("dbname={}", decoded(database)));
        }
        let mut sslmode = "prefer".to_string();
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "sslmode" => sslmode = value.into_owned(),
                "application_name" | "connect_timeout" => parts.push(format!("{key}={value}")),
                other => return Err(format!("unknown url parameter {other:?}")),
            }
        }
        Ok(HashMap::from([
            ("connection_string".to_string(), parts.join(" ").into()),
            ("sslmode".to_string(), sslmode.into()),
        ]))
    }

    /// The provider's parameters for a `mysql://` URL, with pipelab's `sslmode`
    /// (`disabled`, the default; `preferred`; `required`) taken out of it.
    pub(crate) fn mysql_params(&self) -> Result<HashMap<String, SecretString>, String> {
        let mut url = url::Url::parse(&self.address).map_err(|e| format!("invalid url: {e}"))?;
        let mut sslmode = "disabled".to_string();
        let mut kept: Vec<(String, String)> = url
            .query_pairs()
            .filter_map(|(k, v)| {
                if k == "sslmode" || k == "ssl-mode" {
                    sslmode = v.to_ascii_lowercase();
                    None
                } else {
                    Some((k.into_owned(), v.into_owned()))
                }
            })
            .collect();
        // pipelab's connections only read, and never change their session: resetting each
        // one as it goes back to the pool (COM_RESET_CONNECTION and the provider's four
        // SETs again) only drops its prepared statements, to be prepared again.
        if !kept.iter().any(|(k, _)| k == "reset_connection") {
            kept.push(("reset_connection".into(), "false".into()));
        }
        url.query_pairs_mut().clear().extend_pairs(kept);
        Ok(HashMap::from([
            ("connection_string".to_string(), url.to_string().into()),
            ("sslmode".to_string(), sslmode.into()),
        ]))
    }

    /// The error with its causes: the providers' own messages are general ("connection
    /// failed"), what the server said is in their sources.
    pub(crate) fn error(&self, catalog: &str, e: impl Into<BoxError>) -> RegisterError {
        let e: BoxError = e.into();
        let mut message = e.to_string();
        let mut cause = e.source();
        while let Some(c) = cause {
            let text = c.to_string();
            if !message.contains(&text) {
                message = format!("{message}: {text}");
            }
            cause = c.source();
        }
        RegisterError::Database {
            catalog: catalog.to_string(),
            address: self.display_address(),
            user_fixable: refused_login(&message),
            message,
        }
    }
}

/// True for errors the user fixes in the catalogs file (credentials, database names),
/// false for a database that is down or unreachable.
fn refused_login(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    [
        "password",
        "authentication",
        "access denied",
        "unknown database",
        "does not exist",
        "invalid connection string",
    ]
    .iter()
    .any(|m| lower.contains(m))
}

/// A URL's user, password or path, percent-decoded.
fn decoded(part: &str) -> String {
    percent_encoding::percent_decode_str(part)
        .decode_utf8_lossy()
        .into_owned()
}

/// A connected database.
/// A database's connection pool, by engine.
pub(crate) enum Source {
    Postgres(Arc<PostgresConnectionPool>),
    MySql(Arc<MySQLConnectionPool>),
    Sqlite(Arc<SqliteConnectionPool>),
}

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Source {
    fn engine(&self) -> Engine {
        match self {
            Source::Postgres(_) => Engine::Postgres,
            Source::MySql(_) => Engine::MySql,
            Source::Sqlite(_) => Engine::Sqlite,
        }
    }

    /// Run one statement that returns no rows (DDL) on a connection of the pool.
    pub(crate) async fn execute(&self, sql: &str) -> Result<u64, BoxError> {
        // Each engine's connection is its own type: the same two calls on each.
        let unsupported = || BoxError::from("this connection cannot run statements");
        Ok(match self {
            Source::Postgres(pool) => {
                let conn = pool.connect().await?;
                conn.as_async()
                    .ok_or_else(unsupported)?
                    .execute(sql, &[])
                    .await?
            }
            Source::MySql(pool) => {
                let conn = pool.connect().await?;
                conn.as_async()
                    .ok_or_else(unsupported)?
                    .execute(sql, &[])
                    .await?
            }
            Source::Sqlite(pool) => {
                let conn = pool.connect().await?;
                conn.as_async()
                    .ok_or_else(unsupported)?
                    .execute(sql, &[])
                    .await?
            }
        })
    }

    async fn schemas(&self) -> Result<Vec<String>, BoxError> {
        let mut schemas = match self {
            Source::Postgres(pool) => get_schemas(pool.connect().await?).await?,
            Source::MySql(pool) => get_schemas(pool.connect().await?).await?,
            Source::Sqlite(pool) => get_schemas(pool.connect().await?).await?,
        };
        schemas.sort();
        Ok(schemas)
    }

    async fn tables(&self, schema: &str) -> Result<Vec<String>, BoxError> {
        let mut tables = match self {
            Source::Postgres(pool) => get_tables(pool.connect().await?, schema).await?,
            Source::MySql(pool) => get_tables(pool.connect().await?, schema).await?,
            Source::Sqlite(pool) => get_tables(pool.connect().await?, schema).await?,
        };
        tables.sort();
        Ok(tables)
    }

    /// The table as DataFusion sees it: scans and pushed-down plans go to the database.
    async fn table(&self, schema: &str, table: &str) -> Result<Arc<dyn TableProvider>, BoxError> {
        let engine = self.engine();
        Ok(match self {
            Source::Postgres(pool) => {
                let reference = TableReference::partial(schema, table);
                let dyn_pool: Arc<DynPostgresConnectionPool> = Arc::clone(pool) as _;
                let table = SqlTable::new("postgres", &dyn_pool, reference.clone())
                    .await?
                    .with_dialect(Arc::new(PostgreSqlDialect {}));
                federated(Arc::new(table), engine, reference)
            }
            Source::MySql(pool) => {
                let reference = TableReference::partial(schema, table);
                let table = MySQLTable::new(pool, reference.clone()).await?;
                federated(Arc::new(table), engine, reference)
            }
            Source::Sqlite(pool) => {
                // SQLite's one schema `main` is not written in the SQL it is sent.
                let reference = TableReference::bare(table);
                let columns = get_schema(pool.connect().await?, &reference).await?;
                let dyn_pool: Arc<DynSqliteConnectionPool> = Arc::clone(pool) as _;
                let table = SQLiteTable::new_with_schema(&dyn_pool, columns, reference.clone());
                federated(Arc::new(table), engine, reference)
            }
        })
    }
}

/// A table of `engine` as a federated table: DataFusion's federation rule hands plans over
/// it (and over other tables of the same database) to [`SourceExecutor`], and plain scans
/// go to `table` through [`ScanFilters`].
fn federated<T>(table: Arc<T>, engine: Engine, reference: TableReference) -> Arc<dyn TableProvider>
where
    T: SQLExecutor + TableProvider + 'static,
{
    let schema = TableProvider::schema(table.as_ref());
    let executor = Arc::new(SourceExecutor {
        inner: Arc::clone(&table) as Arc<dyn SQLExecutor>,
        engine,
    });
    let source = Arc::new(SQLTableSource::new_with_schema(
        Arc::new(SQLFederationProvider::new(executor)),
        RemoteTableRef::from(reference),
        schema,
    ));
    let scan = Arc::new(ScanFilters {
        inner: table as Arc<dyn TableProvider>,
        rules: Rules::of(engine),
    });
    Arc::new(FederatedTableProviderAdaptor::new_with_provider(
        source, scan,
    ))
}

/// One schema of a database: its table names read at registration, each table's columns
/// when a query first names it.
struct RemoteSchema {
    source: Arc<Source>,
    schema: String,
    tables: Vec<String>,
    opened: Mutex<HashMap<String, Arc<dyn TableProvider>>>,
}

impl fmt::Debug for RemoteSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSchema")
            .field("engine", &self.source.engine())
            .field("schema", &self.schema)
            .field("tables", &self.tables)
            .finish()
    }
}

#[async_trait]
impl SchemaProvider for RemoteSchema {
    fn table_names(&self) -> Vec<String> {
        self.tables.clone()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if !self.table_exist(name) {
            return Ok(None);
        }
        if let Some(open) = self.opened.lock().ok().and_then(|o| o.get(name).cloned()) {
            return Ok(Some(open));
        }
        let table = self.source.table(&self.schema, name).await.map_err(|e| {
            DataFusionError::Plan(format!(
                "{} table {}.{name} cannot be read: {e}",
                self.source.engine(),
                self.schema
            ))
        })?;
        if let Ok(mut opened) = self.opened.lock() {
            opened.insert(name.to_string(), Arc::clone(&table));
        }
        Ok(Some(table))
    }

    /// Listings (`SHOW TABLES`, `information_schema.tables`) need only the type: the
    /// database is not asked for every table's columns, and a table dropped since
    /// registration does not fail a listing of others.
    async fn table_type(&self, name: &str) -> DfResult<Option<TableType>> {
        Ok(self.table_exist(name).then_some(TableType::Base))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.iter().any(|t| t == name)
    }
}

/// The database's executor, with pipelab's rule of what may run there
/// ([`crate::pushdown::keep_unpushable_in_datafusion`]) applied to every plan handed to
/// it.
struct SourceExecutor {
    inner: Arc<dyn SQLExecutor>,
    engine: Engine,
}

#[async_trait]
impl SQLExecutor for SourceExecutor {
    fn name(&self) -> &str {
        self.engine.name()
    }

    fn compute_context(&self) -> Option<String> {
        // The engine in front: a PostgreSQL and a MySQL server on one host must never be
        // taken for one database that a join could be pushed into.
        let inner = self.inner.compute_context().unwrap_or_default();
        Some(format!("{}:{inner}", self.engine))
    }

    fn dialect(&self) -> Arc<dyn Dialect> {
        self.inner.dialect()
    }

    fn logical_optimizer(&self) -> Option<LogicalOptimizer> {
        let rules = Rules::of(self.engine);
        Some(Box::new(move |plan: LogicalPlan| {
            crate::pushdown::keep_unpushable_in_datafusion(plan, &rules)
        }))
    }

    fn ast_analyzer(&self) -> Option<AstAnalyzer> {
        self.inner.ast_analyzer()
    }

    fn execute(
        &self,
        query: &str,
        schema: SchemaRef,
        filters: &[Arc<dyn PhysicalExpr>],
    ) -> DfResult<SendableRecordBatchStream> {
        if filters.is_empty() {
            tracing::debug!(engine = %self.engine, %query, "query sent to the database");
            return self.inner.execute(query, schema, filters);
        }
        // A join's dynamic filter is known only once its build side is read, which is
        // before the join first polls this (probe) side: the SQL is written then.
        let run = crate::dynamic_where::run_narrowed(
            Arc::clone(&self.inner),
            self.engine,
            query.to_string(),
            Arc::clone(&schema),
            filters.to_vec(),
        );
        let stream = futures::stream::once(run).try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    async fn statistics(&self, plan: &LogicalPlan) -> DfResult<Statistics> {
        self.inner.statistics(plan).await
    }

    async fn table_names(&self) -> DfResult<Vec<String>> {
        self.inner.table_names().await
    }

    async fn get_table_schema(&self, table_name: &str) -> DfResult<SchemaRef> {
        self.inner.get_table_schema(table_name).await
    }
}

/// A database table's plain scan, which takes only the filters the database evaluates as
/// DataFusion would ([`Rules::pushable`]); the rest stay in DataFusion's plan.
#[derive(Debug)]
struct ScanFilters {
    inner: Arc<dyn TableProvider>,
    rules: Rules,
}

#[async_trait]
impl TableProvider for ScanFilters {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        let columns = datafusion::common::DFSchema::try_from(self.inner.schema().as_ref().clone())?;
        filters
            .iter()
            .map(|filter| {
                if self.rules.pushable(filter, &columns) {
                    let answer = self.inner.supports_filters_pushdown(&[filter])?;
                    Ok(answer
                        .into_iter()
                        .next()
                        .unwrap_or(TableProviderFilterPushDown::Unsupported))
                } else {
                    Ok(TableProviderFilterPushDown::Unsupported)
                }
            })
            .collect()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_passwords_kept_out_of_messages() {
        let bad = Database::new(Engine::Postgres, "mysql://x@h/db".into(), None).unwrap_err();
        assert!(bad.contains("postgres://"), "{bad}");
        let db = Database::new(Engine::MySql, "mysql://u:secret@h:3306/db".into(), None).unwrap();
        assert_eq!(db.display_address(), "mysql://u:***@h:3306/db");
        let lite = Database::new(Engine::Sqlite, "sqlite://a/b.db".into(), None).unwrap();
        assert_eq!(lite.address, "a/b.db");
        let empty = Database::new(Engine::Sqlite, "a.db".into(), Some(vec![])).unwrap_err();
        assert!(empty.contains("empty"), "{empty}");
    }

    #[test]
    fn a_refused_login_is_the_users_to_fix_a_server_down_is_not() {
        assert!(refused_login(
            "password authentication failed for user \"x\""
        ));
        assert!(refused_login("Unknown database 'nope'"));
        assert!(!refused_login("Connection refused (os error 111)"));
    }
}
