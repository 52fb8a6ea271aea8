//! `pipelab scenario run landing-trigger`: regional files dropped as objects under the
//! embedded S3 endpoint's landing prefix in two rounds, a landing pipeline run after
//! each. The runner checks the answers against `expected/` (computed from the data files
//! in Python); here Python's `deltalake` reads the lake and finds every good line once,
//! knowing its object.

use crate::common::*;

/// Orders per object in the lake, against the data files.
const REFERENCE: &str = r#"
import glob, json, sys
from collections import Counter
from deltalake import DeltaTable
run, data = sys.argv[1], sys.argv[2]
rows = DeltaTable(f"{run}/s3/lake/orders").to_pyarrow_table().to_pylist()
expected = Counter()
for path in glob.glob(f"{data}/*.jsonl"):
    region, day = path.rsplit("/", 1)[1][:-6].split("-", 1)
    for line in open(path):
        try:
            json.loads(line)
            expected[f"{region}/{day}.jsonl"] += 1
        except ValueError:
            pass
print(json.dumps({
    "lake": sorted(Counter(r["_object"] for r in rows).items()),
    "file": sorted(expected.items()),
    "once": len({r["order_id"] for r in rows}) == len(rows),
}))
"#;

#[test]
fn each_object_lands_once_across_two_triggers() {
    if !has_python_deltalake() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = run_scenario("landing-trigger", &run, &[]);
    assert!(out.contains("4 answers as expected"), "{out}");
    // Each trigger read only the objects dropped since the last one.
    assert_eq!(out.matches("from 3 new objects").count(), 2, "{out}");
    let reference = python_reference(
        REFERENCE,
        &[&run, &scenario_folder("landing-trigger").join("data")],
    );
    assert_eq!(reference["lake"], reference["file"], "{reference}");
    assert_eq!(reference["once"], true, "{reference}");
}

#[test]
fn landing_trigger_runs_on_postgres_and_mariadb() {
    runs_on_postgres_and_mariadb("landing-trigger", 4);
}
