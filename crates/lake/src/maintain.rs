//! Keeping a table healthy: compaction (deltalake's optimize: many small files rewritten
//! as few, in one commit), by hand or after writes; vacuum (deleting files no retained
//! snapshot references, including those of writes that never committed); table
//! properties; checkpoints with the log's cleanup.

use std::collections::BTreeMap;
use std::num::NonZeroU64;

use deltalake::checkpoints::{cleanup_metadata, create_checkpoint};
use deltalake::operations::optimize::OptimizeType;
use deltalake::operations::vacuum::VacuumMode;
use deltalake::table::config::TablePropertiesExt;
use deltalake::{FilterValue, filter_literal};
use serde::Serialize;

use crate::error::LakeError;
use crate::properties::check_properties;
use crate::table::LakeTable;

/// Which files to compact and how.
#[derive(Debug, Clone, Default)]
pub struct CompactOptions {
    /// Only partitions matching all of these: `column op value`, where op is one of
    /// `=`, `!=`, `<`, `<=`, `>`, `>=` and the column a partition column.
    pub filters: Vec<PartitionFilter>,
    /// Z-order the files of each partition by these columns instead of only binning them.
    pub zorder: Vec<String>,
    /// Bytes a rewritten file aims at (deltalake's default: 100 MiB).
    pub target_file_bytes: Option<NonZeroU64>,
}

/// One `column op value` comparison on partition values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionFilter {
    /// The partition column compared.
    pub column: String,
    /// The comparison: `=`, `!=`, `<`, `<=`, `>` or `>=`.
    pub op: String,
    /// The value compared with, as partition directories spell it (quotes removed).
    pub value: String,
}

impl std::str::FromStr for PartitionFilter {
    type Err = String;

    /// `dt = '2026-11-25'`, `dt>=2026-11-20` (quotes optional).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // Longest operators first, so `<=` is not read as `<`.
        for op in ["!=", "<=", ">=", "=", "<", ">"] {
            if let Some((column, value)) = text.split_once(op) {
                let column = column.trim();
                let value = value.trim().trim_matches('\'');
                if column.is_empty() || value.is_empty() {
                    break;
                }
                return Ok(PartitionFilter {
                    column: column.to_string(),
                    op: op.to_string(),
                    value: value.to_string(),
                });
            }
        }
        Err(format!(
            "{text:?} is not a partition filter: expected COLUMN OP VALUE with OP one of \
             =, !=, <, <=, >, >= (e.g. dt >= '2026-11-20')"
        ))
    }
}

/// When a table compacts itself after a write: a partition holding more than
/// `max_small_files` files smaller than `small_file_bytes` is compacted. In a pipeline
/// spec it is the `[sink.compaction]` table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoCompaction {
    /// Files smaller than this many bytes count as small (default 32 MiB).
    #[serde(default = "default_small_file_bytes")]
    pub small_file_bytes: u64,
    /// The most small files a partition may hold; one more and it is compacted (default 16).
    #[serde(default = "default_max_small_files")]
    pub max_small_files: usize,
}

fn default_small_file_bytes() -> u64 {
    32 << 20
}

fn default_max_small_files() -> usize {
    16
}

/// What a checkpoint did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointReport {
    /// The version the checkpoint was written for.
    pub version: u64,
    /// Log entries older than the table's log retention that the checkpoint made
    /// unnecessary, deleted (versions before them can no longer be read).
    pub log_entries_deleted: usize,
}

/// What a compaction did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompactReport {
    /// The version of the compaction's commit, or the unchanged version when there was
    /// nothing to compact.
    pub version: u64,
    /// Files the compaction rewrote (removed from the table).
    pub files_removed: u64,
    /// Files it wrote in their place.
    pub files_added: u64,
    /// Total size of the removed files, in bytes.
    pub bytes_removed: u64,
    /// Total size of the added files, in bytes.
    pub bytes_added: u64,
    /// Partitions that were compacted.
    pub partitions: u64,
}

/// Which files vacuum may delete.
#[derive(Debug, Clone, Default)]
pub struct VacuumOptions {
    /// Keep files that snapshots of the last this many hours still reference (default:
    /// the table's `delta.deletedFileRetentionDuration`, 7 days).
    pub retain_hours: Option<u64>,
    /// Allow a retention below the table's minimum (readers of older snapshots may
    /// then fail), as Delta's retention check requires.
    pub force: bool,
    /// Only list what would be deleted.
    pub dry_run: bool,
}

/// What a vacuum deleted (or, in a dry run, would delete).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VacuumReport {
    /// True when nothing was deleted and `files` lists what would have been.
    pub dry_run: bool,
    /// Paths relative to the table.
    pub files: Vec<String>,
}

impl LakeTable {
    /// The partitions (as `column = value` filters) holding more small files than
    /// `policy` allows. Partitions with a null value are left alone (a filter cannot
    /// name them).
    pub fn crowded_partitions(
        &self,
        policy: &AutoCompaction,
    ) -> Result<Vec<Vec<PartitionFilter>>, LakeError> {
        let columns = self.partition_columns()?;
        let snapshot = self
            .delta()
            .snapshot()
            .map_err(|e| LakeError::delta("reading Delta table", self.url(), e))?;
        let mut small: BTreeMap<Vec<Option<String>>, usize> = BTreeMap::new();
        for file in snapshot.log_data() {
            if file.size().max(0) as u64 >= policy.small_file_bytes {
                continue;
            }
            let values = file.partition_values_map();
            let key = columns
                .iter()
                .map(|c| values.get(c).cloned().flatten())
                .collect();
            *small.entry(key).or_default() += 1;
        }
        Ok(small
            .into_iter()
            .filter(|(values, n)| *n > policy.max_small_files && values.iter().all(Option::is_some))
            .map(|(values, _)| {
                columns
                    .iter()
                    .zip(values)
                    .map(|(column, value)| PartitionFilter {
                        column: column.clone(),
                        op: "=".into(),
                        value: value.unwrap_or_default(),
                    })
                    .collect()
            })
            .collect())
    }

    /// Set table properties in one metadata commit; returns the new version.
    pub async fn set_properties(
        &mut self,
        properties: BTreeMap<String, String>,
    ) -> Result<u64, LakeError> {
        check_properties(self.url(), &properties)?;
        let table = self
            .delta()
            .clone()
            .set_tbl_properties()
            .with_properties(properties.into_iter().collect())
            // Keys of one's own are allowed; `delta.` ones were checked above.
            .with_raise_if_not_exists(false)
            .await
            .map_err(|e| LakeError::delta("setting properties of", self.url(), e))?;
        self.replace_table(table)?;
        Ok(self.version().max(0) as u64)
    }

    /// Write a checkpoint of the current version (readers then start from it instead of
    /// replaying every commit), and delete the log entries it makes unnecessary that are
    /// older than `delta.logRetentionDuration` (30 days unless set).
    pub async fn checkpoint(&mut self) -> Result<CheckpointReport, LakeError> {
        create_checkpoint(self.delta(), None)
            .await
            .map_err(|e| LakeError::delta("writing a checkpoint of", self.url(), e))?;
        let deleted = cleanup_metadata(self.delta(), None)
            .await
            .map_err(|e| LakeError::delta("cleaning the log of", self.url(), e))?;
        Ok(CheckpointReport {
            version: self.version().max(0) as u64,
            log_entries_deleted: deleted,
        })
    }

    /// Delta's retention check, made here so that its refusal is a typed error (deltalake
    /// 1.1 keeps its vacuum error type private).
    fn check_retention(&self, opts: &VacuumOptions) -> Result<(), LakeError> {
        let minimum = self
            .delta()
            .snapshot()
            .map_err(|e| LakeError::delta("reading Delta table", self.url(), e))?
            .table_config()
            .deleted_file_retention_duration();
        match opts.retain_hours {
            Some(hours) if !opts.force && u128::from(hours) * 3600 < minimum.as_secs().into() => {
                Err(LakeError::RetentionTooShort {
                    url: self.url().to_string(),
                    provided_hours: hours,
                    min_hours: minimum.as_secs() / 3600,
                })
            }
            _ => Ok(()),
        }
    }

    /// Rewrite the small files of each (selected) partition into fewer, larger ones in one
    /// commit. Readers see the old snapshot or the new one, never a mix; a concurrent
    /// append is not lost (its files are not in the rewrite).
    pub async fn compact(&mut self, opts: &CompactOptions) -> Result<CompactReport, LakeError> {
        let partitions = self.partition_columns()?;
        for filter in &opts.filters {
            if !partitions.contains(&filter.column) {
                return Err(LakeError::NotAPartitionColumn {
                    url: self.url().to_string(),
                    column: filter.column.clone(),
                    partition_by: partitions.join(", "),
                });
            }
        }
        let literals = opts
            .filters
            .iter()
            .map(|f| filter_literal(&f.column, &f.op, FilterValue::Scalar(&f.value)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LakeError::delta("filtering partitions of", self.url(), e))?;
        let mut builder = self
            .delta()
            .clone()
            .optimize()
            .with_filters(&literals)
            .with_type(if opts.zorder.is_empty() {
                OptimizeType::Compact
            } else {
                OptimizeType::ZOrder(opts.zorder.clone())
            });
        if let Some(target) = opts.target_file_bytes {
            builder = builder.with_target_size(target);
        }
        let (table, metrics) = builder
            .await
            .map_err(|e| LakeError::delta("compacting", self.url(), e))?;
        self.replace_table(table)?;
        Ok(CompactReport {
            version: self.version().max(0) as u64,
            files_removed: metrics.num_files_removed,
            files_added: metrics.num_files_added,
            bytes_removed: metrics.files_removed.total_size.max(0) as u64,
            bytes_added: metrics.files_added.total_size.max(0) as u64,
            partitions: metrics.partitions_optimized,
        })
    }

    /// Delete the files no snapshot within the retention references: files removed by
    /// compaction or overwrites, and files of writes that never committed (a crash
    /// between writing Parquet and committing), which deltalake's `Full` mode finds by
    /// listing the table's directory.
    pub async fn vacuum(&mut self, opts: &VacuumOptions) -> Result<VacuumReport, LakeError> {
        self.check_retention(opts)?;
        let mut builder = self
            .delta()
            .clone()
            .vacuum()
            .with_mode(VacuumMode::Full)
            .with_dry_run(opts.dry_run)
            .with_enforce_retention_duration(!opts.force);
        if let Some(hours) = opts.retain_hours {
            let hours = i64::try_from(hours).unwrap_or(i64::MAX / 3_600_000);
            builder = builder.with_retention_period(chrono::Duration::hours(hours));
        }
        let (table, metrics) = builder
            .await
            .map_err(|e| LakeError::delta("vacuuming", self.url(), e))?;
        self.replace_table(table)?;
        let mut files = metrics.files_deleted;
        files.sort();
        Ok(VacuumReport {
            dry_run: metrics.dry_run,
            files,
        })
    }
}
