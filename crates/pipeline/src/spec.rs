//! The pipeline spec: one TOML file with a `[source]`, `[[steps]]` and a `[sink]`.
//!
//! ```toml
//! name = "clickstream"
//!
//! [source]
//! kind = "kafka"
//! brokers = "127.0.0.1:9092"
//! topic = "clicks"
//!
//! [[steps]]
//! name = "by_day"
//! sql = "SELECT *, substr(ts, 1, 10) AS dt FROM input"
//!
//! [sink]
//! kind = "lake"
//! location = "s3://lake"
//! table = "clicks"
//! partition_by = ["dt"]
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::SpecError;

/// A pipeline as its TOML file describes it: a Kafka source, SQL steps and a lake sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Names the pipeline in offsets (Delta `txn` app ids) and the consumer group.
    pub name: String,
    /// Where records come from (`[source]`).
    pub source: KafkaSourceSpec,
    /// SQL steps run in order on each micro-batch (`[[steps]]`); none passes it through.
    #[serde(default)]
    pub steps: Vec<StepSpec>,
    /// Where the steps' output is committed (`[sink]`).
    pub sink: LakeSinkSpec,
    /// MiB the pipeline's records may hold in memory: Kafka's prefetch queue, the batch
    /// being read, the one queued and the one being written (see [`MemoryBudget`]).
    #[serde(default = "default_memory_budget_mb")]
    pub memory_budget_mb: u64,
}

/// `source.kind`: the kind of source; only `kafka`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    #[default]
    /// A Kafka topic (the default and only kind).
    Kafka,
}

/// `source.format`: how record payloads are encoded; only `json`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    /// JSON objects (the default and only format).
    Json,
}

/// `[source]`: the Kafka topic to read and how to read it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceSpec {
    /// The kind of source; `kafka`, the default.
    #[serde(default)]
    pub kind: SourceKind,
    /// Bootstrap brokers, comma-separated `host:port`; default `127.0.0.1:9092`.
    #[serde(default = "default_brokers")]
    pub brokers: String,
    /// The topic to read; must not be empty.
    pub topic: String,
    /// Consumer group for lag tools; default `pipelab-<name>`.
    pub group: Option<String>,
    /// How payloads are decoded; `json`, the default.
    #[serde(default)]
    pub format: Format,
    /// What to do when a partition's stored offset is no longer in the log.
    #[serde(default)]
    pub on_offset_out_of_range: OnOutOfRange,
    /// `group`: share the partitions with the other processes of this pipeline through
    /// the consumer group; `all`: read every partition, no group; `auto` (default):
    /// `group`, except `all` on pipelab's embedded broker.
    #[serde(default)]
    pub assignment: AssignmentSpec,
    /// librdkafka settings passed through as they are.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// A field whose name differs only by case from a column's (Delta's column names
    /// ignore case): `exact` (default) sends its record to the dead-letter table; `fold`
    /// writes it to that column. See [`pipelab_ingest::names`].
    #[serde(default)]
    pub field_names: FieldNamesSpec,
    /// A record that repeats a key: `dead_letter` (default) or `last` (its last value).
    #[serde(default)]
    pub duplicate_keys: DuplicateKeysSpec,
}

/// `field_names`: see [`pipelab_ingest::FieldNames`].
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FieldNamesSpec {
    /// `exact` (default): the record is a dead letter; fields go only to exactly named columns.
    #[default]
    Exact,
    /// `fold`: the field is written to the one column whose name matches it ignoring case.
    Fold,
}

/// `duplicate_keys`: see [`pipelab_ingest::DuplicateKeys`].
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateKeysSpec {
    /// `dead_letter` (default): the record is a dead letter naming the key.
    #[default]
    DeadLetter,
    /// `last`: the key's last value is kept.
    Last,
}

impl KafkaSourceSpec {
    /// The decoder's name rules.
    pub fn name_rules(&self) -> pipelab_ingest::NameRules {
        pipelab_ingest::NameRules {
            field_names: match self.field_names {
                FieldNamesSpec::Exact => pipelab_ingest::FieldNames::Exact,
                FieldNamesSpec::Fold => pipelab_ingest::FieldNames::Fold,
            },
            duplicate_keys: match self.duplicate_keys {
                DuplicateKeysSpec::DeadLetter => pipelab_ingest::DuplicateKeys::DeadLetter,
                DuplicateKeysSpec::Last => pipelab_ingest::DuplicateKeys::Last,
            },
        }
    }
}

/// `assignment`: how a process gets its partitions.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AssignmentSpec {
    /// `auto` (default): `group`, except `all` on pipelab's embedded broker.
    #[default]
    Auto,
    /// `group`: share the partitions with this pipeline's other processes via the group.
    Group,
    /// `all`: read every partition the topic has at start, without a consumer group.
    All,
}

impl From<AssignmentSpec> for pipelab_ingest::Assignment {
    fn from(v: AssignmentSpec) -> Self {
        match v {
            AssignmentSpec::Auto => Self::Auto,
            AssignmentSpec::Group => Self::Group,
            AssignmentSpec::All => Self::All,
        }
    }
}

/// `on_offset_out_of_range`: stop (default), or move on knowing records were skipped.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnOutOfRange {
    /// `fail` (default): stop the run, naming the partition and its offsets.
    #[default]
    Fail,
    /// `earliest`: move to the oldest offset still in the log (logged and counted).
    Earliest,
    /// `latest`: move to the end of the log (logged and counted).
    Latest,
}

impl From<OnOutOfRange> for pipelab_ingest::OutOfRange {
    fn from(v: OnOutOfRange) -> Self {
        match v {
            OnOutOfRange::Fail => Self::Fail,
            OnOutOfRange::Earliest => Self::Earliest,
            OnOutOfRange::Latest => Self::Latest,
        }
    }
}

/// One `[[steps]]` entry: a named SQL query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Names the step in error messages.
    pub name: String,
    /// One SQL query over the table `input`: the micro-batch for the first step, else
    /// the previous step's result.
    pub sql: String,
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
    /// Where records that cannot be stored go; default `<table>_dead_letters`.
    pub dead_letter_table: Option<toml::Spanned<String>>,
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

fn default_brokers() -> String {
    "127.0.0.1:9092".to_string()
}
fn default_flush_rows() -> usize {
    200_000
}
fn default_memory_budget_mb() -> u64 {
    256
}
fn default_flush_interval_secs() -> f64 {
    5.0
}

impl PipelineSpec {
    /// Read, parse and check the spec in the file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|e| SpecError {
            path: path.display().to_string(),
            message: format!("cannot read the pipeline file: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parse and check a spec; errors carry the file name and, from toml, the line.
    pub fn parse(text: &str, path: &Path) -> Result<Self, SpecError> {
        let err = |message: String| SpecError {
            path: path.display().to_string(),
            message,
        };
        let mut spec: PipelineSpec =
            toml::from_str(text).map_err(|e| err(e.to_string().trim_end().to_string()))?;
        spec.sink.partitioning = pipelab_lake::Partitioning::parse(&spec.sink.partition_by)
            .map_err(|e| err(format!("sink.{e}")))?;
        spec.check(text).map_err(err)?;
        Ok(spec)
    }

    fn check(&self, text: &str) -> Result<(), String> {
        if let Some(dlq) = &self.sink.dead_letter_table
            && dlq.get_ref() == &self.sink.table
        {
            let line = text[..dlq.span().start.min(text.len())]
                .lines()
                .count()
                .max(1);
            return Err(format!(
                "line {line}: `sink.dead_letter_table` is the sink table {:?} itself; \
                 dead letters need a table of their own",
                self.sink.table
            ));
        }
        let names = [
            ("name", &self.name),
            ("source.topic", &self.source.topic),
            ("sink.table", &self.sink.table),
        ];
        for (key, value) in names {
            if value.trim().is_empty() {
                return Err(format!("`{key}` must not be empty"));
            }
        }
        let quality = self.quality_table();
        if quality == self.sink.table || quality == self.dead_letter_table() {
            return Err(format!(
                "`sink.quality_table` {quality:?} is another table of this pipeline; the \
                 metrics need a table of their own"
            ));
        }
        for rule in &self.sink.quality {
            if let Some(problem) = rule.problem() {
                return Err(format!("[[sink.quality]] rule {:?}: {problem}", rule.rule));
            }
        }
        if self.sink.flush_rows == 0 || self.sink.flush_bytes == Some(0) {
            return Err("`sink.flush_rows` and `sink.flush_bytes` must be at least 1".into());
        }
        let budget = self.memory()?;
        if let Some(bytes) = self.sink.flush_bytes
            && bytes > budget.batch_bytes
        {
            return Err(format!(
                "`sink.flush_bytes` = {bytes} is more than a batch may hold under \
                 `memory_budget_mb` = {} ({} bytes: a batch is held up to three times, \
                 being read, queued and being written, and decoded beside itself); raise \
                 `memory_budget_mb` or lower `sink.flush_bytes`",
                self.memory_budget_mb, budget.batch_bytes
            ));
        }
        if !(self.sink.flush_interval_secs > 0.0 && self.sink.flush_interval_secs.is_finite()) {
            return Err("`sink.flush_interval_secs` must be a positive number".into());
        }
        Ok(())
    }

    /// How the memory budget is shared out.
    pub fn memory(&self) -> Result<MemoryBudget, String> {
        MemoryBudget::new(self.memory_budget_mb)
    }

    /// Bytes of records at which a batch is written.
    pub fn flush_bytes(&self) -> usize {
        let share = self.memory().map_or(usize::MAX, |b| b.batch_bytes);
        self.sink.flush_bytes.unwrap_or(share)
    }

    /// The consumer group: `source.group`, else `pipelab-<name>`.
    pub fn group(&self) -> String {
        self.source
            .group
            .clone()
            .unwrap_or_else(|| format!("pipelab-{}", self.name))
    }

    /// The quality metrics table: `sink.quality_table`, else `<table>_quality`.
    pub fn quality_table(&self) -> String {
        self.sink
            .quality_table
            .clone()
            .unwrap_or_else(|| format!("{}_quality", self.sink.table))
    }

    /// The dead-letter table: `sink.dead_letter_table`, else `<table>_dead_letters`.
    pub fn dead_letter_table(&self) -> String {
        self.sink.dead_letter_table.as_ref().map_or_else(
            || format!("{}_dead_letters", self.sink.table),
            |t| t.get_ref().clone(),
        )
    }
}

/// The one memory budget and its shares. Records are held at most in four places:
/// librdkafka's prefetch queue, the batch being read, the one queued for the writer and
/// the one being written, which is also decoded into Arrow and run through the steps
/// (each about one more copy). A batch gets an eighth of the budget, the queue another
/// eighth: 3 raw copies + ~3 decoded ones + the queue stay within the budget. Reaching a
/// batch's share cuts the batch; a full queue makes the reader wait for the writer
/// (back-pressure), and Kafka's prefetch stops at its share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    /// The whole budget, in bytes (`memory_budget_mb` MiB).
    pub total_bytes: usize,
    /// A batch is cut when its records hold this much (also the largest record).
    pub batch_bytes: usize,
    /// librdkafka's `queued.max.messages.kbytes`, in bytes.
    pub prefetch_bytes: usize,
}

impl MemoryBudget {
    /// The smallest budget that leaves each share a usable size.
    pub const MIN_MB: u64 = 8;

    /// Share out a budget of `mb` MiB; refused below [`Self::MIN_MB`] or past `usize`.
    pub fn new(mb: u64) -> Result<Self, String> {
        if mb < Self::MIN_MB {
            return Err(format!(
                "`memory_budget_mb` = {mb} is too small: at least {} MiB",
                Self::MIN_MB
            ));
        }
        let total_bytes = usize::try_from(mb)
            .ok()
            .and_then(|mb| mb.checked_mul(1 << 20))
            .ok_or_else(|| format!("`memory_budget_mb` = {mb} is too large"))?;
        Ok(Self {
            total_bytes,
            batch_bytes: total_bytes / 8,
            prefetch_bytes: total_bytes / 8,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "clicks"
[source]
topic = "clicks"
[[steps]]
name = "d"
sql = "SELECT * FROM input"
[sink]
location = "/tmp/lake"
table = "clicks"
partition_by = ["dt"]
"#;

    #[test]
    fn good_spec_gets_defaults() {
        let s = PipelineSpec::parse(GOOD, Path::new("p.toml")).unwrap();
        assert_eq!(s.source.brokers, "127.0.0.1:9092");
        assert_eq!(s.group(), "pipelab-clicks");
        assert_eq!(s.dead_letter_table(), "clicks_dead_letters");
        assert_eq!(s.sink.flush_rows, 200_000);
        assert_eq!(s.memory_budget_mb, 256);
        assert_eq!(s.flush_bytes(), 32 << 20);
    }

    #[test]
    fn a_batch_larger_than_the_budget_allows_is_refused() {
        let spec = format!("memory_budget_mb = 64\n{GOOD}");
        let s = PipelineSpec::parse(&spec, Path::new("p.toml")).unwrap();
        assert_eq!(s.flush_bytes(), 8 << 20);
        let bad = spec.replace(
            "table = \"clicks\"",
            "table = \"clicks\"\nflush_bytes = 100000000",
        );
        let msg = PipelineSpec::parse(&bad, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("flush_bytes") && msg.contains("memory_budget_mb"),
            "{msg}"
        );
        let tiny = GOOD.replace(
            "name = \"clicks\"",
            "name = \"clicks\"\nmemory_budget_mb = 4",
        );
        let msg = PipelineSpec::parse(&tiny, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("too small"), "{msg}");
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let bad = GOOD.replace("table = \"clicks\"", "table = \"clicks\"\ncolour = \"red\"");
        let msg = PipelineSpec::parse(&bad, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("p.toml: "), "{msg}");
        assert!(msg.contains("line 11") && msg.contains("colour"), "{msg}");
    }

    #[test]
    fn missing_topic_is_named() {
        let bad = GOOD.replace("topic = \"clicks\"\n", "");
        let msg = PipelineSpec::parse(&bad, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("missing field `topic`"), "{msg}");
    }

    #[test]
    fn dead_letters_into_the_sink_table_are_refused_with_the_line() {
        let bad = GOOD.replace(
            "partition_by = [\"dt\"]",
            "partition_by = [\"dt\"]\ndead_letter_table = \"clicks\"",
        );
        let msg = PipelineSpec::parse(&bad, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("p.toml: line 12:"), "{msg}");
        assert!(msg.contains("dead_letter_table"), "{msg}");
    }

    #[test]
    fn out_of_range_policy_is_read() {
        let spec = GOOD.replace(
            "topic = \"clicks\"",
            "topic = \"clicks\"\non_offset_out_of_range = \"earliest\"",
        );
        let s = PipelineSpec::parse(&spec, Path::new("p.toml")).unwrap();
        assert_eq!(s.source.on_offset_out_of_range, OnOutOfRange::Earliest);
        let bad = spec.replace("\"earliest\"", "\"sometimes\"");
        let msg = PipelineSpec::parse(&bad, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("line 5") && msg.contains("sometimes"), "{msg}");
    }

    #[test]
    fn type_mismatch_policy_is_read() {
        let s = PipelineSpec::parse(GOOD, Path::new("p.toml")).unwrap();
        assert_eq!(s.sink.on_type_mismatch, OnTypeMismatch::DeadLetter);
        let spec = GOOD.replace(
            "table = \"clicks\"",
            "table = \"clicks\"\non_type_mismatch = \"widen\"",
        );
        let s = PipelineSpec::parse(&spec, Path::new("p.toml")).unwrap();
        assert_eq!(s.sink.on_type_mismatch, OnTypeMismatch::Widen);
        let bad = spec.replace("\"widen\"", "\"cast\"");
        let msg = PipelineSpec::parse(&bad, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("line 11") && msg.contains("cast"), "{msg}");
    }

    #[test]
    fn name_rules_are_read() {
        let s = PipelineSpec::parse(GOOD, Path::new("p.toml")).unwrap();
        assert_eq!(s.source.name_rules(), pipelab_ingest::NameRules::default());
        let spec = GOOD.replace(
            "topic = \"clicks\"",
            "topic = \"clicks\"\nfield_names = \"fold\"\nduplicate_keys = \"last\"",
        );
        let rules = PipelineSpec::parse(&spec, Path::new("p.toml"))
            .unwrap()
            .source
            .name_rules();
        assert_eq!(rules.field_names, pipelab_ingest::FieldNames::Fold);
        assert_eq!(rules.duplicate_keys, pipelab_ingest::DuplicateKeys::Last);
        let bad = spec.replace("\"fold\"", "\"lower\"");
        let msg = PipelineSpec::parse(&bad, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("line 5") && msg.contains("lower"), "{msg}");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let msg = PipelineSpec::parse("name = \"x\"\n[source\n", Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("line 2"), "{msg}");
    }
}
