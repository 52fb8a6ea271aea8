//! `[source]`: the Kafka topic a pipeline reads (how its records are decoded, how a
//! process gets its partitions), or the landing prefix whose objects it reads.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `source.kind`: the kind of source.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    #[default]
    /// A Kafka topic (the default).
    Kafka,
    /// The objects under an object-store prefix (`location`), each read once.
    Landing,
}

/// `source.format`: how record payloads are encoded.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    /// JSON objects (the default); for a landing source, one per line (`jsonl` too).
    #[serde(alias = "jsonl")]
    Json,
    /// CSV with a header row (landing sources): each row a record.
    Csv,
    /// A line of text per record (what `pipelab ship` sends): columns `line`, `key`
    /// and the `headers` named.
    Lines,
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
    /// The topic to read (kind `kafka`); must not be empty.
    #[serde(default)]
    pub topic: String,
    /// Kind `landing`: the prefix watched, a directory or `s3://bucket/prefix/`.
    pub location: Option<String>,
    /// Kind `landing`: seconds between two listings that found nothing new (default 1).
    #[serde(default = "default_poll")]
    pub poll_interval_secs: f64,
    /// Kind `landing`: object_store options for the location (endpoint, keys); default
    /// the lake sink's.
    #[serde(default)]
    pub storage_options: BTreeMap<String, String>,
    /// Consumer group for lag tools; default `pipelab-<name>`.
    pub group: Option<String>,
    /// How payloads are decoded: `json` (the default) or `lines`.
    #[serde(default)]
    pub format: Format,
    /// With `format = "lines"`: record headers that become text columns of their names
    /// (`pipelab ship` sends `host`, `file`, `file_id` and `offset`).
    #[serde(default)]
    pub headers: Vec<String>,
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
    /// What is wrong with the source's fields for its kind, if anything.
    pub(crate) fn problem(&self) -> Option<String> {
        match self.kind {
            SourceKind::Kafka => {
                if self.topic.trim().is_empty() {
                    return Some("`source.topic` must not be empty".into());
                }
                if self.location.is_some() {
                    return Some("`source.location` is for `kind = \"landing\"`".into());
                }
                (self.format == Format::Csv)
                    .then(|| "`format = \"csv\"` is for `kind = \"landing\"`".into())
            }
            SourceKind::Landing => {
                if self.location.as_deref().is_none_or(|l| l.trim().is_empty()) {
                    return Some(
                        "a landing source needs `location` (a directory or s3://bucket/prefix/)"
                            .into(),
                    );
                }
                if !self.topic.is_empty() {
                    return Some("`source.topic` is for `kind = \"kafka\"`".into());
                }
                (!(self.poll_interval_secs > 0.0 && self.poll_interval_secs.is_finite()))
                    .then(|| "`source.poll_interval_secs` must be a positive number".into())
            }
        }
    }

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

fn default_poll() -> f64 {
    1.0
}

fn default_brokers() -> String {
    "127.0.0.1:9092".to_string()
}
