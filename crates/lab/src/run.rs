//! Writing the same data in each layout and running the same queries against each.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::array_value_to_string;
use datafusion::prelude::{SessionConfig, SessionContext};
use pipelab_federate::{ScanStats, collect_with_stats};
use pipelab_lake::{LakeLocation, LakeTable, TableSpec};
use serde::Serialize;

use crate::LabError;
use crate::layout::Layout;
use crate::queries::{self, LabQuery};

/// What to run.
#[derive(Clone, Debug)]
pub struct LabOptions {
    /// The layouts to write and compare; the first is the report's baseline.
    pub layouts: Vec<Layout>,
    /// The queries to run on every layout, placeholders not yet filled.
    pub queries: Vec<LabQuery>,
    /// Timed runs per query and layout (after one untimed run); the median is reported.
    pub runs: usize,
    /// Commits each table is written in (the data split evenly): micro-batches.
    pub commits: usize,
    /// The time column, from which `${day}` and `${next_day}` are taken.
    pub time_column: String,
    /// Where the tables (`lake/`), the report and the chart go.
    pub out: PathBuf,
}

/// Everything measured, as `results.json` holds it.
#[derive(Clone, Debug, Serialize)]
pub struct LabResults {
    /// Rows written to each layout's table.
    pub rows: u64,
    /// Timed runs per query and layout.
    pub runs: usize,
    /// Commits each table was written in.
    pub commits: usize,
    /// The placeholders' values.
    pub values: BTreeMap<String, String>,
    /// The queries as run (placeholders filled).
    pub queries: Vec<QuerySql>,
    /// Per layout, in the order asked: its table and its queries' measures.
    pub layouts: Vec<LayoutResult>,
}

/// A query as run: its name and its SQL.
#[derive(Clone, Debug, Serialize)]
pub struct QuerySql {
    /// The query's name.
    pub name: String,
    /// The SQL as run, placeholders filled.
    pub sql: String,
}

/// One layout's table and its queries' measures.
#[derive(Clone, Debug, Serialize)]
pub struct LayoutResult {
    /// The layout's name, as asked.
    pub layout: String,
    /// The lake table it was written to, under `lake/` in the output directory.
    pub table: String,
    /// The partitioning as `partition_by` text; empty when unpartitioned.
    pub partition_by: String,
    /// Partitions in the table after writing.
    pub partitions: usize,
    /// Data files in the table.
    pub files: u64,
    /// The data files' total size, in bytes.
    pub bytes: u64,
    /// Bytes of the largest and the smallest partition (skew).
    pub largest_partition_bytes: u64,
    /// Bytes of the smallest partition.
    pub smallest_partition_bytes: u64,
    /// Seconds taken to write all the commits (wall clock).
    pub write_secs: f64,
    /// Each query's measures on this table, in the order of the queries.
    pub queries: Vec<QueryResult>,
}

impl LayoutResult {
    /// Mean data file size in bytes (0 with no files).
    pub fn mean_file_bytes(&self) -> u64 {
        self.bytes / self.files.max(1)
    }
}

/// One query on one layout.
#[derive(Clone, Debug, Serialize)]
pub struct QueryResult {
    /// The query's name.
    pub query: String,
    /// Median of the timed runs, in milliseconds.
    pub median_ms: f64,
    /// Each timed run, in milliseconds, in the order run.
    pub runs_ms: Vec<f64>,
    /// Data files the scan was planned over, after pruning.
    pub files_scanned: usize,
    /// Sizes of the files scanned.
    pub file_bytes_scanned: u64,
    /// Bytes the Parquet reader fetched from them.
    pub bytes_read: u64,
    /// Partitions (directories) the scanned files are in.
    pub partitions_scanned: usize,
    /// Rows in the query's answer.
    pub result_rows: usize,
}

/// Write the tables, run the queries, check every layout gives the same answers.
pub async fn run(batches: Vec<RecordBatch>, opts: &LabOptions) -> Result<LabResults, LabError> {
    let lake_dir = opts.out.join("lake");
    if lake_dir.exists() {
        return Err(LabError::OutExists(lake_dir));
    }
    let values = placeholder_values(&batches, &opts.queries, &opts.time_column).await?;
    let filled = queries::fill(&opts.queries, &values);
    std::fs::create_dir_all(&lake_dir).map_err(|e| LabError::io(&lake_dir, e))?;
    let loc = LakeLocation::parse(&lake_dir.display().to_string(), Default::default())?;
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();

    let mut layouts = Vec::new();
    let mut answers: Vec<(String, Vec<Answer>)> = Vec::new();
    for layout in &opts.layouts {
        tracing::info!("writing layout {}", layout.name);
        let (table, mut result) = write_layout(&loc, layout, &batches, opts.commits).await?;
        let ctx = session();
        pipelab_lake::register_table_as(&ctx, &table, "events").await?;
        let mut layout_answers = Vec::new();
        for query in &filled {
            let (measured, answer) = measure(&ctx, query, opts.runs).await?;
            layout_answers.push(answer);
            result.queries.push(measured);
        }
        check_same_answers(&answers, &layout.name, &layout_answers, &filled)?;
        answers.push((layout.name.clone(), layout_answers));
        layouts.push(result);
    }
    Ok(LabResults {
        rows,
        runs: opts.runs,
        commits: opts.commits,
        values,
        queries: filled
            .into_iter()
            .map(|q| QuerySql {
                name: q.name,
                sql: q.sql,
            })
            .collect(),
        layouts,
    })
}

fn session() -> SessionContext {
    pipelab_lake::register_handlers();
    SessionContext::new_with_config(SessionConfig::new())
}

async fn write_layout(
    loc: &LakeLocation,
    layout: &Layout,
    batches: &[RecordBatch],
    commits: usize,
) -> Result<(LakeTable, LayoutResult), LabError> {
    let Some(first) = batches.first() else {
        return Err(LabError::Source {
            origin: "the lab's data".into(),
            reason: "no rows".into(),
        });
    };
    let spec = TableSpec {
        name: layout.table.clone(),
        partitioning: layout.partitioning.clone(),
        ..TableSpec::default()
    };
    let mut table = LakeTable::open_or_create(loc, &spec, first.schema()).await?;
    let started = Instant::now();
    let per_commit = batches.len().div_ceil(commits.max(1)).max(1);
    for chunk in batches.chunks(per_commit) {
        table.append(chunk.to_vec(), &[]).await?;
    }
    let write_secs = started.elapsed().as_secs_f64();
    let partitions = table.partitions()?;
    let result = LayoutResult {
        layout: layout.name.clone(),
        table: layout.table.clone(),
        partition_by: layout.partitioning.to_string(),
        partitions: partitions.len(),
        files: partitions.iter().map(|p| p.files).sum(),
        bytes: partitions.iter().map(|p| p.bytes).sum(),
        largest_partition_bytes: partitions.iter().map(|p| p.bytes).max().unwrap_or(0),
        smallest_partition_bytes: partitions.iter().map(|p| p.bytes).min().unwrap_or(0),
        write_secs,
        queries: Vec::new(),
    };
    Ok((table, result))
}

/// A query's answer: its rows as text, sorted.
type Answer = Vec<Vec<String>>;

/// One untimed run (its answer and scan metrics are kept), then `runs` timed ones.
async fn measure(
    ctx: &SessionContext,
    query: &LabQuery,
    runs: usize,
) -> Result<(QueryResult, Answer), LabError> {
    let (batches, stats) = run_once(ctx, query).await?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        run_once(ctx, query).await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let answer = canonical_rows(&batches);
    let measured = QueryResult {
        query: query.name.clone(),
        median_ms: median(&times),
        runs_ms: times,
        files_scanned: stats.files,
        file_bytes_scanned: stats.file_bytes,
        bytes_read: stats.bytes_scanned,
        partitions_scanned: stats.partitions,
        result_rows: answer.len(),
    };
    Ok((measured, answer))
}

async fn run_once(
    ctx: &SessionContext,
    query: &LabQuery,
) -> Result<(Vec<RecordBatch>, ScanStats), LabError> {
    let fail = |e: datafusion::error::DataFusionError| LabError::Query {
        query: query.name.clone(),
        source: Box::new(e),
    };
    let df = ctx.sql(&query.sql).await.map_err(fail)?;
    collect_with_stats(df).await.map_err(fail)
}

/// The median of `values` (the mean of the middle two for an even count); 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The rows as text, sorted (row order is not part of an answer without ORDER BY), with
/// doubles to 9 significant digits: sums over files in another order differ in the last
/// bits.
fn canonical_rows(batches: &[RecordBatch]) -> Answer {
    let mut rows = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let cells = batch
                .columns()
                .iter()
                .map(|c| match c.data_type() {
                    DataType::Float64 if c.is_valid(row) => {
                        let v = c.as_primitive::<arrow::datatypes::Float64Type>().value(row);
                        format!("{v:.8e}")
                    }
                    _ => array_value_to_string(c, row).unwrap_or_default(),
                })
                .collect();
            rows.push(cells);
        }
    }
    rows.sort();
    rows
}

fn check_same_answers(
    earlier: &[(String, Vec<Answer>)],
    layout: &str,
    answers: &[Answer],
    queries: &[LabQuery],
) -> Result<(), LabError> {
    let Some((first_layout, first)) = earlier.first() else {
        return Ok(());
    };
    for ((query, mine), theirs) in queries.iter().zip(answers).zip(first) {
        if mine != theirs {
            return Err(LabError::AnswersDiffer {
                query: query.name.clone(),
                layouts: format!("{first_layout} and {layout}"),
            });
        }
    }
    Ok(())
}

/// The values of the placeholders the queries use, from the data.
async fn placeholder_values(
    batches: &[RecordBatch],
    queries: &[LabQuery],
    time_column: &str,
) -> Result<BTreeMap<String, String>, LabError> {
    let used = queries::used(queries);
    if let Some(unknown) = used
        .iter()
        .find(|u| !queries::PLACEHOLDERS.contains(&u.as_str()))
    {
        return Err(LabError::Queries(format!(
            "unknown placeholder ${{{unknown}}}; known: {}",
            queries::PLACEHOLDERS
                .map(|p| format!("${{{p}}}"))
                .join(", ")
        )));
    }
    let ctx = SessionContext::new();
    let Some(first) = batches.first() else {
        return Ok(BTreeMap::new());
    };
    let table = datafusion::datasource::MemTable::try_new(first.schema(), vec![batches.to_vec()])
        .map_err(|e| LabError::Queries(e.to_string()))?;
    ctx.register_table("events", std::sync::Arc::new(table))
        .map_err(|e| LabError::Queries(e.to_string()))?;
    let t = time_column;
    let lookups = [
        (
            "day",
            // The middle one of the days, in order (see `middle_value`).
            format!(
                "SELECT DISTINCT CAST(CAST(\"{t}\" AS DATE) AS VARCHAR) AS d \
                 FROM events WHERE \"{t}\" IS NOT NULL ORDER BY d"
            ),
        ),
        (
            "user_id",
            "SELECT CAST(user_id AS VARCHAR) AS v FROM (SELECT user_id, count(*) AS n FROM events \
             WHERE user_id IS NOT NULL GROUP BY user_id) ORDER BY n DESC, v LIMIT 1"
                .to_string(),
        ),
        (
            "country",
            "SELECT CAST(country AS VARCHAR) AS v FROM (SELECT country, count(*) AS n FROM events \
             WHERE country IS NOT NULL GROUP BY country) ORDER BY n DESC, v LIMIT 1"
                .to_string(),
        ),
    ];
    let mut values = BTreeMap::new();
    for (name, sql) in lookups {
        let needed = used
            .iter()
            .any(|u| u == name || (name == "day" && u == "next_day"));
        if !needed {
            continue;
        }
        let value = middle_value(&ctx, &sql, name == "day").await.map_err(|e| {
            LabError::Queries(format!("${{{name}}} could not be found in the data: {e}"))
        })?;
        if name == "day" {
            let day: chrono::NaiveDate = value
                .parse()
                .map_err(|e| LabError::Queries(format!("${{day}} = {value:?}: {e}")))?;
            values.insert("next_day".into(), (day + chrono::Days::new(1)).to_string());
        }
        values.insert(name.to_string(), value);
    }
    Ok(values)
}

/// The first value of the query's first column, or with `middle` its middle one.
async fn middle_value(ctx: &SessionContext, sql: &str, middle: bool) -> Result<String, String> {
    let batches = ctx
        .sql(sql)
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let mut values = Vec::new();
    for b in &batches {
        for row in 0..b.num_rows() {
            values.push(array_value_to_string(b.column(0), row).map_err(|e| e.to_string())?);
        }
    }
    let at = if middle { values.len() / 2 } else { 0 };
    values.get(at).cloned().ok_or_else(|| "no rows".to_string())
}

/// Where a layout's table is.
pub fn table_dir(out: &Path, layout: &LayoutResult) -> PathBuf {
    out.join("lake").join(&layout.table)
}
