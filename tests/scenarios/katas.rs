//! `pipelab scenario run interview-katas` through the binary: on the SQLite default and on
//! the machine's PostgreSQL and MariaDB. The runner checks each answer against
//! `expected/` (the notes' answers, and a headcount counted by hand from the data); here
//! SQLite's own engine, asked directly through Python's `sqlite3`, answers the three
//! katas over the database the run loaded, and the commands the run prints work pasted
//! into a new shell.

use std::path::{Path, PathBuf};

use crate::common::*;

fn katas_folder() -> PathBuf {
    scenario_folder("interview-katas")
}

/// The katas in SQLite's own dialect, as a second engine answers them.
const SQLITE_KATAS: &str = r#"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
consecutive = [r[0] for r in db.execute("""
  WITH days AS (SELECT DISTINCT user_id, date(substr(logtime, 1, 10)) AS day FROM logins)
  SELECT DISTINCT a.user_id FROM days a JOIN days b
    ON b.user_id = a.user_id AND b.day = date(a.day, '+1 day') ORDER BY 1""")]
groups = [r[0] for r in db.execute("""
  SELECT DISTINCT product_group FROM products p WHERE area = 1 AND NOT EXISTS (
    SELECT 1 FROM orders o JOIN products s ON s.product_id = o.product_id
    WHERE o.sell_in_area = 1 AND s.product_group = p.product_group AND o.sold_unit > 0)
  ORDER BY 1""")]
years = sorted({int(r[0][:4]) for r in db.execute("SELECT start_date FROM employee_history")})
headcount = [db.execute("""SELECT count(DISTINCT employee_id) FROM employee_history
  WHERE start_date <= ? AND (end_date IS NULL OR end_date > ?)""",
  (f"{y}-12-31", f"{y}-12-31")).fetchone()[0] for y in years]
print(json.dumps({"consecutive": consecutive, "groups": groups,
                  "headcount": dict(zip(map(str, years), headcount))}))
"#;

#[test]
fn the_katas_answer_as_the_notes_say_on_sqlite_and_sqlite_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = run_scenario("interview-katas", &run, &[]);
    assert!(out.contains("6 answers as expected"), "{out}");
    let reference = python_reference(SQLITE_KATAS, &[&run.join("ops.db")]);
    assert_eq!(
        reference["consecutive"],
        serde_json::json!(["user_001", "user_002", "user_003"])
    );
    assert_eq!(reference["groups"], serde_json::json!(["Group 3"]));
    assert_eq!(
        reference["headcount"],
        serde_json::json!({"2021": 1, "2022": 3, "2023": 4, "2024": 4, "2025": 5})
    );
}

#[test]
fn the_katas_run_on_postgres_and_mariadb() {
    runs_on_postgres_and_mariadb("interview-katas", 6);
}

/// The commands printed at the end, pasted into a shell with no `pipelab` on PATH: the
/// queries answer (the shell reads an empty stdin and ends), serve prints its address.
#[test]
fn the_commands_a_scenario_prints_work_when_pasted() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(
        pipelab(None)
            .env("PATH", NO_PIPELAB_PATH)
            .args(["scenario", "run", "interview-katas", "--dir"])
            .arg(dir.path().join("run")),
    );
    let me = format!("{} ", Path::new(PIPELAB).canonicalize().unwrap().display());
    let commands: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| l.starts_with(&me))
        .collect();
    assert!(commands.len() >= 5, "{out}");
    for command in commands {
        if command.contains(" serve ") {
            let server = Server::spawn(&mut pasted(&format!(
                "exec {}",
                command.replace("--port 8080", "--port 0")
            )));
            assert!(server.port > 0);
            continue;
        }
        let printed = run_ok(&mut pasted(command));
        if command.contains("SHOW TABLES\"") {
            assert!(printed.contains("employee_history"), "{command}: {printed}");
        }
    }
}

#[test]
fn a_folder_outside_the_repository_runs_and_a_wrong_expected_answer_names_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let copy = edited_copy(
        &katas_folder(),
        dir.path(),
        "expected/consecutive_logins.csv",
        |t| t.replace("user_002", "user_004"),
    );
    let out = scenario_output(&copy, &dir.path().join("run"), &[]);
    assert_user_error(
        out,
        &[
            "scenario interview-katas, step 11",
            "consecutive_logins.sql over the lake",
            "differs from expected/consecutive_logins.csv",
            "row 2 is [user_002], expected [user_004]",
        ],
    );
}

#[test]
fn bad_scenarios_exit_2_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let unknown = output(pipelab(None).args(["scenario", "run", "no-such-scenario"]));
    assert_user_error(
        unknown,
        &["no scenario \"no-such-scenario\"", "interview-katas"],
    );

    let typo = edited_copy(&katas_folder(), dir.path(), "scenario.toml", |t| {
        t.replacen("ordered = true", "orderd = true", 1)
    });
    let out = output(pipelab(None).args(["scenario", "run"]).arg(&typo));
    assert_user_error(out, &["scenario.toml", "step 11", "orderd"]);

    let bad_sql = edited_copy(
        &katas_folder(),
        &dir.path().join("sql"),
        "sql/headcount_change.sql",
        |t| {
            t.replace(
                "FROM headcount\nORDER BY year",
                "FROM headcount ORDER BY no_such_column",
            )
        },
    );
    let out = scenario_output(&bad_sql, &dir.path().join("run-sql"), &[]);
    assert_user_error(out, &["step 13", "headcount_change.sql", "no_such_column"]);
}

#[test]
fn a_database_that_does_not_answer_exits_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = scenario_output(
        "interview-katas",
        &dir.path().join("run"),
        &["--postgres", "postgres://postgres@127.0.0.1:1/test"],
    );
    assert_environment_error(out, &["step 2", "127.0.0.1:1"]);
}

#[test]
fn a_mysql_url_without_a_database_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = scenario_output(
        "interview-katas",
        &dir.path().join("run"),
        &["--mysql", "mysql://root@127.0.0.1:3306"],
    );
    assert_user_error(out, &["the operational database", "names no database"]);
}

/// `scenario list`: every scenario folder, with its story, what it needs and its time.
#[test]
fn the_list_names_each_scenario_with_what_it_needs() {
    let out = run_ok(pipelab(None).args(["scenario", "list"]));
    for (name, needs) in [
        (
            "interview-katas",
            "needs a local lake, the operational database",
        ),
        ("lake-integrity", "needs a local lake; takes"),
        (
            "skyline-cohort",
            "needs a local lake, the embedded Kafka broker, the operational database",
        ),
        (
            "clickstream",
            "needs a lake on the embedded S3 endpoint, the embedded Kafka broker, the operational database; takes",
        ),
        (
            "query-audit",
            "needs a local lake, the embedded Kafka broker; takes",
        ),
        (
            "nosql-vs-sql",
            "needs a local lake, the embedded Kafka broker, the operational database",
        ),
    ] {
        let at = out
            .find(&format!("  {name} "))
            .unwrap_or_else(|| panic!("{name} in {out}"));
        let entry: String = out[at..].lines().take(2).collect::<Vec<_>>().join("\n");
        assert!(entry.contains(needs), "{entry}");
    }
}

/// Output piped into `head`: the scenario still runs to its end, exit 0, no panic.
#[test]
fn a_closed_pipe_ends_the_output_not_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    runs_to_its_end_into_head(&format!(
        "scenario run interview-katas --dir {}",
        run.display()
    ));
    assert!(run.join("lake/employee_history/_delta_log").is_dir());
}

/// The katas worked out in plain Python from the generated files themselves (no SQL):
/// what the answers saved by the run must be.
const PYTHON_KATAS: &str = r#"
import csv, datetime, json, sys
from collections import defaultdict
data = sys.argv[1]
rows = lambda name: list(csv.DictReader(open(f"{data}/{name}.csv")))
days = defaultdict(set)
for r in rows("logins"):
    days[r["user_id"]].add(datetime.date.fromisoformat(r["logtime"][:10]))
one = datetime.timedelta(days=1)
consecutive = sorted(u for u, ds in days.items() if any(d + one in ds for d in ds))
products = rows("products")
group = {p["product_id"]: p["product_group"] for p in products}
sold = defaultdict(int)
for o in rows("orders"):
    if o["sell_in_area"] == "1":
        sold[group[o["product_id"]]] += int(o["sold_unit"])
quiet = sorted({p["product_group"] for p in products if p["area"] == "1"} - {g for g, n in sold.items() if n > 0})
history = rows("employee_history")
years = sorted({int(h["start_date"][:4]) for h in history})
def headcount(y):
    end = f"{y}-12-31"
    return len({h["employee_id"] for h in history
                if h["start_date"] <= end and (h["end_date"] == "" or h["end_date"] > end)})
counts = [headcount(y) for y in years]
change = [""] + [str(b - a) for a, b in zip(counts, counts[1:])]
print(json.dumps({
    "11": [[u] for u in consecutive],
    "12": [[g] for g in quiet],
    "13": [[str(y), str(c), d] for y, c, d in zip(years, counts, change)],
}))
"#;

/// Another seed's generated data: every kata's answer, over the lake and over the
/// database, is what a reference implementation in Python computes from the files.
#[test]
fn the_katas_on_generated_data_agree_with_a_reference_implementation() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = run_scenario("interview-katas", &run, &["--seed", "7", "--size", "small"]);
    assert!(out.contains("6 answers on generated data"), "{out}");
    let reference = python_reference(PYTHON_KATAS, &[&run.join("data-generated/data")]);
    for step in ["11", "12", "13"] {
        let want: Vec<Vec<String>> = serde_json::from_value(reference[step].clone()).unwrap();
        assert!(
            !want.is_empty(),
            "step {step}: the generated data has no answer"
        );
        for over in ["lake", "database"] {
            let saved = run.join(format!("answers/step-{step}-{over}.csv"));
            let text = std::fs::read_to_string(&saved).unwrap();
            let got: Vec<Vec<String>> = text
                .lines()
                .skip(1)
                .map(|l| l.split(',').map(str::to_string).collect())
                .collect();
            assert_eq!(got, want, "{}", saved.display());
        }
    }
}
