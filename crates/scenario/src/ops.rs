//! The operational database of a scenario's `database` steps: a SQLite file in the run's
//! folder by default, or the PostgreSQL or MySQL database the user names. Queries see it
//! as catalog `ops`; `{ops}` in a scenario's SQL stands for `ops.SCHEMA`, the schema its
//! tables are in (SQLite's `main`, PostgreSQL's `public`, the MySQL database's name).

use std::path::PathBuf;

use pipelab_federate::Engine;
use pipelab_federate::databases::Database;

/// The catalog name of the operational database in a scenario's queries.
pub const OPS_CATALOG: &str = "ops";

/// Which database the operational data lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpsDatabase {
    /// A SQLite file (made by the first load).
    Sqlite(PathBuf),
    /// A PostgreSQL database, by URL.
    Postgres(String),
    /// A MySQL or MariaDB database, by URL.
    MySql(String),
}

impl OpsDatabase {
    /// The database as a catalog of pipelab's federation.
    pub fn database(&self) -> Result<Database, String> {
        let (engine, address) = match self {
            OpsDatabase::Sqlite(path) => (Engine::Sqlite, path.display().to_string()),
            OpsDatabase::Postgres(url) => (Engine::Postgres, url.clone()),
            OpsDatabase::MySql(url) => (Engine::MySql, url.clone()),
        };
        Database::new(engine, address, Some(vec![self.schema()?]))
    }

    /// The schema its tables are in.
    pub fn schema(&self) -> Result<String, String> {
        match self {
            OpsDatabase::Sqlite(_) => Ok("main".into()),
            OpsDatabase::Postgres(_) => Ok("public".into()),
            OpsDatabase::MySql(url) => {
                let parsed = url::Url::parse(url).map_err(|e| format!("{url:?}: {e}"))?;
                let database = parsed.path().trim_start_matches('/');
                if database.is_empty() {
                    Err(format!(
                        "the MySQL URL {url:?} names no database (mysql://user@host:3306/DATABASE)"
                    ))
                } else {
                    Ok(database.to_string())
                }
            }
        }
    }

    /// Its lines in a catalogs file, as catalog [`OPS_CATALOG`].
    pub fn catalog_toml(&self) -> Result<String, String> {
        let (kind, address) = match self {
            OpsDatabase::Sqlite(path) => (
                "sqlite",
                format!("location = {:?}", path.display().to_string()),
            ),
            OpsDatabase::Postgres(url) => ("postgres", format!("url = {url:?}")),
            OpsDatabase::MySql(url) => ("mysql", format!("url = {url:?}")),
        };
        Ok(format!(
            "[catalogs.{OPS_CATALOG}]\nkind = \"{kind}\"\n{address}\nschemas = [{:?}]\n",
            self.schema()?
        ))
    }

    /// The engine's name.
    pub fn engine(&self) -> &'static str {
        match self {
            OpsDatabase::Sqlite(_) => "SQLite",
            OpsDatabase::Postgres(_) => "PostgreSQL",
            OpsDatabase::MySql(_) => "MySQL",
        }
    }

    /// For messages: the engine and where it is, with no password.
    pub fn describe(&self) -> String {
        match self {
            OpsDatabase::Sqlite(path) => format!("SQLite ({})", path.display()),
            OpsDatabase::Postgres(_) | OpsDatabase::MySql(_) => {
                let engine = if matches!(self, OpsDatabase::Postgres(_)) {
                    "PostgreSQL"
                } else {
                    "MySQL"
                };
                match self.database() {
                    Ok(db) => format!("{engine} ({})", db.display_address()),
                    Err(_) => engine.to_string(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_engine_names_its_schema() {
        assert_eq!(OpsDatabase::Sqlite("x.db".into()).schema().unwrap(), "main");
        assert_eq!(
            OpsDatabase::Postgres("postgres://u@h/db".into())
                .schema()
                .unwrap(),
            "public"
        );
        let mysql = OpsDatabase::MySql("mysql://root@127.0.0.1:3306/test?sslmode=disabled".into());
        assert_eq!(mysql.schema().unwrap(), "test");
        assert!(
            OpsDatabase::MySql("mysql://root@127.0.0.1:3306".into())
                .schema()
                .is_err()
        );
    }
}
