//! Assertions the end-to-end tests share: exactly-once counts in the lake, how a command
//! failed (its exit code and message), the partition lab's chart.

use std::collections::BTreeMap;

use super::{per_day, query_csv};

/// Rows of (key, count) as a map.
pub fn counts(rows: Vec<Vec<String>>) -> BTreeMap<String, i64> {
    rows.into_iter()
        .map(|r| (r[0].clone(), r[1].parse().unwrap()))
        .collect()
}

/// A table's rows and its distinct values of `key`: equal when nothing was written twice.
pub fn rows_and_distinct(
    stack: Option<&pipelab_devstack::DevStack>,
    lake: &str,
    table: &str,
    key: &str,
) -> (i64, i64) {
    let rows = query_csv(
        stack,
        lake,
        &format!("SELECT count(*), count(DISTINCT {key}) FROM {table}"),
    );
    (rows[0][0].parse().unwrap(), rows[0][1].parse().unwrap())
}

/// Rows and distinct `event_id`s of a table of generated events.
pub fn total_and_distinct(
    stack: &pipelab_devstack::DevStack,
    lake: &str,
    table: &str,
) -> (i64, i64) {
    rows_and_distinct(Some(stack), lake, table, "event_id")
}

/// The `clicks` table holds every event once, and its per-day counts are those of the
/// generated events; returns those counts.
pub fn assert_exactly_once(
    stack: &pipelab_devstack::DevStack,
    lake: &str,
    events: &[pipelab_ingest::generate::ClickEvent],
) -> BTreeMap<String, i64> {
    let n = events.len() as i64;
    assert_eq!(total_and_distinct(stack, lake, "clicks"), (n, n));
    let days = counts(query_csv(
        Some(stack),
        lake,
        "SELECT dt, count(*) FROM clicks GROUP BY dt ORDER BY dt",
    ));
    assert_eq!(days, per_day(events));
    days
}

/// Exit code 2 (the input needs fixing) and a message holding each of `expect`.
pub fn assert_user_error(out: std::process::Output, expect: &[&str]) {
    assert_failure(out, 2, expect);
}

/// Exit code 1 (a service or the machine failed) and a message holding each of `expect`.
pub fn assert_environment_error(out: std::process::Output, expect: &[&str]) {
    assert_failure(out, 1, expect);
}

fn assert_failure(out: std::process::Output, code: i32, expect: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code; stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.lines().any(|l| l.starts_with("error: ")), "{stderr}");
    for e in expect {
        assert!(stderr.contains(e), "expected {e:?} in:\n{stderr}");
    }
}

/// The chart's files are a real PNG (signature, header of the drawn size, more than a
/// blank image's bytes) and an SVG naming the queries and layouts.
pub fn assert_chart(out: &std::path::Path) {
    let png = std::fs::read(out.join("chart.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 900));
    assert!(
        png.len() > 20_000,
        "a nearly blank PNG: {} bytes",
        png.len()
    );
    let svg = std::fs::read_to_string(out.join("chart.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
    for text in ["one day", "Median time per query", "Data read per query"] {
        assert!(svg.contains(text), "{text} not in the SVG");
    }
}
