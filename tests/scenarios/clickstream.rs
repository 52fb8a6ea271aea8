//! `pipelab scenario run clickstream`: website events through the embedded broker and
//! the demo's pipeline into a lake on the embedded S3 endpoint, partitioned by day. The runner checks the answers
//! against `expected/` (computed from the events file in Python); here Python's
//! `deltalake` reads the lake and finds every valid event once, under its event date.

use crate::common::*;

/// Events per partition directory of the lake, against the events file.
const REFERENCE: &str = r#"
import json, sys
from collections import Counter
from deltalake import DeltaTable
run, events = sys.argv[1], sys.argv[2]
# The lake is the embedded S3 endpoint's bucket, whose objects are files here.
rows = DeltaTable(f"{run}/s3/lake/clicks").to_pyarrow_table().to_pylist()
valid = []
for line in open(events):
    try:
        valid.append(json.loads(line))
    except ValueError:
        pass
print(json.dumps({
    "lake": sorted(Counter(r["dt"] for r in rows).items()),
    "file": sorted(Counter(e["ts"][:10] for e in valid).items()),
    "ids": len({r["event_id"] for r in rows}) == len(rows) == len(valid),
}))
"#;

#[test]
fn every_event_lands_once_under_its_day_and_the_counters_agree() {
    if !has_python_deltalake() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = run_scenario("clickstream", &run, &[]);
    assert!(out.contains("6 answers as expected"), "{out}");
    assert!(out.contains("1 dead letter"), "{out}");
    let reference = python_reference(
        REFERENCE,
        &[
            &run,
            &scenario_folder("clickstream").join("data/clicks.jsonl"),
        ],
    );
    assert_eq!(reference["lake"], reference["file"], "{reference}");
    assert_eq!(reference["ids"], true, "{reference}");
}

/// The commands printed at the end, pasted into a new shell: the devstack on the run's
/// ports (kept running), then the pipeline again from its spec as run, which finds the
/// topic read to the end already (the lake's offsets say so) and adds nothing.
#[test]
fn the_pipeline_runs_again_from_its_spec_as_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = run_scenario("clickstream", &run, &[]);
    let command = |name: &str| {
        out.lines()
            .filter_map(|l| l.strip_prefix("  "))
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no `{name}` command in:\n{out}"))
            .to_string()
    };
    let devstack = DevstackChild::start(pasted(&format!("exec {}", command("devstack"))));
    let again = run_ok(&mut pasted(&command("run")));
    drop(devstack);
    assert!(again.contains("read 0 records"), "{again}");
    let count = query_csv(
        None,
        &run.join("s3/lake").display().to_string(),
        "SELECT count(*) FROM clicks",
    );
    assert_eq!(count, vec![vec!["56".to_string()]]);
}
