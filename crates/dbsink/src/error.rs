//! What can stop a database sink. Each message names the sink's table and database.

use thiserror::Error;

/// A database sink's failure.
#[derive(Debug, Error)]
pub enum SinkError {
    /// The database could not be reached or refused a statement.
    #[error("database sink '{sink}' ({address}): {message}")]
    Database {
        /// The sink's name.
        sink: String,
        /// The database, its password hidden.
        address: String,
        /// The driver's message, with the statement's purpose.
        message: String,
    },
    /// The table exists with columns the rows do not fit, a key without a unique index,
    /// or rows of a type no database column can hold: the user fixes the spec or the table.
    #[error("database sink '{sink}', table {table}: {message}")]
    Shape {
        /// The sink's name.
        sink: String,
        /// The sink's table.
        table: String,
        /// Which column and type, and what the table has.
        message: String,
    },
    /// Another writer moved this sink's offsets since they were read: nothing was
    /// written; read the positions again and retry.
    #[error("database sink '{sink}': another writer committed offsets of {topic} first")]
    Conflict {
        /// The sink's name.
        sink: String,
        /// The topic whose offsets moved.
        topic: String,
    },
}

impl SinkError {
    /// True when the spec or the table is to blame (exit 2), not the database's health.
    pub fn is_user_fixable(&self) -> bool {
        matches!(self, SinkError::Shape { .. })
    }

    /// True when the write lost a race for the offsets and may be tried again.
    pub fn is_conflict(&self) -> bool {
        matches!(self, SinkError::Conflict { .. })
    }
}
