//! The lake's catalog, read from the Delta logs alone: its tables, a table's columns and
//! properties, its partitions, its history of commits (with the Kafka offsets each
//! stored) and of schemas, and a table as it was at an older version or time.
//!
//! Each listing is a list of plain rows ([`serde::Serialize`]); [`to_batch`] makes an Arrow
//! batch of them, so the binary prints them as it prints query results.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use chrono::{DateTime, Utc};
use deltalake::kernel::{Action, StructType};
use deltalake::logstore::get_actions;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::error::LakeError;
use crate::location::LakeLocation;
use crate::table::LakeTable;

/// Commit entries read at once when listing history.
const CONCURRENT_READS: usize = 16;

/// Hive's and Delta's directory name for a null partition value.
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// One table of the lake, as of its latest version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSummary {
    /// The table's name in the lake: a managed table's directory, or an external one's name.
    pub table: String,
    /// `managed` (a directory of the lake) or `external` (named in its catalog).
    pub kind: String,
    /// The table's latest version.
    pub version: u64,
    /// Partition columns in canonical form (`country, day(ts, UTC) AS dt`); empty if none.
    pub partition_by: String,
    /// Data files in the latest version.
    pub files: u64,
    /// Rows in those files, by their statistics (a file without them counts 0).
    pub rows: u64,
    /// Total size of those files, in bytes.
    pub bytes: u64,
    /// The table's URL (`file:///…` or `s3://…`).
    pub location: String,
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnInfo {
    /// Column name, as in the table's schema.
    pub column: String,
    /// Delta's type name (`long`, `string`, `struct<...>`).
    #[serde(rename = "type")]
    pub data_type: String,
    /// Whether the column may hold nulls.
    pub nullable: bool,
    /// Whether the table is partitioned by this column.
    pub partition: bool,
}

/// A property of a table, as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Property {
    /// The key: a summary entry (`location`, `version`, `rows`, ...) or a configuration key.
    pub property: String,
    /// The value, as text.
    pub value: String,
}

/// One partition of a table: the files holding one combination of partition values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionSummary {
    /// `col=value/...` as the directory names it (empty for an unpartitioned table).
    pub partition: String,
    /// Data files in the partition.
    pub files: u64,
    /// Rows in those files, by their statistics (a file without them counts 0).
    pub rows: u64,
    /// Total size of those files, in bytes.
    pub bytes: u64,
}

/// One commit of a table's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitSummary {
    /// The version the commit created.
    pub version: u64,
    /// When the writer made the commit (its `commitInfo.timestamp`), RFC 3339.
    pub time: Option<String>,
    /// The same, in milliseconds since 1970 (time travel compares these).
    #[serde(skip)]
    pub millis: Option<i64>,
    /// The operation its `commitInfo` names (`WRITE`, `OPTIMIZE`, ...); empty if none.
    pub operation: String,
    /// Data files the commit added (its `add` actions).
    pub files_added: u64,
    /// Data files the commit removed (its `remove` actions).
    pub files_removed: u64,
    /// Rows in the added files, by their statistics.
    pub rows_added: u64,
    /// Total size of the added files, in bytes.
    pub bytes_added: u64,
    /// Total size of the removed files, in bytes (0 for a `remove` that records none).
    pub bytes_removed: u64,
    /// The `txn` resume points the commit recorded: `app_id=version`, comma-separated
    /// (for pipelab's pipelines, `pipelab/PIPELINE/TOPIC/PARTITION=next offset`).
    pub txn: String,
}

/// A version at which a table's schema or partitioning changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaChange {
    /// The version whose metadata made the change.
    pub version: u64,
    /// When the writer made that commit, RFC 3339; `None` if it records no time.
    pub time: Option<String>,
    /// Top-level columns of the schema as of this version.
    pub columns: u64,
    /// What changed against the version before (`created`, `added x long`, `x: long →
    /// string`, `removed x`, `partitioned by ...`).
    pub change: String,
}

/// Every table of the lake with its latest version's size.
pub async fn tables(loc: &LakeLocation) -> Result<Vec<TableSummary>, LakeError> {
    let mut out = Vec::new();
    let managed = loc.managed_tables().await?;
    for name in loc.list_tables().await? {
        let table = LakeTable::open(loc, &name).await?;
        let (files, rows, bytes) = table.totals()?;
        let kind = if managed.contains(&name) {
            "managed"
        } else {
            "external"
        };
        out.push(TableSummary {
            kind: kind.to_string(),
            location: table.url().to_string(),
            version: table.version().max(0) as u64,
            partition_by: table.partitioning()?.to_string(),
            table: name,
            files,
            rows,
            bytes,
        });
    }
    Ok(out)
}

impl LakeTable {
    /// The current version's columns, in table order.
    pub fn columns(&self) -> Result<Vec<ColumnInfo>, LakeError> {
        let partitions = self.partition_columns()?;
        let schema = self.kernel_schema()?;
        Ok(schema
            .fields()
            .map(|f| ColumnInfo {
                column: f.name().clone(),
                data_type: f.data_type().to_string(),
                nullable: f.is_nullable(),
                partition: partitions.contains(f.name()),
            })
            .collect())
    }

    /// Where the table is and what it holds: location, version, sizes, partitioning,
    /// protocol and configuration.
    pub async fn properties(&self) -> Result<Vec<Property>, LakeError> {
        let snapshot = self.snapshot()?;
        let metadata = snapshot.metadata();
        let protocol = snapshot.protocol();
        let (files, rows, bytes) = self.totals()?;
        let created = self.commit(0).await?.and_then(|c| c.time);
        let props = vec![
            ("location", self.url().to_string()),
            ("version", self.version().to_string()),
            ("created", created.unwrap_or_else(|| "unknown".into())),
            ("partition_by", self.partitioning()?.to_string()),
            ("files", files.to_string()),
            ("rows", rows.to_string()),
            ("bytes", bytes.to_string()),
            ("id", metadata.id().to_string()),
            (
                "protocol",
                format!(
                    "reader {} writer {}",
                    protocol.min_reader_version(),
                    protocol.min_writer_version()
                ),
            ),
        ];
        let config: BTreeMap<_, _> = metadata.configuration().iter().collect();
        let mut out: Vec<Property> = props
            .into_iter()
            .map(|(property, value)| Property {
                property: property.to_string(),
                value,
            })
            .collect();
        out.extend(config.into_iter().map(|(k, v)| Property {
            property: k.clone(),
            value: v.clone(),
        }));
        Ok(out)
    }

    /// Files, rows and bytes of the current version.
    pub fn totals(&self) -> Result<(u64, u64, u64), LakeError> {
        Ok(self.partitions()?.iter().fold((0, 0, 0), |(f, r, b), p| {
            (f + p.files, r + p.rows, b + p.bytes)
        }))
    }

    /// Files, rows and bytes per partition of the current version, in partition order.
    pub fn partitions(&self) -> Result<Vec<PartitionSummary>, LakeError> {
        let columns = self.partition_columns()?;
        let snapshot = self.snapshot()?;
        let mut by_partition: BTreeMap<String, PartitionSummary> = BTreeMap::new();
        for file in snapshot.log_data() {
            let values = file.partition_values_map();
            let partition = columns
                .iter()
                .map(|c| {
                    let value = values.get(c).cloned().flatten();
                    format!("{c}={}", value.as_deref().unwrap_or(NULL_PARTITION))
                })
                .collect::<Vec<_>>()
                .join("/");
            let entry = by_partition
                .entry(partition.clone())
                .or_insert(PartitionSummary {
                    partition,
                    files: 0,
                    rows: 0,
                    bytes: 0,
                });
            entry.files += 1;
            entry.rows += file.num_records().unwrap_or(0) as u64;
            entry.bytes += file.size().max(0) as u64;
        }
        Ok(by_partition.into_values().collect())
    }

    /// The table's commits, newest first; `limit` the newest that many. Versions whose
    /// log entry was cleaned up (after a checkpoint) are not listed.
    pub async fn history(&self, limit: Option<usize>) -> Result<Vec<CommitSummary>, LakeError> {
        let latest = self.version().max(0) as u64;
        let oldest = limit.map_or(0, |n| (latest + 1).saturating_sub(n as u64));
        let commits: Vec<Option<CommitSummary>> =
            futures::stream::iter((oldest..=latest).rev().map(|v| self.commit(v)))
                .buffered(CONCURRENT_READS)
                .try_collect()
                .await?;
        Ok(commits.into_iter().map_while(|c| c).collect())
    }

    /// The versions at which the schema or the partitioning changed, oldest first.
    pub async fn schema_history(&self) -> Result<Vec<SchemaChange>, LakeError> {
        let latest = self.version().max(0) as u64;
        let entries: Vec<Option<(Option<i64>, Vec<Action>)>> =
            futures::stream::iter((0..=latest).map(|v| self.commit_actions(v)))
                .buffered(CONCURRENT_READS)
                .try_collect()
                .await?;
        let mut out = Vec::new();
        let mut before: Option<(StructType, Vec<String>)> = None;
        for (version, entry) in (0..=latest).zip(entries) {
            let Some((millis, actions)) = entry else {
                continue;
            };
            for action in actions {
                let Action::Metadata(metadata) = action else {
                    continue;
                };
                let schema = metadata
                    .parse_schema()
                    .map_err(|e| LakeError::delta("reading the schema of", self.url(), e.into()))?;
                let partitions = metadata.partition_columns().to_vec();
                let change = describe_change(before.as_ref(), &schema, &partitions);
                if let Some(change) = change {
                    out.push(SchemaChange {
                        version,
                        time: millis.map(rfc3339),
                        columns: schema.fields().len() as u64,
                        change,
                    });
                }
                before = Some((schema, partitions));
            }
        }
        Ok(out)
    }

    /// One commit's summary; `None` when its log entry is gone.
    async fn commit(&self, version: u64) -> Result<Option<CommitSummary>, LakeError> {
        let Some((millis, actions)) = self.commit_actions(version).await? else {
            return Ok(None);
        };
        let mut commit = CommitSummary {
            version,
            time: millis.map(rfc3339),
            millis,
            operation: String::new(),
            files_added: 0,
            files_removed: 0,
            rows_added: 0,
            bytes_added: 0,
            bytes_removed: 0,
            txn: String::new(),
        };
        let mut txns = Vec::new();
        for action in actions {
            match action {
                Action::Add(add) => {
                    commit.files_added += 1;
                    commit.bytes_added += add.size.max(0) as u64;
                    let stats = add.get_stats().ok().flatten();
                    commit.rows_added += stats.map_or(0, |s| s.num_records.max(0) as u64);
                }
                Action::Remove(remove) => {
                    commit.files_removed += 1;
                    commit.bytes_removed += remove.size.unwrap_or(0).max(0) as u64;
                }
                Action::Txn(txn) => txns.push(format!("{}={}", txn.app_id, txn.version)),
                Action::CommitInfo(info) => {
                    commit.operation = info.operation.unwrap_or_default();
                }
                _ => {}
            }
        }
        txns.sort();
        commit.txn = txns.join(", ");
        Ok(Some(commit))
    }

    /// The actions of one commit and its time (`commitInfo.timestamp`, ms); `None` when
    /// its log entry is gone.
    async fn commit_actions(
        &self,
        version: u64,
    ) -> Result<Option<(Option<i64>, Vec<Action>)>, LakeError> {
        let entry = self
            .delta()
            .log_store()
            .read_commit_entry(version)
            .await
            .map_err(|e| LakeError::delta("reading commit of", self.url(), e))?;
        let Some(bytes) = entry else {
            return Ok(None);
        };
        let actions = get_actions(version, &bytes)
            .map_err(|e| LakeError::delta("parsing commit of", self.url(), e))?;
        let millis = actions.iter().find_map(|a| match a {
            Action::CommitInfo(info) => info.timestamp,
            _ => None,
        });
        Ok(Some((millis, actions)))
    }

    fn kernel_schema(&self) -> Result<Arc<StructType>, LakeError> {
        Ok(self.snapshot()?.schema())
    }

    fn snapshot(&self) -> Result<&deltalake::table::state::DeltaTableState, LakeError> {
        self.delta()
            .snapshot()
            .map_err(|e| LakeError::delta("reading Delta table", self.url(), e))
    }
}

fn rfc3339(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis).map_or_else(
        || millis.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    )
}

/// How `schema` and `partitions` differ from the version before, in words; `None` when
/// they do not.
fn describe_change(
    before: Option<&(StructType, Vec<String>)>,
    schema: &StructType,
    partitions: &[String],
) -> Option<String> {
    let Some((old, old_partitions)) = before else {
        let columns: Vec<String> = schema
            .fields()
            .map(|f| format!("{} {}", f.name(), f.data_type()))
            .collect();
        let mut text = format!("created: {}", columns.join(", "));
        if !partitions.is_empty() {
            text.push_str(&format!("; partitioned by {}", partitions.join(", ")));
        }
        return Some(text);
    };
    let mut changes = Vec::new();
    for field in schema.fields() {
        match old.field(field.name()) {
            None => changes.push(format!("added {} {}", field.name(), field.data_type())),
            Some(was) if was.data_type() != field.data_type() => changes.push(format!(
                "{}: {} → {}",
                field.name(),
                was.data_type(),
                field.data_type()
            )),
            Some(_) => {}
        }
    }
    for field in old.fields() {
        if schema.field(field.name()).is_none() {
            changes.push(format!("removed {}", field.name()));
        }
    }
    if old_partitions.as_slice() != partitions {
        changes.push(format!("partitioned by {}", partitions.join(", ")));
    }
    (!changes.is_empty()).then(|| changes.join("; "))
}

/// A row of a listing: its columns, in the order its fields serialize.
pub trait Row: Serialize {
    /// The Arrow fields of the listing's columns, in the order the row serializes.
    fn fields() -> Vec<Field>;
}

fn column(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, true)
}

impl Row for TableSummary {
    fn fields() -> Vec<Field> {
        vec![
            column("table", DataType::Utf8),
            column("kind", DataType::Utf8),
            column("version", DataType::UInt64),
            column("partition_by", DataType::Utf8),
            column("files", DataType::UInt64),
            column("rows", DataType::UInt64),
            column("bytes", DataType::UInt64),
            column("location", DataType::Utf8),
        ]
    }
}

impl Row for ColumnInfo {
    fn fields() -> Vec<Field> {
        vec![
            column("column", DataType::Utf8),
            column("type", DataType::Utf8),
            column("nullable", DataType::Boolean),
            column("partition", DataType::Boolean),
        ]
    }
}

impl Row for Property {
    fn fields() -> Vec<Field> {
        vec![
            column("property", DataType::Utf8),
            column("value", DataType::Utf8),
        ]
    }
}

impl Row for PartitionSummary {
    fn fields() -> Vec<Field> {
        vec![
            column("partition", DataType::Utf8),
            column("files", DataType::UInt64),
            column("rows", DataType::UInt64),
            column("bytes", DataType::UInt64),
        ]
    }
}

impl Row for CommitSummary {
    fn fields() -> Vec<Field> {
        vec![
            column("version", DataType::UInt64),
            column("time", DataType::Utf8),
            column("operation", DataType::Utf8),
            column("files_added", DataType::UInt64),
            column("files_removed", DataType::UInt64),
            column("rows_added", DataType::UInt64),
            column("bytes_added", DataType::UInt64),
            column("bytes_removed", DataType::UInt64),
            column("txn", DataType::Utf8),
        ]
    }
}

impl Row for SchemaChange {
    fn fields() -> Vec<Field> {
        vec![
            column("version", DataType::UInt64),
            column("time", DataType::Utf8),
            column("columns", DataType::UInt64),
            column("change", DataType::Utf8),
        ]
    }
}

/// An Arrow batch of `rows`, one column per field of the row type.
pub fn to_batch<T: Row>(rows: &[T]) -> Result<RecordBatch, ArrowError> {
    let schema = Arc::new(Schema::new(T::fields()));
    let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.len().max(1))
        .build_decoder()?;
    decoder.serialize(rows)?;
    Ok(decoder
        .flush()?
        .unwrap_or_else(|| RecordBatch::new_empty(schema)))
}
