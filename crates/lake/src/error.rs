//! Typed errors of the lake crate. Every variant names the lake location, table URL or
//! table that failed, because the binary prints these verbatim to the user. Foreign errors
//! are boxed to keep `Result<_, LakeError>` small on the happy path.

use deltalake::DeltaTableError;
use deltalake::datafusion::error::DataFusionError;
use deltalake::kernel::transaction::TransactionError;

/// Errors of lake tables.
#[derive(thiserror::Error, Debug)]
pub enum LakeError {
    /// The lake location string could not be understood.
    #[error("invalid lake location {location:?}: {reason}")]
    InvalidLocation {
        /// The location as given, or the lake's catalog file (`_pipelab/…`) concerned.
        location: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A table name that cannot be a directory directly under the lake root.
    #[error("invalid lake table name {name:?}: {reason}")]
    InvalidTableName {
        /// The table name as given.
        name: String,
        /// Why it cannot be used (a character outside the alphabet, too long, already taken).
        reason: String,
    },

    /// No Delta table (no `_delta_log/` commit) at this URL.
    #[error("no Delta table at {url} (no _delta_log/ commits there)")]
    TableNotFound {
        /// The URL where no Delta log was found.
        url: String,
    },

    /// The table exists with other partition columns than the caller asked for.
    /// Changing the partitioning of a Delta table needs a rewrite, so this is never
    /// done silently.
    #[error(
        "table {url} is partitioned by [{actual}] but [{expected}] was requested; \
         repartitioning needs a rewrite into a new table"
    )]
    PartitionMismatch {
        /// The table's URL.
        url: String,
        /// The partitioning asked for, in canonical form.
        expected: String,
        /// The partitioning the table has, in canonical form.
        actual: String,
    },

    /// The data to write does not fit the table (or itself) in a way schema
    /// evolution cannot fix.
    #[error("schema problem writing to {url}: {reason}")]
    Schema {
        /// The table's URL.
        url: String,
        /// What does not fit and why (the columns, types or rows concerned).
        reason: String,
    },

    /// Another writer committed something that conflicts with this commit (for example the
    /// same Kafka txn app id): nothing of this commit is visible. The caller should reopen
    /// the table and re-read its resume points.
    #[error("commit to {url} lost against a concurrent writer: {source}")]
    CommitConflict {
        /// The table's URL.
        url: String,
        /// deltalake's error for the lost commit.
        #[source]
        source: Box<DeltaTableError>,
    },

    /// Any other failure of a Delta operation.
    #[error("{op} {url}: {source}")]
    Delta {
        /// What was being done, e.g. `appending to Delta table`.
        op: &'static str,
        /// The URL of the table (or, opening the lake's object store, of the lake root).
        url: String,
        /// deltalake's error.
        #[source]
        source: Box<DeltaTableError>,
    },

    /// Listing or reading the lake's object store failed.
    #[error("{op} {location}: {source}")]
    Storage {
        /// What was being done, e.g. `listing` or `reading`.
        op: &'static str,
        /// The lake, table or catalog file accessed.
        location: String,
        /// object_store's error.
        #[source]
        source: deltalake::ObjectStoreError,
    },

    /// Time travel to a version whose log entry is gone (log retention and a checkpoint).
    #[error(
        "version {version} of {url} is no longer in its log (removed after \
         delta.logRetentionDuration); `pipelab lake history` lists the versions kept"
    )]
    VersionNotKept {
        /// The table's URL.
        url: String,
        /// The version asked for.
        version: u64,
    },

    /// A `delta.` table property Delta does not define.
    #[error(
        "{key:?} is not a Delta table property (of {url}); Delta's are listed at \
         https://docs.delta.io/latest/table-properties.html, and keys of your own must not \
         start with 'delta.'"
    )]
    UnknownProperty {
        /// The table's URL.
        url: String,
        /// The `delta.` key as given.
        key: String,
    },

    /// The file layout asked for cannot be applied to the data.
    #[error("file layout of {url}: {reason}")]
    Layout {
        /// The table's URL.
        url: String,
        /// What cannot be applied (columns the data lacks, a sort that failed).
        reason: String,
    },

    /// A partition filter names a column the table is not partitioned by.
    #[error(
        "{column:?} is not a partition column of {url} (partitioned by [{partition_by}]); \
         filters select whole partitions"
    )]
    NotAPartitionColumn {
        /// The table's URL.
        url: String,
        /// The column the filter names.
        column: String,
        /// The table's partition columns, comma-separated.
        partition_by: String,
    },

    /// A vacuum retention below the table's minimum, without the override.
    #[error(
        "retaining {provided_hours} h is below {url}'s minimum of {min_hours} h \
         (delta.deletedFileRetentionDuration): readers of older snapshots could fail; \
         pass --force to vacuum anyway"
    )]
    RetentionTooShort {
        /// The table's URL.
        url: String,
        /// The retention asked for, in hours.
        provided_hours: u64,
        /// The table's `delta.deletedFileRetentionDuration`, in whole hours.
        min_hours: u64,
    },

    /// Dropping a managed table deletes its data, which must be asked for.
    #[error(
        "{url} is a managed table: dropping it deletes its data and log; pass --delete-data \
         to do so (an external table is only forgotten)"
    )]
    ManagedDrop {
        /// The managed table's URL.
        url: String,
    },

    /// A partition transform cannot be applied to the table's data (a missing source
    /// column, a type the transform does not take).
    #[error("partitioning of {url}: {source}")]
    Partitioning {
        /// The table's URL.
        url: String,
        /// The partition column that failed, and why.
        #[source]
        source: crate::partitioning::TransformError,
    },

    /// The table's recorded partitioning (`pipelab.partitioning`) cannot be read back.
    #[error("table {url} records a partitioning pipelab cannot read: {source}")]
    PartitioningRecord {
        /// The table's URL.
        url: String,
        /// Why the recorded `pipelab.partitioning` value does not parse.
        #[source]
        source: crate::partitioning::PartitionSpecError,
    },

    /// Registering a table into a DataFusion session failed.
    #[error("registering lake table {table} ({url}) in DataFusion: {source}")]
    DataFusion {
        /// The table's name in the lake.
        table: String,
        /// The table's URL.
        url: String,
        /// DataFusion's error.
        #[source]
        source: Box<DataFusionError>,
    },
}

impl LakeError {
    /// Wrap a deltalake error, sorting out the cases callers act on differently:
    /// a missing table and a lost commit race.
    pub(crate) fn delta(op: &'static str, url: &url::Url, source: DeltaTableError) -> Self {
        let url = url.to_string();
        let kind = match &source {
            DeltaTableError::NotATable(_) => return LakeError::TableNotFound { url },
            DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::Transaction {
                source:
                    TransactionError::CommitConflict(_)
                    | TransactionError::MaxCommitAttempts(_)
                    | TransactionError::VersionAlreadyExists(_),
            } => Kind::Conflict,
            _ => Kind::Other,
        };
        let source = Box::new(source);
        match kind {
            Kind::Conflict => LakeError::CommitConflict { url, source },
            Kind::Other => LakeError::Delta { op, url, source },
        }
    }

    /// Box a DataFusion error for the table named.
    pub(crate) fn datafusion(table: &str, url: &url::Url, source: DataFusionError) -> Self {
        LakeError::DataFusion {
            table: table.to_string(),
            url: url.to_string(),
            source: Box::new(source),
        }
    }

    /// True when this is a lost commit race (see [`LakeError::CommitConflict`]).
    pub fn is_commit_conflict(&self) -> bool {
        matches!(self, LakeError::CommitConflict { .. })
    }

    /// True when the user can fix this in what they gave pipelab (a location, a table
    /// name, a partitioning, credentials); false when the storage or the environment
    /// failed (unreachable, out of space, a lost race).
    pub fn is_user_fixable(&self) -> bool {
        match self {
            LakeError::InvalidLocation { .. }
            | LakeError::InvalidTableName { .. }
            | LakeError::TableNotFound { .. }
            | LakeError::PartitionMismatch { .. }
            | LakeError::Partitioning { .. }
            | LakeError::ManagedDrop { .. }
            | LakeError::PartitioningRecord { .. }
            | LakeError::Schema { .. }
            | LakeError::NotAPartitionColumn { .. }
            | LakeError::Layout { .. }
            | LakeError::UnknownProperty { .. }
            | LakeError::VersionNotKept { .. }
            | LakeError::RetentionTooShort { .. } => true,
            LakeError::CommitConflict { .. } => false,
            LakeError::Delta { .. } | LakeError::Storage { .. } | LakeError::DataFusion { .. } => {
                storage_refused(self)
            }
        }
    }
}

/// True when an object store error in `error`'s source chain says the credentials were
/// refused (HTTP 401 or 403): the user's settings are wrong, not the service.
pub fn storage_refused(error: &(dyn std::error::Error + 'static)) -> bool {
    use deltalake::ObjectStoreError as E;
    std::iter::successors(Some(error), |&e| e.source()).any(|e| match e.downcast_ref::<E>() {
        Some(E::PermissionDenied { .. } | E::Unauthenticated { .. }) => true,
        // object_store's S3 listing reports a refusal as `Generic`, and the retry error
        // that holds the status is private to it: its message is the only sign left.
        Some(E::Generic { .. }) => {
            let text = e.to_string();
            text.contains("403 Forbidden") || text.contains("401 Unauthorized")
        }
        _ => false,
    })
}

/// True when `error`'s source chain holds an object store or I/O error: a query failed
/// reading its data, not in its SQL.
pub fn storage_failed(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |&e| e.source())
        .any(|e| e.is::<deltalake::ObjectStoreError>() || e.is::<std::io::Error>())
}

enum Kind {
    Conflict,
    Other,
}
