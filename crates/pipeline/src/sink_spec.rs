//! The sinks of a pipeline: `[sink]` (the lake table) and `[[sinks]]` (the lake table,
//! or database tables fed with the rows of a named step).

use std::collections::BTreeMap;

use serde::Deserialize;

/// One `[[sinks]]` entry, by its `kind`.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum SinkEntry {
    Lake(Box<LakeSinkSpec>),
    Postgres(DatabaseSinkSpec),
    Mysql(DatabaseSinkSpec),
    Sqlite(DatabaseSinkSpec),
    Kafka(KafkaSinkSpec),
}

/// A `[[sinks]]` entry of kind `kafka`: the rows of one step as JSON records to a topic
/// (the second hop of a multi-hop pipeline), keyed by a column, through an idempotent
/// producer. At least once: a batch produced before a crash that kept the lake from
/// committing it is produced again by the next run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkSpec {
    /// Bootstrap brokers; default: the source's (`--brokers` when given).
    pub brokers: Option<String>,
    /// The topic (it must exist).
    pub topic: String,
    /// The step whose rows the sink takes; default: the last step.
    pub from: Option<String>,
    /// The column whose value keys each record (so a key's records share a partition);
    /// none: unkeyed.
    pub key: Option<String>,
}

/// A `[[sinks]]` entry of kind `postgres`, `mysql` or `sqlite`: a table the rows of one
/// step go to, with the offsets they came from in the same transaction.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSinkSpec {
    /// Names the sink in the database's `pipelab_offsets` table; default: the table.
    pub name: Option<String>,
    /// Set from the entry's `kind`.
    #[serde(skip, default = "default_engine")]
    pub engine: pipelab_dbsink::Engine,
    /// `postgres://…` or `mysql://…` (PostgreSQL, MySQL/MariaDB).
    pub url: Option<String>,
    /// The SQLite file (created if missing).
    pub location: Option<String>,
    /// The table, created from the rows' columns if missing.
    pub table: String,
    /// The step whose rows the sink takes; default: the last step.
    pub from: Option<String>,
    /// Upsert by these columns; empty (default): every row is inserted.
    #[serde(default)]
    pub key: Vec<String>,
}

fn default_engine() -> pipelab_dbsink::Engine {
    pipelab_dbsink::Engine::Sqlite
}

impl DatabaseSinkSpec {
    /// The sink's name: `name`, else its table.
    pub fn sink_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.table.clone())
    }

    /// What the sink crate is told.
    pub fn config(&self) -> pipelab_dbsink::SinkConfig {
        pipelab_dbsink::SinkConfig {
            name: self.sink_name(),
            engine: self.engine,
            address: self
                .url
                .clone()
                .or_else(|| self.location.clone())
                .unwrap_or_default(),
            table: self.table.clone(),
            key: self.key.clone(),
        }
    }

    /// The address and names are there and of the engine's form.
    pub(crate) fn problem(&self) -> Option<String> {
        use pipelab_dbsink::Engine;
        let (field, schemes): (&str, &[&str]) = match self.engine {
            Engine::Postgres => ("url", &["postgres://", "postgresql://"]),
            Engine::MySql => ("url", &["mysql://"]),
            Engine::Sqlite => ("location", &[]),
        };
        let (given, other) = match self.engine {
            Engine::Sqlite => (&self.location, &self.url),
            _ => (&self.url, &self.location),
        };
        if other.is_some() {
            let other_field = if field == "url" { "location" } else { "url" };
            return Some(format!(
                "give `{field}`, not `{other_field}`, for this kind"
            ));
        }
        let Some(address) = given else {
            return Some(format!("`{field}` is missing"));
        };
        if !schemes.is_empty() && !schemes.iter().any(|s| address.starts_with(s)) {
            return Some(format!("`url` must start with {}", schemes.join(" or ")));
        }
        if self.table.trim().is_empty() {
            return Some("`table` must not be empty".into());
        }
        if self.key.iter().any(|k| k.trim().is_empty()) {
            return Some("`key` names an empty column".into());
        }
        None
    }
}

/// `sink.kind`: the kind of sink; only `lake`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    #[default]
    /// A Delta table in a lake (the default and only kind).
    Lake,
}

/// `[sink]`: the Delta table the output is committed to, and how.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeSinkSpec {
    /// The kind of sink; `lake`, the default.
    #[serde(default)]
    pub kind: SinkKind,
    /// `s3://bucket[/prefix]`, `file:///dir` or a directory path.
    pub location: String,
    /// Name of the Delta table in the lake; must not be empty.
    pub table: String,
    /// Partition columns, outermost first: a column (`country`) or a transform of one
    /// (`day(ts) AS dt`, `hour(ts, 'Europe/Berlin')`, `bucket(16, user_id)`,
    /// `truncate(2, page)`); see [`pipelab_lake::partitioning`].
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// `partition_by`, parsed (by [`PipelineSpec::parse`]).
    #[serde(skip)]
    pub partitioning: pipelab_lake::Partitioning,
    /// A micro-batch is written when it reaches any of these; `flush_bytes` defaults to
    /// the batch share of the memory budget (see [`MemoryBudget`]).
    #[serde(default = "default_flush_rows")]
    pub flush_rows: usize,
    /// Bytes of memory the records take at which a batch is cut.
    pub flush_bytes: Option<usize>,
    /// Seconds after its first record at which a batch is cut; default 5.
    #[serde(default = "default_flush_interval_secs")]
    pub flush_interval_secs: f64,
    /// The step whose rows the lake takes; default: the last step.
    pub from: Option<String>,
    /// Columns that identify a row (`["host", "file_id", "offset"]` for `pipelab ship`'s
    /// lines): a row whose identity the table holds already is dropped, so a producer
    /// that sends again after a crash lands each row once.
    #[serde(default)]
    pub dedupe_by: Vec<String>,
    /// Where records that cannot be stored go; default `<table>_dead_letters`.
    pub dead_letter_table: Option<String>,
    /// A value that does not fit its column: `dead_letter` (default) keeps the column's
    /// type and sends the record to the dead-letter table; `widen` widens the column
    /// (integer to double, anything else to text) in one rewrite of the table.
    #[serde(default)]
    pub on_type_mismatch: OnTypeMismatch,
    /// Settings of an S3 lake (`aws_endpoint_url`, `aws_access_key_id`, ...), as
    /// object_store names them; anything not set here comes from the `AWS_*` variables.
    #[serde(default)]
    pub storage_options: BTreeMap<String, String>,
    /// Properties the table is created with (`[sink.table_properties]`), such as
    /// `"delta.checkpointInterval" = "10"`; set later ones with `pipelab lake set`.
    #[serde(default)]
    pub table_properties: BTreeMap<String, String>,
    /// Compact a partition after a write when it holds too many small files
    /// (`[sink.compaction]`: `small_file_bytes`, `max_small_files`); off when absent.
    pub compaction: Option<pipelab_lake::maintain::AutoCompaction>,
    /// The Parquet files' layout (`[sink.layout]`): compression, row_group_rows,
    /// statistics, bloom_filter, sort_by, target_file_bytes.
    #[serde(default)]
    pub layout: pipelab_lake::FileLayout,
    /// Data-quality rules measured on every commit (`[[sink.quality]]`).
    #[serde(default)]
    pub quality: Vec<crate::quality::QualityRule>,
    /// Where the quality metrics go; default `<table>_quality`.
    pub quality_table: Option<String>,
}

/// `on_type_mismatch`: see [`pipelab_ingest::TypePolicy`].
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnTypeMismatch {
    /// `dead_letter` (default): the column keeps its type; the record is a dead letter.
    #[default]
    DeadLetter,
    /// `widen`: the column widens (integer to double, else to text) in one table rewrite.
    Widen,
}

impl From<OnTypeMismatch> for pipelab_ingest::TypePolicy {
    fn from(v: OnTypeMismatch) -> Self {
        match v {
            OnTypeMismatch::DeadLetter => Self::DeadLetter,
            OnTypeMismatch::Widen => Self::Widen,
        }
    }
}

fn default_flush_rows() -> usize {
    200_000
}
fn default_flush_interval_secs() -> f64 {
    5.0
}
