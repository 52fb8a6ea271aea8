//! The append path's own write: deltalake's file writer and commit builder, with a
//! content checksum in every `add` action (see [`crate::checksum`]).
//!
//! deltalake's write operation commits as soon as its files are written, so the `add`
//! actions cannot be given tags in between. This path does the same steps with the
//! crate's public parts: [`DeltaWriter`] (the writer that operation uses) writes the
//! Parquet files through a [`ChecksumStore`], and one [`CommitBuilder`] commit holds a
//! new schema if the data grew one, the tagged `add`s and the `txn` actions, so the
//! commit is exactly as atomic as before. Tables that need more than a plain append
//! (check constraints, invariants, generated columns, column mapping: writer protocol
//! above 2) keep going through deltalake's write operation, which enforces them.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use deltalake::DeltaTable;
use deltalake::datafile::writer::{DeltaWriter, WriterConfig};
use deltalake::kernel::engine::arrow_conversion::{TryFromArrow, TryIntoArrow};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TableReference};
use deltalake::kernel::{Action, MetadataExt, StructType, normalize_for_delta};
use deltalake::operations::write::configs::WriterStatsConfig;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::schema::cast_record_batch;
use deltalake::table::config::TablePropertiesExt;
use object_store::path::Path;

use crate::checksum::{CHECKSUM_TAG, ChecksumStore};
use crate::conform::evolved_schema;
use crate::error::LakeError;
use crate::table::LakeTable;

impl LakeTable {
    /// Whether an append needs nothing but files and a commit: writer protocol 1 or 2
    /// (appendOnly is the one table feature then, and an append honours it) with no
    /// column invariants.
    pub(crate) fn plain_appends(&self) -> Result<bool, LakeError> {
        let snapshot = self
            .delta()
            .snapshot()
            .map_err(|e| LakeError::delta("reading Delta table", self.url(), e))?;
        // The kernel keeps the protocol's fields to itself; its serialised form is public.
        let protocol = serde_json::to_value(snapshot.protocol()).unwrap_or_default();
        let writer_version = protocol["minWriterVersion"].as_i64().unwrap_or(i64::MAX);
        let invariants = snapshot
            .metadata()
            .schema_string()
            .contains("delta.invariants");
        Ok(writer_version <= 2 && !invariants)
    }

    /// Write `batches` (one schema, see `unify_batches`) and commit them with
    /// `properties` (the txns) in one commit; `rows` is their row count, for the commit's
    /// operation metrics.
    pub(crate) async fn write_checksummed(
        &mut self,
        batches: Vec<RecordBatch>,
        rows: u64,
        parquet: WriterProperties,
        properties: CommitProperties,
    ) -> Result<(), LakeError> {
        let started = Instant::now();
        let url = self.url().clone();
        let delta_err = |what: &'static str| {
            let url = url.clone();
            move |e| LakeError::delta(what, &url, e)
        };
        let schema_err = |reason: String| LakeError::Schema {
            url: url.to_string(),
            reason,
        };
        let Some(first) = batches.first() else {
            return Ok(());
        };
        let state = self
            .delta()
            .snapshot()
            .map_err(delta_err("reading Delta table"))?;
        let snapshot = state.snapshot();

        // The table's schema, grown by the batch's new columns and sub-fields, taken
        // through Delta's types and back: the Arrow schema every reader of the table sees,
        // which the files must have exactly.
        let grown = evolved_schema(&self.schema(), &first.schema());
        let delta_schema =
            StructType::try_from_arrow(normalize_for_delta(&Arc::new(grown)).as_ref())
                .map_err(|e| schema_err(format!("no Delta type for a column: {e}")))?;
        let target: SchemaRef = Arc::new(
            TryIntoArrow::<Schema>::try_into_arrow(&delta_schema)
                .map_err(|e| schema_err(format!("no Arrow type for a column: {e}")))?,
        );
        let mut actions = Vec::new();
        if &delta_schema != snapshot.schema().as_ref() {
            let metadata = snapshot
                .metadata()
                .clone()
                .with_schema(&delta_schema)
                .map_err(|e| schema_err(format!("cannot record the grown schema: {e}")))?;
            actions.push(Action::Metadata(metadata));
        }

        let partition_columns = snapshot.metadata().partition_columns().to_vec();
        let stats = WriterStatsConfig::from_config(snapshot.table_configuration());
        let target_file_size = self
            .layout()
            .target_file_bytes
            .and_then(|b| NonZeroU64::new(b as u64))
            .unwrap_or_else(|| snapshot.table_properties().target_file_size());
        let config = WriterConfig::new(
            target.clone(),
            partition_columns.clone(),
            Some(parquet),
            Some(target_file_size),
            None,
            stats.num_indexed_cols,
            stats.stats_columns,
        );
        let log_store = self.delta().log_store();
        let store = ChecksumStore::wrap(log_store.object_store(None));
        let mut writer = DeltaWriter::new(store.clone(), config);
        for batch in &batches {
            let written = match cast_record_batch(batch, target.clone(), false, true) {
                Ok(batch) => writer.write(&batch).await,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                // Files already uploaded stay unreferenced (vacuum's to delete); uploads in
                // progress are aborted.
                let _ = writer.abort().await;
                return Err(LakeError::delta("writing Parquet files of", &url, e));
            }
        }
        let adds = writer
            .close()
            .await
            .map_err(delta_err("writing Parquet files of"))?;
        let files = adds.len();
        for mut add in adds {
            let path =
                Path::from_url_path(&add.path).unwrap_or_else(|_| Path::from(add.path.as_str()));
            match store.checksum(&path) {
                Some(sum) => {
                    add.tags
                        .get_or_insert_default()
                        .insert(CHECKSUM_TAG.to_string(), Some(sum));
                }
                // A path the writer reports other than it wrote it: the data is sound, so
                // it is committed, and verify counts it among the files without a checksum.
                None => tracing::warn!(file = %add.path, "no checksum recorded for this file"),
            }
            actions.push(Action::Add(add));
        }

        // As deltalake's write operation records them (Spark's DESCRIBE HISTORY reads
        // these names); the txns' properties carry no other app metadata to replace.
        let properties = properties.with_metadata([(
            "operationMetrics".to_string(),
            serde_json::json!({
                "num_added_files": files,
                "num_removed_files": 0,
                "num_added_rows": rows,
                "execution_time_ms": started.elapsed().as_millis() as u64,
            }),
        )]);
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: (!partition_columns.is_empty()).then_some(partition_columns),
            predicate: None,
        };
        let committed = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(
                Some(state as &dyn TableReference),
                log_store.clone(),
                operation,
            )
            .await
            .map_err(delta_err("appending to Delta table"))?;
        let mut table: DeltaTable = self.delta().clone();
        table
            .update_incremental(Some(committed.version()))
            .await
            .map_err(delta_err("refreshing Delta table"))?;
        self.replace_table(table)
    }
}
