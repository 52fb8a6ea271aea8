//! One lake table = one Delta Lake table, written with exactly-once `txn` resume points.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array, new_null_array};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use deltalake::datafusion::catalog::TableProvider;
use deltalake::kernel::engine::arrow_conversion::{TryFromArrow, TryIntoArrow};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TableReference};
use deltalake::kernel::{Action, StructType, Transaction, normalize_for_delta};
use deltalake::logstore::get_actions;
use deltalake::operations::write::SchemaMode;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder};
use futures::{StreamExt, TryStreamExt};
use url::Url;

use crate::as_of::AsOf;
use crate::error::LakeError;
use crate::layout::FileLayout;
use crate::location::{LakeLocation, validate_table_name};
use crate::partitioning::{PARTITIONING_PROPERTY, Partitioning};
use crate::widen::WidenUdf;

/// Rewrites a widening tries before giving up on concurrent writers.
const WIDEN_ATTEMPTS: usize = 50;

/// What a lake table should look like when it has to be created.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    /// Partition columns, outermost first (`dt` gives `dt=2026-11-23/`), each a column of
    /// the data or derived from one by a transform (`day(ts) AS dt`).
    pub partitioning: Partitioning,
    /// Table properties set at creation (`delta.checkpointInterval`,
    /// `delta.logRetentionDuration`, `delta.deletedFileRetentionDuration`, or keys of
    /// one's own outside `delta.`).
    pub properties: std::collections::BTreeMap<String, String>,
}

/// Result of one [`LakeTable::append`] commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Table version created by the commit (the current version when nothing was committed).
    pub version: i64,
    pub files_added: usize,
    /// Sum of the Parquet file sizes recorded in the commit's `add` actions.
    pub bytes_added: u64,
    pub rows_added: u64,
}

/// A lake table: a [`DeltaTable`] plus its name, URL and Arrow schema.
pub struct LakeTable {
    table: DeltaTable,
    name: String,
    url: Url,
    schema: SchemaRef,
    layout: FileLayout,
}

impl std::fmt::Debug for LakeTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeTable")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .field("version", &self.version())
            .finish()
    }
}

impl LakeTable {
    /// Open the table, or create it with this Arrow schema and partitioning if it does
    /// not exist. An existing table must have exactly `spec.partitioning` (the same
    /// columns and transforms); its schema may differ (appends evolve it).
    pub async fn open_or_create(
        loc: &LakeLocation,
        spec: &TableSpec,
        schema: SchemaRef,
    ) -> Result<Self, LakeError> {
        let table = match Self::open(loc, &spec.name).await {
            Ok(table) => table,
            Err(LakeError::TableNotFound { .. }) => Self::create(loc, spec, schema).await?,
            Err(e) => return Err(e),
        };
        let actual = table.partitioning()?;
        if actual != spec.partitioning {
            return Err(LakeError::PartitionMismatch {
                url: table.url.to_string(),
                expected: spec.partitioning.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(table)
    }

    async fn create(
        loc: &LakeLocation,
        spec: &TableSpec,
        schema: SchemaRef,
    ) -> Result<Self, LakeError> {
        let url = loc.table_url(&spec.name);
        let schema_err = |reason: String| LakeError::Schema {
            url: url.to_string(),
            reason,
        };
        // The derived partition columns are part of the table's schema.
        let schema =
            spec.partitioning
                .table_schema(&schema)
                .map_err(|source| LakeError::Partitioning {
                    url: url.to_string(),
                    source,
                })?;
        // The write path stores Arrow types Delta has no exact equivalent for (views,
        // nanosecond timestamps, ...) in their Delta form; create the table the same way so
        // the first append does not look like schema drift.
        let normalized = normalize_for_delta(&Arc::new(schema));
        let delta_schema = StructType::try_from_arrow(normalized.as_ref())
            .map_err(|e| schema_err(e.to_string()))?;

        crate::properties::check_properties(&url, &spec.properties)?;
        let mut properties = spec.properties.clone();
        if spec.partitioning.has_transforms() {
            properties.insert(
                PARTITIONING_PROPERTY.to_string(),
                spec.partitioning.to_string(),
            );
        }
        let table = new_table(loc, &url)?;
        let created = table
            .create()
            .with_table_name(spec.name.clone())
            .with_columns(delta_schema.fields().cloned())
            .with_partition_columns(spec.partitioning.columns())
            .with_configuration(properties.iter().map(|(k, v)| (k.clone(), Some(v.clone()))))
            // Keys of one's own are allowed; `delta.` ones were checked above.
            .with_raise_if_key_not_exists(false)
            // Ignore = "if someone created it meanwhile, load theirs".
            .with_save_mode(SaveMode::Ignore)
            .await;
        match created {
            Ok(table) => Self::from_loaded(spec.name.clone(), url, table),
            Err(e) => match LakeError::delta("creating Delta table", &url, e) {
                // Two creators raced for version 0 and we lost (put-if-absent refused our
                // 00000000000000000000.json): the table exists now, so open it.
                err if err.is_commit_conflict() => Self::open(loc, &spec.name).await,
                err => Err(err),
            },
        }
    }

    /// Open an existing table at its latest version. [`LakeError::TableNotFound`] names the
    /// URL when there is no Delta log there.
    pub async fn open(loc: &LakeLocation, table: &str) -> Result<Self, LakeError> {
        validate_table_name(table)?;
        match Self::open_url(loc, table, loc.table_url(table)).await {
            // Not a table of the lake's own: perhaps an external one it names.
            Err(LakeError::TableNotFound { url }) => match loc.external_url(table).await? {
                Some(external) => Self::open_url(loc, table, external).await,
                None => Err(LakeError::TableNotFound { url }),
            },
            other => other,
        }
    }

    /// Open the Delta table at `url` (with the lake's storage options) as `table`.
    pub(crate) async fn open_url(
        loc: &LakeLocation,
        table: &str,
        url: Url,
    ) -> Result<Self, LakeError> {
        let mut delta = new_table(loc, &url)?;
        // Check first: loading a directory without a log gives kernel errors whose text
        // varies by store, while this is one listing with a clear answer.
        let exists = delta
            .log_store()
            .is_delta_table_location()
            .await
            .map_err(|e| LakeError::delta("opening Delta table", &url, e))?;
        if !exists {
            return Err(LakeError::TableNotFound {
                url: url.to_string(),
            });
        }
        delta
            .load()
            .await
            .map_err(|e| LakeError::delta("loading Delta table", &url, e))?;
        Self::from_loaded(table.to_string(), url, delta)
    }

    /// Open the table as it was at `at` (time travel); `None` when it did not exist yet.
    /// A time selects the newest commit the writer made at or before it, by the commit
    /// times `history` lists (not by the log files' modification times).
    pub async fn open_as_of(
        loc: &LakeLocation,
        table: &str,
        at: AsOf,
    ) -> Result<Option<Self>, LakeError> {
        let mut current = Self::open(loc, table).await?;
        let version = match at {
            AsOf::Version(v) => v,
            AsOf::Time(t) => {
                let millis = t.timestamp_millis();
                let commits = current.history(None).await?;
                match commits
                    .iter()
                    .find(|c| c.millis.is_some_and(|m| m <= millis))
                {
                    Some(commit) => commit.version,
                    None => return Ok(None),
                }
            }
        };
        if i64::try_from(version).map_or(true, |v| v > current.version()) {
            return Ok(None);
        }
        if to_i64(version) != current.version()
            && let Err(e) = current.table.load_version(version).await
        {
            // Cleaned up after the log retention: say so rather than how loading failed.
            let kept = current.table.log_store().read_commit_entry(version).await;
            return Err(match kept {
                Ok(None) => LakeError::VersionNotKept {
                    url: current.url.to_string(),
                    version,
                },
                _ => LakeError::delta("loading an older version of", &current.url, e),
            });
        }
        Self::from_loaded(current.name, current.url, current.table).map(Some)
    }

    /// The file layout of this handle's later appends.
    pub fn set_layout(&mut self, layout: FileLayout) {
        self.layout = layout;
    }

    /// The file layout of this handle's appends.
    pub(crate) fn layout(&self) -> &FileLayout {
        &self.layout
    }

    /// Take the table an operation (compaction, vacuum) handed back as the current one.
    pub(crate) fn replace_table(&mut self, table: DeltaTable) -> Result<(), LakeError> {
        self.schema = arrow_schema_of(&table, &self.url)?;
        self.table = table;
        Ok(())
    }

    fn from_loaded(name: String, url: Url, table: DeltaTable) -> Result<Self, LakeError> {
        let schema = arrow_schema_of(&table, &url)?;
        Ok(Self {
            table,
            name,
            url,
            schema,
            layout: FileLayout::default(),
        })
    }

    /// Table name (its directory under the lake root).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Table URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Partition columns recorded in the table metadata.
    pub fn partition_columns(&self) -> Result<Vec<String>, LakeError> {
        let snapshot = self
            .table
            .snapshot()
            .map_err(|e| LakeError::delta("reading Delta table", &self.url, e))?;
        Ok(snapshot.metadata().partition_columns().to_vec())
    }

    /// The partition columns and how each is computed: the transforms recorded in the
    /// `pipelab.partitioning` property, else the identity of each partition column.
    pub fn partitioning(&self) -> Result<Partitioning, LakeError> {
        let snapshot = self
            .table
            .snapshot()
            .map_err(|e| LakeError::delta("reading Delta table", &self.url, e))?;
        let metadata = snapshot.metadata();
        match metadata.configuration().get(PARTITIONING_PROPERTY) {
            Some(text) => text
                .parse()
                .map_err(|source| LakeError::PartitioningRecord {
                    url: self.url.to_string(),
                    source,
                }),
            None => Ok(Partitioning::identity(metadata.partition_columns())),
        }
    }

    /// Re-read the log up to the newest version (other writers' commits become visible).
    pub async fn refresh(&mut self) -> Result<(), LakeError> {
        self.table
            .update_state()
            .await
            .map_err(|e| LakeError::delta("refreshing Delta table", &self.url, e))?;
        self.schema = arrow_schema_of(&self.table, &self.url)?;
        Ok(())
    }

    /// Delta `txn` versions for these app ids (absent from the map when the table has none):
    /// the exactly-once resume points.
    ///
    /// The table is refreshed to its newest version first: a resume point read from a stale
    /// snapshot would replay data that a later commit already holds.
    pub async fn txn_versions(
        &mut self,
        app_ids: &[String],
    ) -> Result<HashMap<String, i64>, LakeError> {
        self.refresh().await?;
        let snapshot = self
            .table
            .snapshot()
            .map_err(|e| LakeError::delta("reading Delta table", &self.url, e))?;
        let log_store = self.table.log_store();
        let url = &self.url;
        let log_store = &log_store;
        // Each lookup is a blocking log replay in the kernel; a few at a time keeps
        // many-partition topics fast without flooding a small machine.
        futures::stream::iter(app_ids.iter().cloned().collect::<HashSet<_>>())
            .map(|app_id| async move {
                let version = snapshot
                    .transaction_version(log_store.as_ref(), &app_id)
                    .await
                    .map_err(|e| LakeError::delta("reading txn versions of", url, e))?;
                Ok::<_, LakeError>(version.map(|v| (app_id, v)))
            })
            .buffer_unordered(4)
            .try_filter_map(|found| async move { Ok(found) })
            .try_collect()
            .await
    }

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
        // Derived partition columns are computed here, from the data's own columns.
        let partitioning = self.partitioning()?;
        // deltalake would cast a column to the table's type on its own, truncating
        // (10.5 into a bigint column is stored as 10): only lossless fits get through.
        let batches: Vec<RecordBatch> = batches
            .into_iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| {
                let b = partitioning
                    .derive(&b)
                    .map_err(|source| LakeError::Partitioning {
                        url: self.url.to_string(),
                        source,
                    })?;
                crate::conform::conform(&b, &self.schema).map_err(|m| LakeError::Schema {
                    url: self.url.to_string(),
                    reason: format!("{} row(s) do not fit: {}", m.rows.len(), m.message()),
                })
            })
            .collect::<Result<_, _>>()?;
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
            let batches = unify_batches(batches).map_err(|reason| LakeError::Schema {
                url: self.url.to_string(),
                reason,
            })?;
            let batches = self.laid_out(batches)?;
            let partitions = partition_count(&batches, &self.partition_columns()?);
            let parquet = writer_properties(&batches, rows, partitions, &self.layout);
            if self.plain_appends()? {
                self.write_checksummed(batches, rows, parquet, properties)
                    .await?;
            } else {
                self.table = self
                    .table
                    .clone()
                    .write(batches)
                    .with_save_mode(SaveMode::Append)
                    .with_schema_mode(SchemaMode::Merge)
                    .with_writer_properties(parquet)
                    .with_target_file_size(
                        self.layout
                            .target_file_bytes
                            .and_then(|b| std::num::NonZeroU64::new(b as u64)),
                    )
                    .with_commit_properties(properties)
                    .await
                    .map_err(|e| LakeError::delta("appending to Delta table", &self.url, e))?;
            }
            self.version()
        };
        self.schema = arrow_schema_of(&self.table, &self.url)?;

        let (files_added, bytes_added) = self.added_files(version).await?;
        Ok(CommitStats {
            version,
            files_added,
            bytes_added,
            rows_added: rows,
        })
    }

    /// Give the columns of `target` whose types differ from the table's those wider types
    /// (see [`crate::widened_schema`]): the table is rewritten with the new schema in one
    /// overwrite commit; its `txn` resume points stay, as they live in the log. The rewrite
    /// streams through a DataFusion plan. It is an overwrite of every row (`replaceWhere
    /// true`), so a commit that adds files after the rewrite read the table makes it
    /// conflict instead of leaving files of the old types behind; it is then done again.
    /// `Ok(false)` when no column needed it.
    pub async fn widen(&mut self, target: &Schema) -> Result<bool, LakeError> {
        for _ in 0..WIDEN_ATTEMPTS {
            self.refresh().await?;
            let changes: Vec<(String, DataType)> = self
                .schema
                .fields()
                .iter()
                .filter_map(|f| {
                    let wide = target.field_with_name(f.name()).ok()?;
                    (wide.data_type() != f.data_type())
                        .then(|| (f.name().clone(), wide.data_type().clone()))
                })
                .collect();
            if changes.is_empty() {
                return Ok(false);
            }
            let described = changes
                .iter()
                .map(|(name, dt)| format!("{name}: {dt}"))
                .collect::<Vec<_>>()
                .join(", ");
            tracing::info!("widening columns of table {}: {described}", self.url);
            let plan = self.widening_plan(&changes).await?;
            let properties = CommitProperties::default().with_metadata([(
                "pipelab.widened".to_string(),
                serde_json::Value::String(described),
            )]);
            let written = self
                .table
                .clone()
                .write(Vec::new())
                .with_input_plan(plan)
                .with_save_mode(SaveMode::Overwrite)
                .with_schema_mode(SchemaMode::Overwrite)
                .with_replace_where(datafusion::prelude::lit(true))
                .with_commit_properties(properties)
                .await;
            match written {
                Ok(table) => {
                    self.table = table;
                    self.schema = arrow_schema_of(&self.table, &self.url)?;
                    return Ok(true);
                }
                Err(e) => match LakeError::delta("widening columns of Delta table", &self.url, e) {
                    err if err.is_commit_conflict() => tracing::info!("{err}; widening again"),
                    err => return Err(err),
                },
            }
        }
        Err(LakeError::Schema {
            url: self.url.to_string(),
            reason: format!(
                "gave up widening columns after {WIDEN_ATTEMPTS} rewrites lost to concurrent writers"
            ),
        })
    }

    /// Every row of the table, the changed columns widened, the others as they are.
    async fn widening_plan(
        &self,
        changes: &[(String, DataType)],
    ) -> Result<datafusion::logical_expr::LogicalPlan, LakeError> {
        use datafusion::logical_expr::ScalarUDF;
        use datafusion::prelude::{Expr, SessionContext, cast, ident};
        let df_err = |e| LakeError::datafusion(&self.name, &self.url, e);
        let ctx = SessionContext::new();
        self.table
            .update_datafusion_session(&ctx.state())
            .map_err(|e| LakeError::delta("registering object store of", &self.url, e))?;
        let rows = ctx
            .read_table(self.table_provider().await?)
            .map_err(df_err)?;
        let scanned = rows.schema().clone();
        let columns: Vec<Expr> = self
            .schema
            .fields()
            .iter()
            .map(|f| {
                // Partition columns are scanned dictionary-encoded: back to the table's type.
                let stored = match scanned.field_with_unqualified_name(f.name()) {
                    Ok(s) if s.data_type() != f.data_type() => {
                        cast(ident(f.name()), f.data_type().clone())
                    }
                    _ => ident(f.name()),
                };
                match changes.iter().find(|(name, _)| name == f.name()) {
                    Some((name, dt)) => {
                        let udf = ScalarUDF::new_from_impl(WidenUdf::new(name, dt.clone()));
                        udf.call(vec![stored]).alias(name)
                    }
                    None => stored.alias(f.name()),
                }
            })
            .collect();
        Ok(rows
            .select(columns)
            .map_err(df_err)?
            .into_unoptimized_plan())
    }

    fn commit_properties(&self, txns: &[(String, i64)]) -> Result<CommitProperties, LakeError> {
        let mut seen = HashSet::new();
        for (app_id, _) in txns {
            if !seen.insert(app_id.as_str()) {
                // The Delta protocol allows one txn per app id per commit.
                return Err(LakeError::Schema {
                    url: self.url.to_string(),
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

    async fn commit_txns_only(&mut self, properties: CommitProperties) -> Result<i64, LakeError> {
        let snapshot = self
            .table
            .snapshot()
            .map_err(|e| LakeError::delta("reading Delta table", &self.url, e))?;
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: None,
            predicate: None,
        };
        let committed = CommitBuilder::from(properties)
            .with_actions(Vec::new())
            .build(
                Some(snapshot as &dyn TableReference),
                self.table.log_store(),
                operation,
            )
            .await
            .map_err(|e| LakeError::delta("committing txns to Delta table", &self.url, e))?;
        let version = committed.version();
        self.table
            .update_incremental(Some(version))
            .await
            .map_err(|e| LakeError::delta("refreshing Delta table", &self.url, e))?;
        Ok(to_i64(version))
    }

    /// The batches sorted as the layout asks, after checking it names only their columns.
    fn laid_out(&self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, LakeError> {
        let Some(first) = batches.first() else {
            return Ok(batches);
        };
        let missing = self.layout.missing_columns(first);
        if !missing.is_empty() {
            return Err(LakeError::Layout {
                url: self.url.to_string(),
                reason: format!(
                    "sort_by / bloom_filter name columns the data does not have: {}",
                    missing.join(", ")
                ),
            });
        }
        batches
            .into_iter()
            .map(|b| self.layout.sort(b))
            .collect::<Result<_, _>>()
            .map_err(|e| LakeError::Layout {
                url: self.url.to_string(),
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
        let log_store = self.table.log_store();
        let bytes = log_store
            .read_commit_entry(version)
            .await
            .map_err(|e| LakeError::delta("reading commit of", &self.url, e))?;
        let Some(bytes) = bytes else {
            return Ok((0, 0));
        };
        let actions = get_actions(version, &bytes)
            .map_err(|e| LakeError::delta("parsing commit of", &self.url, e))?;
        Ok(actions
            .iter()
            .filter_map(|a| match a {
                Action::Add(add) => Some(add.size.max(0) as u64),
                _ => None,
            })
            .fold((0, 0), |(files, bytes), size| (files + 1, bytes + size)))
    }

    /// Current table version (-1 only for a table handle that was never loaded, which
    /// this type does not hand out).
    pub fn version(&self) -> i64 {
        self.table.version().map_or(-1, to_i64)
    }

    /// The wrapped deltalake table, for operations this crate does not wrap yet.
    pub fn delta(&self) -> &DeltaTable {
        &self.table
    }

    /// Fully qualified URIs of the Parquet files of the current version (only committed
    /// files; orphans from failed attempts are not listed).
    pub async fn file_uris(&self) -> Result<Vec<String>, LakeError> {
        Ok(self
            .table
            .get_file_uris()
            .map_err(|e| LakeError::delta("listing files of", &self.url, e))?
            .collect())
    }

    /// Arrow schema of the current version (partition columns included, in table order).
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// A DataFusion table provider over the current version. It prunes partitions and files
    /// from WHERE clauses, and registers the table's object store in the querying session
    /// on first scan.
    /// With partition transforms, predicates on a source column also select on its
    /// derived columns (see [`crate::pruning`]).
    pub async fn table_provider(&self) -> Result<Arc<dyn TableProvider>, LakeError> {
        let provider = self
            .table
            .table_provider()
            .await
            .map_err(|e| LakeError::datafusion(&self.name, &self.url, e))?;
        let partitioning = self.partitioning()?;
        Ok(if partitioning.has_transforms() {
            Arc::new(crate::pruning::PruningTable::new(provider, partitioning))
        } else {
            provider
        })
    }
}

/// deltalake 1.1 counts versions in u64; the Delta protocol and this crate's API
/// (shared with Kafka offsets) use i64. Real versions never come near the limit.
fn to_i64(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

fn new_table(loc: &LakeLocation, url: &Url) -> Result<DeltaTable, LakeError> {
    let build = || {
        let mut builder = DeltaTableBuilder::from_url(url.clone())?
            .with_storage_options(loc.storage_options().clone());
        if crate::failpoint::before_commit_armed() {
            // Crash tests only: the same root store, wrapped so that the process dies
            // between writing Parquet files and writing their commit.
            let root = builder.build_storage()?.root_object_store(None);
            builder = builder
                .with_storage_backend(crate::failpoint::DieBeforeCommit::wrap(root), url.clone());
        }
        builder.build()
    };
    build().map_err(|e| LakeError::delta("opening Delta table", url, e))
}

/// Arrow schema of the loaded snapshot, converted without deltalake's panicking helper.
fn arrow_schema_of(table: &DeltaTable, url: &Url) -> Result<SchemaRef, LakeError> {
    let snapshot = table
        .snapshot()
        .map_err(|e| LakeError::delta("reading Delta table", url, e))?;
    let schema: Schema =
        snapshot
            .schema()
            .as_ref()
            .try_into_arrow()
            .map_err(|e| LakeError::Schema {
                url: url.to_string(),
                reason: format!("table schema has no Arrow equivalent: {e}"),
            })?;
    Ok(Arc::new(schema))
}

/// Rows per file below which a dictionary is not worth its writer's memory.
const DICTIONARY_MIN_ROWS_PER_FILE: u64 = 4096;

/// Parquet settings for one write. deltalake keeps a Parquet writer open per partition
/// until the commit, and each column's dictionary encoder starts with a 4096-entry hash
/// table (~70 KiB): a batch spanning 1,000 date partitions held ~150 MiB in empty
/// tables for files of ~200 rows. So a dictionary is used only when the files get
/// enough rows for it to pay, and not for text columns whose values are mostly distinct
/// (ids, timestamps as text), where it costs a hash of every value and makes the file
/// larger than plain encoding.
fn writer_properties(
    batches: &[RecordBatch],
    rows: u64,
    partitions: usize,
    layout: &FileLayout,
) -> WriterProperties {
    let rows_per_file = rows / partitions.max(1) as u64;
    let mut builder = layout.apply(
        WriterProperties::builder()
            .set_dictionary_enabled(rows_per_file >= DICTIONARY_MIN_ROWS_PER_FILE),
    );
    if let Some(batch) = batches.iter().max_by_key(|b| b.num_rows()) {
        for name in mostly_distinct_text_columns(batch) {
            builder = builder.set_column_dictionary_enabled(ColumnPath::from(name), false);
        }
    }
    builder.build()
}

/// Rows of a batch sampled to tell a column's distinct share.
const DISTINCT_SAMPLE_ROWS: usize = 1024;

/// The top-level text columns where more than half of the sampled values (evenly spaced
/// rows) are distinct.
fn mostly_distinct_text_columns(batch: &RecordBatch) -> Vec<String> {
    let step = (batch.num_rows() / DISTINCT_SAMPLE_ROWS).max(1);
    let mut names = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let Some(text) = column.as_string_opt::<i32>() else {
            continue;
        };
        let mut seen = HashSet::new();
        let mut sampled = 0usize;
        for row in (0..text.len()).step_by(step) {
            if text.is_valid(row) {
                sampled += 1;
                seen.insert(text.value(row));
            }
        }
        if sampled >= 64 && seen.len() * 2 > sampled {
            names.push(field.name().clone());
        }
    }
    names
}

/// Rows of a batch [`partition_count`] looks at.
const PARTITION_SAMPLE_ROWS: usize = 8192;

/// Distinct values of the partition columns in the batches (1 for an unpartitioned
/// table), seen in a sample of their rows.
fn partition_count(batches: &[RecordBatch], partition_by: &[String]) -> usize {
    if partition_by.is_empty() {
        return 1;
    }
    let mut seen = HashSet::new();
    for batch in batches {
        // Evenly spaced rows, enough to see every partition that holds more than a
        // sliver of the batch: the count only sizes a heuristic.
        let step = (batch.num_rows() / PARTITION_SAMPLE_ROWS).max(1);
        let sample = UInt32Array::from_iter_values(
            (0..batch.num_rows()).step_by(step).map(|row| row as u32),
        );
        let Ok(columns) = partition_by
            .iter()
            .filter_map(|name| batch.column_by_name(name))
            .map(|column| take(column, &sample, None))
            .collect::<Result<Vec<ArrayRef>, _>>()
        else {
            return 1;
        };
        let Ok(converter) = RowConverter::new(
            columns
                .iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect(),
        ) else {
            return 1;
        };
        let Ok(rows) = converter.convert_columns(&columns) else {
            return 1;
        };
        // Hashes, not copies of each row: this only sizes a heuristic.
        seen.extend(rows.iter().map(|r| {
            let mut h = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(r.as_ref(), &mut h);
            std::hash::Hasher::finish(&h)
        }));
    }
    seen.len().max(1)
}

/// Give all batches one schema, because deltalake's writer takes the first batch's schema
/// for all of them. Columns are matched by name in first-seen order; a column missing from
/// some batch becomes nullable and is filled with nulls there. String-like (or binary-like)
/// columns of differing Arrow encodings are cast to plain Utf8 (Binary); any other type
/// clash is an error rather than a silent cast.
fn unify_batches(batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, String> {
    let first = match batches.first() {
        Some(b) => b.schema(),
        None => return Ok(batches),
    };
    if batches.iter().all(|b| b.schema() == first) {
        return Ok(batches);
    }

    let mut fields: Vec<Field> = Vec::new();
    for batch in &batches {
        let schema = batch.schema();
        for field in schema.fields() {
            match fields.iter_mut().find(|f| f.name() == field.name()) {
                None => fields.push(field.as_ref().clone()),
                Some(existing) => {
                    let merged =
                        merge_type(existing.data_type(), field.data_type()).ok_or_else(|| {
                            format!(
                                "column {:?} is {} in one batch and {} in another",
                                field.name(),
                                existing.data_type(),
                                field.data_type()
                            )
                        })?;
                    let nullable = existing.is_nullable() || field.is_nullable();
                    *existing = existing
                        .clone()
                        .with_data_type(merged)
                        .with_nullable(nullable);
                }
            }
        }
    }
    for field in &mut fields {
        if batches
            .iter()
            .any(|b| b.schema().field_with_name(field.name()).is_err())
        {
            *field = field.clone().with_nullable(true);
        }
    }
    let schema = Arc::new(Schema::new(fields));

    batches
        .into_iter()
        .map(|batch| {
            let columns = schema
                .fields()
                .iter()
                .map(|field| match batch.column_by_name(field.name()) {
                    None => Ok(new_null_array(field.data_type(), batch.num_rows())),
                    Some(col) if col.data_type() == field.data_type() => Ok(col.clone()),
                    Some(col) => cast(col, field.data_type()).map_err(|e| e.to_string()),
                })
                .collect::<Result<Vec<_>, String>>()?;
            RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
        })
        .collect()
}

fn merge_type(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    if a == b {
        return Some(a.clone());
    }
    match (a, b) {
        (Utf8 | LargeUtf8 | Utf8View, Utf8 | LargeUtf8 | Utf8View) => Some(Utf8),
        (Binary | LargeBinary | BinaryView, Binary | LargeBinary | BinaryView) => Some(Binary),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, StringViewArray};
    use deltalake::parquet::schema::types::ColumnPath;

    /// Dictionaries only for files that get enough rows: a batch spread over many
    /// partitions writes without them (their writers' memory is the cost).
    #[test]
    fn dictionaries_only_for_files_with_enough_rows() -> Result<(), Box<dyn std::error::Error>> {
        let batch = RecordBatch::try_from_iter([
            ("dt", Arc::new(StringArray::from(vec!["a", "a", "b"])) as _),
            ("n", Arc::new(Int64Array::from(vec![1, 2, 3])) as _),
        ])?;
        let by = |cols: &[&str]| cols.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        assert_eq!(
            partition_count(&[batch.clone(), batch.clone()], &by(&["dt"])),
            2
        );
        assert_eq!(
            partition_count(std::slice::from_ref(&batch), &by(&["dt", "n"])),
            3
        );
        assert_eq!(partition_count(&[batch], &[]), 1);
        let column = ColumnPath::from("n");
        let layout = FileLayout::default();
        assert!(writer_properties(&[], 100_000, 7, &layout).dictionary_enabled(&column));
        assert!(!writer_properties(&[], 200_000, 1_000, &layout).dictionary_enabled(&column));
        assert!(matches!(
            writer_properties(&[], 1, 1, &layout).compression(&column),
            deltalake::parquet::basic::Compression::SNAPPY
        ));
        Ok(())
    }

    /// Text columns of mostly distinct values (ids) are written without a dictionary;
    /// repetitive ones (a country) and numbers keep it.
    #[test]
    fn no_dictionary_for_mostly_distinct_text() -> Result<(), Box<dyn std::error::Error>> {
        let rows = 10_000;
        let batch = RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("e{i}")),
                )) as _,
            ),
            (
                "country",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| ["US", "DE", "JP"][i % 3]),
                )) as _,
            ),
            (
                "n",
                Arc::new(Int64Array::from_iter_values(0..rows as i64)) as _,
            ),
        ])?;
        assert_eq!(mostly_distinct_text_columns(&batch), ["id"]);
        let props = writer_properties(&[batch], 100_000, 1, &FileLayout::default());
        assert!(!props.dictionary_enabled(&ColumnPath::from("id")));
        assert!(props.dictionary_enabled(&ColumnPath::from("country")));
        assert!(props.dictionary_enabled(&ColumnPath::from("n")));
        Ok(())
    }

    #[test]
    fn unify_fills_missing_columns_and_string_encodings() -> Result<(), Box<dyn std::error::Error>>
    {
        let a = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(vec![1, 2])) as _),
            ("s", Arc::new(StringArray::from(vec!["x", "y"])) as _),
        ])?;
        let b = RecordBatch::try_from_iter([
            ("s", Arc::new(StringViewArray::from(vec!["z"])) as _),
            ("extra", Arc::new(Int64Array::from(vec![7])) as _),
        ])?;
        let out = unify_batches(vec![a, b])?;
        let schema = out[0].schema();
        assert_eq!(out[1].schema(), schema);
        let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["id", "s", "extra"]);
        assert!(schema.field(0).is_nullable());
        assert_eq!(schema.field(1).data_type(), &DataType::Utf8);
        assert_eq!(out[0].column(2).null_count(), 2);
        assert_eq!(out[1].column(0).null_count(), 1);
        Ok(())
    }

    #[test]
    fn unify_rejects_type_clash() -> Result<(), Box<dyn std::error::Error>> {
        let a = RecordBatch::try_from_iter([("v", Arc::new(Int64Array::from(vec![1])) as _)])?;
        let b = RecordBatch::try_from_iter([("v", Arc::new(StringArray::from(vec!["1"])) as _)])?;
        assert!(unify_batches(vec![a, b]).is_err());
        Ok(())
    }
}
