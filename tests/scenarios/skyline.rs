//! `pipelab scenario run skyline-cohort`: support bundles through the embedded broker and
//! a pipeline into the lake, joined with the monitoring inventory in the operational
//! database. The runner checks the answers against `expected/` (counted by hand from the
//! data); here Python's `deltalake` reads the lake and `sqlite3` the inventory and
//! compute the same list, and the bundle cut short is in the dead-letter table.

use crate::common::*;

/// The unmonitored hosts per customer, from the lake and the inventory as other readers
/// see them, and the dead letters' request ids.
const REFERENCE: &str = r#"
import json, sqlite3, sys
from deltalake import DeltaTable
run = sys.argv[1]
rows = DeltaTable(f"{run}/lake/bundle_hosts").to_pyarrow_table().to_pylist()
monitored = set(sqlite3.connect(f"{run}/ops.db").execute(
    "SELECT customer, host FROM monitored_hosts").fetchall())
seen = {}
for r in rows:
    if (r["customer"], r["host"]) not in monitored:
        requests, first = seen.get((r["customer"], r["host"]), (set(), r["opened"]))
        seen[(r["customer"], r["host"])] = (requests | {r["request_id"]}, min(first, r["opened"]))
dead = DeltaTable(f"{run}/lake/bundle_hosts_dead_letters").to_pyarrow_table().to_pylist()
print(json.dumps({
    "rows": len(rows),
    "unmonitored": sorted([c, h, len(q), f] for (c, h), (q, f) in seen.items()),
    "dead": [bytes(d["raw"]).decode()[:40] for d in dead],
}))
"#;

#[test]
fn the_cohort_is_the_hosts_no_monitor_watches_as_other_readers_count_them() {
    if !has_python_deltalake() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = run_scenario("skyline-cohort", &run, &[]);
    assert!(out.contains("2 answers as expected"), "{out}");
    assert!(
        out.contains("read 7 records from topic support_requests"),
        "{out}"
    );
    assert!(out.contains("1 dead letter"), "{out}");
    // What ran in SQLite: only the inventory's scan, as SQL (the EXPLAIN step).
    assert!(out.contains("VirtualExecutionPlan name=sqlite"), "{out}");
    let reference = python_reference(REFERENCE, &[&run]);
    assert_eq!(reference["rows"], 10);
    assert_eq!(
        reference["unmonitored"],
        serde_json::json!([
            ["acme", "cache-01.acme.local", 1, "2026-11-05"],
            ["acme", "vm-acme-17", 1, "2026-11-02"],
            ["globex", "batch-07.globex.io", 2, "2026-11-05"],
            ["globex", "vm-globex-3", 1, "2026-11-09"],
        ])
    );
    let dead = reference["dead"].as_array().unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].as_str().unwrap().contains("SR-1006"), "{dead:?}");
}

#[test]
fn the_cohort_runs_on_postgres_and_mariadb() {
    runs_on_postgres_and_mariadb("skyline-cohort", 2);
}

/// `--explain`: the README's architecture, then what ran as arrows with the run's
/// numbers, then the trade-offs; the drawing fits 100 columns.
#[test]
fn explain_draws_what_ran_with_its_numbers_in_100_columns() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_scenario("skyline-cohort", &dir.path().join("run"), &["--explain"]);
    let architecture = out.find("Architecture (README.md):").expect(&out);
    let ran = out.find("What ran, with its numbers:").expect(&out);
    let tradeoffs = out.find("Trade-offs to mention (README.md):").expect(&out);
    assert!(architecture < ran && ran < tradeoffs, "{out}");
    let drawing = &out[ran..tradeoffs];
    for arrow in [
        "data/support_requests.jsonl ──7 records, ",
        "records/s──► topic support_requests (2 partitions)",
        "topic support_requests ──7 records, ",
        "records/s──► pipeline bundle-hosts [lines → hosts]",
        "──10 rows, 1 commit, 4 files, ",
        "bytes──► lake table bundle_hosts",
        "──1 dead letter──► lake table bundle_hosts_dead_letters",
        "──4 rows as expected──► query: hosts in support bundles that are not monitored",
    ] {
        assert!(drawing.contains(arrow), "{arrow:?} not in:\n{drawing}");
    }
    let wide: Vec<&str> = out[..tradeoffs]
        .lines()
        .filter(|l| l.chars().count() > 100 && !l.contains("Exec"))
        .collect();
    assert!(wide.is_empty(), "lines over 100 columns: {wide:#?}");
    assert!(
        out[tradeoffs..].contains("Federation instead of copying"),
        "{out}"
    );
}
