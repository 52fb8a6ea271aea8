//! Database sinks: a pipeline's rows written to a PostgreSQL, MySQL/MariaDB or SQLite
//! table together with the Kafka offsets they came from, in one database transaction.
//! The offsets live in the database's `pipelab_offsets` table (pipeline, sink, topic,
//! partition, next offset), so the sink is exactly once by itself, as the lake is
//! through its Delta `txn` actions: a commit moves each partition's offset only from
//! where it expects it (else nothing is written and the caller looks again), and a
//! restart resumes from what the table says.

mod connection;
mod error;
mod rows;
mod shape;

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

pub use error::SinkError;

use connection::{Connection, Move, OffsetsKey, TxError, offsets_ddl};

/// Which database engine a sink writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// PostgreSQL, through tokio-postgres.
    Postgres,
    /// MySQL or MariaDB, through mysql_async.
    MySql,
    /// A SQLite file, through rusqlite.
    Sqlite,
}

/// What a database sink writes where.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Names the sink in the offsets table and in messages.
    pub name: String,
    /// The engine.
    pub engine: Engine,
    /// `postgres://…`, `mysql://…`, or the SQLite file's path.
    pub address: String,
    /// The table, created if missing.
    pub table: String,
    /// Upsert by these columns (the primary key of a table the sink creates); empty:
    /// every row is inserted.
    pub key: Vec<String>,
}

/// A database sink, connected.
pub struct DatabaseSink {
    config: SinkConfig,
    offsets: OffsetsKey,
    conn: Connection,
    /// Set once the table has been created or checked against the rows' schema.
    checked: Option<SchemaRef>,
}

impl DatabaseSink {
    /// Connect and create the offsets table if it is missing.
    pub async fn open(config: SinkConfig, pipeline: &str, topic: &str) -> Result<Self, SinkError> {
        let address = config.address.clone();
        let mut conn = Connection::open(config.engine, &address)
            .await
            .map_err(|m| database(&config, "connecting", m))?;
        conn.execute(&offsets_ddl(config.engine))
            .await
            .map_err(|m| database(&config, "creating the offsets table", m))?;
        let offsets = OffsetsKey {
            pipeline: pipeline.to_string(),
            sink: config.name.clone(),
            topic: topic.to_string(),
        };
        Ok(Self {
            config,
            offsets,
            conn,
            checked: None,
        })
    }

    /// The sink's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The next offset to read per partition, as the sink's last commit left it; a
    /// partition it holds nothing of is absent.
    pub async fn positions(&mut self) -> Result<BTreeMap<i32, i64>, SinkError> {
        self.conn
            .positions(&self.offsets)
            .await
            .map_err(|m| database(&self.config, "reading the offsets", m))
    }

    /// Where the partitions of a batch stand: those named in `streams` (a landing
    /// source's objects, each known by its stream name) one by one, else every partition
    /// of the sink's topic ([`Self::positions`]).
    pub async fn positions_for(
        &mut self,
        streams: &BTreeMap<i32, String>,
    ) -> Result<BTreeMap<i32, i64>, SinkError> {
        if streams.is_empty() {
            return self.positions().await;
        }
        let mut found = BTreeMap::new();
        for (&p, stream) in streams {
            let key = OffsetsKey {
                topic: stored_name(stream),
                ..self.offsets.clone()
            };
            let at = self
                .conn
                .positions(&key)
                .await
                .map_err(|m| database(&self.config, "reading the offsets", m))?;
            if let Some(&next) = at.get(&0) {
                found.insert(p, next);
            }
        }
        Ok(found)
    }

    /// Write `batches` and move each partition's offset from `from` (what
    /// [`Self::positions_for`] said; `None`: nothing stored) to `to`, all in one
    /// transaction; a partition named in `streams` is stored as that stream's partition 0.
    /// Returns the rows written. With a key, the last row of each key in the batches
    /// wins and replaces the table's row of that key.
    pub async fn write(
        &mut self,
        batches: &[RecordBatch],
        (from, to): (&BTreeMap<i32, i64>, &BTreeMap<i32, i64>),
        streams: &BTreeMap<i32, String>,
    ) -> Result<u64, SinkError> {
        let (rows, statements) = self.statements(batches).await?;
        let moves: Vec<Move> = to
            .iter()
            .map(|(&p, &to)| {
                let (topic, partition) = match streams.get(&p) {
                    Some(stream) => (stored_name(stream), 0),
                    None => (self.offsets.topic.clone(), p),
                };
                Move {
                    topic,
                    partition,
                    from: from.get(&p).copied(),
                    to,
                }
            })
            .collect();
        match self.conn.commit(&self.offsets, &moves, &statements).await {
            Ok(()) => Ok(rows),
            Err(TxError::Conflict) => Err(SinkError::Conflict {
                sink: self.config.name.clone(),
                topic: self.offsets.topic.clone(),
            }),
            Err(TxError::Failed(m)) => Err(database(&self.config, "writing a batch", m)),
        }
    }

    /// The same rows as plain batched INSERT statements, each committed by itself, with
    /// no offsets and no guard: what `pipelab bench sinks` measures [`Self::write`]
    /// beside. Returns the rows inserted.
    pub async fn insert_plain(&mut self, batches: &[RecordBatch]) -> Result<u64, SinkError> {
        let (rows, statements) = self.statements(batches).await?;
        for sql in &statements {
            self.conn
                .execute(sql)
                .await
                .map_err(|m| database(&self.config, "inserting", m))?;
        }
        Ok(rows)
    }

    /// The batches' rows as INSERT (or, with a key, upsert) statements, the table created
    /// or checked first; with the number of rows they write (a key's last row only).
    async fn statements(
        &mut self,
        batches: &[RecordBatch],
    ) -> Result<(u64, Vec<String>), SinkError> {
        let batches = rows::storable(batches).map_err(|m| self.shape_error(m))?;
        if let Some(first) = batches.first() {
            self.ensure_table(&first.schema()).await?;
        }
        let batches =
            rows::last_per_key(&batches, &self.config.key).map_err(|m| self.shape_error(m))?;
        let statements = rows::insert_statements(
            self.config.engine,
            &self.config.table,
            &batches,
            &self.config.key,
        )
        .map_err(|m| self.shape_error(m))?;
        Ok((
            batches.iter().map(|b| b.num_rows() as u64).sum(),
            statements,
        ))
    }

    /// Drop the sink's table and forget its offsets (benchmarks start each round anew).
    pub async fn reset(&mut self) -> Result<(), SinkError> {
        let drop = format!(
            "DROP TABLE IF EXISTS {}",
            connection::quote(self.config.engine, &self.config.table)
        );
        let forget = format!(
            "DELETE FROM {} WHERE pipeline = '{}' AND sink = '{}'",
            connection::OFFSETS_TABLE,
            self.offsets.pipeline.replace('\'', "''"),
            self.offsets.sink.replace('\'', "''")
        );
        for sql in [drop, forget] {
            self.conn
                .execute(&sql)
                .await
                .map_err(|m| database(&self.config, "resetting", m))?;
        }
        self.checked = None;
        Ok(())
    }

    /// Create the table for rows of `schema`, or check the one that is there; once.
    async fn ensure_table(&mut self, schema: &SchemaRef) -> Result<(), SinkError> {
        if self.checked.as_ref().is_some_and(|s| s == schema) {
            return Ok(());
        }
        if let Some(missing) = self
            .config
            .key
            .iter()
            .find(|k| schema.field_with_name(k).is_err())
        {
            return Err(self.shape_error(format!(
                "the key column {missing} is not among the rows' columns ({})",
                column_names(schema)
            )));
        }
        let table = self.config.table.clone();
        let columns = self
            .conn
            .columns(&table)
            .await
            .map_err(|m| database(&self.config, "reading the table's columns", m))?;
        if columns.is_empty() {
            for sql in shape::create_table(self.config.engine, &table, schema, &self.config.key) {
                self.conn
                    .execute(&sql)
                    .await
                    .map_err(|m| database(&self.config, "creating the table", m))?;
            }
        } else {
            if let Some(problem) = shape::mismatch(schema, &columns) {
                return Err(self.shape_error(problem));
            }
            self.check_key().await?;
        }
        self.checked = Some(schema.clone());
        Ok(())
    }

    /// An upsert needs a unique index on exactly the key (MySQL would insert duplicates
    /// without one, silently).
    async fn check_key(&mut self) -> Result<(), SinkError> {
        if self.config.key.is_empty() {
            return Ok(());
        }
        let table = self.config.table.clone();
        let unique = self
            .conn
            .unique_keys(&table)
            .await
            .map_err(|m| database(&self.config, "reading the table's indexes", m))?;
        let mut wanted = self.config.key.clone();
        wanted.sort();
        let found = unique.into_iter().any(|mut cols| {
            cols.sort();
            cols == wanted
        });
        if found {
            return Ok(());
        }
        Err(self.shape_error(format!(
            "key = [{}] needs a primary key or unique index on exactly those columns, and \
             the table has none",
            self.config.key.join(", ")
        )))
    }

    fn shape_error(&self, message: String) -> SinkError {
        SinkError::Shape {
            sink: self.config.name.clone(),
            table: self.config.table.clone(),
            message,
        }
    }
}

fn column_names(schema: &SchemaRef) -> String {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    names.join(", ")
}

fn database(config: &SinkConfig, doing: &str, message: String) -> SinkError {
    SinkError::Database {
        sink: config.name.clone(),
        address: redact(&config.address),
        message: format!("{doing}: {message}"),
    }
}

/// `scheme://user:secret@host/...` as `scheme://user:***@host/...`, for messages.
pub fn redact(address: &str) -> String {
    let Some((scheme, rest)) = address.split_once("://") else {
        return address.to_string();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return address.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::rows::tests::batch as rows;

    async fn sink(path: &std::path::Path, key: &[&str]) -> DatabaseSink {
        let config = SinkConfig {
            name: "people".into(),
            engine: Engine::Sqlite,
            address: path.display().to_string(),
            table: "people".into(),
            key: key.iter().map(|k| k.to_string()).collect(),
        };
        DatabaseSink::open(config, "p", "t").await.unwrap()
    }

    fn temp_db(name: &str) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("pipelab-dbsink-{name}-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }

    /// Rows and offsets move together; a write from a stale position changes nothing.
    #[tokio::test]
    async fn offsets_move_with_the_rows_and_only_from_where_they_are() {
        let path = temp_db("guard");
        let mut s = sink(&path, &["id"]).await;
        assert!(s.positions().await.unwrap().is_empty());
        let none = BTreeMap::new();
        let first = BTreeMap::from([(0, 2)]);
        let kafka = BTreeMap::new();
        s.write(&[rows(vec![1, 2], vec!["a", "b"])], (&none, &first), &kafka)
            .await
            .unwrap();
        assert_eq!(s.positions().await.unwrap(), first);
        // A second writer that read the positions before the first wrote: refused whole.
        let again = s
            .write(
                &[rows(vec![3], vec!["c"])],
                (&none, &BTreeMap::from([(0, 3)])),
                &kafka,
            )
            .await;
        assert!(again.unwrap_err().is_conflict());
        let stale = s
            .write(
                &[rows(vec![3], vec!["c"])],
                (&BTreeMap::from([(0, 1)]), &BTreeMap::from([(0, 3)])),
                &kafka,
            )
            .await;
        assert!(stale.unwrap_err().is_conflict());
        // Upsert: the key's last row wins, the other rows stay.
        s.write(
            &[rows(vec![2, 2, 4], vec!["x", "y", "d"])],
            (&first, &BTreeMap::from([(0, 5)])),
            &kafka,
        )
        .await
        .unwrap();
        let Connection::Sqlite(c) = &s.conn else {
            unreachable!()
        };
        let people: Vec<(i64, String)> = {
            let c = c.lock().unwrap();
            let mut stmt = c
                .prepare("SELECT id, name FROM people ORDER BY id")
                .unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(people, [(1, "a".into()), (2, "y".into()), (4, "d".into())]);
        let _ = std::fs::remove_file(&path);
    }

    /// A landing object's partition is stored under its stream name, found again by it
    /// whatever number a later run gives it.
    #[tokio::test]
    async fn streams_are_stored_by_name_not_by_the_runs_number() {
        let path = temp_db("streams");
        let mut s = sink(&path, &["id"]).await;
        let named = BTreeMap::from([(7, "us/1.jsonl@e1".to_string())]);
        s.write(
            &[rows(vec![1], vec!["a"])],
            (&BTreeMap::new(), &BTreeMap::from([(7, 3)])),
            &named,
        )
        .await
        .unwrap();
        assert!(s.positions().await.unwrap().is_empty(), "not the topic's");
        let later = BTreeMap::from([
            (0, "us/1.jsonl@e1".to_string()),
            (1, "us/1.jsonl@e2".to_string()),
        ]);
        assert_eq!(
            s.positions_for(&later).await.unwrap(),
            BTreeMap::from([(0, 3)])
        );
        let _ = std::fs::remove_file(&path);
    }

    /// A table that is there with other columns is named with the column and both types.
    #[tokio::test]
    async fn a_table_of_another_shape_is_refused_before_writing() {
        let path = temp_db("shape");
        let mut s = sink(&path, &[]).await;
        s.conn
            .execute("CREATE TABLE people (id INTEGER, name INTEGER)")
            .await
            .unwrap();
        let err = s
            .write(
                &[rows(vec![1], vec!["a"])],
                (&BTreeMap::new(), &BTreeMap::from([(0, 1)])),
                &BTreeMap::new(),
            )
            .await
            .unwrap_err();
        assert!(err.is_user_fixable(), "{err}");
        assert!(err.to_string().contains("name is INTEGER"), "{err}");
        assert!(s.positions().await.unwrap().is_empty());
        let _ = std::fs::remove_file(&path);
    }
}

/// A stream name as the offsets table's `topic` column (200 characters) holds it: as it
/// is when it fits, else its start and a stable hash of the whole (FNV-1a, the same on
/// every machine and toolchain).
fn stored_name(stream: &str) -> String {
    const MAX: usize = 200;
    if stream.chars().count() <= MAX {
        return stream.to_string();
    }
    let hash = stream.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let start: String = stream.chars().take(MAX - 17).collect();
    format!("{start}#{hash:016x}")
}

#[cfg(test)]
mod stream_names {
    use super::stored_name;

    #[test]
    fn long_stream_names_fit_the_offsets_table_and_stay_apart() {
        assert_eq!(stored_name("us/1.jsonl@abc"), "us/1.jsonl@abc");
        let long = |tag: &str| format!("{}{tag}@etag", "x/".repeat(150));
        let (a, b) = (stored_name(&long("a")), stored_name(&long("b")));
        assert_eq!(a.chars().count(), 200);
        assert_ne!(a, b);
        assert_eq!(a, stored_name(&long("a")));
    }
}
