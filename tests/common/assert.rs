//! Assertions the end-to-end tests share: exactly-once counts in the lake, and how a
//! command failed (its exit code and message).

use std::collections::BTreeMap;

use super::{per_day, query_csv};

/// Rows of (key, count) as a map.
pub fn counts(rows: Vec<Vec<String>>) -> BTreeMap<String, i64> {
    rows.into_iter()
        .map(|r| (r[0].clone(), r[1].parse().unwrap()))
        .collect()
}

pub fn total_and_distinct(
    stack: &pipelab_devstack::DevStack,
    lake: &str,
    table: &str,
) -> (i64, i64) {
    let rows = query_csv(
        Some(stack),
        lake,
        &format!("SELECT count(*), count(DISTINCT event_id) FROM {table}"),
    );
    (rows[0][0].parse().unwrap(), rows[0][1].parse().unwrap())
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
