//! `pipelab scenario run query-audit`: queries through a `pipelab serve` child process,
//! which is killed with SIGKILL during a long query and started again; SQL over the
//! query-log topic then finds the crashed query. The expected answers are counted from
//! the data file (views) or follow from what the scenario does (one crash, three finished
//! queries, today's date).

use std::process::Command;

use crate::common::*;

#[test]
fn the_query_a_killed_server_was_running_is_the_crashed_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = run_scenario("query-audit", &run, &["--explain"]);
    assert!(out.contains("6 answers as expected"), "{out}");
    assert!(out.contains("kill pipelab serve (SIGKILL)"), "{out}");
    assert!(out.contains("signal: 9"), "{out}");
    // The long query was running, its answer unread, when the server was killed.
    assert!(out.contains("submitted, RUNNING"), "{out}");
    assert!(out.contains("Trade-offs to mention"), "{out}");
    // Readable in 100 columns, the answers' tables included (the commands at the end
    // hold the binary's path, which is as long as it is).
    let wide: Vec<&str> = out
        .lines()
        .filter(|l| l.chars().count() > 100 && !l.trim_start().starts_with('/'))
        .collect();
    assert!(wide.is_empty(), "lines over 100 columns: {wide:#?}");
    // No server outlives the run.
    let log = run.join("serve.log");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("Trino protocol")
    );
    let catalogs = run.join("serve-catalogs.toml");
    let left = Command::new("pgrep")
        .args(["-f", &catalogs.display().to_string()])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "a server is still running: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

fn query_audit_folder() -> std::path::PathBuf {
    scenario_folder("query-audit")
}

/// Ctrl-C while the server runs: exit 130 naming the run's folder, no server left.
#[test]
fn ctrl_c_stops_the_run_and_its_server() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut child = pipelab(None)
        .args(["scenario", "run", "query-audit", "--dir"])
        .arg(&run)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("start pipelab serve"));
    assert!(started.is_some(), "the run never started its server");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("scenario query-audit interrupted"),
        "{stderr}"
    );
    assert!(stderr.contains(&run.display().to_string()), "{stderr}");
    let left = Command::new("pgrep")
        .args(["-f", &run.display().to_string()])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "left running: {left:?}");
    assert!(run.join("lake/page_views/_delta_log").is_dir());
}

/// A step that asks for what its kind cannot do names the step; a query the server
/// refuses names the file and the server's error.
#[test]
fn a_bad_server_step_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let both = edited_copy(
        &query_audit_folder(),
        &dir.path().join("a"),
        "scenario.toml",
        |t| {
            t.replace(
                "leave_running = true",
                "leave_running = true\nexpect = \"expected/top_pages.csv\"",
            )
        },
    );
    let out = output(pipelab(None).args(["scenario", "run"]).arg(&both));
    assert_user_error(out, &["scenario.toml", "step 5", "`leave_running`"]);

    let bad_sql = edited_copy(
        &query_audit_folder(),
        &dir.path().join("b"),
        "sql/top_pages.sql",
        |t| t.replace("GROUP BY page", "GROUP BY no_such_column"),
    );
    let out = scenario_output(&bad_sql, &dir.path().join("run"), &[]);
    assert_user_error(out, &["step 4", "top_pages.sql", "no_such_column"]);
}
