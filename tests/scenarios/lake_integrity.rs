//! `pipelab scenario run lake-integrity`: three loads of one table, time travel past the
//! bad one, a view, a corrupt file. The runner checks its answers against `expected/`
//! (summed by hand); here Python's `deltalake` reads version 2 and the current version
//! itself (the days whose files are intact), a later `pipelab query` session finds the view, and `pipelab lake verify`
//! exits 3 on the damaged table.

use crate::common::*;

/// Revenue per day at version 2 and now, as delta-rs sums it.
const REFERENCE: &str = r#"
import json, sys
from collections import defaultdict
from deltalake import DeltaTable
def per_day(table):
    sums = defaultdict(float)
    # Day 2's file is the one the scenario corrupts: read the other partitions.
    kept = [("order_date", "!=", "2026-11-02")]
    for r in table.to_pyarrow_table(columns=["order_date", "amount"], partitions=kept).to_pylist():
        sums[str(r["order_date"])] += r["amount"]
    return {d: round(v, 2) for d, v in sorted(sums.items())}
uri = sys.argv[1]
print(json.dumps({"v2": per_day(DeltaTable(uri, version=2)), "now": per_day(DeltaTable(uri)),
                  "columns": DeltaTable(uri).schema().to_arrow().names}))
"#;

#[test]
fn time_travel_views_and_verify_work_as_other_readers_see_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = run_scenario("lake-integrity", &run, &[]);
    assert!(out.contains("6 answers as expected"), "{out}");
    assert!(out.contains("amount_plausible 0.00 FAILED"), "{out}");
    assert!(
        out.contains("history of lake table orders: 4 commits"),
        "{out}"
    );
    assert!(out.contains("| checksum |"), "{out}");

    let lake = run.join("lake");
    if has_python_deltalake() {
        let reference = python_reference(REFERENCE, &[&lake.join("orders")]);
        assert_eq!(
            reference["columns"],
            serde_json::json!([
                "order_id",
                "order_date",
                "customer",
                "team",
                "amount",
                "coupon"
            ])
        );
        // Version 2 is before the bad load; now day 3 is there, in cents.
        assert_eq!(reference["v2"], serde_json::json!({"2026-11-01": 175.5}));
        assert_eq!(
            reference["now"],
            serde_json::json!({"2026-11-01": 175.5, "2026-11-03": 22200.0})
        );
    }

    let lake = lake.display().to_string();
    let view = query_csv(None, &lake, "SELECT count(*) FROM retail_orders");
    assert_eq!(view, [["5"]]);
    let verify = output(pipelab(None).args(["lake", "verify", "orders", "--lake", &lake]));
    assert_eq!(verify.status.code(), Some(3), "{verify:?}");
}

/// A verify step that finds what it did not expect fails the run: exit 2, naming the step.
#[test]
fn a_verify_step_that_finds_the_unexpected_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let copy = edited_copy(
        &scenario_folder("lake-integrity"),
        dir.path(),
        "scenario.toml",
        |t| {
            let last = t.rfind("expect = \"damaged\"").unwrap();
            format!("{}expect = \"intact\"{}", &t[..last], &t[last + 18..])
        },
    );
    let out = scenario_output(&copy, &dir.path().join("run"), &[]);
    assert_user_error(
        out,
        &[
            "step 12 (verify lake table orders)",
            "expected the table Intact, found it Damaged",
        ],
    );
}
