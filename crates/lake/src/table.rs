//! One lake table = one Delta Lake table, written with exactly-once `txn` resume points.
//!
//! This module holds [`LakeTable`] itself: opening and creating it, time travel, its
//! accessors and its DataFusion provider. Its other methods live with their concerns:
//! `append` in `append.rs` (the checksummed write in `write.rs`), `widen` in `widen.rs`,
//! the catalog listings (columns, properties, partitions, history) in `catalog.rs`,
//! `verify` in `verify.rs`, and properties, checkpoints, compaction and vacuum in
//! `maintain.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use deltalake::datafusion::catalog::TableProvider;
use deltalake::kernel::engine::arrow_conversion::{TryFromArrow, TryIntoArrow};
use deltalake::kernel::{StructType, normalize_for_delta};
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder};
use futures::{StreamExt, TryStreamExt};
use url::Url;

use crate::as_of::AsOf;
use crate::error::LakeError;
use crate::layout::FileLayout;
use crate::location::{LakeLocation, validate_table_name};
use crate::partitioning::{PARTITIONING_PROPERTY, Partitioning};

/// What a lake table should look like when it has to be created.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableSpec {
    /// Table name: its directory under the lake root.
    pub name: String,
    /// Partition columns, outermost first (`dt` gives `dt=2026-11-23/`), each a column of
    /// the data or derived from one by a transform (`day(ts) AS dt`).
    pub partitioning: Partitioning,
    /// Table properties set at creation (`delta.checkpointInterval`,
    /// `delta.logRetentionDuration`, `delta.deletedFileRetentionDuration`, or keys of
    /// one's own outside `delta.`).
    pub properties: std::collections::BTreeMap<String, String>,
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

    /// The wrapped deltalake table, for the modules that commit to it (append, widen);
    /// [`Self::reload_schema`] must follow a change of its schema.
    pub(crate) fn delta_mut(&mut self) -> &mut DeltaTable {
        &mut self.table
    }

    /// Take the Arrow schema from the current snapshot again (after a commit or a refresh).
    pub(crate) fn reload_schema(&mut self) -> Result<(), LakeError> {
        self.schema = arrow_schema_of(&self.table, &self.url)?;
        Ok(())
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
        self.reload_schema()
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
pub(crate) fn to_i64(version: u64) -> i64 {
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
