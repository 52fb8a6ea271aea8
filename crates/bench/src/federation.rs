//! `pipelab bench federation`: federated queries over PostgreSQL, MySQL/MariaDB and the
//! lake, run by pipelab and by DuckDB 1.4.4 (its postgres, mysql and delta extensions) on
//! the same data in the same run; time per query as a ratio, and every answer compared.
//! Also measured: the rows MySQL sent for a selective join beside the rows that match and
//! the rows in the table, and rows per second from a PostgreSQL table into Python objects,
//! through `pipelab serve` and Trino's client, and through DuckDB's postgres extension.
//! Results in `bench-results/federation.json`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use clap::Args;
use pipelab_federate::QueryEngine;
use pipelab_federate::answer::{compare_values, rows_as_text};
use serde::{Deserialize, Serialize};

use crate::BenchError;
use crate::results::write_results;

const DUCKDB_SIDE: &str = include_str!("../python/federation_duckdb.py");
const TRINO_SIDE: &str = include_str!("../python/trino_stream.py");

/// Customers in PostgreSQL; each has `orders / CUSTOMERS` orders in MySQL.
const CUSTOMERS: u64 = 20_000;
/// Events in the lake; one in 500 is from Iceland (40 distinct customers).
const EVENTS: u64 = 100_000;
/// The query whose MySQL rows are counted, and the one that counts the rows that match.
const SELECTIVE: &str = "selective lake x mysql join";
const MATCHING: &str = "orders matching it";

/// The query set: the same SQL for both engines (DuckDB's lake tables are views named as
/// pipelab's default catalog names them).
const QUERIES: &[(&str, &str)] = &[
    (
        "pg filter + group",
        "SELECT tier, count(*) AS n, sum(credit) AS credit FROM pg.public.pl_bench_customers \
         WHERE signup >= DATE '2024-01-01' GROUP BY tier ORDER BY tier",
    ),
    (
        "mysql numeric filter",
        "SELECT count(*) AS n, sum(amount) AS amount FROM my.MYDB.pl_bench_orders \
         WHERE amount > 900 AND placed >= DATE '2025-06-01'",
    ),
    (
        "mysql group by text",
        "SELECT status, count(*) AS n, sum(amount) AS amount FROM my.MYDB.pl_bench_orders \
         GROUP BY status ORDER BY status",
    ),
    (
        "pg x mysql join",
        "SELECT c.tier, count(*) AS n, sum(o.amount) AS amount FROM my.MYDB.pl_bench_orders o \
         JOIN pg.public.pl_bench_customers c ON o.customer_id = c.id \
         WHERE c.region_code = 'EU' GROUP BY c.tier ORDER BY c.tier",
    ),
    (
        SELECTIVE,
        "SELECT count(*) AS n, sum(o.amount) AS amount FROM events e \
         JOIN my.MYDB.pl_bench_orders o ON o.customer_id = e.customer_id WHERE e.country = 'IS'",
    ),
    (
        MATCHING,
        "SELECT count(*) AS n FROM my.MYDB.pl_bench_orders \
         WHERE customer_id IN (SELECT customer_id FROM events WHERE country = 'IS')",
    ),
    (
        "lake x pg group",
        "SELECT c.region_code, count(*) AS n FROM events e \
         JOIN pg.public.pl_bench_customers c ON c.id = e.customer_id \
         GROUP BY c.region_code ORDER BY c.region_code",
    ),
    (
        "three sources",
        "SELECT r.name, e.kind, count(*) AS n, sum(o.amount) AS amount FROM events e \
         JOIN pg.public.pl_bench_customers c ON c.id = e.customer_id \
         JOIN my.MYDB.pl_bench_regions r ON r.code = c.region_code \
         JOIN my.MYDB.pl_bench_orders o ON o.customer_id = c.id \
         WHERE e.country = 'IS' GROUP BY r.name, e.kind ORDER BY r.name, e.kind",
    ),
    (
        "pg top 10",
        "SELECT id, name, credit FROM pg.public.pl_bench_customers \
         ORDER BY credit DESC, id LIMIT 10",
    ),
    (
        "exists in mysql",
        "SELECT count(*) AS n FROM pg.public.pl_bench_customers c WHERE EXISTS \
         (SELECT 1 FROM my.MYDB.pl_bench_orders o WHERE o.customer_id = c.id AND o.amount > 990)",
    ),
];

const STREAM_SQL: &str = "SELECT id, label, amount FROM pg.public.pl_bench_stream";

/// `pipelab bench federation`'s options.
#[derive(Args)]
pub struct FederationArgs {
    /// The PostgreSQL database the benchmark's tables are made in (pl_bench_*).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres: String,
    /// The MySQL/MariaDB database the benchmark's tables are made in (pl_bench_*).
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306/test")]
    mysql: String,
    /// Orders in MySQL.
    #[arg(long, default_value_t = 200_000)]
    orders: u64,
    /// Rows of the PostgreSQL table streamed into Python.
    #[arg(long, default_value_t = 1_000_000)]
    stream_rows: u64,
    /// Timed runs of each query on each side (after one untimed run).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Python with duckdb, duckdb-ext-postgres, -mysql, -delta and trino
    /// (`pip install -r tests/python/requirements.txt`).
    #[arg(long, env = "PIPELAB_PYTHON", default_value = "python3")]
    python: String,
    /// Where the results file goes.
    #[arg(long, default_value = "bench-results")]
    results: PathBuf,
}

#[derive(Debug, Deserialize)]
struct DuckDbSide {
    duckdb_version: String,
    queries: BTreeMap<String, DuckDbQuery>,
    stream: Streamed,
}

#[derive(Debug, Deserialize)]
struct DuckDbQuery {
    median_ms: Option<f64>,
    #[serde(default)]
    rows: Vec<Vec<serde_json::Value>>,
    error: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
struct Streamed {
    rows: u64,
    secs: f64,
}

#[derive(Serialize)]
struct Comparison {
    query: String,
    sql: String,
    pipelab_ms: f64,
    duckdb_ms: f64,
    /// pipelab's time / DuckDB's: at most 1 meets the goal.
    ratio: f64,
    rows: usize,
    /// Rows the databases sent pipelab for this query (all scans summed).
    pipelab_rows_received: u64,
}

#[derive(Serialize)]
struct Results {
    benchmark: &'static str,
    date: String,
    duckdb_version: String,
    customers: u64,
    orders: u64,
    events: u64,
    runs: usize,
    comparisons: Vec<Comparison>,
    slower_than_duckdb: Vec<String>,
    selective_join: SelectiveJoin,
    stream: StreamResult,
}

#[derive(Serialize)]
struct SelectiveJoin {
    query: &'static str,
    mysql_rows_received: u64,
    matching_rows: u64,
    table_rows: u64,
}

#[derive(Serialize)]
struct StreamResult {
    sql: &'static str,
    pipelab_serve_trino_client: Streamed,
    duckdb_postgres_extension: Streamed,
    pipelab_rows_per_sec: f64,
    duckdb_rows_per_sec: f64,
    /// pipelab's time / DuckDB's.
    ratio: f64,
}

/// Load the databases and the lake, run both sides and write `federation.json`.
pub async fn run(args: FederationArgs) -> Result<(), BenchError> {
    let work = tempfile::tempdir()?;
    let mysql_db = database_of(&args.mysql)?;
    println!(
        "loading {CUSTOMERS} customers and {} streamed rows into PostgreSQL, {} orders into MySQL, {EVENTS} events into the lake",
        args.stream_rows, args.orders
    );
    load_postgres(&args.postgres, args.stream_rows)?;
    load_mysql(&args.mysql, args.orders)?;
    let lake = work.path().join("lake");
    write_events(&lake).await?;
    let catalogs = work.path().join("catalogs.toml");
    std::fs::write(
        &catalogs,
        format!(
            "default_catalog = \"lake\"\n\n[catalogs.lake]\nkind = \"lake\"\nlocation = {:?}\n\n\
             [catalogs.pg]\nkind = \"postgres\"\nurl = {:?}\nschemas = [\"public\"]\n\n\
             [catalogs.my]\nkind = \"mysql\"\nurl = {:?}\n",
            lake.display().to_string(),
            args.postgres,
            args.mysql
        ),
    )?;
    let file = pipelab_federate::catalogs::Catalogs::load(&catalogs)
        .map_err(|e| BenchError::usage(e.to_string()))?;
    let engine = Arc::new(QueryEngine::open_catalogs(&file).await?);
    let queries: Vec<(&str, String)> = QUERIES
        .iter()
        .map(|(name, sql)| (*name, sql.replace("MYDB", &mysql_db)))
        .collect();

    let mut ours = Vec::new();
    for (name, sql) in &queries {
        let measured = time_query(&engine, sql, args.runs).await?;
        println!("pipelab  {name:<28} {:>9.1} ms", measured.median_ms);
        ours.push(measured);
    }
    let stream_ours = stream_through_serve(&engine, &args.python, work.path()).await?;
    let theirs = duckdb_side(&args, &lake, &queries, work.path())?;

    let mut comparisons = Vec::new();
    for ((name, sql), measured) in queries.iter().zip(&ours) {
        let duck = theirs.queries.get(*name).ok_or_else(|| {
            BenchError::failed(format!("DuckDB's results miss the query {name:?}"))
        })?;
        if let Some(error) = &duck.error {
            return Err(BenchError::failed(format!(
                "DuckDB failed on {name:?}: {error}"
            )));
        }
        same_answer(name, &measured.rows, &duck.rows)?;
        let duckdb_ms = duck.median_ms.unwrap_or(f64::NAN);
        comparisons.push(Comparison {
            query: name.to_string(),
            sql: sql.clone(),
            pipelab_ms: measured.median_ms,
            duckdb_ms,
            ratio: measured.median_ms / duckdb_ms.max(1e-9),
            rows: measured.rows.len(),
            pipelab_rows_received: measured.rows_received,
        });
    }
    let results = report(&args, &theirs, comparisons, &ours, stream_ours)?;
    write_results(&args.results, "federation.json", &results)
}

/// Print the table and gather the results file's contents.
fn report(
    args: &FederationArgs,
    theirs: &DuckDbSide,
    comparisons: Vec<Comparison>,
    ours: &[Measured],
    stream_ours: Streamed,
) -> Result<Results, BenchError> {
    println!(
        "\n{:<28} {:>11} {:>11} {:>7} {:>14}",
        "query", "pipelab ms", "duckdb ms", "ratio", "rows received"
    );
    for c in &comparisons {
        println!(
            "{:<28} {:>11.1} {:>11.1} {:>7.2} {:>14}",
            c.query, c.pipelab_ms, c.duckdb_ms, c.ratio, c.pipelab_rows_received
        );
    }
    let slower: Vec<String> = comparisons
        .iter()
        .filter(|c| c.ratio > 1.0)
        .map(|c| format!("{} ({:.2}x)", c.query, c.ratio))
        .collect();
    println!(
        "ratio = pipelab's median time / DuckDB's (goal: at most 1 on every query); answers \
         equal on all {}; slower: {}",
        comparisons.len(),
        if slower.is_empty() {
            "none".into()
        } else {
            slower.join(", ")
        }
    );
    let position = |name: &str| QUERIES.iter().position(|(n, _)| *n == name).unwrap_or(0);
    let matching = ours[position(MATCHING)]
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let selective = SelectiveJoin {
        query: SELECTIVE,
        mysql_rows_received: ours[position(SELECTIVE)].rows_received,
        matching_rows: matching,
        table_rows: args.orders,
    };
    println!(
        "{SELECTIVE}: MySQL sent {} rows; {} match, the table holds {} (goal: the matching rows only)",
        selective.mysql_rows_received, selective.matching_rows, selective.table_rows
    );
    let rate = |s: &Streamed| s.rows as f64 / s.secs.max(1e-9);
    let stream = StreamResult {
        sql: STREAM_SQL,
        pipelab_serve_trino_client: stream_ours,
        duckdb_postgres_extension: theirs.stream,
        pipelab_rows_per_sec: rate(&stream_ours),
        duckdb_rows_per_sec: rate(&theirs.stream),
        ratio: stream_ours.secs / theirs.stream.secs.max(1e-9),
    };
    println!(
        "{} rows of PostgreSQL into Python: pipelab serve + trino client {:.0} rows/s, DuckDB's \
         postgres extension {:.0} rows/s (time ratio {:.2})",
        stream_ours.rows, stream.pipelab_rows_per_sec, stream.duckdb_rows_per_sec, stream.ratio
    );
    Ok(Results {
        benchmark: "federated queries: pipelab beside DuckDB's postgres, mysql and delta extensions",
        date: chrono::Utc::now().to_rfc3339(),
        duckdb_version: theirs.duckdb_version.clone(),
        customers: CUSTOMERS,
        orders: args.orders,
        events: EVENTS,
        runs: args.runs,
        comparisons,
        slower_than_duckdb: slower,
        selective_join: selective,
        stream,
    })
}

/// The database named by a URL's path (`mysql://…/test` → `test`).
fn database_of(url: &str) -> Result<String, BenchError> {
    url::Url::parse(url)
        .ok()
        .map(|u| u.path().trim_start_matches('/').to_string())
        .filter(|db| !db.is_empty())
        .ok_or_else(|| BenchError::usage(format!("{url}: no database in the URL's path")))
}

/// Run SQL through a database's own client (`psql`, `mariadb`): the tables are made
/// where the data is, by the server, in seconds.
fn run_client(mut cmd: Command, sql: &str, what: &str) -> Result<(), BenchError> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BenchError::failed(format!("{what}: {e} (is its client installed?)")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(sql.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(BenchError::failed(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn load_postgres(url: &str, stream_rows: u64) -> Result<(), BenchError> {
    let sql = format!(
        "\\set ON_ERROR_STOP on
DROP TABLE IF EXISTS pl_bench_customers, pl_bench_stream;
CREATE TABLE pl_bench_customers AS
SELECT g::bigint AS id, 'Customer ' || g AS name,
       (ARRAY['EU','US','APAC','LATAM'])[1 + g % 4] AS region_code, (g % 5)::int AS tier,
       CAST(((g * 7919) % 100000) / 100.0 AS numeric(12,2)) AS credit,
       DATE '2023-01-01' + ((g * 37) % 1000)::int AS signup
FROM generate_series(1, {CUSTOMERS}) g;
ALTER TABLE pl_bench_customers ADD PRIMARY KEY (id);
CREATE TABLE pl_bench_stream AS
SELECT g::bigint AS id, md5(g::text) AS label, CAST(g % 100000 / 100.0 AS numeric(10,2)) AS amount
FROM generate_series(1, {stream_rows}) g;
ANALYZE pl_bench_customers;
ANALYZE pl_bench_stream;
"
    );
    let mut psql = Command::new("psql");
    psql.args(["-q", "-X", url]);
    run_client(psql, &sql, "psql")
}

fn load_mysql(url: &str, orders: u64) -> Result<(), BenchError> {
    let parsed = url::Url::parse(url).map_err(|e| BenchError::usage(format!("{url}: {e}")))?;
    let mut mariadb = Command::new("mariadb");
    mariadb
        .arg(format!(
            "--host={}",
            parsed.host_str().unwrap_or("127.0.0.1")
        ))
        .arg(format!("--port={}", parsed.port().unwrap_or(3306)))
        .arg(format!("--user={}", parsed.username()))
        .arg(database_of(url)?);
    if let Some(password) = parsed.password() {
        mariadb.env("MYSQL_PWD", password);
    }
    // Numbers from a digits table crossed with itself: MySQL and MariaDB alike.
    let digits = (0..6)
        .map(|i| format!("pl_bench_digits d{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let number = (0..6)
        .map(|i| format!("d{i}.d * {}", 10u64.pow(i)))
        .collect::<Vec<_>>()
        .join(" + ");
    let sql = format!(
        "DROP TABLE IF EXISTS pl_bench_orders, pl_bench_regions, pl_bench_digits;
CREATE TABLE pl_bench_digits (d INT PRIMARY KEY);
INSERT INTO pl_bench_digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9);
CREATE TABLE pl_bench_orders (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL,
  amount DECIMAL(12,2) NOT NULL, status VARCHAR(10) NOT NULL, placed DATE NOT NULL,
  KEY (customer_id));
INSERT INTO pl_bench_orders
SELECT n, 1 + (n * 31) % {CUSTOMERS}, ((n * 7907) % 100000) / 100,
       ELT(1 + n % 3, 'paid', 'open', 'refunded'),
       DATE_ADD('2024-01-01', INTERVAL (n * 13) % 730 DAY)
FROM (SELECT {number} + 1 AS n FROM {digits}) numbers WHERE n <= {orders};
CREATE TABLE pl_bench_regions (code VARCHAR(8) PRIMARY KEY, name VARCHAR(40));
INSERT INTO pl_bench_regions VALUES ('EU','Europe'),('US','United States'),
  ('APAC','Asia Pacific'),('LATAM','Latin America');
ANALYZE TABLE pl_bench_orders;
DROP TABLE pl_bench_digits;
"
    );
    run_client(mariadb, &sql, "mariadb")
}

/// The lake's events table, written by pipelab.
async fn write_events(lake: &Path) -> Result<(), BenchError> {
    let ctx = datafusion::prelude::SessionContext::new();
    let batches = ctx
        .sql(&format!(
            "SELECT value AS event_id, 1 + (value * 17) % {CUSTOMERS} AS customer_id, \
             CASE WHEN value % 500 = 0 THEN 'IS' WHEN value % 3 = 0 THEN 'DE' \
                  WHEN value % 3 = 1 THEN 'FR' ELSE 'US' END AS country, \
             CASE value % 4 WHEN 0 THEN 'view' WHEN 1 THEN 'click' WHEN 2 THEN 'cart' \
                  ELSE 'buy' END AS kind \
             FROM range({EVENTS})"
        ))
        .await
        .map_err(BenchError::failed)?
        .collect()
        .await
        .map_err(BenchError::failed)?;
    let location = pipelab_lake::LakeLocation::parse(
        &lake.display().to_string(),
        std::collections::HashMap::new(),
    )?;
    let spec = pipelab_lake::TableSpec {
        name: "events".into(),
        ..Default::default()
    };
    let schema = batches
        .first()
        .map(RecordBatch::schema)
        .ok_or_else(|| BenchError::failed("no events were made"))?;
    let mut table = pipelab_lake::LakeTable::open_or_create(&location, &spec, schema).await?;
    table.append(batches, &[]).await?;
    Ok(())
}

/// One query's runs on pipelab's side.
struct Measured {
    median_ms: f64,
    /// The answer, each value as text.
    rows: Vec<Vec<String>>,
    rows_received: u64,
}

async fn time_query(engine: &QueryEngine, sql: &str, runs: usize) -> Result<Measured, BenchError> {
    let run = || async {
        let df = engine.context().sql(sql).await?;
        let task = Arc::new(df.task_ctx());
        let plan = df.create_physical_plan().await?;
        let batches = datafusion::physical_plan::collect(Arc::clone(&plan), task).await?;
        Ok::<_, datafusion::error::DataFusionError>((
            batches,
            pipelab_federate::source_metrics::rows_received(&plan),
        ))
    };
    let (batches, rows_received) = run()
        .await
        .map_err(|e| BenchError::failed(format!("pipelab failed on {sql}: {e}")))?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        run().await.map_err(BenchError::failed)?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(Measured {
        median_ms: times.get(times.len() / 2).copied().unwrap_or(f64::NAN),
        rows: rows_as_text(&batches, "NULL")?,
        rows_received,
    })
}

/// The two answers are the same: row by row (every query orders its rows or has one),
/// numbers equal to 1e-9 relative (a decimal and a double of the same sum).
fn same_answer(
    name: &str,
    ours: &[Vec<String>],
    theirs: &[Vec<serde_json::Value>],
) -> Result<(), BenchError> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "NULL".to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let same_value = |a: &str, b: &str| compare_values(a, b).is_eq();
    let equal = ours.len() == theirs.len()
        && ours.iter().zip(theirs).all(|(a, b)| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, &text(y)))
        });
    if equal {
        Ok(())
    } else {
        Err(BenchError::failed(format!(
            "{name}: pipelab and DuckDB answer differently, the benchmark is void\n  pipelab: {ours:?}\n  DuckDB:  {theirs:?}"
        )))
    }
}

/// Serve the engine on a loopback port and read the stream query's result with Trino's
/// Python client.
async fn stream_through_serve(
    engine: &Arc<QueryEngine>,
    python: &str,
    work: &Path,
) -> Result<Streamed, BenchError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(pipelab_serve::serve(
        Arc::clone(engine),
        listener,
        pipelab_serve::ServeOptions::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let script = work.join("trino_stream.py");
    std::fs::write(&script, TRINO_SIDE)?;
    let python = python.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(&script)
            .arg(port.to_string())
            .arg(STREAM_SQL)
            .stderr(Stdio::inherit())
            .output()
    })
    .await
    .map_err(BenchError::failed)??;
    let _ = stop.send(());
    let _ = server.await;
    if !out.status.success() {
        return Err(BenchError::failed(format!(
            "the trino client's side failed ({}; it needs the PyPI package trino)",
            out.status
        )));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn duckdb_side(
    args: &FederationArgs,
    lake: &Path,
    queries: &[(&str, String)],
    work: &Path,
) -> Result<DuckDbSide, BenchError> {
    let job = serde_json::json!({
        "postgres": args.postgres,
        "mysql": args.mysql,
        "delta_tables": { "events": lake.join("events").display().to_string() },
        "runs": args.runs,
        "queries": queries.iter().map(|(name, sql)| serde_json::json!({"name": name, "sql": sql})).collect::<Vec<_>>(),
        "stream": { "sql": STREAM_SQL },
    });
    crate::peer::run_python_peer(
        &args.python,
        work,
        ("federation_duckdb.py", DUCKDB_SIDE),
        &job,
        "DuckDB's side needs Python with duckdb and duckdb-ext-postgres, -mysql, -delta",
    )
}
