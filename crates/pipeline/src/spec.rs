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
//!
//! # Fan-out: further sinks, each fed by a named step (default: the last one).
//! [[sinks]]
//! kind = "mysql"
//! url = "mysql://root@127.0.0.1:3306/email"
//! table = "signups"
//! from = "by_day"
//! key = ["user_id"]
//! ```
//!
//! The lake sink may also be written as a `[[sinks]]` entry with `kind = "lake"`; a spec
//! has exactly one lake sink, which holds the dead letters and the quality metrics.

use std::path::Path;

use serde::Deserialize;

use crate::error::SpecError;
pub(crate) use crate::sink_spec::SinkEntry;
pub use crate::sink_spec::{
    DatabaseSinkSpec, KafkaSinkSpec, LakeSinkSpec, OnTypeMismatch, SinkKind,
};
pub use crate::source_spec::{
    AssignmentSpec, DuplicateKeysSpec, FieldNamesSpec, Format, KafkaSourceSpec, OnOutOfRange,
    SourceKind,
};

/// A pipeline as its TOML file describes it: a Kafka source, SQL steps, a lake sink and
/// any database sinks.
#[derive(Debug, Clone)]
pub struct PipelineSpec {
    /// Names the pipeline in offsets (Delta `txn` app ids) and the consumer group.
    pub name: String,
    /// Where records come from (`[source]`).
    pub source: KafkaSourceSpec,
    /// SQL steps run in order on each micro-batch (`[[steps]]`); none passes it through.
    pub steps: Vec<StepSpec>,
    /// Where the steps' output is committed (`[sink]`, or the `[[sinks]]` entry of
    /// kind `lake`).
    pub sink: LakeSinkSpec,
    /// The database sinks (`[[sinks]]` of kind `postgres`, `mysql`, `sqlite`).
    pub databases: Vec<DatabaseSinkSpec>,
    /// The topic sinks (`[[sinks]]` of kind `kafka`).
    pub topics: Vec<KafkaSinkSpec>,
    /// MiB the pipeline's records may hold in memory: Kafka's prefetch queue, the batch
    /// being read, the one queued and the one being written (see [`MemoryBudget`]).
    pub memory_budget_mb: u64,
}

/// The spec file as written: `[sink]` and `[[sinks]]` are resolved into
/// [`PipelineSpec`]'s one lake sink and its database sinks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    name: String,
    source: KafkaSourceSpec,
    #[serde(default)]
    steps: Vec<StepSpec>,
    sink: Option<LakeSinkSpec>,
    #[serde(default)]
    sinks: Vec<SinkEntry>,
    #[serde(default = "default_memory_budget_mb")]
    memory_budget_mb: u64,
}

fn default_memory_budget_mb() -> u64 {
    256
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
        let file: SpecFile =
            toml::from_str(text).map_err(|e| err(e.to_string().trim_end().to_string()))?;
        let mut spec = Self::resolve(file).map_err(err)?;
        spec.sink.partitioning = pipelab_lake::Partitioning::parse(&spec.sink.partition_by)
            .map_err(|e| err(format!("sink.{e}")))?;
        spec.check(text).map_err(err)?;
        Ok(spec)
    }

    /// One lake sink, from `[sink]` or a `[[sinks]]` entry; the rest are databases.
    fn resolve(file: SpecFile) -> Result<Self, String> {
        let mut lakes: Vec<LakeSinkSpec> = file.sink.into_iter().collect();
        let mut databases = Vec::new();
        let mut topics = Vec::new();
        for (i, entry) in file.sinks.into_iter().enumerate() {
            let (engine, mut db) = match entry {
                SinkEntry::Lake(lake) => {
                    lakes.push(*lake);
                    continue;
                }
                SinkEntry::Kafka(topic) => {
                    if topic.topic.trim().is_empty() {
                        return Err(format!("sinks[{i}]: `topic` must not be empty"));
                    }
                    topics.push(topic);
                    continue;
                }
                SinkEntry::Postgres(db) => (pipelab_dbsink::Engine::Postgres, db),
                SinkEntry::Mysql(db) => (pipelab_dbsink::Engine::MySql, db),
                SinkEntry::Sqlite(db) => (pipelab_dbsink::Engine::Sqlite, db),
            };
            db.engine = engine;
            if let Some(problem) = db.problem() {
                return Err(format!("sinks[{i}] (table {:?}): {problem}", db.table));
            }
            databases.push(db);
        }
        let sink = match lakes.len() {
            1 => lakes.remove(0),
            0 => {
                return Err("no lake sink: give `[sink]` (or a `[[sinks]]` entry with \
                            `kind = \"lake\"`); it holds the dead letters"
                    .into());
            }
            n => {
                return Err(format!(
                    "{n} lake sinks: a spec has one (`[sink]` or one `[[sinks]]` entry with \
                     `kind = \"lake\"`)"
                ));
            }
        };
        Ok(Self {
            name: file.name,
            source: file.source,
            steps: file.steps,
            sink,
            databases,
            topics,
            memory_budget_mb: file.memory_budget_mb,
        })
    }

    fn check(&self, text: &str) -> Result<(), String> {
        if self.sink.dead_letter_table.as_ref() == Some(&self.sink.table) {
            let line = line_of_key(text, "dead_letter_table");
            return Err(format!(
                "line {line}: `sink.dead_letter_table` is the sink table {:?} itself; \
                 dead letters need a table of their own",
                self.sink.table
            ));
        }
        let names = [("name", &self.name), ("sink.table", &self.sink.table)];
        for (key, value) in names {
            if value.trim().is_empty() {
                return Err(format!("`{key}` must not be empty"));
            }
        }
        if let Some(problem) = self.source.problem() {
            return Err(problem);
        }
        if self.source.kind == SourceKind::Landing && !self.topics.is_empty() {
            return Err(
                "a landing source writes to its lake and database sinks; a Kafka \
                        sink is for a Kafka source"
                    .into(),
            );
        }
        self.check_steps()?;
        if !self.source.headers.is_empty() && self.source.format != Format::Lines {
            return Err("`source.headers` is for `format = \"lines\"`".into());
        }
        if let Some(h) = self
            .source
            .headers
            .iter()
            .find(|h| matches!(h.as_str(), "line" | "key"))
        {
            return Err(format!(
                "`source.headers` names {h:?}, a column lines have already"
            ));
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

    /// Step names are unique and every sink's `from` names one of them.
    fn check_steps(&self) -> Result<(), String> {
        for (i, step) in self.steps.iter().enumerate() {
            if self.steps[..i].iter().any(|s| s.name == step.name) {
                return Err(format!("two steps are named {:?}", step.name));
            }
            if step.name == "input" {
                return Err(
                    "a step may not be named \"input\": that is the table each step reads".into(),
                );
            }
        }
        let froms = std::iter::once(("sink", &self.sink.from))
            .chain(self.databases.iter().map(|d| ("sinks", &d.from)))
            .chain(self.topics.iter().map(|t| ("sinks", &t.from)));
        for (place, from) in froms {
            if let Some(from) = from
                && !self.steps.iter().any(|s| &s.name == from)
            {
                let names: Vec<&str> = self.steps.iter().map(|s| s.name.as_str()).collect();
                return Err(format!(
                    "`{place}.from` = {from:?} names no step (the steps are: {})",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ));
            }
        }
        let mut names: Vec<String> = self
            .databases
            .iter()
            .map(DatabaseSinkSpec::sink_name)
            .collect();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!(
                "two database sinks are named {:?}: give one a `name` (it keys their offsets)",
                w[0]
            ));
        }
        Ok(())
    }

    /// The step whose rows a sink with this `from` takes: that step, else the last one
    /// (`None`: no steps, the decoded records themselves).
    pub fn step_for(&self, from: Option<&str>) -> Option<String> {
        from.map(str::to_string)
            .or_else(|| self.steps.last().map(|s| s.name.clone()))
    }

    /// A problem of this spec found when it runs (a spec built in code is not checked
    /// as a file is), named by the pipeline.
    pub(crate) fn error(&self, message: String) -> SpecError {
        SpecError {
            path: format!("pipeline '{}'", self.name),
            message,
        }
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
        self.sink
            .dead_letter_table
            .clone()
            .unwrap_or_else(|| format!("{}_dead_letters", self.sink.table))
    }
}

/// The line (from 1) where `key = …` is first set in the spec's text.
fn line_of_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(1, |i| i + 1)
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
        assert!(msg.contains("`source.topic` must not be empty"), "{msg}");
    }

    #[test]
    fn a_landing_source_needs_a_location_and_no_topic() {
        let landing = GOOD.replace(
            "topic = \"clicks\"\n",
            "kind = \"landing\"\nlocation = \"s3://landing/in/\"\nformat = \"csv\"\n",
        );
        let landing = landing.replace("kind = \"kafka\"\n", "");
        let spec = PipelineSpec::parse(&landing, Path::new("p.toml")).unwrap();
        assert_eq!(spec.source.kind, SourceKind::Landing);
        assert_eq!(spec.source.format, Format::Csv);
        for (from, to, expected) in [
            ("location = \"s3://landing/in/\"\n", "", "needs `location`"),
            (
                "format = \"csv\"",
                "format = \"csv\"\ntopic = \"t\"",
                "is for `kind = \"kafka\"`",
            ),
        ] {
            let msg = PipelineSpec::parse(&landing.replace(from, to), Path::new("p.toml"))
                .unwrap_err()
                .to_string();
            assert!(msg.contains(expected), "{msg}");
        }
        let csv_from_kafka =
            GOOD.replace("topic = \"clicks\"", "topic = \"clicks\"\nformat = \"csv\"");
        let msg = PipelineSpec::parse(&csv_from_kafka, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("is for `kind = \"landing\"`"), "{msg}");
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
    fn fan_out_sinks_are_read_and_checked() {
        let spec = format!(
            "{GOOD}[[sinks]]\nkind = \"mysql\"\nurl = \"mysql://root@127.0.0.1/t\"\n\
             table = \"signups\"\nfrom = \"d\"\nkey = [\"user_id\"]\n"
        );
        let s = PipelineSpec::parse(&spec, Path::new("p.toml")).unwrap();
        assert_eq!(s.databases.len(), 1);
        assert_eq!(s.databases[0].engine, pipelab_dbsink::Engine::MySql);
        assert_eq!(s.databases[0].sink_name(), "signups");
        assert_eq!(
            s.step_for(s.databases[0].from.as_deref()).as_deref(),
            Some("d")
        );
        let bad = spec.replace("from = \"d\"", "from = \"nope\"");
        let msg = PipelineSpec::parse(&bad, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("nope") && msg.contains("names no step"),
            "{msg}"
        );
        let bad = spec.replace("mysql://", "postgres://");
        let msg = PipelineSpec::parse(&bad, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("sinks[0]") && msg.contains("mysql://"),
            "{msg}"
        );
        let bad = spec.replace("kind = \"mysql\"", "kind = \"oracle\"");
        let msg = PipelineSpec::parse(&bad, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("oracle"), "{msg}");
    }

    #[test]
    fn a_kafka_sink_is_read() {
        let spec =
            format!("{GOOD}[[sinks]]\nkind = \"kafka\"\ntopic = \"out\"\nkey = \"user_id\"\n");
        let s = PipelineSpec::parse(&spec, Path::new("p.toml")).unwrap();
        assert_eq!(s.topics.len(), 1);
        assert_eq!(s.topics[0].key.as_deref(), Some("user_id"));
        let bad = spec.replace("topic = \"out\"", "topic = \" \"");
        let msg = PipelineSpec::parse(&bad, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`topic` must not be empty"), "{msg}");
    }

    #[test]
    fn the_lake_sink_may_be_a_sinks_entry_but_only_one() {
        let as_entry = GOOD.replace("[sink]", "[[sinks]]\nkind = \"lake\"");
        let s = PipelineSpec::parse(&as_entry, Path::new("p.toml")).unwrap();
        assert_eq!(s.sink.table, "clicks");
        let two = format!("{GOOD}[[sinks]]\nkind = \"lake\"\nlocation = \"/x\"\ntable = \"y\"\n");
        let msg = PipelineSpec::parse(&two, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("2 lake sinks"), "{msg}");
        let none = GOOD.split("[sink]").next().unwrap().to_string();
        let msg = PipelineSpec::parse(&none, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("no lake sink"), "{msg}");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let msg = PipelineSpec::parse("name = \"x\"\n[source\n", Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("line 2"), "{msg}");
    }
}
