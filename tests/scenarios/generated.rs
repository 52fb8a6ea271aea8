//! `pipelab gen KIND` and scenarios on generated data (`--size`, `--seed`): the same seed
//! gives the same data, companion kinds describe one world, and every scenario with a
//! `[generate]` runs on it to the end.

use crate::common::*;

fn generated(args: &[&str]) -> String {
    run_ok(pipelab(None).arg("gen").args(args))
}

#[test]
fn gen_writes_each_kind_reproducibly_and_refuses_what_it_cannot() {
    let orders = generated(&["orders", "--rows", "50", "--seed", "3", "--format", "csv"]);
    let lines: Vec<&str> = orders.lines().collect();
    assert_eq!(lines[0], "product_id,sell_in_area,sold_unit");
    assert_eq!(lines.len(), 51, "{orders}");
    assert_eq!(
        orders,
        generated(&["orders", "--rows", "50", "--seed", "3", "--format", "csv"])
    );
    assert_ne!(
        orders,
        generated(&["orders", "--rows", "50", "--seed", "4", "--format", "csv"])
    );
    // Every order sells a product of the same world.
    let products = generated(&["products", "--rows", "50", "--seed", "3", "--format", "csv"]);
    let ids: Vec<&str> = products
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert!(
        lines[1..]
            .iter()
            .all(|l| ids.contains(&l.split(',').next().unwrap()))
    );
    // JSON lines, one object a line.
    let logins = generated(&["logins", "--rows", "20", "--format", "jsonl"]);
    for line in logins.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            v["user_id"].as_str().unwrap().starts_with("user_"),
            "{line}"
        );
    }
    let out = output(pipelab(None).args(["gen", "documents", "--format", "csv"]));
    assert_user_error(out, &["documents", "--format jsonl"]);
    let out = output(pipelab(None).args(["gen", "invoices"]));
    assert_user_error(out, &["no data kind \"invoices\"", "support-requests"]);
}

/// The scenarios whose data can be generated run on it at the small size, and say their
/// answers were saved rather than compared.
#[test]
fn the_scenarios_run_on_generated_data() {
    for (scenario, answers) in [
        ("skyline-cohort", 2),
        ("nosql-vs-sql", 6),
        ("clickstream", 6),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let out = run_scenario(scenario, &run, &["--size", "small", "--seed", "5"]);
        assert!(
            out.contains(&format!("{answers} answers on generated data")),
            "{scenario}: {out}"
        );
        assert!(run.join("answers").read_dir().unwrap().count() >= answers);
    }
    let dir = tempfile::tempdir().unwrap();
    let out = scenario_output("query-audit", &dir.path().join("run"), &["--seed", "5"]);
    assert_user_error(out, &["no [generate] section", "runs on its own data only"]);
}
