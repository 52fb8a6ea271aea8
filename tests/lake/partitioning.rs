//! Partition transforms end to end: a pipeline writes a table partitioned by
//! `day(ts)`, `bucket(4, user_id)` and `truncate(8, page)`; the directory names are
//! escaped, Python's Delta readers get the same types and values, and a filter on a
//! source column prunes the derived partitions, as the scan metrics show.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::common::*;

/// Page values that must survive as directory names (and a null one).
const PAGES: [Option<&str>; 7] = [
    Some("a/b"),
    Some("k=v"),
    Some("50%"),
    Some("sp ace"),
    Some("zürich"),
    None,
    Some("plain"),
];

fn records(n: u32) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let day = 21 + i % 3;
            let hour = i % 24;
            let page = match PAGES[i as usize % PAGES.len()] {
                Some(p) => format!(r#","page":"{p}""#),
                None => String::new(),
            };
            let user = i % 50;
            let json = format!(
                r#"{{"id":{i},"ts":"2026-11-{day}T{hour:02}:15:00Z","user_id":{user}{page}}}"#
            );
            (i.to_string(), json.into_bytes())
        })
        .collect()
}

fn spec(dir: &Path, brokers: &str, lake: &str) -> std::path::PathBuf {
    let path = dir.join("tx.toml");
    let text = format!(
        r#"name = "tx"
[source]
brokers = "{brokers}"
topic = "tx"
[[steps]]
name = "typed"
sql = "SELECT id, CAST(ts AS TIMESTAMP) AS ts, user_id, page FROM input"
[sink]
location = "{lake}"
table = "tx"
partition_by = ["day(ts) AS dt", "bucket(4, user_id)", "truncate(8, page) AS page8"]
flush_rows = 300
flush_interval_secs = 1.0
# No Parquet statistics, so no file is skipped by its min/max: what is not read was
# pruned by partition.
[sink.layout]
statistics = "none"
"#
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// (files, file bytes) the query's scans read, from `pipelab query --stats`.
fn scanned(lake: &str, sql: &str) -> (u64, u64) {
    let out = output(pipelab(None).args(["query", "--stats", "--lake", lake, sql]));
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("scanned "))
        .unwrap_or_else(|| panic!("no scan stats in {err}"));
    // scanned N file(s) of X bytes, read Y bytes
    let words: Vec<&str> = line.split_whitespace().collect();
    (words[1].parse().unwrap(), words[4].parse().unwrap())
}

/// Committed Parquet files per partition, from `pipelab lake partitions`.
fn partitions(lake: &str) -> Vec<Value> {
    let out = run_ok(pipelab(None).args([
        "lake",
        "partitions",
        "tx",
        "--lake",
        lake,
        "--format",
        "json",
    ]));
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn files_where(parts: &[Value], keep: impl Fn(&str) -> bool) -> u64 {
    parts
        .iter()
        .filter(|p| keep(p["partition"].as_str().unwrap()))
        .map(|p| p["files"].as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transforms_partition_escape_round_trip_and_prune() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(&dir.path().join("stack")).await;
    stack.create_topic("tx", 1).await.unwrap();
    let lake_dir = dir.path().join("lake");
    let lake = lake_dir.display().to_string();
    let spec = spec(dir.path(), &stack.kafka_bootstrap(), &lake);
    produce_raw(&stack, "tx", records(1400)).await;
    run_until_idle(&stack, &spec);

    // The derived columns hold what the transforms say.
    let rows = query_csv(
        None,
        &lake,
        "SELECT dt, count(*), count(DISTINCT user_id_bucket), min(user_id_bucket), \
         max(user_id_bucket) FROM tx GROUP BY dt ORDER BY dt",
    );
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0][..2], ["2026-11-21", "467"]);
    assert!(
        rows.iter()
            .all(|r| r[2] == "4" && r[3] == "0" && r[4] == "3"),
        "{rows:?}"
    );
    let mismatched = query_csv(
        None,
        &lake,
        "SELECT count(*) FROM tx WHERE CAST(ts AS DATE) <> dt OR page8 IS DISTINCT FROM page",
    );
    assert_eq!(mismatched, [["0"]]);
    // The table records how its partition columns are computed.
    let described = run_ok(pipelab(None).args(["lake", "describe", "tx", "--lake", &lake]));
    assert!(
        described.contains("day(ts, UTC) AS dt, bucket(4, user_id) AS user_id_bucket"),
        "{described}"
    );

    // Directory names are escaped as Hive does; a null is __HIVE_DEFAULT_PARTITION__.
    let dirs: BTreeSet<String> =
        std::fs::read_dir(lake_dir.join("tx/dt=2026-11-21/user_id_bucket=0"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    for expected in [
        "page8=a%2Fb",
        "page8=k%3Dv",
        "page8=50%25",
        "page8=__HIVE_DEFAULT_PARTITION__",
    ] {
        assert!(dirs.contains(expected), "{expected} not in {dirs:?}");
    }

    // Python's Delta readers see the same columns, types and values.
    if require(
        "Python deltalake and polars",
        python_has(&["deltalake", "polars"]),
        "pip install -r tests/python/requirements.txt",
    ) {
        let read = json_of(
            std::process::Command::new(python())
                .arg(script("read_partitioned.py"))
                .arg(lake_dir.join("tx"))
                .arg("id"),
        );
        let ours = query_csv(
            None,
            &lake,
            "SELECT id, user_id, page, dt, user_id_bucket, page8 FROM tx ORDER BY id",
        );
        for engine in ["deltalake", "polars"] {
            let types = &read[engine]["types"];
            let rows = read[engine]["rows"].as_array().unwrap();
            assert_eq!(rows.len(), 1400, "{engine}");
            let names: Vec<&str> = [
                "id",
                "ts",
                "user_id",
                "page",
                "dt",
                "user_id_bucket",
                "page8",
            ]
            .to_vec();
            let at = |c: &str| names.iter().position(|n| *n == c).unwrap();
            for (row, mine) in rows.iter().zip(&ours) {
                let text = |c: &str| row[at(c)].as_str().unwrap_or("").to_string();
                let theirs = ["id", "user_id", "page", "dt", "user_id_bucket", "page8"].map(text);
                assert_eq!(theirs.as_slice(), mine.as_slice(), "{engine}");
            }
            let id = rows[5][at("id")].as_str().unwrap();
            assert_eq!(
                rows[5][at("ts")],
                "2026-11-23 05:15:00",
                "{engine} row {id}"
            );
            assert_eq!(rows[5][at("page")], Value::Null, "{engine}");
            let type_of = |c: &str| types[c].as_str().unwrap().to_ascii_lowercase();
            assert!(type_of("dt").starts_with("date"), "{engine}: {types}");
            assert_eq!(type_of("user_id_bucket"), "int32", "{engine}: {types}");
            assert!(
                ["string", "large_string", "string_view"].contains(&type_of("page8").as_str()),
                "{engine}: {types}"
            );
        }
    }

    // Filters on the source columns prune the derived partitions: the scans open exactly
    // the files of the partitions that can hold matches.
    let parts = partitions(&lake);
    let total: u64 = files_where(&parts, |_| true);
    let (all, _) = scanned(&lake, "SELECT count(*) FROM tx WHERE id >= 0");
    assert_eq!(all, total);

    let bucket = &query_csv(
        None,
        &lake,
        "SELECT DISTINCT user_id_bucket FROM tx WHERE user_id = 7",
    )[0][0];
    let (files, _) = scanned(&lake, "SELECT count(*) FROM tx WHERE user_id = 7");
    let expected = files_where(&parts, |p| p.contains(&format!("user_id_bucket={bucket}/")));
    assert_eq!(files, expected);
    assert!(files * 3 < total, "{files} of {total}");

    // The strict upper bound at the next midnight does not select the next day.
    let day = "ts >= TIMESTAMP '2026-11-22 00:00:00' AND ts < TIMESTAMP '2026-11-23 00:00:00'";
    let (files, _) = scanned(&lake, &format!("SELECT count(*) FROM tx WHERE {day}"));
    assert_eq!(
        files,
        files_where(&parts, |p| p.starts_with("dt=2026-11-22/"))
    );
    let counted = query_csv(None, &lake, &format!("SELECT count(*) FROM tx WHERE {day}"));
    let direct = query_csv(
        None,
        &lake,
        "SELECT count(*) FROM tx WHERE dt = DATE '2026-11-22'",
    );
    assert_eq!(counted, direct);

    let (files, _) = scanned(&lake, "SELECT count(*) FROM tx WHERE page = 'a/b'");
    assert_eq!(files, files_where(&parts, |p| p.ends_with("page8=a/b")));

    // A time transform of a text column is refused when the table would be created, with
    // the way out named; nothing is written.
    let bad = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("name = \"tx\"", "name = \"tx_text\"")
        .replace("table = \"tx\"", "table = \"tx_text\"")
        .replace("CAST(ts AS TIMESTAMP) AS ts", "ts");
    let bad_spec = dir.path().join("tx_text.toml");
    std::fs::write(&bad_spec, bad).unwrap();
    let out = output(
        pipelab(Some(&stack))
            .args(["run", "--until-idle"])
            .arg(&bad_spec),
    );
    assert_user_error(out, &["tx_text", "CAST(ts AS TIMESTAMP)"]);
    assert!(!lake_dir.join("tx_text/_delta_log").exists());
}

/// Bad transforms are refused before anything is written, with the entry named.
#[test]
fn bad_transforms_exit_2_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake").display().to_string();
    for (entry, says) in [
        ("bucket(0, user_id)", "at least 1"),
        ("day(ts, 'Mars/Base')", "unknown time zone"),
        ("week(ts)", "unknown transform"),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(
            &path,
            format!(
                "name = \"bad\"\n[source]\ntopic = \"t\"\n[sink]\nlocation = \"{lake}\"\n\
                 table = \"t\"\npartition_by = [\"{entry}\"]\n"
            ),
        )
        .unwrap();
        let out = output(pipelab(None).arg("run").arg(&path));
        assert_user_error(out, &[entry, says]);
    }
}
