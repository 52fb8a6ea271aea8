//! What registering a catalog's tables in a session shares across catalog kinds: the
//! schema of catalogs that have one, and the error.

use thiserror::Error;

/// The schema a lake's or a files catalog's tables are in.
pub(crate) const DEFAULT_SCHEMA: &str = "default";

/// A catalog whose tables could not be registered.
#[derive(Debug, Error)]
pub enum RegisterError {
    /// A lake catalog whose tables could not be listed or opened.
    #[error("catalog {catalog:?}: {source}")]
    Lake {
        /// The catalog's name.
        catalog: String,
        /// What the lake said.
        #[source]
        source: Box<pipelab_lake::LakeError>,
    },
    /// DataFusion refused to register a catalog's table.
    #[error("catalog {catalog:?}: {source}")]
    DataFusion {
        /// The catalog's name.
        catalog: String,
        /// What DataFusion said.
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
    /// A database that could not be reached, refused the login, or whose tables could
    /// not be listed or described.
    #[error("catalog {catalog:?} ({address}): {message}")]
    Database {
        /// The catalog's name.
        catalog: String,
        /// The database's URL or file, without a password.
        address: String,
        /// What went wrong, with the server's own words.
        message: String,
        /// The user can fix it (a wrong URL, user, password or database name).
        user_fixable: bool,
    },
    /// A files catalog's table whose files could not be read.
    #[error("catalog {catalog:?}: table {table:?} at {path}: {source}")]
    File {
        /// The catalog's name.
        catalog: String,
        /// The table's name.
        table: String,
        /// The file or pattern.
        path: String,
        /// What DataFusion said.
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
}

impl RegisterError {
    pub(crate) fn datafusion(catalog: &str, source: datafusion::error::DataFusionError) -> Self {
        RegisterError::DataFusion {
            catalog: catalog.to_string(),
            source: Box::new(source),
        }
    }

    /// True when the user can fix it in the file (a path with no files, a lake location
    /// the storage refuses); false when reading failed.
    pub fn is_user_fixable(&self) -> bool {
        match self {
            RegisterError::Lake { source, .. } => source.is_user_fixable(),
            RegisterError::Database { user_fixable, .. } => *user_fixable,
            RegisterError::DataFusion { source, .. } | RegisterError::File { source, .. } => {
                !pipelab_lake::storage_failed(source.as_ref())
            }
        }
    }
}
