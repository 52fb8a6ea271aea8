//! `pipelab lake` (the catalog from the Delta logs) and `pipelab query --as-of` (time
//! travel), on a table several pipeline runs wrote.

use serde_json::Value;

use crate::common::*;

/// The rows `pipelab ARGS --format json` prints, one JSON object per line.
fn json_rows(args: &[&str]) -> Vec<Value> {
    let out = run_ok(pipelab(None).args(args).args(["--format", "json"]));
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `pipelab query --lake LAKE --format csv --as-of AT SQL`.
fn query_as_of(lake: &str, at: &str, sql: &str) -> std::process::Command {
    let mut cmd = pipelab(None);
    cmd.args([
        "query", "--lake", lake, "--format", "csv", "--as-of", at, sql,
    ]);
    cmd
}

fn count_as_of(lake: &str, at: &str) -> i64 {
    let out = run_ok(&mut query_as_of(lake, at, "SELECT count(*) FROM visits"));
    out.lines().nth(1).unwrap().parse().unwrap()
}

/// The embedded stack with topic `name` (one partition), a local lake under `dir` and a
/// spec reading the topic into table `name` in batches of `flush_rows`.
async fn one_table(
    dir: &std::path::Path,
    name: &str,
    flush_rows: usize,
) -> (
    pipelab_devstack::DevStack,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let stack = start_stack(&dir.join("stack")).await;
    stack.create_topic(name, 1).await.unwrap();
    let lake_dir = dir.join("lake");
    let lake = lake_dir.display().to_string();
    let spec = write_spec(dir, name, &stack.kafka_bootstrap(), name, &lake, flush_rows);
    (stack, lake_dir, spec)
}

fn records(from: u32, to: u32, extra: &str) -> Vec<(String, Vec<u8>)> {
    (from..to)
        .map(|i| {
            let day = 21 + i % 3;
            let json = format!(r#"{{"id":{i},"ts":"2026-11-{day}T10:00:00Z"{extra}}}"#);
            (i.to_string(), json.into_bytes())
        })
        .collect()
}

/// Three runs write 300, 0 and 100 records (the last with a new column): the catalog
/// lists the table, its partitions, every commit with its offsets and rows, and the
/// schema's change; each version, and each commit's time, reads back that version's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_lists_history_and_time_travel_reads_each_version() {
    let dir = tempfile::tempdir().unwrap();
    let (stack, lake_dir, spec) = one_table(dir.path(), "visits", 100).await;
    let lake = lake_dir.display().to_string();
    produce_raw(&stack, "visits", records(0, 300, "")).await;
    run_until_idle(&stack, &spec);
    produce_raw(&stack, "visits", records(300, 400, r#","price":1.5"#)).await;
    run_until_idle(&stack, &spec);

    let tables = json_rows(&["lake", "tables", "--lake", &lake]);
    assert_eq!(tables.len(), 1, "{tables:?}");
    assert_eq!(tables[0]["table"], "visits");
    assert_eq!(tables[0]["rows"], 400);
    assert_eq!(tables[0]["partition_by"], "dt");

    let partitions = json_rows(&["lake", "partitions", "visits", "--lake", &lake]);
    let names: Vec<&str> = partitions
        .iter()
        .map(|p| p["partition"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dt=2026-11-21", "dt=2026-11-22", "dt=2026-11-23"]);
    let rows: Vec<u64> = partitions
        .iter()
        .map(|p| p["rows"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, [134, 133, 133]);

    // Newest first; every commit of the runs records the partition's next offset.
    let history = json_rows(&["lake", "history", "visits", "--lake", &lake]);
    let versions: Vec<u64> = history
        .iter()
        .map(|c| c["version"].as_u64().unwrap())
        .collect();
    let latest = versions[0];
    assert_eq!(versions, (0..=latest).rev().collect::<Vec<_>>());
    let added: u64 = history
        .iter()
        .map(|c| c["rows_added"].as_u64().unwrap())
        .sum();
    assert_eq!(added, 400);
    assert_eq!(
        history[0]["txn"], "pipelab/visits/visits/0=400",
        "{:?}",
        history[0]
    );
    let appends: Vec<&Value> = history
        .iter()
        .filter(|c| c["rows_added"].as_u64() > Some(0))
        .collect();
    assert!(appends.len() >= 4, "100-row batches: {history:?}");
    assert!(appends.iter().all(|c| {
        c["txn"]
            .as_str()
            .is_some_and(|t| t.starts_with("pipelab/visits/visits/0="))
    }));
    let limited = json_rows(&["lake", "history", "visits", "--lake", &lake, "--limit", "2"]);
    assert_eq!(limited, history[..2]);

    let schemas = json_rows(&["lake", "schema-history", "visits", "--lake", &lake]);
    assert_eq!(schemas.len(), 2, "{schemas:?}");
    let created = schemas[0]["change"].as_str().unwrap();
    assert!(
        created.starts_with("created: id long, ts string, dt string")
            && created.ends_with("partitioned by dt"),
        "{created}"
    );
    assert_eq!(schemas[1]["change"], "added price double");

    let columns = json_rows(&["lake", "describe", "visits", "--lake", &lake]);
    let price = columns.iter().find(|c| c["column"] == "price").unwrap();
    assert_eq!(price["type"], "double");
    let dt = columns.iter().find(|c| c["column"] == "dt").unwrap();
    assert_eq!(dt["partition"], true);
    let version = columns.iter().find(|p| p["property"] == "version").unwrap();
    assert_eq!(version["value"], latest.to_string());

    // Each version, and each commit's own time, reads that version's rows.
    let mut cumulative = 0;
    for commit in history.iter().rev() {
        cumulative += commit["rows_added"].as_u64().unwrap() as i64;
        let version = commit["version"].to_string();
        assert_eq!(
            count_as_of(&lake, &version),
            cumulative,
            "version {version}"
        );
        let time = commit["time"].as_str().unwrap();
        // Commits of one run can share a millisecond: the newest of them is read.
        let same_time: i64 = history
            .iter()
            .filter(|c| {
                c["time"] == commit["time"] && c["version"].as_u64() > commit["version"].as_u64()
            })
            .map(|c| c["rows_added"].as_u64().unwrap() as i64)
            .sum();
        assert_eq!(
            count_as_of(&lake, time),
            cumulative + same_time,
            "time {time}"
        );
    }

    // Before the table existed it is left out, and said so.
    let out = output(&mut query_as_of(
        &lake,
        "2000-01-01",
        "SELECT count(*) FROM visits",
    ));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not yet created: visits"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_user_error(out, &["visits", "not found"]);
    let beyond = (latest + 1).to_string();
    assert_user_error(
        output(&mut query_as_of(
            &lake,
            &beyond,
            "SELECT count(*) FROM visits",
        )),
        &["not yet created: visits"],
    );
    assert_user_error(
        output(&mut query_as_of(&lake, "soon", "SELECT 1")),
        &["soon", "neither a version"],
    );
    assert_user_error(
        output(pipelab(None).args(["lake", "describe", "nope", "--lake", &lake])),
        &["nope", "no Delta table"],
    );
    views_are_kept_in_the_lake(&lake);
}

/// A view created in one `pipelab query` is there in the next (kept in the lake), stays
/// out of the table listing, answers over the current data and is gone after DROP VIEW;
/// a view that does not plan is refused and not kept.
fn views_are_kept_in_the_lake(lake: &str) {
    let query = |sql: &str| query_csv(None, lake, sql);
    query("CREATE VIEW daily AS SELECT dt, count(*) AS n FROM visits GROUP BY dt");
    assert_eq!(
        query("SELECT dt, n FROM daily ORDER BY dt"),
        [
            ["2026-11-21", "134"],
            ["2026-11-22", "133"],
            ["2026-11-23", "133"]
        ]
    );
    query("CREATE VIEW busiest AS SELECT dt FROM daily ORDER BY n DESC, dt LIMIT 1");
    assert_eq!(query("SELECT * FROM busiest"), [["2026-11-21"]]);
    let tables = json_rows(&["lake", "tables", "--lake", lake]);
    assert_eq!(tables.len(), 1, "{tables:?}");
    assert_user_error(
        output(pipelab(None).args([
            "query",
            "--lake",
            lake,
            "CREATE VIEW bad AS SELECT nope FROM visits",
        ])),
        &["nope"],
    );
    assert_user_error(
        output(pipelab(None).args(["query", "--lake", lake, "SELECT * FROM bad"])),
        &["bad", "not found"],
    );
    query("DROP VIEW busiest");
    assert_user_error(
        output(pipelab(None).args(["query", "--lake", lake, "SELECT * FROM busiest"])),
        &["busiest", "not found"],
    );
    assert_eq!(query("SELECT sum(n) FROM daily"), [["400"]]);
}

/// Python's duckdb, which the layout and vacuum checks read the files with.
fn duckdb_present() -> bool {
    require(
        "python duckdb",
        python_has(&["duckdb"]),
        "pip install -r tests/python/requirements.txt",
    )
}

/// Rows and files DuckDB's `read_parquet` finds under the table's directory (every file
/// there, committed or not).
fn parquet_on_disk(table_dir: &std::path::Path) -> (u64, u64) {
    let report = json_of(
        std::process::Command::new(python())
            .arg(script("count_parquet.py"))
            .arg(table_dir),
    );
    (
        report["files"].as_u64().unwrap(),
        report["rows"].as_u64().unwrap(),
    )
}

/// Compaction rewrites many small files as one per partition in one commit while a
/// reader loop sees only whole snapshots; a second compaction runs beside a pipeline
/// appending to the same table, and no record or `txn` is lost. Vacuum then deletes the
/// files compaction removed and those of a write killed before its commit: DuckDB's
/// `read_parquet` over the directory afterwards counts exactly the table's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_and_vacuum_lose_nothing_and_leave_no_stray_file() {
    if !duckdb_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (stack, lake_dir, spec) = one_table(dir.path(), "small", 50).await;
    let lake = lake_dir.display().to_string();
    let table_dir = lake_dir.join("small");
    produce_raw(&stack, "small", records(0, 600, "")).await;
    run_until_idle(&stack, &spec);
    let files = |lake: &str| -> u64 {
        json_rows(&["lake", "partitions", "small", "--lake", lake])
            .iter()
            .map(|p| p["files"].as_u64().unwrap())
            .sum()
    };
    let small_files = files(&lake);
    assert!(small_files >= 30, "{small_files} files");

    // A write killed between its Parquet files and its commit leaves orphans.
    produce_raw(&stack, "small", records(600, 700, "")).await;
    let out = run_until_failpoint(&stack, &spec, "lake-before-commit");
    assert!(!out.status.success(), "the fail point did not fire");
    assert_eq!(rows_and_distinct(None, &lake, "small", "id"), (600, 600));
    let (disk_files, disk_rows) = parquet_on_disk(&table_dir);
    assert!(
        disk_files > small_files && disk_rows > 600,
        "no orphan: {disk_files} files"
    );

    // Compaction with a reader loop: every read is one snapshot's count.
    let reading = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let reader = {
        let (reading, lake) = (reading.clone(), lake.clone());
        std::thread::spawn(move || {
            let mut counts = Vec::new();
            while reading.load(std::sync::atomic::Ordering::Relaxed) || counts.is_empty() {
                counts.push(rows_and_distinct(None, &lake, "small", "id"));
            }
            counts
        })
    };
    let compacted = run_ok(pipelab(None).args(["lake", "compact", "small", "--lake", &lake]));
    reading.store(false, std::sync::atomic::Ordering::Relaxed);
    let counts = reader.join().unwrap();
    assert!(counts.iter().all(|&c| c == (600, 600)), "{counts:?}");
    eprintln!(
        "{} reads during compaction; {small_files} small files, {disk_files} on disk",
        counts.len()
    );
    assert!(compacted.contains("rewritten as 3"), "{compacted}");
    assert_eq!(files(&lake), 3);
    let history = json_rows(&["lake", "history", "small", "--lake", &lake, "--limit", "1"]);
    assert_eq!(history[0]["operation"], "OPTIMIZE");
    assert_eq!(history[0]["files_removed"].as_u64(), Some(small_files));

    // A compaction beside a pipeline appending to the same table (the orphans' records
    // and 200 more): every record once, the offsets at the end of the topic.
    produce_raw(&stack, "small", records(700, 900, "")).await;
    let pipeline = pipelab(Some(&stack))
        .args(["run", "--quiet", "--until-idle"])
        .arg(&spec)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while rows_and_distinct(None, &lake, "small", "id").0 == 600 {
        assert!(
            started.elapsed().as_secs() < 60,
            "the pipeline stored nothing"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    run_ok(pipelab(None).args([
        "lake",
        "compact",
        "small",
        "--lake",
        &lake,
        "--where",
        "dt >= '2026-11-22'",
    ]));
    let out = pipeline.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rows_and_distinct(None, &lake, "small", "id"), (900, 900));
    let history = json_rows(&["lake", "history", "small", "--lake", &lake]);
    let last_txn = history
        .iter()
        .find(|c| c["txn"] != "")
        .map(|c| c["txn"].clone());
    assert_eq!(last_txn, Some("pipelab/small/small/0=900".into()));

    // Vacuum: below the table's 7-day minimum only with --force; a dry run deletes nothing.
    assert_user_error(
        output(pipelab(None).args(["lake", "vacuum", "small", "--lake", &lake, "--retain", "0"])),
        &["--force", "168 h"],
    );
    let on_disk = parquet_on_disk(&table_dir);
    let dry = run_ok(pipelab(None).args([
        "lake",
        "vacuum",
        "small",
        "--lake",
        &lake,
        "--retain",
        "0",
        "--force",
        "--dry-run",
    ]));
    assert!(dry.contains("would delete"), "{dry}");
    assert_eq!(parquet_on_disk(&table_dir), on_disk);
    let done = run_ok(pipelab(None).args([
        "lake", "vacuum", "small", "--lake", &lake, "--retain", "0", "--force",
    ]));
    assert!(done.contains("deleted"), "{done}");
    eprintln!(
        "{compacted}{}\n{}",
        dry.lines().last().unwrap_or(""),
        done.lines().last().unwrap_or("")
    );
    let (files_left, rows_left) = parquet_on_disk(&table_dir);
    assert_eq!(rows_left, 900, "{done}");
    assert_eq!(files_left, files(&lake), "{done}");
    assert_eq!(rows_and_distinct(None, &lake, "small", "id"), (900, 900));

    // Z-ordering rewrites each partition sorted along the columns; filters must name
    // partition columns.
    let zordered = run_ok(pipelab(None).args([
        "lake", "compact", "small", "--lake", &lake, "--zorder", "id",
    ]));
    assert!(zordered.contains("rewritten as"), "{zordered}");
    let history = json_rows(&["lake", "history", "small", "--lake", &lake, "--limit", "1"]);
    assert_eq!(history[0]["operation"], "OPTIMIZE");
    assert_eq!(rows_and_distinct(None, &lake, "small", "id"), (900, 900));
    assert_user_error(
        output(pipelab(None).args([
            "lake", "compact", "small", "--lake", &lake, "--where", "id = 3",
        ])),
        &["\"id\" is not a partition column", "[dt]"],
    );
    assert_user_error(
        output(pipelab(None).args(["lake", "compact", "small", "--lake", &lake, "--where", "dt"])),
        &["not a partition filter"],
    );

    verify_finds_each_kind_of_damage(&lake, &table_dir);
}

/// `lake verify` passes a sound table, then names a deleted file, a truncated one, one
/// whose footer has a flipped byte and a stray copy, and exits 3.
fn verify_finds_each_kind_of_damage(lake: &str, table_dir: &std::path::Path) {
    // The files z-ordering replaced go first: then the directory holds only live files.
    run_ok(pipelab(None).args([
        "lake", "vacuum", "small", "--lake", lake, "--retain", "0", "--force",
    ]));
    let sound = run_ok(pipelab(None).args(["lake", "verify", "small", "--lake", lake, "--deep"]));
    assert!(sound.contains("no problem found"), "{sound}");
    let mut files = parquet_files(table_dir);
    files.sort();
    let [deleted, flipped, truncated] = &files[..] else {
        panic!("expected one file per partition: {files:?}");
    };
    let stray = truncated.with_file_name("copy-of-a-file.parquet");
    std::fs::copy(truncated, &stray).unwrap();
    std::fs::remove_file(deleted).unwrap();
    let mut bytes = std::fs::read(flipped).unwrap();
    let footer_length = bytes.len() - 8; // the 4-byte footer length before "PAR1"
    bytes[footer_length] ^= 0x55;
    std::fs::write(flipped, bytes).unwrap();
    let length = std::fs::metadata(truncated).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(truncated)
        .unwrap()
        .set_len(length - 100)
        .unwrap();

    let out =
        output(pipelab(None).args(["lake", "verify", "small", "--lake", lake, "--format", "csv"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    let name = |p: &std::path::Path| p.file_name().unwrap().to_string_lossy().into_owned();
    for (problem, file) in [
        ("missing", name(deleted)),
        ("footer", name(flipped)),
        ("size", name(truncated)),
        ("stray", name(&stray)),
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("{problem},")) && l.contains(&file)),
            "no {problem} finding for {file}:\n{stdout}"
        );
    }
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("4 problem(s) found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Parquet files under `dir`, at any depth.
fn parquet_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(parquet_files(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            found.push(path);
        }
    }
    found
}

/// The layout DuckDB sees in the Parquet files under `dir` (see parquet_layout.py).
fn parquet_layout(dir: &std::path::Path, sort_column: &str) -> Value {
    json_of(
        std::process::Command::new(python())
            .arg(script("parquet_layout.py"))
            .arg(dir)
            .arg(sort_column),
    )
}

/// `[sink.layout]` decides the files' codec, row groups, statistics, bloom filters and
/// sort order, as DuckDB reads them back; the default is Snappy with statistics. A codec
/// pipelab does not know, or a layout naming a column the data lacks, exits 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_layout_shapes_the_parquet_files() {
    if !duckdb_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(&dir.path().join("stack")).await;
    let lake_dir = dir.path().join("lake");
    let lake = lake_dir.display().to_string();
    // Ids arrive out of order; 20 users.
    let shuffled: Vec<(String, Vec<u8>)> = (0..600u32)
        .map(|i| {
            let id = (i * 7) % 600;
            let json = format!(
                r#"{{"id":{id},"user":"u{}","ts":"2026-11-2{}T10:00:00Z"}}"#,
                id % 20,
                1 + id % 3
            );
            (id.to_string(), json.into_bytes())
        })
        .collect();
    let table = |name: &str, layout: &str| {
        let spec = write_spec(
            dir.path(),
            name,
            &stack.kafka_bootstrap(),
            name,
            &lake,
            10_000,
        );
        let text = std::fs::read_to_string(&spec).unwrap() + layout;
        std::fs::write(&spec, text).unwrap();
        spec
    };

    stack.create_topic("plain", 1).await.unwrap();
    produce_raw(&stack, "plain", shuffled.clone()).await;
    run_until_idle(&stack, &table("plain", ""));
    let plain = parquet_layout(&lake_dir.join("plain"), "id");
    assert_eq!(
        plain["compression"],
        serde_json::json!(["SNAPPY"]),
        "{plain}"
    );
    assert_eq!(
        plain["columns_with_stats"],
        serde_json::json!(["id", "ts", "user"])
    );
    assert_eq!(plain["columns_with_bloom_filter"], serde_json::json!([]));

    stack.create_topic("shaped", 1).await.unwrap();
    produce_raw(&stack, "shaped", shuffled).await;
    let shaped_spec = table(
        "shaped",
        "[sink.layout]\ncompression = \"gzip(9)\"\nrow_group_rows = 50\n\
         statistics = \"none\"\nbloom_filter = [\"user\"]\nsort_by = [\"id\"]\n",
    );
    run_until_idle(&stack, &shaped_spec);
    let shaped = parquet_layout(&lake_dir.join("shaped"), "id");
    assert_eq!(shaped["files"], 3, "{shaped}");
    assert_eq!(
        shaped["compression"],
        serde_json::json!(["GZIP"]),
        "{shaped}"
    );
    assert_eq!(shaped["max_row_group_rows"], 50, "{shaped}");
    assert_eq!(shaped["row_groups"], 12, "{shaped}"); // 200 rows per file
    assert_eq!(
        shaped["columns_with_stats"],
        serde_json::json!([]),
        "{shaped}"
    );
    assert_eq!(
        shaped["columns_with_bloom_filter"],
        serde_json::json!(["user"]),
        "{shaped}"
    );
    assert_eq!(shaped["sorted_files"], 3, "{shaped}");
    let rows = query_csv(
        None,
        &lake,
        "SELECT count(*), count(DISTINCT id) FROM shaped",
    );
    assert_eq!(rows, [["600", "600"]]);

    // zstd, and a small target file size starts new files within one partition.
    stack.create_topic("split", 1).await.unwrap();
    let one_day: Vec<(String, Vec<u8>)> = (0..5_000u32)
        .map(|i| {
            let json = format!(r#"{{"id":{i},"ts":"2026-11-21T10:00:00Z"}}"#);
            (i.to_string(), json.into_bytes())
        })
        .collect();
    produce_raw(&stack, "split", one_day).await;
    run_until_idle(
        &stack,
        &table(
            "split",
            "[sink.layout]\ncompression = \"zstd(3)\"\ntarget_file_bytes = 4096\n",
        ),
    );
    let split = parquet_layout(&lake_dir.join("split"), "id");
    assert!(split["files"].as_u64() > Some(1), "{split}");
    assert_eq!(split["compression"], serde_json::json!(["ZSTD"]), "{split}");
    let rows = query_csv(
        None,
        &lake,
        "SELECT count(*), count(DISTINCT id) FROM split",
    );
    assert_eq!(rows, [["5000", "5000"]]);

    let unknown_codec = table("codec", "[sink.layout]\ncompression = \"brotli9\"\n");
    assert_user_error(
        output(
            pipelab(Some(&stack))
                .args(["run", "--until-idle"])
                .arg(&unknown_codec),
        ),
        &["codec.toml", "unknown compression", "brotli9"],
    );
    stack.create_topic("nocol", 1).await.unwrap();
    produce_raw(&stack, "nocol", records(0, 10, "")).await;
    let no_column = table("nocol", "[sink.layout]\nsort_by = [\"nope\"]\n");
    assert_user_error(
        output(
            pipelab(Some(&stack))
                .args(["run", "--until-idle"])
                .arg(&no_column),
        ),
        &["sort_by / bloom_filter", "nope"],
    );
}

/// Table properties from the spec reach the table; Delta checkpoints at the interval they
/// set; `lake set` changes them in a commit and `lake checkpoint` with a short log
/// retention removes the old log entries: history then starts at the checkpoint, an
/// older version is named as no longer kept, and the current data is whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_properties_checkpoints_and_log_retention() {
    let dir = tempfile::tempdir().unwrap();
    let (stack, lake_dir, spec) = one_table(dir.path(), "props", 10).await;
    let lake = lake_dir.display().to_string();
    let text = std::fs::read_to_string(&spec).unwrap()
        + "[sink.table_properties]\n\"delta.checkpointInterval\" = \"5\"\n\"pipelab.owner\" = \"data-team\"\n";
    std::fs::write(&spec, text).unwrap();
    produce_raw(&stack, "props", records(0, 120, "")).await;
    run_until_idle(&stack, &spec);

    let described = json_rows(&["lake", "describe", "props", "--lake", &lake]);
    let property = |rows: &[Value], key: &str| {
        rows.iter()
            .find(|p| p["property"] == key)
            .map(|p| p["value"].clone())
    };
    assert_eq!(
        property(&described, "delta.checkpointInterval"),
        Some("5".into())
    );
    assert_eq!(
        property(&described, "pipelab.owner"),
        Some("data-team".into())
    );
    let log = lake_dir.join("props").join("_delta_log");
    // deltalake checkpoints the version after every 5th commit (4, 9, ...).
    let checkpoints = std::fs::read_dir(&log)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".checkpoint.parquet")
        })
        .count();
    assert!(checkpoints >= 2, "{checkpoints} checkpoints in {log:?}");
    let latest =
        json_rows(&["lake", "history", "props", "--lake", &lake, "--limit", "1"])[0]["version"]
            .as_u64()
            .unwrap();
    assert!(latest >= 12, "{latest}");

    let set = run_ok(pipelab(None).args([
        "lake",
        "set",
        "props",
        "--lake",
        &lake,
        "delta.logRetentionDuration=interval 0 seconds",
    ]));
    assert!(set.contains(&format!("version {}", latest + 1)), "{set}");
    let checkpoint = run_ok(pipelab(None).args(["lake", "checkpoint", "props", "--lake", &lake]));
    assert!(
        checkpoint.contains(&format!("checkpoint of version {}", latest + 1)),
        "{checkpoint}"
    );
    let history = json_rows(&["lake", "history", "props", "--lake", &lake]);
    assert_eq!(history.len(), 1, "{checkpoint}\n{history:?}");
    assert_user_error(
        output(&mut query_as_of(&lake, "3", "SELECT count(*) FROM props")),
        &["version 3", "no longer in its log"],
    );
    assert_eq!(
        query_csv(
            None,
            &lake,
            "SELECT count(*), count(DISTINCT id) FROM props"
        ),
        [["120", "120"]]
    );
    assert_user_error(
        output(pipelab(None).args(["lake", "set", "props", "--lake", &lake, "delta.nope=1"])),
        &["\"delta.nope\" is not a Delta table property"],
    );
}

/// With `[sink.compaction]`, a pipeline writing many small batches compacts a partition
/// once it holds more small files than allowed: the partitions stay within the bound,
/// and every record is stored once with the offsets at the end of the topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_compaction_bounds_small_files_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (stack, lake_dir, spec) = one_table(dir.path(), "auto", 20).await;
    let lake = lake_dir.display().to_string();
    let text = std::fs::read_to_string(&spec).unwrap() + "[sink.compaction]\nmax_small_files = 4\n";
    std::fs::write(&spec, text).unwrap();
    produce_raw(&stack, "auto", records(0, 400, "")).await;
    let out = run_until_idle(&stack, &spec);
    assert!(out.contains("partition compaction(s)"), "{out}");
    let partitions = json_rows(&["lake", "partitions", "auto", "--lake", &lake]);
    assert_eq!(partitions.len(), 3, "{partitions:?}");
    for p in &partitions {
        assert!(p["files"].as_u64() <= Some(5), "{partitions:?}");
    }
    let history = json_rows(&["lake", "history", "auto", "--lake", &lake]);
    assert!(
        history.iter().any(|c| c["operation"] == "OPTIMIZE"),
        "{history:?}"
    );
    let last_txn = history
        .iter()
        .find(|c| c["txn"] != "")
        .map(|c| c["txn"].clone());
    assert_eq!(last_txn, Some("pipelab/auto/auto/0=400".into()));
    assert_eq!(
        query_csv(None, &lake, "SELECT count(*), count(DISTINCT id) FROM auto"),
        [["400", "400"]]
    );
}

/// A lake table written by the partition lab (no Kafka needed): `DIR/lake/LAYOUT` holding
/// `events` rows.
fn lab_table(dir: &std::path::Path, layout: &str, events: u32) -> std::path::PathBuf {
    run_ok(
        pipelab(None)
            .args(["lab", "partitions", "--runs", "1", "--layouts", layout])
            .args(["--events", &events.to_string(), "--out"])
            .arg(dir),
    );
    dir.join("lake")
}

/// External tables are named in the lake and queried like its own; dropping one forgets
/// the name and keeps the data. Dropping a managed table deletes it, and only when asked.
#[test]
fn external_tables_are_forgotten_and_managed_ones_deleted_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = lab_table(&dir.path().join("a"), "none", 1000);
    let lake_dir = lab_table(&dir.path().join("b"), "day", 500);
    let lake = lake_dir.display().to_string();
    let other = elsewhere.join("none");
    run_ok(
        pipelab(None)
            .args(["lake", "register", "ext", "--lake", &lake])
            .arg(&other),
    );

    let tables = json_rows(&["lake", "tables", "--lake", &lake]);
    let kinds: Vec<(&str, &str)> = tables
        .iter()
        .map(|t| (t["table"].as_str().unwrap(), t["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("day", "managed"), ("ext", "external")]);
    let rows = query_csv(
        None,
        &lake,
        "SELECT (SELECT count(*) FROM ext) AS e, (SELECT count(*) FROM day) AS d",
    );
    assert_eq!(rows, [["1000", "500"]]);

    // A taken name, a second registration and a place without a table are refused.
    let refused = |args: &[&str], expect: &[&str]| {
        let out = output(
            pipelab(None)
                .args(["lake", "register"])
                .args(args)
                .args(["--lake", &lake]),
        );
        assert_user_error(out, expect);
    };
    let other_text = other.display().to_string();
    refused(&["day", &other_text], &["day", "has that name"]);
    refused(&["ext", &other_text], &["ext", "already names"]);
    let empty = dir.path().join("empty");
    refused(
        &["nothing", &empty.display().to_string()],
        &["no Delta table", "empty"],
    );

    // Dropping the external table keeps its data.
    let out = run_ok(pipelab(None).args(["lake", "drop", "ext", "--lake", &lake]));
    assert!(out.contains("forgotten"), "{out}");
    assert!(other.join("_delta_log").exists());
    let kept = query_csv(
        None,
        &elsewhere.display().to_string(),
        "SELECT count(*) FROM none",
    );
    assert_eq!(kept, [["1000"]]);
    let out = output(pipelab(None).args(["query", "--lake", &lake, "SELECT count(*) FROM ext"]));
    assert_user_error(out, &["ext"]);

    // A managed table goes only with --delete-data, and then entirely.
    let out = output(pipelab(None).args(["lake", "drop", "day", "--lake", &lake]));
    assert_user_error(out, &["managed table", "--delete-data"]);
    assert!(lake_dir.join("day/_delta_log").exists());
    run_ok(pipelab(None).args(["lake", "drop", "day", "--delete-data", "--lake", &lake]));
    assert!(!lake_dir.join("day").exists());
    assert!(json_rows(&["lake", "tables", "--lake", &lake]).is_empty());
}

/// pipelab's appends record each file's SHA-256 in its `add` action's tags (the bytes on
/// disk hash to it), and `lake verify` compares: a byte flipped inside the data, which
/// leaves the size, the footer and the row count as they were, is named as a checksum
/// mismatch (exit 3).
#[test]
fn verify_finds_a_flipped_data_byte_by_the_files_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lab");
    run_ok(
        pipelab(None)
            .args(["lab", "partitions", "--runs", "1", "--events", "5000"])
            .args(["--layouts", "day", "--out"])
            .arg(&out),
    );
    let lake = out.join("lake").display().to_string();
    let table_dir = out.join("lake").join("day");

    let mut tags = std::collections::HashMap::new();
    for entry in std::fs::read_dir(table_dir.join("_delta_log")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let action: Value = serde_json::from_str(line).unwrap();
            if let Some(add) = action.get("add") {
                let file = add["path"].as_str().unwrap().rsplit('/').next().unwrap();
                let sum = add["tags"]["pipelab.sha256"].as_str();
                tags.insert(file.to_string(), sum.map(str::to_string));
            }
        }
    }
    let files = parquet_files(&table_dir);
    assert!(files.len() >= 7, "{files:?}");
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let sum = run_ok(std::process::Command::new("sha256sum").arg(file));
        let recorded = tags.get(&name).cloned().flatten();
        assert_eq!(recorded.as_deref(), sum.split_whitespace().next(), "{name}");
    }

    let verify = || {
        let mut cmd = pipelab(None);
        cmd.args(["lake", "verify", "day", "--lake", &lake, "--format", "csv"]);
        cmd
    };
    let sound = run_ok(&mut verify());
    assert!(sound.contains("no problem found"), "{sound}");
    assert!(!sound.contains("without a checksum"), "{sound}");

    let damaged = files
        .iter()
        .max_by_key(|f| std::fs::metadata(f).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(damaged).unwrap();
    let middle = bytes.len() / 3;
    bytes[middle] ^= 0x01;
    std::fs::write(damaged, bytes).unwrap();
    let found = output(&mut verify());
    let stdout = String::from_utf8_lossy(&found.stdout);
    assert_eq!(found.status.code(), Some(3), "{stdout}");
    let name = damaged.file_name().unwrap().to_string_lossy().into_owned();
    let lines: Vec<&str> = stdout.lines().filter(|l| l.contains(&name)).collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("checksum,") && lines[0].contains("SHA-256"),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&found.stderr).contains("1 problem(s) found"),
        "{}",
        String::from_utf8_lossy(&found.stderr)
    );
}
