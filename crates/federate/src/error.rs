//! The error of opening a query engine or running a statement, and whether the user
//! can fix it.

use pipelab_lake::LakeError;
use thiserror::Error;

use crate::catalogs::CatalogsError;
use crate::query_log::QueryLogError;
use crate::register::RegisterError;

/// Why a query engine could not be opened, or a statement failed.
#[derive(Debug, Error)]
pub enum FederateError {
    /// The lake's tables or views could not be read, or a view not kept.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// The catalogs file could not be read, or is not valid.
    #[error(transparent)]
    Catalogs(#[from] CatalogsError),
    /// A catalog's tables could not be registered.
    #[error(transparent)]
    Register(#[from] RegisterError),
    /// The query event log could not be reached or written.
    #[error(transparent)]
    QueryLog(#[from] Box<QueryLogError>),
    /// A statement that did not parse, plan or run.
    #[error("{source}\n  in SQL: {sql}{hint}")]
    Sql {
        /// The statement, as planned.
        sql: String,
        /// DataFusion's error, or its SQL parser's.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        /// What may fix it (the tables there are), with its line break; or empty.
        hint: String,
    },
}

impl FederateError {
    /// True when the user can fix this in the SQL or the lake settings; false when
    /// reading the data failed (storage unreachable, files missing or unreadable).
    pub fn is_user_fixable(&self) -> bool {
        match self {
            FederateError::Lake(e) => e.is_user_fixable(),
            FederateError::Catalogs(_) => true,
            FederateError::Register(e) => e.is_user_fixable(),
            FederateError::QueryLog(_) => false,
            FederateError::Sql { source, .. } => {
                let source = source.as_ref() as &(dyn std::error::Error + 'static);
                pipelab_lake::storage_refused(source) || !pipelab_lake::storage_failed(source)
            }
        }
    }
}
