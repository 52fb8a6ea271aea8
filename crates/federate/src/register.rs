//! What registering a catalog's tables in a session shares across catalog kinds: the
//! schema of catalogs that have one, and the error.

use thiserror::Error;

/// The schema a lake's or a files catalog's tables are in.
pub const DEFAULT_SCHEMA: &str = "default";

/// A catalog whose tables could not be registered.
#[derive(Debug, Error)]
pub enum RegisterError {
    #[error("catalog {catalog:?}: {source}")]
    Lake {
        catalog: String,
        #[source]
        source: Box<pipelab_lake::LakeError>,
    },
    #[error("catalog {catalog:?}: {source}")]
    DataFusion {
        catalog: String,
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
    /// A database that could not be reached, refused the login, or whose tables could
    /// not be listed or described.
    #[error("catalog {catalog:?} ({address}): {message}")]
    Database {
        catalog: String,
        address: String,
        message: String,
        /// The user can fix it (a wrong URL, user, password or database name).
        user_fixable: bool,
    },
    #[error("catalog {catalog:?}: table {table:?} at {path}: {source}")]
    File {
        catalog: String,
        table: String,
        path: String,
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
