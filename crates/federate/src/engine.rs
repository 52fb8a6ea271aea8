//! The database engines a catalog can be, and what each needs.

use std::fmt;

/// The database engines a catalog can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
    /// A SQLite file.
    Sqlite,
}

impl Engine {
    /// The engine of a catalog `kind` (one of `postgres`, `mysql`, `sqlite`).
    pub fn of_kind(kind: &str) -> Self {
        match kind {
            "postgres" => Engine::Postgres,
            "mysql" => Engine::MySql,
            _ => Engine::Sqlite,
        }
    }

    /// The engine as a catalog's `kind` names it.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::MySql => "mysql",
            Engine::Sqlite => "sqlite",
        }
    }

    /// What a catalog of this kind needs, for the error when it is missing.
    pub fn address_hint(self) -> &'static str {
        match self {
            Engine::Postgres => "a `url` such as \"postgres://user@host:5432/database\"",
            Engine::MySql => "a `url` such as \"mysql://user@host:3306/database\"",
            Engine::Sqlite => "a `location` (the database file's path) or a `url`",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
