//! The step kinds that bring data in: a file loaded into a lake table, a table of the
//! operational database or a Kafka topic, and a pipeline run on the run's broker and lake.

use std::path::Path;

use pipelab_dbsink::DatabaseSink;
use pipelab_lake::{LakeTable, Partitioning, TableSpec};
use pipelab_pipeline::PipelineSpec;
use pipelab_pipeline::quality::{Measured, QualitySink};
use pipelab_pipeline::spec::SourceKind;

use crate::definition::{LoadStep, PipelineStep, Target};
use crate::explain::Arrow;
use crate::ops::OPS_CATALOG;
use crate::read::{Rows, read_file};
use crate::runner::{Failure, PipelineRun, Produced, Run, plural};
use crate::spec_as_run::{RunTarget, write_spec_as_run};
use crate::strict::{check_documents, declared_table, refused_rows};

impl Run<'_> {
    /// Read the step's file, then write its rows where it says.
    pub(crate) async fn load(&mut self, step: &LoadStep) -> Result<(String, String), Failure> {
        let path = self.data_path(&step.file);
        if step.into == Target::Topic {
            return Ok((self.load_topic(step, &path).await?, String::new()));
        }
        if step.into == Target::Landing {
            return Ok((self.load_landing(step, &path).await?, String::new()));
        }
        if let Some(schema) = &step.schema {
            self.engine = None;
            return self.load_strict(step, &path, schema).await;
        }
        let rows = read_file(&path, step.sql.as_deref())
            .await
            .map_err(|e| Failure::user(format!("{}: {e}", path.display())))?;
        self.engine = None;
        let summary = match step.into {
            Target::Lake => self.load_lake(step, rows).await?,
            Target::Database => self.load_database(step, rows).await?,
            Target::Topic | Target::Landing => unreachable!("loaded above"),
        };
        Ok((summary, String::new()))
    }

    async fn load_lake(&mut self, step: &LoadStep, rows: Rows) -> Result<String, Failure> {
        let partitioning = Partitioning::parse(&step.partition_by).map_err(Failure::user)?;
        let spec = TableSpec {
            name: step.table.clone(),
            partitioning,
            properties: Default::default(),
        };
        let lake_error = |e: pipelab_lake::LakeError| Failure::of(e.is_user_fixable(), e);
        let mut table = LakeTable::open_or_create(&self.lake, &spec, rows.schema.clone())
            .await
            .map_err(lake_error)?;
        let count = rows.count();
        let quality_table = format!("{}_quality", step.table);
        let quality = QualitySink::new(
            quality_table.clone(),
            &format!("load {}", step.file),
            &step.table,
            step.quality.clone(),
        );
        let measured = quality
            .measure(&rows.batches)
            .await
            .map_err(|e| Failure::of(e.is_user_fixable(), e))?;
        let commit = table.append(rows.batches, &[]).await.map_err(lake_error)?;
        self.lake_tables.insert(step.table.clone());
        let metrics = quality_summary(&measured);
        if !measured.is_empty() {
            let mut quality = quality;
            quality.record(&self.lake, commit.version, measured).await;
            self.lake_tables.insert(quality_table);
        }
        self.arrows.push(Arrow::new(
            &step.file,
            plural(count, "row"),
            format!(
                "lake table {} ({})",
                step.table,
                plural(commit.files_added as u64, "file")
            ),
        ));
        Ok(format!(
            "{} in {} ({} bytes), table version {}{metrics}",
            plural(count, "row"),
            plural(commit.files_added as u64, "file"),
            commit.bytes_added,
            commit.version
        ))
    }

    async fn load_database(&mut self, step: &LoadStep, rows: Rows) -> Result<String, Failure> {
        let ops = self.database.as_ref().ok_or_else(|| {
            Failure::user("the scenario does not declare `needs = [\"database\"]`")
        })?;
        let database = ops.database().map_err(Failure::user)?;
        let count = database
            .replace_table(OPS_CATALOG, &step.table, rows.schema, rows.batches)
            .await
            .map_err(|e| Failure::of(e.is_user_fixable(), e))?;
        self.arrows.push(Arrow::new(
            &step.file,
            plural(count, "row"),
            format!("{} table {}", ops.engine(), step.table),
        ));
        Ok(format!("{} in {}", plural(count, "row"), ops.engine()))
    }

    /// Check each document against the declared table; insert those that fit, keep the
    /// others in `TABLE_refused`.
    async fn load_strict(
        &mut self,
        step: &LoadStep,
        path: &Path,
        schema_file: &str,
    ) -> Result<(String, String), Failure> {
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|e| Failure::user(format!("{}: {e}", path.display())))
        };
        let ddl_path = self.scenario.folder.join(schema_file);
        let (name, schema) = declared_table(&read(&ddl_path)?)
            .await
            .map_err(|e| Failure::user(format!("{schema_file}: {e}")))?;
        if name != step.table {
            return Err(Failure::user(format!(
                "{schema_file} creates table {name}, and the step loads {}",
                step.table
            )));
        }
        let checked = check_documents(&read(path)?, &schema)
            .map_err(|e| Failure::user(format!("{}: {e}", step.file)))?;
        let ops = self.database.as_ref().ok_or_else(|| {
            Failure::user("the scenario does not declare `needs = [\"database\"]`")
        })?;
        let database = ops.database().map_err(Failure::user)?;
        let blame = |e: pipelab_federate::RegisterError| Failure::of(e.is_user_fixable(), e);
        database
            .replace_table(OPS_CATALOG, &step.table, schema, checked.batches)
            .await
            .map_err(blame)?;
        let refused_table = format!("{}_refused", step.table);
        let (refused_schema, refused) =
            refused_rows(&checked.refused).map_err(Failure::environment)?;
        database
            .replace_table(OPS_CATALOG, &refused_table, refused_schema, vec![refused])
            .await
            .map_err(blame)?;
        let engine = ops.engine();
        self.arrows.extend([
            Arrow::new(
                &step.file,
                plural(checked.accepted, "row"),
                format!("{engine} table {}", step.table),
            ),
            Arrow::new(
                &step.file,
                plural(checked.refused.len() as u64, "refused row"),
                format!("{engine} table {refused_table}"),
            ),
        ]);
        let first = checked.refused.first().map(|r| {
            let column = if r.column.is_empty() {
                String::new()
            } else {
                format!(" {}", r.column)
            };
            format!("; first: line {}{column}: {}", r.line, r.detail)
        });
        Ok((
            format!(
                "{} in {engine}; {} refused into {refused_table}{}",
                plural(checked.accepted, "row"),
                checked.refused.len(),
                first.unwrap_or_default()
            ),
            String::new(),
        ))
    }

    /// Produce each line of the file as one record, keyed by the step's field (or, when
    /// a line lacks it or is not JSON, by its line number): bad lines go in as they are,
    /// for the pipeline to dead-letter.
    async fn load_topic(&mut self, step: &LoadStep, path: &Path) -> Result<String, Failure> {
        let stack = self
            .stack
            .as_ref()
            .ok_or_else(|| Failure::user("the scenario does not declare `needs = [\"kafka\"]`"))?;
        // Lines are read as they are sent: a generated file may be hundreds of megabytes.
        let file = std::fs::File::open(path)
            .map_err(|e| Failure::user(format!("{}: {e}", path.display())))?;
        let key_field = step.key.clone();
        let records = std::io::BufRead::split(std::io::BufReader::new(file), b'\n')
            .map_while(Result::ok)
            .enumerate()
            .filter(|(_, line)| !line.trim_ascii().is_empty())
            .map(move |(i, line)| {
                let key = key_field.as_deref().and_then(|field| key_of(&line, field));
                (key.unwrap_or_else(|| (i + 1).to_string()), line)
            });
        let partitions = step.partitions.unwrap_or(3);
        stack
            .create_topic(&step.table, partitions)
            .await
            .map_err(|e| Failure::of(e.is_user_fixable(), e))?;
        let (brokers, topic) = (stack.kafka_bootstrap(), step.table.clone());
        let started = std::time::Instant::now();
        let stats = tokio::task::spawn_blocking(move || {
            pipelab_ingest::produce::produce_all(&brokers, &topic, records, |_| {})
        })
        .await
        .map_err(Failure::environment)?
        .map_err(|e| Failure::of(e.is_user_fixable(), e))?;
        let elapsed = started.elapsed();
        self.produced.push(Produced {
            topic: step.table.clone(),
            records: stats.acked,
            bytes: stats.bytes,
            elapsed,
        });
        let rate = per_second(stats.acked, elapsed);
        self.arrows.push(Arrow::new(
            &step.file,
            format!("{}, {rate}", plural(stats.acked, "record")),
            format!("topic {} ({} partitions)", step.table, partitions),
        ));
        Ok(format!(
            "{} ({} bytes) into {} partitions",
            plural(stats.acked, "record"),
            stats.bytes,
            partitions
        ))
    }

    /// Run the spec on the run's broker and lake until its topic is drained.
    pub(crate) async fn pipeline(
        &mut self,
        step: &PipelineStep,
    ) -> Result<(String, String), Failure> {
        let path = self.scenario.folder.join(&step.spec);
        // Checked as written first, so that a mistake names the scenario's file and line.
        let written = PipelineSpec::from_file(&path).map_err(Failure::user)?;
        let landing = written.source.kind == SourceKind::Landing;
        let brokers = match &self.stack {
            Some(stack) => stack.kafka_bootstrap(),
            None if landing => String::new(),
            None => {
                return Err(Failure::user(
                    "the scenario does not declare `needs = [\"kafka\"]`",
                ));
            }
        };
        let landing_url = self.landing_url();
        let target = RunTarget {
            brokers,
            lake: &self.lake_url,
            storage: &self.storage,
            database: self.database.as_ref(),
            landing: &landing_url,
        };
        if !written.databases.is_empty() && self.database.is_none() {
            return Err(Failure::user(format!(
                "{}: the pipeline has a database sink, but the scenario does not declare \
                 `needs = [\"database\"]`",
                step.spec
            )));
        }
        let as_run = write_spec_as_run(&path, &written.name, &target, &self.dir)
            .map_err(Failure::environment)?;
        let spec = PipelineSpec::from_file(&as_run).map_err(Failure::environment)?;
        // A run starts its database sinks afresh, as its lake and broker are: an earlier
        // run's table and offsets (in a PostgreSQL or MySQL database that outlives runs)
        // would otherwise make this run skip what that one stored. A spec run again in
        // the same run goes on from where it stood.
        let again = self.pipelines.iter().any(|p| p.spec == as_run);
        for db in spec.databases.iter().filter(|_| !again) {
            let mut sink = DatabaseSink::open(db.config(), &spec.name, &spec.source.topic)
                .await
                .map_err(|e| Failure::of(e.is_user_fixable(), e.to_string()))?;
            sink.reset()
                .await
                .map_err(|e| Failure::of(e.is_user_fixable(), e.to_string()))?;
        }
        let opts = pipelab_pipeline::RunOptions {
            until_idle: true,
            ..Default::default()
        };
        let report = pipelab_pipeline::run(&spec, opts)
            .await
            .map_err(|e| Failure::of(e.is_user_fixable(), format!("{}: {e}", step.spec)))?;
        self.engine = None;
        self.lake_tables.insert(spec.sink.table.clone());
        self.pipelines.push(PipelineRun {
            spec: as_run.clone(),
            progress: report.progress.clone(),
            elapsed: report.elapsed,
        });
        let p = &report.progress;
        let steps: Vec<&str> = spec.steps.iter().map(|s| s.name.as_str()).collect();
        let pipeline = format!("pipeline {} [{}]", spec.name, steps.join(" → "));
        let stored = format!(
            "{}, {}, {}, {} bytes",
            plural(p.written, "row"),
            plural(p.commits, "commit"),
            plural(p.files, "file"),
            p.bytes
        );
        let read = format!(
            "{}, {}",
            plural(p.read, "record"),
            per_second(p.read, report.elapsed)
        );
        let source = match report.objects {
            Some(objects) => format!(
                "{} under the landing prefix",
                plural(objects.read, "new object")
            ),
            None => format!("topic {}", spec.source.topic),
        };
        self.arrows.extend([
            Arrow::new(&source, read, &pipeline),
            Arrow::new(&pipeline, stored, format!("lake table {}", spec.sink.table)),
        ]);
        for db in &spec.databases {
            self.arrows.push(Arrow::new(
                &pipeline,
                format!("{} (with offsets)", plural(p.database_rows, "row")),
                format!("database table {}", db.table),
            ));
        }
        if p.dead_letters > 0 {
            let table = format!("lake table {}", spec.dead_letter_table());
            self.arrows.push(Arrow::new(
                &pipeline,
                plural(p.dead_letters, "dead letter"),
                table,
            ));
        }
        let databases: String = spec
            .databases
            .iter()
            .map(|db| format!("; database table {}", db.table))
            .collect();
        let databases = if databases.is_empty() {
            databases
        } else {
            format!(
                "{databases}: {} in {}",
                plural(p.database_rows, "row"),
                plural(p.database_commits, "transaction")
            )
        };
        Ok((
            format!(
                "read {} from {source}; wrote {} to lake table {} in {} ({}, {} bytes){databases}; {}; \
                 as run: {}",
                plural(p.read, "record"),
                plural(p.written, "row"),
                spec.sink.table,
                plural(p.commits, "commit"),
                plural(p.files, "file"),
                p.bytes,
                plural(p.dead_letters, "dead letter"),
                as_run.file_name().unwrap_or_default().to_string_lossy()
            ),
            String::new(),
        ))
    }
}

/// `n` over `elapsed`, as a rate: `1,234 records/s`.
fn per_second(n: u64, elapsed: std::time::Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    format!("{:.0} records/s", n as f64 / secs)
}

/// The quality rules' values, as the step's summary ends: `; quality: rule 1.00, …`.
fn quality_summary(measured: &[Measured]) -> String {
    if measured.is_empty() {
        return String::new();
    }
    let each: Vec<String> = measured
        .iter()
        .map(|m| {
            let failed = if m.passed() { "" } else { " FAILED" };
            format!("{} {:.2}{failed}", m.rule(), m.value())
        })
        .collect();
    format!("; quality: {}", each.join(", "))
}

/// The text of a JSON line's `field`, to key its record by. The rest of the line is
/// skipped, not built: a generated topic may have millions of lines.
fn key_of(line: &[u8], field: &str) -> Option<String> {
    let mut de = serde_json::Deserializer::from_slice(line);
    serde::de::DeserializeSeed::deserialize(FieldOf(field), &mut de)
        .ok()
        .flatten()
}

/// Reads one field of a JSON object as text (a string as it is, another value as JSON).
struct FieldOf<'f>(&'f str);

impl<'de> serde::de::DeserializeSeed<'de> for FieldOf<'_> {
    type Value = Option<String>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for FieldOf<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if found.is_none() && key == self.0 {
                found = match map.next_value::<serde_json::Value>()? {
                    serde_json::Value::String(s) => Some(s),
                    serde_json::Value::Null => None,
                    other => Some(other.to_string()),
                };
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}
