//! `pipelab lab partitions`: the same data in several layouts, the same queries on each;
//! the table, results.json, the chart (PNG and SVG) and the report it writes.

use std::path::Path;

use serde_json::Value;

use crate::common::*;

fn lab(out: &Path) -> std::process::Command {
    let mut cmd = pipelab(None);
    cmd.args(["lab", "partitions", "--runs", "1", "--out"])
        .arg(out);
    cmd
}

/// The layout named `name` in results.json, and its result for query `query`.
fn measured<'a>(results: &'a Value, name: &str, query: &str) -> (&'a Value, &'a Value) {
    let layout = results["layouts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["layout"] == name)
        .unwrap_or_else(|| panic!("no layout {name}"));
    let result = layout["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["query"] == query)
        .unwrap_or_else(|| panic!("no query {query}"));
    (layout, result)
}

#[test]
fn the_lab_compares_layouts_and_pruning_reads_one_partition() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lab");
    let printed = run_ok(lab(&out).args([
        "--events",
        "30000",
        "--layouts",
        "none,day,hour,bucket8(user_id),day+country",
    ]));
    assert!(
        printed.contains("one day") && printed.contains("report:"),
        "{printed}"
    );
    let results: Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["rows"], 30000);

    // One day of the week (sessions started late on the last day end on the next, an
    // eighth): the day layout reads one partition, and (footers aside) a seventh of the
    // bytes or less; the unpartitioned table reads all of its one file.
    let (day, one_day) = measured(&results, "day", "one day");
    assert!(
        [7, 8].contains(&day["partitions"].as_u64().unwrap()),
        "{day}"
    );
    assert_eq!(one_day["partitions_scanned"], 1);
    let day_bytes = one_day["bytes_read"].as_u64().unwrap();
    let (none, none_day) = measured(&results, "none", "one day");
    assert_eq!(none["partitions"], 1);
    assert_eq!(none_day["files_scanned"], none["files"]);
    assert!(
        day_bytes * 5 < none_day["bytes_read"].as_u64().unwrap(),
        "day read {day_bytes}, none {}",
        none_day["bytes_read"]
    );
    // One hour of 7 × 24; one user's events are in one bucket of eight.
    let (hour, one_hour) = measured(&results, "hour", "one hour");
    assert_eq!(
        one_hour["partitions_scanned"], 1,
        "of {}",
        hour["partitions"]
    );
    let (_, one_user) = measured(&results, "bucket8(user_id)", "one user");
    assert_eq!(one_user["partitions_scanned"], 1);
    // Over-partitioning costs files: hour has many more than day.
    assert!(hour["files"].as_u64().unwrap() > 10 * day["files"].as_u64().unwrap());

    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for text in [
        "# Partition lab",
        "| day+country |",
        "### one user",
        "## What the numbers show",
        "```sql",
    ] {
        assert!(report.contains(text), "{text} not in the report:\n{report}");
    }
    assert_chart(&out);

    // The tables stay, as Delta tables pipelab can query.
    let rows = query_csv(
        None,
        &out.join("lake").display().to_string(),
        "SELECT count(*) FROM day_country",
    );
    assert_eq!(rows, [["30000"]]);
}

#[test]
fn bad_lab_input_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lab");
    let bad = |args: &[&str], expect: &[&str]| {
        let o = output(lab(&out).args(["--events", "100"]).args(args));
        assert_user_error(o, expect);
    };
    bad(
        &["--layouts", "none,bucket0(user_id)"],
        &["bucket0(user_id)", "at least 1"],
    );
    bad(&["--layouts", "day,day"], &["named twice"]);
    let queries = dir.path().join("q.sql");
    std::fs::write(
        &queries,
        "-- name: x\nSELECT count(*) FROM events WHERE d = '${when}';\n",
    )
    .unwrap();
    bad(&["--queries", queries.to_str().unwrap()], &["${when}"]);
    std::fs::write(&queries, "-- name: x\nSELECT nope FROM events;\n").unwrap();
    bad(
        &["--queries", queries.to_str().unwrap()],
        &["query \"x\"", "nope"],
    );
    // A second run replaces the first's directory; one the lab did not make is refused.
    run_ok(lab(&out).args(["--events", "100", "--layouts", "none"]));
    run_ok(lab(&out).args(["--events", "100", "--layouts", "day"]));
    assert!(out.join("lake/day").exists() && !out.join("lake/none").exists());
    let foreign = dir.path().join("mine");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("keep.txt"), "mine").unwrap();
    let o = output(lab(&foreign).args(["--events", "100"]));
    assert_user_error(o, &["was not made by `pipelab lab partitions`", "--out"]);
    assert!(foreign.join("keep.txt").exists());
}

/// The lab reads a JSON-lines file (text times parsed) and a Parquet file as its data.
/// A JSON-lines file is decoded as a pipeline decodes a topic: lines that are not JSON,
/// repeat a key or have a name that differs from a column only by case are left out, kept
/// in refused.jsonl and counted on stderr; `--field-names fold` writes the last kind to
/// its column.
#[test]
fn the_lab_reads_json_lines_and_parquet_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = run_ok(pipelab(None).args(["gen", "--stdout", "--events", "3000"]));
    let renamed = lines
        .lines()
        .next()
        .unwrap()
        .replace("\"device\":", "\"Device\":");
    assert!(renamed.contains("Device"), "{renamed}");
    lines.push_str("not json\n");
    lines.push_str("{\"event_id\":\"e\",\"event_id\":\"f\",\"ts\":\"2026-11-23T10:00:00Z\"}\n");
    lines.push_str(&renamed);
    lines.push_str("\n\n");
    let json = dir.path().join("clicks.jsonl");
    std::fs::write(&json, lines).unwrap();
    let from_json = dir.path().join("from-json");
    let out = output(
        lab(&from_json)
            .args(["--layouts", "none,day", "--source"])
            .arg(&json),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("3 line(s) of") && stderr.contains("line 3001: invalid JSON"),
        "{stderr}"
    );
    let refused: Vec<Value> = std::fs::read_to_string(from_json.join("refused.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let at: Vec<(i64, &str)> = refused
        .iter()
        .map(|r| (r["line"].as_i64().unwrap(), r["error"].as_str().unwrap()))
        .collect();
    assert_eq!(at.len(), 3, "{at:?}");
    assert_eq!((at[0].0, at[1].0, at[2].0), (3001, 3002, 3003));
    assert!(at[1].1.starts_with("duplicate key `event_id`"), "{at:?}");
    assert!(at[2].1.contains("`Device` differs only by case"), "{at:?}");
    assert_eq!(refused[2]["text"], renamed.as_str());
    let results: Value =
        serde_json::from_slice(&std::fs::read(from_json.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["rows"], 3000);
    let (_, one_day) = measured(&results, "day", "one day");
    assert_eq!(one_day["partitions_scanned"], 1);

    let folded = dir.path().join("folded");
    run_ok(
        lab(&folded)
            .args(["--layouts", "none", "--field-names", "fold", "--source"])
            .arg(&json),
    );
    let results: Value =
        serde_json::from_slice(&std::fs::read(folded.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["rows"], 3001);

    // One of the lab's own Parquet files, read back as a file.
    let parquet = std::fs::read_dir(from_json.join("lake/none"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    let from_parquet = dir.path().join("from-parquet");
    run_ok(
        lab(&from_parquet)
            .args(["--layouts", "hour", "--source"])
            .arg(&parquet),
    );
    let results: Value =
        serde_json::from_slice(&std::fs::read(from_parquet.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["rows"], 3000);
}
