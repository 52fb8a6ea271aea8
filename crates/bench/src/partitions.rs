//! `pipelab bench partitions`: the partition lab's query set on the lab's tables, run by
//! pipelab and by DuckDB 1.4.4 (its delta extension reading the same Delta tables) in
//! the same run; time per query as a ratio. Also checks the pruning goal: a query that
//! selects one of N date partitions reads at most 1/N of the table's bytes (plus
//! footers). Results in `bench-results/partitions.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use pipelab_lab::LabResults;
use serde::{Deserialize, Serialize};

use crate::BenchError;
use crate::results::write_results;

/// DuckDB's side, shipped inside the binary so the benchmark runs anywhere.
const DUCKDB_SIDE: &str = include_str!("../python/lab_duckdb.py");

/// The day layout and the query that selects one of its days.
const DAY_LAYOUT: &str = "day";
const ONE_DAY_QUERY: &str = "one day";

/// `pipelab bench partitions`' own options (the lab's are the caller's).
#[derive(Args)]
pub struct PeerArgs {
    /// Python with duckdb and duckdb-ext-delta (`pip install -r tests/python/requirements.txt`).
    #[arg(long, env = "PIPELAB_PYTHON", default_value = "python3")]
    python: String,
    /// Where the results file goes.
    #[arg(long, default_value = "bench-results")]
    results: PathBuf,
}

#[derive(Debug, Deserialize, Serialize)]
struct DuckDbQuery {
    median_ms: f64,
    runs_ms: Vec<f64>,
    rows: usize,
}

#[derive(Serialize)]
struct Comparison {
    layout: String,
    query: String,
    pipelab_ms: f64,
    duckdb_ms: f64,
    /// pipelab's time / DuckDB's: at most 1 meets the goal.
    ratio: f64,
    pipelab_bytes_read: u64,
    pipelab_files_read: usize,
}

#[derive(Serialize)]
struct Results<'a> {
    benchmark: &'static str,
    date: String,
    rows: u64,
    runs: usize,
    comparisons: Vec<Comparison>,
    /// Queries where pipelab took longer than DuckDB.
    slower_than_duckdb: Vec<String>,
    /// The day layout's one-day query: bytes read / table bytes, against 1/N.
    one_day_bytes_share: Option<f64>,
    one_day_goal_share: Option<f64>,
    lab: &'a LabResults,
}

/// Compare the lab's results (its tables under `lab_dir`) with DuckDB's on the same
/// tables, and write `partitions.json` under `--results`.
pub fn compare(lab: &LabResults, lab_dir: &Path, args: &PeerArgs) -> Result<(), BenchError> {
    let duckdb = duckdb_side(&args.python, lab, lab_dir)?;

    let mut comparisons = Vec::new();
    for layout in &lab.layouts {
        for q in &layout.queries {
            let theirs = duckdb
                .get(&layout.layout)
                .and_then(|l| l.get(&q.query))
                .ok_or_else(|| BenchError::failed("DuckDB's results miss a query"))?;
            if theirs.rows != q.result_rows {
                return Err(BenchError::failed(format!(
                    "{} on {}: DuckDB returned {} rows, pipelab {}: the benchmark is void",
                    q.query, layout.layout, theirs.rows, q.result_rows
                )));
            }
            comparisons.push(Comparison {
                layout: layout.layout.clone(),
                query: q.query.clone(),
                pipelab_ms: q.median_ms,
                duckdb_ms: theirs.median_ms,
                ratio: q.median_ms / theirs.median_ms.max(1e-9),
                pipelab_bytes_read: q.bytes_read,
                pipelab_files_read: q.files_scanned,
            });
        }
    }
    println!(
        "\n{:<22} {:<22} {:>11} {:>11} {:>7}",
        "layout", "query", "pipelab ms", "duckdb ms", "ratio"
    );
    for c in &comparisons {
        println!(
            "{:<22} {:<22} {:>11.1} {:>11.1} {:>7.2}",
            c.layout, c.query, c.pipelab_ms, c.duckdb_ms, c.ratio
        );
    }
    let slower: Vec<String> = comparisons
        .iter()
        .filter(|c| c.ratio > 1.0)
        .map(|c| format!("{} on {} ({:.2}x)", c.query, c.layout, c.ratio))
        .collect();
    println!(
        "ratio = pipelab's median time / DuckDB's (goal: at most 1 on every query); slower: {}",
        if slower.is_empty() {
            "none".to_string()
        } else {
            slower.join(", ")
        }
    );
    let (share, goal) = one_day_share(lab);
    if let (Some(share), Some(goal)) = (share, goal) {
        println!(
            "one day of the day layout read {:.1}% of its bytes (goal: 1/N = {:.1}% plus footers)",
            share * 100.0,
            goal * 100.0
        );
    }
    let results = Results {
        benchmark: "partition lab queries: pipelab beside DuckDB's delta extension",
        date: chrono::Utc::now().to_rfc3339(),
        rows: lab.rows,
        runs: lab.runs,
        comparisons,
        slower_than_duckdb: slower,
        one_day_bytes_share: share,
        one_day_goal_share: goal,
        lab,
    };
    write_results(&args.results, "partitions.json", &results)
}

/// The day layout's one-day query: (bytes read / table bytes, 1 / days).
fn one_day_share(lab: &LabResults) -> (Option<f64>, Option<f64>) {
    let Some(day) = lab.layouts.iter().find(|l| l.layout == DAY_LAYOUT) else {
        return (None, None);
    };
    let Some(q) = day.queries.iter().find(|q| q.query == ONE_DAY_QUERY) else {
        return (None, None);
    };
    (
        Some(q.bytes_read as f64 / day.bytes.max(1) as f64),
        Some(1.0 / day.partitions.max(1) as f64),
    )
}

type DuckDbResults = BTreeMap<String, BTreeMap<String, DuckDbQuery>>;

fn duckdb_side(python: &str, lab: &LabResults, out: &Path) -> Result<DuckDbResults, BenchError> {
    let tables: BTreeMap<&str, String> = lab
        .layouts
        .iter()
        .map(|l| {
            let dir = pipelab_lab::run::table_dir(out, l);
            (l.layout.as_str(), dir.display().to_string())
        })
        .collect();
    let job = serde_json::json!({ "tables": tables, "queries": lab.queries, "runs": lab.runs });
    crate::peer::run_python_peer(
        python,
        out,
        ("lab_duckdb.py", DUCKDB_SIDE),
        &job,
        "DuckDB's side needs Python with duckdb and duckdb-ext-delta",
    )
}
