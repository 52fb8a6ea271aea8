//! Data-quality metrics per commit: the rules of `[[sink.quality]]` measured on the rows
//! each commit stores, kept in a Delta table of their own (`<table>_quality` by default)
//! that SQL can query: one row per commit and rule, with the table version it measured.
//!
//! Checks, each a fraction of the commit's rows (1.0 when it has none to judge):
//! `completeness` (the column is not null), `uniqueness` (distinct values among the
//! non-null ones), `validity` (the SQL `condition` holds; null counts as not valid) and
//! `timeliness` (the column's time is at most `max_delay_secs` before the commit). With
//! `min`, a value below it is a failed check: logged, and `passed = false` in its row.
//!
//! The metrics of a commit are written right after it. A crash in between loses those
//! metrics, never data; a metrics table that cannot be written is logged and the
//! pipeline goes on.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use pipelab_lake::{LakeLocation, LakeTable, TableSpec};
use serde::Deserialize;

use crate::error::PipelineError;

/// One rule of `[[sink.quality]]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QualityRule {
    /// The rule's name in the metrics table.
    pub rule: String,
    /// What the rule measures.
    pub check: Check,
    /// The column judged (completeness, uniqueness, timeliness).
    pub column: Option<String>,
    /// validity: a SQL condition over a row, e.g. `price >= 0`.
    pub condition: Option<String>,
    /// timeliness: how old a row's time may be at its commit.
    pub max_delay_secs: Option<u64>,
    /// The least value that passes (0 to 1).
    pub min: Option<f64>,
}

/// What a quality rule measures, as a fraction of a commit's rows.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// Rows where `column` is not null.
    Completeness,
    /// Distinct values among `column`'s non-null values.
    Uniqueness,
    /// Rows where the SQL `condition` holds (null counts as not valid).
    Validity,
    /// Rows whose `column` time is at most `max_delay_secs` before the commit.
    Timeliness,
}

impl Check {
    fn name(self) -> &'static str {
        match self {
            Check::Completeness => "completeness",
            Check::Uniqueness => "uniqueness",
            Check::Validity => "validity",
            Check::Timeliness => "timeliness",
        }
    }
}

impl QualityRule {
    /// What the rule lacks or has too much of, for the spec's check.
    pub fn problem(&self) -> Option<String> {
        let needs = |what: &str| Some(format!("{} needs `{what}`", self.check.name()));
        match self.check {
            Check::Validity if self.condition.is_none() => needs("condition"),
            Check::Completeness | Check::Uniqueness | Check::Timeliness
                if self.column.is_none() =>
            {
                needs("column")
            }
            Check::Timeliness if self.max_delay_secs.is_none() => needs("max_delay_secs"),
            _ if self.min.is_some_and(|m| !(0.0..=1.0).contains(&m)) => {
                Some("`min` is a fraction from 0 to 1".into())
            }
            _ if self.rule.trim().is_empty() => Some("`rule` must name the rule".into()),
            _ => None,
        }
    }

    /// (rows judged, rows passing) as SQL aggregates over the table `batch`.
    fn sql(&self, committed_secs: i64) -> String {
        let column = self.column.as_deref().map(quote).unwrap_or_default();
        let condition = self.condition.as_deref().unwrap_or("true");
        let (judged, passing) = match self.check {
            Check::Completeness => ("count(*)".to_string(), format!("count({column})")),
            Check::Uniqueness => (
                format!("count({column})"),
                format!("count(DISTINCT {column})"),
            ),
            Check::Validity => (
                "count(*)".to_string(),
                format!("sum(CASE WHEN ({condition}) THEN 1 ELSE 0 END)"),
            ),
            Check::Timeliness => {
                let oldest = committed_secs - self.max_delay_secs.unwrap_or(0) as i64;
                (
                    "count(*)".to_string(),
                    format!("sum(CASE WHEN to_unixtime({column}) >= {oldest} THEN 1 ELSE 0 END)"),
                )
            }
        };
        format!(
            "SELECT CAST({judged} AS BIGINT) AS judged, \
             CAST(coalesce({passing}, 0) AS BIGINT) AS passing, \
             CAST(count(*) AS BIGINT) AS total FROM batch"
        )
    }
}

fn quote(column: &str) -> String {
    format!("\"{}\"", column.replace('"', "\"\""))
}

/// One rule measured on one commit.
#[derive(Debug, Clone)]
pub struct Measured {
    rule: QualityRule,
    rows: i64,
    value: f64,
}

impl Measured {
    /// Whether the value reaches the rule's `min` (always, without one).
    pub fn passed(&self) -> bool {
        self.rule.min.is_none_or(|m| self.value >= m)
    }

    /// The rule's name.
    pub fn rule(&self) -> &str {
        &self.rule.rule
    }

    /// The fraction of the commit's rows that passed (0 to 1).
    pub fn value(&self) -> f64 {
        self.value
    }
}

/// Measures commits and keeps the metrics in their table (the pipeline's sink, and any
/// other writer of a lake table that measures its commits the same way).
pub struct QualitySink {
    name: String,
    pipeline: String,
    table: String,
    rules: Vec<QualityRule>,
    sink: Option<LakeTable>,
}

impl QualitySink {
    /// Metrics of `table`'s commits by `pipeline` (who wrote them), kept in lake table
    /// `name`.
    pub fn new(name: String, pipeline: &str, table: &str, rules: Vec<QualityRule>) -> Self {
        Self {
            name,
            pipeline: pipeline.to_string(),
            table: table.to_string(),
            rules,
            sink: None,
        }
    }

    /// The rules measured on `batches` (the rows about to be committed). A rule whose SQL
    /// does not run (a column that is not there, a bad condition) is a spec error.
    pub async fn measure(&self, batches: &[RecordBatch]) -> Result<Vec<Measured>, PipelineError> {
        let Some(first) = batches.first() else {
            return Ok(Vec::new());
        };
        if self.rules.is_empty() {
            return Ok(Vec::new());
        }
        let ctx = SessionContext::new();
        let table = MemTable::try_new(first.schema(), vec![batches.to_vec()])
            .map_err(|e| self.error("registering the batch", e.to_string()))?;
        ctx.register_table("batch", Arc::new(table))
            .map_err(|e| self.error("registering the batch", e.to_string()))?;
        let now = chrono::Utc::now().timestamp();
        let mut out = Vec::with_capacity(self.rules.len());
        for rule in &self.rules {
            let fail = |e: datafusion::error::DataFusionError| {
                self.error(&format!("quality rule {:?}", rule.rule), e.to_string())
            };
            let result = ctx.sql(&rule.sql(now)).await.map_err(fail)?;
            let result = result.collect().await.map_err(fail)?;
            let row = result.iter().find(|b| b.num_rows() > 0);
            let count =
                |i: usize| row.map_or(0, |b| b.column(i).as_primitive::<Int64Type>().value(0));
            let (judged, passing, rows) = (count(0), count(1), count(2));
            let value = if judged == 0 {
                1.0
            } else {
                passing as f64 / judged as f64
            };
            out.push(Measured {
                rule: rule.clone(),
                rows,
                value,
            });
        }
        Ok(out)
    }

    /// Keep the metrics of the commit that made `version`. Best effort: a failure is
    /// logged (the data is committed already).
    pub async fn record(&mut self, lake: &LakeLocation, version: i64, measured: Vec<Measured>) {
        if measured.is_empty() {
            return;
        }
        for m in measured.iter().filter(|m| !m.passed()) {
            tracing::warn!(
                "quality rule {} failed on version {version} of {}: {:.4} < {}",
                m.rule.rule,
                self.table,
                m.value,
                m.rule.min.unwrap_or_default()
            );
        }
        if let Err(e) = self.append(lake, version, &measured).await {
            tracing::warn!("quality metrics of version {version} not kept: {e}");
        }
    }

    async fn append(
        &mut self,
        lake: &LakeLocation,
        version: i64,
        measured: &[Measured],
    ) -> Result<(), PipelineError> {
        let batch = self.metrics_batch(version, measured)?;
        let table = match self.sink.as_mut() {
            Some(t) => t,
            None => {
                let spec = TableSpec {
                    name: self.name.clone(),
                    ..TableSpec::default()
                };
                let opened = LakeTable::open_or_create(lake, &spec, batch.schema()).await?;
                self.sink.insert(opened)
            }
        };
        table.append(vec![batch], &[]).await?;
        Ok(())
    }

    fn metrics_batch(
        &self,
        version: i64,
        measured: &[Measured],
    ) -> Result<RecordBatch, PipelineError> {
        let n = measured.len();
        let text = |values: Vec<Option<String>>| Arc::new(StringArray::from(values)) as ArrayRef;
        let now = chrono::Utc::now().timestamp_micros();
        let columns: Vec<ArrayRef> = vec![
            text(vec![Some(self.pipeline.clone()); n]),
            text(vec![Some(self.table.clone()); n]),
            Arc::new(Int64Array::from(vec![version; n])),
            Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")),
            text(measured.iter().map(|m| Some(m.rule.rule.clone())).collect()),
            text(
                measured
                    .iter()
                    .map(|m| Some(m.rule.check.name().to_string()))
                    .collect(),
            ),
            text(measured.iter().map(|m| m.rule.column.clone()).collect()),
            Arc::new(Int64Array::from_iter_values(
                measured.iter().map(|m| m.rows),
            )),
            Arc::new(Float64Array::from_iter_values(
                measured.iter().map(|m| m.value),
            )),
            Arc::new(Float64Array::from(
                measured.iter().map(|m| m.rule.min).collect::<Vec<_>>(),
            )),
            Arc::new(BooleanArray::from(
                measured.iter().map(|m| m.passed()).collect::<Vec<_>>(),
            )),
        ];
        let field = |name: &str, t: DataType| Field::new(name, t, true);
        let schema = Schema::new(vec![
            field("pipeline", DataType::Utf8),
            field("table", DataType::Utf8),
            field("version", DataType::Int64),
            field(
                "measured_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ),
            field("rule", DataType::Utf8),
            field("check", DataType::Utf8),
            field("column", DataType::Utf8),
            field("rows", DataType::Int64),
            field("value", DataType::Float64),
            field("min", DataType::Float64),
            field("passed", DataType::Boolean),
        ]);
        RecordBatch::try_new(Arc::new(schema), columns).map_err(|source| PipelineError::Batch {
            what: "building the quality metrics",
            table: self.name.clone(),
            source,
        })
    }

    fn error(&self, what: &str, message: String) -> PipelineError {
        PipelineError::Quality {
            table: self.table.clone(),
            what: what.to_string(),
            message,
        }
    }
}
