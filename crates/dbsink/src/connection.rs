//! One connection to the sink's database, through the driver of its engine
//! (tokio-postgres, mysql_async, rusqlite), and the few things the sink asks of it: run
//! DDL, describe a table, read the offsets, and commit rows with offsets in one
//! transaction guarded by the offsets it expects.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use mysql_async::prelude::Queryable;

use crate::Engine;

/// The offsets table every database sink keeps beside its rows.
pub(crate) const OFFSETS_TABLE: &str = "pipelab_offsets";

/// Names a sink's rows in the offsets table.
#[derive(Debug, Clone)]
pub(crate) struct OffsetsKey {
    pub(crate) pipeline: String,
    pub(crate) sink: String,
    pub(crate) topic: String,
}

/// One partition's move in a commit: from the stored next offset (`None`: no row yet)
/// to the batch's next offset. `topic` is the sink's topic, or a landing object's
/// stream name.
#[derive(Debug, Clone)]
pub(crate) struct Move {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) from: Option<i64>,
    pub(crate) to: i64,
}

/// Why a transaction did not commit.
pub(crate) enum TxError {
    /// The offsets were not where the commit expected them: another writer was first.
    Conflict,
    /// The database refused or failed.
    Failed(String),
}

pub(crate) enum Connection {
    Postgres(tokio_postgres::Client),
    MySql(mysql_async::Conn),
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
}

impl Connection {
    pub(crate) async fn open(engine: Engine, address: &str) -> Result<Self, String> {
        match engine {
            Engine::Postgres => {
                let (address, tls) = postgres_tls(address)?;
                let (client, connection) = tokio_postgres::connect(&address, tls)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!("PostgreSQL connection closed: {e}");
                    }
                });
                Ok(Self::Postgres(client))
            }
            Engine::MySql => {
                let opts = mysql_async::Opts::from_url(address).map_err(|e| e.to_string())?;
                let conn = mysql_async::Conn::new(opts)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Self::MySql(conn))
            }
            Engine::Sqlite => {
                let path = address.to_string();
                let conn = blocking(move || {
                    let conn = rusqlite::Connection::open(&path)?;
                    conn.busy_timeout(std::time::Duration::from_secs(30))?;
                    Ok(conn)
                })
                .await?;
                Ok(Self::Sqlite(Arc::new(Mutex::new(conn))))
            }
        }
    }

    pub(crate) fn engine(&self) -> Engine {
        match self {
            Self::Postgres(_) => Engine::Postgres,
            Self::MySql(_) => Engine::MySql,
            Self::Sqlite(_) => Engine::Sqlite,
        }
    }

    /// Run statements outside a transaction (DDL).
    pub(crate) async fn execute(&mut self, sql: &str) -> Result<(), String> {
        match self {
            Self::Postgres(c) => c.batch_execute(sql).await.map_err(|e| e.to_string()),
            Self::MySql(c) => c.query_drop(sql).await.map_err(|e| e.to_string()),
            Self::Sqlite(c) => {
                let (c, sql) = (c.clone(), sql.to_string());
                blocking(move || lock(&c).execute_batch(&sql)).await
            }
        }
    }

    /// The table's columns and their declared types, in order; empty when there is no
    /// such table.
    pub(crate) async fn columns(&mut self, table: &str) -> Result<Vec<(String, String)>, String> {
        match self {
            Self::Postgres(c) => {
                let rows = c
                    .query(
                        "SELECT column_name::text, data_type::text FROM information_schema.columns \
                         WHERE table_schema = current_schema() AND table_name = $1 \
                         ORDER BY ordinal_position",
                        &[&table],
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            }
            Self::MySql(c) => c
                .exec(
                    "SELECT CAST(column_name AS CHAR), CAST(column_type AS CHAR) \
                     FROM information_schema.columns \
                     WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
                    (table,),
                )
                .await
                .map_err(|e| e.to_string()),
            Self::Sqlite(c) => {
                let (c, table) = (c.clone(), table.to_string());
                blocking(move || {
                    let c = lock(&c);
                    let mut stmt =
                        c.prepare("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")?;
                    let rows = stmt.query_map([&table], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    rows.collect()
                })
                .await
            }
        }
    }

    /// The column sets of the table's unique indexes (its primary key among them).
    pub(crate) async fn unique_keys(&mut self, table: &str) -> Result<Vec<Vec<String>>, String> {
        let pairs: Vec<(String, String)> = match self {
            Self::Postgres(c) => {
                let rows = c
                    .query(
                        "SELECT i.indexrelid::regclass::text, a.attname::text FROM pg_index i \
                         JOIN pg_class t ON t.oid = i.indrelid \
                         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey) \
                         WHERE t.relname = $1 AND t.relnamespace = current_schema()::regnamespace \
                         AND i.indisunique",
                        &[&table],
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                rows.iter().map(|r| (r.get(0), r.get(1))).collect()
            }
            Self::MySql(c) => c
                .exec(
                    "SELECT CAST(index_name AS CHAR), CAST(column_name AS CHAR) \
                     FROM information_schema.statistics \
                     WHERE table_schema = DATABASE() AND table_name = ? AND non_unique = 0",
                    (table,),
                )
                .await
                .map_err(|e| e.to_string())?,
            Self::Sqlite(c) => {
                let (c, table) = (c.clone(), table.to_string());
                blocking(move || {
                    let c = lock(&c);
                    let mut stmt = c.prepare(
                        "SELECT il.name, ii.name FROM pragma_index_list(?1) il, \
                         pragma_index_info(il.name) ii WHERE il.\"unique\" = 1",
                    )?;
                    let rows = stmt.query_map([&table], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    rows.collect()
                })
                .await?
            }
        };
        let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (index, column) in pairs {
            keys.entry(index).or_default().push(column);
        }
        Ok(keys.into_values().collect())
    }

    /// The next offset per partition this sink has stored.
    pub(crate) async fn positions(
        &mut self,
        key: &OffsetsKey,
    ) -> Result<BTreeMap<i32, i64>, String> {
        let sql = format!(
            "SELECT {p}, next_offset FROM {OFFSETS_TABLE} WHERE pipeline = {a} AND sink = {b} \
             AND topic = {c}",
            p = quote(self.engine(), "partition"),
            a = param(self.engine(), 1),
            b = param(self.engine(), 2),
            c = param(self.engine(), 3),
        );
        let (pipeline, sink, topic) = (&key.pipeline, &key.sink, &key.topic);
        match self {
            Self::Postgres(c) => {
                let rows = c
                    .query(&sql, &[pipeline, sink, topic])
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            }
            Self::MySql(c) => {
                let rows: Vec<(i32, i64)> = c
                    .exec(&sql, (pipeline, sink, topic))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(rows.into_iter().collect())
            }
            Self::Sqlite(c) => {
                let (c, key) = (c.clone(), key.clone());
                blocking(move || {
                    let c = lock(&c);
                    let mut stmt = c.prepare(&sql)?;
                    let rows = stmt.query_map([&key.pipeline, &key.sink, &key.topic], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                    rows.collect()
                })
                .await
            }
        }
    }

    /// In one transaction: move the offsets (each only from where it is expected to be,
    /// else nothing is written) and run the row statements.
    pub(crate) async fn commit(
        &mut self,
        key: &OffsetsKey,
        moves: &[Move],
        rows: &[String],
    ) -> Result<(), TxError> {
        let engine = self.engine();
        let guard: Vec<(String, Vec<Value>)> = moves
            .iter()
            .map(|m| offset_statement(engine, key, m))
            .collect();
        match self {
            Self::Postgres(c) => {
                let tx = c.transaction().await.map_err(failed)?;
                for (sql, values) in &guard {
                    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                        values.iter().map(Value::as_postgres).collect();
                    match tx.execute(sql.as_str(), &params).await {
                        Ok(1) => {}
                        Ok(_) => return Err(TxError::Conflict),
                        Err(e)
                            if e.code()
                                == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) =>
                        {
                            return Err(TxError::Conflict);
                        }
                        Err(e) => return Err(failed(e)),
                    }
                }
                for sql in rows {
                    tx.batch_execute(sql).await.map_err(failed)?;
                }
                tx.commit().await.map_err(failed)
            }
            Self::MySql(c) => {
                let mut tx = c
                    .start_transaction(mysql_async::TxOpts::default())
                    .await
                    .map_err(failed)?;
                for (sql, values) in &guard {
                    let params: Vec<mysql_async::Value> =
                        values.iter().map(Value::as_mysql).collect();
                    match tx.exec_drop(sql.as_str(), params).await {
                        Ok(()) if tx.affected_rows() == 1 => {}
                        Ok(()) => return Err(TxError::Conflict),
                        Err(mysql_async::Error::Server(e)) if e.code == 1062 => {
                            return Err(TxError::Conflict);
                        }
                        Err(e) => return Err(failed(e)),
                    }
                }
                for sql in rows {
                    tx.query_drop(sql).await.map_err(failed)?;
                }
                tx.commit().await.map_err(failed)
            }
            Self::Sqlite(c) => {
                let (c, rows) = (c.clone(), rows.to_vec());
                tokio::task::spawn_blocking(move || sqlite_commit(&c, &guard, &rows))
                    .await
                    .map_err(failed)?
            }
        }
    }
}

/// TLS as libpq does it: `sslmode=prefer` (the default) and `require` encrypt when the
/// server offers it without checking its certificate; `verify-ca` and `verify-full`
/// check it (tokio-postgres knows these as `require`).
fn postgres_tls(address: &str) -> Result<(String, postgres_native_tls::MakeTlsConnector), String> {
    let verify = ["sslmode=verify-ca", "sslmode=verify-full"]
        .iter()
        .find(|m| address.contains(*m));
    let mut builder = native_tls::TlsConnector::builder();
    let address = match verify {
        Some(mode) => address.replace(mode, "sslmode=require"),
        None => {
            builder
                .danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true);
            address.to_string()
        }
    };
    let tls = builder.build().map_err(|e| e.to_string())?;
    Ok((address, postgres_native_tls::MakeTlsConnector::new(tls)))
}

fn sqlite_commit(
    c: &Mutex<rusqlite::Connection>,
    guard: &[(String, Vec<Value>)],
    rows: &[String],
) -> Result<(), TxError> {
    let mut c = lock(c);
    // IMMEDIATE: the write lock is taken now, so the offsets read below stay current.
    let tx = c
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(failed)?;
    for (sql, values) in guard {
        let params: Vec<&dyn rusqlite::ToSql> = values.iter().map(Value::as_sqlite).collect();
        match tx.execute(sql, params.as_slice()) {
            Ok(1) => {}
            Ok(_) => return Err(TxError::Conflict),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                return Err(TxError::Conflict);
            }
            Err(e) => return Err(failed(e)),
        }
    }
    for sql in rows {
        tx.execute_batch(sql).map_err(failed)?;
    }
    tx.commit().map_err(failed)
}

/// A parameter of the offsets statements.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Text(String),
    Int(i32),
    BigInt(i64),
}

impl Value {
    fn as_postgres(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        match self {
            Value::Text(v) => v,
            Value::Int(v) => v,
            Value::BigInt(v) => v,
        }
    }

    fn as_mysql(&self) -> mysql_async::Value {
        match self {
            Value::Text(v) => v.clone().into(),
            Value::Int(v) => (*v).into(),
            Value::BigInt(v) => (*v).into(),
        }
    }

    fn as_sqlite(&self) -> &dyn rusqlite::ToSql {
        match self {
            Value::Text(v) => v,
            Value::Int(v) => v,
            Value::BigInt(v) => v,
        }
    }
}

/// The statement that moves one partition's offset: an insert where the sink holds none
/// yet (a second writer's insert hits the primary key), else an update that only matches
/// the expected offset (a second writer's update matches no row).
fn offset_statement(engine: Engine, key: &OffsetsKey, m: &Move) -> (String, Vec<Value>) {
    let p = quote(engine, "partition");
    let n = |i| param(engine, i);
    let names = [
        Value::Text(key.pipeline.clone()),
        Value::Text(key.sink.clone()),
        Value::Text(m.topic.clone()),
        Value::Int(m.partition),
    ];
    match m.from {
        None => {
            let sql = format!(
                "INSERT INTO {OFFSETS_TABLE} (pipeline, sink, topic, {p}, next_offset) \
                 VALUES ({}, {}, {}, {}, {})",
                n(1),
                n(2),
                n(3),
                n(4),
                n(5)
            );
            let mut values = names.to_vec();
            values.push(Value::BigInt(m.to));
            (sql, values)
        }
        Some(from) => {
            let sql = format!(
                "UPDATE {OFFSETS_TABLE} SET next_offset = {} WHERE pipeline = {} AND sink = {} \
                 AND topic = {} AND {p} = {} AND next_offset = {}",
                n(1),
                n(2),
                n(3),
                n(4),
                n(5),
                n(6)
            );
            let mut values = vec![Value::BigInt(m.to)];
            values.extend(names);
            values.push(Value::BigInt(from));
            (sql, values)
        }
    }
}

/// The offsets table, created if missing.
pub(crate) fn offsets_ddl(engine: Engine) -> String {
    let p = quote(engine, "partition");
    format!(
        "CREATE TABLE IF NOT EXISTS {OFFSETS_TABLE} (pipeline VARCHAR(200) NOT NULL, \
         sink VARCHAR(200) NOT NULL, topic VARCHAR(200) NOT NULL, {p} INTEGER NOT NULL, \
         next_offset BIGINT NOT NULL, PRIMARY KEY (pipeline, sink, topic, {p}))"
    )
}

/// An identifier quoted for the engine's SQL.
pub(crate) fn quote(engine: Engine, name: &str) -> String {
    match engine {
        Engine::MySql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// The `i`th (from 1) parameter placeholder of the engine.
fn param(engine: Engine, i: usize) -> String {
    match engine {
        Engine::Postgres => format!("${i}"),
        Engine::MySql => "?".to_string(),
        Engine::Sqlite => format!("?{i}"),
    }
}

fn failed(e: impl std::fmt::Display) -> TxError {
    TxError::Failed(e.to_string())
}

fn lock(c: &Mutex<rusqlite::Connection>) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
    c.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// SQLite calls block: run them off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}
