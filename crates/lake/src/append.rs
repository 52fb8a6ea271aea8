//! The append path: [`LakeTable::append`] turns batches and Kafka resume points into one
//! Delta commit (derived partition columns, lossless fitting to the table's schema, one
//! schema for all batches, the layout's sort order and Parquet settings), then reads back
//! what the commit added.

use std::collections::HashSet;

use arrow::array::RecordBatch;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TableReference};
use deltalake::kernel::{Action, Transaction};
use deltalake::logstore::get_actions;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::{DeltaOperation, SaveMode};

use crate::conform::{conform, unify_batches};
use crate::error::LakeError;
use crate::layout::{partition_count, writer_properties};
use crate::table::{LakeTable, to_i64};

/// Result of one [`LakeTable::append`] commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Table version created by the commit (the current version when nothing was committed).
    pub version: i64,
    /// Parquet files the commit added.
    pub files_added: usize,
    /// Sum of the Parquet file sizes recorded in the commit's `add` actions.
    pub bytes_added: u64,
    /// Rows in those files.
    pub rows_added: u64,
}

impl LakeTable {
    /// ONE atomic Delta commit holding the Parquet files of `batches` (Hive-style partition
    /// directories) and one `txn` action per `(app_id, version)`.
    ///
    /// Schema evolution: columns new to the table are added as nullable
    /// ([`SchemaMode::Merge`]); table columns missing from the batches are written as null.
    /// Batches may differ from each other in the same way. With no rows but some txns, a
    /// commit with only the txns is made, so resume points still advance; with neither,
    /// nothing is committed.
    ///
    /// Files are written before the commit; if the commit never happens they are invisible
    /// to every Delta reader, and vacuum deletes them.
    pub async fn append(
        &mut self,
        batches: Vec<RecordBatch>,
        txns: &[(String, i64)],
    ) -> Result<CommitStats, LakeError> {
        let batches = self.fitted(batches)?;
        let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        if rows == 0 && txns.is_empty() {
            return Ok(CommitStats {
                version: self.version(),
                ..CommitStats::default()
            });
        }
        let properties = self.commit_properties(txns)?;

        let version = if rows == 0 {
            self.commit_txns_only(properties).await?
        } else {
            self.write_rows(batches, rows, properties).await?;
            self.version()
        };
        self.reload_schema()?;

        let (files_added, bytes_added) = self.added_files(version).await?;
        Ok(CommitStats {
            version,
            files_added,
            bytes_added,
            rows_added: rows,
        })
    }

    /// The non-empty batches with their derived partition columns, fitted to the table's
    /// schema.
    fn fitted(&self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, LakeError> {
        // Derived partition columns are computed here, from the data's own columns.
        let partitioning = self.partitioning()?;
        let table_schema = self.schema();
        // deltalake would cast a column to the table's type on its own, truncating
        // (10.5 into a bigint column is stored as 10): only lossless fits get through.
        batches
            .into_iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| {
                let b = partitioning
                    .derive(&b)
                    .map_err(|source| LakeError::Partitioning {
                        url: self.url().to_string(),
                        source,
                    })?;
                conform(&b, &table_schema).map_err(|m| LakeError::Schema {
                    url: self.url().to_string(),
                    reason: format!("{} row(s) do not fit: {}", m.rows.len(), m.message()),
                })
            })
            .collect()
    }

    /// Write `batches` (`rows` rows) and commit them with `properties` (the txns), through
    /// the checksummed write when the table allows it, else through deltalake's.
    async fn write_rows(
        &mut self,
        batches: Vec<RecordBatch>,
        rows: u64,
        properties: CommitProperties,
    ) -> Result<(), LakeError> {
        let batches = unify_batches(batches).map_err(|reason| LakeError::Schema {
            url: self.url().to_string(),
            reason,
        })?;
        let batches = self.laid_out(batches)?;
        let partitions = partition_count(&batches, &self.partition_columns()?);
        let parquet = writer_properties(&batches, rows, partitions, self.layout());
        if self.plain_appends()? {
            return self
                .write_checksummed(batches, rows, parquet, properties)
                .await;
        }
        let table = self
            .delta()
            .clone()
            .write(batches)
            .with_save_mode(SaveMode::Append)
            .with_schema_mode(SchemaMode::Merge)
            .with_writer_properties(parquet)
            .with_target_file_size(
                self.layout()
                    .target_file_bytes
                    .and_then(|b| std::num::NonZeroU64::new(b as u64)),
            )
            .with_commit_properties(properties)
            .await
            .map_err(|e| LakeError::delta("appending to Delta table", self.url(), e))?;
        *self.delta_mut() = table;
        Ok(())
    }

    /// The commit's `txn` actions, one per app id (the resume points).
    fn commit_properties(&self, txns: &[(String, i64)]) -> Result<CommitProperties, LakeError> {
        let mut seen = HashSet::new();
        for (app_id, _) in txns {
            if !seen.insert(app_id.as_str()) {
                // The Delta protocol allows one txn per app id per commit.
                return Err(LakeError::Schema {
                    url: self.url().to_string(),
                    reason: format!("txn app id {app_id:?} appears twice in one commit"),
                });
            }
        }
        // lastUpdated lets Delta's txn retention (delta.setTransactionRetentionDuration)
        // work the way it does for Spark-written tables.
        let now = chrono::Utc::now().timestamp_millis();
        let transactions = txns
            .iter()
            .map(|(app_id, version)| Transaction::new_with_last_update(app_id, *version, Some(now)))
            .collect();
        Ok(CommitProperties::default().with_application_transactions(transactions))
    }

    /// A commit of the txns alone: batches without rows still move the resume points.
    async fn commit_txns_only(&mut self, properties: CommitProperties) -> Result<i64, LakeError> {
        let snapshot = self
            .delta()
            .snapshot()
            .map_err(|e| LakeError::delta("reading Delta table", self.url(), e))?;
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: None,
            predicate: None,
        };
        let committed = CommitBuilder::from(properties)
            .with_actions(Vec::new())
            .build(
                Some(snapshot as &dyn TableReference),
                self.delta().log_store(),
                operation,
            )
            .await
            .map_err(|e| LakeError::delta("committing txns to Delta table", self.url(), e))?;
        let version = committed.version();
        self.delta_mut()
            .update_incremental(Some(version))
            .await
            .map_err(|e| LakeError::delta("refreshing Delta table", self.url(), e))?;
        Ok(to_i64(version))
    }

    /// The batches sorted as the layout asks, after checking it names only their columns.
    fn laid_out(&self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, LakeError> {
        let Some(first) = batches.first() else {
            return Ok(batches);
        };
        let missing = self.layout().missing_columns(first);
        if !missing.is_empty() {
            return Err(LakeError::Layout {
                url: self.url().to_string(),
                reason: format!(
                    "sort_by / bloom_filter name columns the data does not have: {}",
                    missing.join(", ")
                ),
            });
        }
        batches
            .into_iter()
            .map(|b| self.layout().sort(b))
            .collect::<Result<_, _>>()
            .map_err(|e| LakeError::Layout {
                url: self.url().to_string(),
                reason: format!("cannot sort the rows: {e}"),
            })
    }

    /// Files and bytes of the `add` actions of one commit, read back from the log entry
    /// (deltalake's write metrics do not report bytes).
    async fn added_files(&self, version: i64) -> Result<(usize, u64), LakeError> {
        // A negative version has no commit entry.
        let Ok(version) = u64::try_from(version) else {
            return Ok((0, 0));
        };
        let log_store = self.delta().log_store();
        let bytes = log_store
            .read_commit_entry(version)
            .await
            .map_err(|e| LakeError::delta("reading commit of", self.url(), e))?;
        let Some(bytes) = bytes else {
            return Ok((0, 0));
        };
        let actions = get_actions(version, &bytes)
            .map_err(|e| LakeError::delta("parsing commit of", self.url(), e))?;
        Ok(actions
            .iter()
            .filter_map(|a| match a {
                Action::Add(add) => Some(add.size.max(0) as u64),
                _ => None,
            })
            .fold((0, 0), |(files, bytes), size| (files + 1, bytes + size)))
    }
}
