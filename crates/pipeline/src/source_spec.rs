//! `[source]`: the Kafka topic a pipeline reads, how its records are decoded and how a
//! process gets its partitions.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `source.kind`: the kind of source; only `kafka`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    #[default]
    /// A Kafka topic (the default and only kind).
    Kafka,
}

/// `source.format`: how record payloads are encoded.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    /// JSON objects (the default).
    Json,
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
    /// The topic to read; must not be empty.
    pub topic: String,
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

fn default_brokers() -> String {
    "127.0.0.1:9092".to_string()
}
