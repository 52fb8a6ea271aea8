//! End to end, on the embedded broker and S3 endpoint: produce known events, run
//! the `pipelab` binary, and check the lake against what was produced — exactly,
//! through restarts and kills, and as other readers (DuckDB, Python deltalake) see it.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

const N: u64 = 30_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produced_events_land_exactly_once_with_right_daily_counts() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("clicks", 4).await.unwrap();
    let events = generated(N, 7);
    produce(&stack, "clicks", &events).await;
    let lake = stack.lake_url();
    let spec = write_spec(
        dir.path(),
        "e2e",
        &stack.kafka_bootstrap(),
        "clicks",
        &lake,
        8_000,
    );

    let out = run_until_idle(&stack, &spec);
    assert!(out.contains("read 30,000 records"), "{out}");

    let days = assert_exactly_once(&stack, &lake, &events);

    // A second run finds nothing new: offsets come from the lake.
    let out = run_until_idle(&stack, &spec);
    assert!(out.contains("read 0 records"), "{out}");
    assert_eq!(
        total_and_distinct(&stack, &lake, "clicks"),
        (N as i64, N as i64)
    );

    // Partition pruning: a one-day query reads only that day's files. (count(*) alone
    // would be answered from the Delta log's statistics without a scan.)
    let day = days.keys().next().unwrap().clone();
    let plan = query_csv(
        Some(&stack),
        &lake,
        &format!("EXPLAIN ANALYZE SELECT count(DISTINCT user_id) FROM clicks WHERE dt = '{day}'"),
    );
    let plan = plan.concat().join(" ");
    assert!(plan.contains(&format!("dt={day}")), "{plan}");
    for other in days.keys().filter(|d| **d != day) {
        assert!(
            !plan.contains(&format!("dt={other}")),
            "scanned {other}: {plan}"
        );
    }

    interop_readers_agree(dir.path(), &stack, &lake, &days);
}

/// Python `deltalake` (to pyarrow), DuckDB over the table's own file list, DuckDB's
/// delta extension and polars give the same per-day counts as pipelab.
fn interop_readers_agree(
    dir: &std::path::Path,
    stack: &pipelab_devstack::DevStack,
    lake: &str,
    days: &BTreeMap<String, i64>,
) {
    if !require(
        "python deltalake + duckdb (delta, httpfs) + polars",
        python_has(&["deltalake", "duckdb", "duckdb_ext", "polars", "pyarrow"])
            && duckdb_extensions_here(&["delta", "httpfs"]),
        "pip install -r tests/python/requirements.txt",
    ) {
        return;
    }
    for (label, uri) in [
        (
            "local directory",
            dir.join("s3")
                .join(stack.bucket())
                .join("clicks")
                .display()
                .to_string(),
        ),
        ("S3 endpoint", format!("{lake}/clicks")),
    ] {
        let report = json_of(
            std::process::Command::new(python())
                .arg(script("read_lake.py"))
                .arg(&uri)
                .envs(aws_env(stack)),
        );
        let readers = report.as_object().unwrap();
        assert_eq!(readers.len(), 4, "{label}: {report}");
        for (reader, got) in readers {
            let got: BTreeMap<String, i64> = serde_json::from_value(got.clone()).unwrap();
            assert_eq!(&got, days, "{label}: {reader} per-day counts");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_after_a_limit_and_after_kill_neither_loses_nor_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("clicks", 4).await.unwrap();
    let events = generated(N, 11);
    produce(&stack, "clicks", &events).await;
    let lake = stack.lake_url();
    let spec = write_spec(
        dir.path(),
        "restart",
        &stack.kafka_bootstrap(),
        "clicks",
        &lake,
        3_000,
    );

    // Stop after a limit, then resume.
    run_ok(
        pipelab(Some(&stack))
            .args(["run", "--quiet", "--max-records", "7000"])
            .arg(&spec),
    );
    let (rows, distinct) = total_and_distinct(&stack, &lake, "clicks");
    assert_eq!((rows, distinct), (7000, 7000));

    // Killed between writing Parquet files and committing them: the files must stay
    // invisible and the records must come again.
    let out = run_until_failpoint(&stack, &spec, "lake-before-commit");
    assert!(!out.status.success(), "the fail point did not fire");
    assert_eq!(total_and_distinct(&stack, &lake, "clicks"), (7000, 7000));

    // SIGKILL at arbitrary moments, three times.
    for delay_ms in [700u64, 1300, 2100] {
        let mut child = pipelab(Some(&stack))
            .args(["run", "--quiet", "--until-idle"])
            .arg(&spec)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let alive = child.try_wait().unwrap().is_none();
        let _ = child.kill(); // SIGKILL, to pipelab itself (no wrapper)
        let _ = child.wait();
        if !alive {
            break; // it finished the topic: nothing left to interrupt
        }
        let (rows, distinct) = total_and_distinct(&stack, &lake, "clicks");
        assert_eq!(rows, distinct, "duplicates after kill at {delay_ms} ms");
    }

    run_until_idle(&stack, &spec);
    assert_exactly_once(&stack, &lake, &events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_go_to_the_dead_letter_table_and_the_rest_flows() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("mixed", 1).await.unwrap();
    let good = generated(500, 3);
    let mut records: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, e) in good.iter().enumerate() {
        records.push((e.user_id.clone(), serde_json::to_vec(e).unwrap()));
        if i % 100 == 0 {
            records.push((
                "bad".into(),
                format!("{{\"event_id\": broken {i}").into_bytes(),
            ));
        }
    }
    records.push(("bad".into(), b"[1,2,3]".to_vec()));
    produce_raw(&stack, "mixed", records).await;
    let lake = stack.lake_url();
    let spec = write_spec(
        dir.path(),
        "mixed",
        &stack.kafka_bootstrap(),
        "mixed",
        &lake,
        100_000,
    );
    let out = run_until_idle(&stack, &spec);
    assert!(out.contains("6 dead letters"), "{out}");

    let rows = query_csv(Some(&stack), &lake, "SELECT count(*) FROM mixed");
    assert_eq!(rows[0][0], "500");
    let dead = query_csv(
        Some(&stack),
        &lake,
        "SELECT topic, \"partition\", \"offset\", raw_text, error FROM mixed_dead_letters ORDER BY \"offset\"",
    );
    assert_eq!(dead.len(), 6, "{dead:?}");
    assert_eq!(dead[0][0], "mixed");
    assert_eq!(dead[0][2], "1"); // the record right after the first good one
    assert!(dead[0][3].contains("broken 0"));
    assert!(dead[0].concat().contains("invalid JSON"), "{:?}", dead[0]);
    assert!(
        dead[5].concat().contains("expected a JSON object"),
        "{:?}",
        dead[5]
    );

    // Run again: nothing new, and the dead letters are not stored twice.
    run_until_idle(&stack, &spec);
    let dead = query_csv(
        Some(&stack),
        &lake,
        "SELECT count(*) FROM mixed_dead_letters",
    );
    assert_eq!(dead[0][0], "6");
}

/// A reader that stops early (`pipelab query … | head -1`) ends pipelab quietly and
/// successfully, as for other Unix tools, not with an error about printing.
#[test]
fn a_closed_pipe_ends_a_query_quietly() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = pipelab(None)
        .args(["query", "--lake"])
        .arg(dir.path())
        .args([
            "--format",
            "csv",
            "SELECT * FROM generate_series(1, 2000000)",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim(), "value");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(stderr.is_empty(), "{stderr}");
}

/// Every variable pipelab reads is listed in `pipelab --help`, and each option a
/// variable sets shows it in its command's help; a bad log filter is an input error.
#[test]
fn help_lists_the_environment_and_a_bad_log_filter_exits_2() {
    let help = run_ok(pipelab(None).arg("--help"));
    for var in [
        "PIPELAB_BROKERS",
        "PIPELAB_LAKE",
        "PIPELAB_PYTHON",
        "PIPELAB_LOG",
        "PIPELAB_CATALOGS",
        "PIPELAB_HISTORY",
        "AWS_ENDPOINT_URL",
        "Exit codes",
    ] {
        assert!(help.contains(var), "{var} missing from:\n{help}");
    }
    for (command, vars) in [
        (
            &["run"][..],
            &["PIPELAB_BROKERS", "PIPELAB_LAKE", "PIPELAB_LOG"][..],
        ),
        (&["query"], &["PIPELAB_LAKE", "PIPELAB_CATALOGS"]),
        (&["gen"], &["PIPELAB_BROKERS"]),
        (&["produce"], &["PIPELAB_BROKERS"]),
        (&["dlq", "replay"], &["PIPELAB_LAKE", "PIPELAB_BROKERS"]),
        (&["bench", "ingest"], &["PIPELAB_PYTHON"]),
    ] {
        let help = run_ok(pipelab(None).args(command).arg("--help"));
        for var in vars {
            assert!(
                help.contains(&format!("[env: {var}")),
                "{var} missing from `{}` help:\n{help}",
                command.join(" ")
            );
        }
    }
    assert_user_error(
        output(
            pipelab(None)
                .env("PIPELAB_LOG", "pipelab=[")
                .args(["query", "SELECT 1"]),
        ),
        &["PIPELAB_LOG"],
    );
}

#[test]
fn bad_config_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    assert_user_error(
        output(pipelab(None).arg("run").arg(&missing)),
        &["nope.toml", "cannot read"],
    );

    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "name = \"x\"\n[source]\ntopic = \"t\"\nspeed = 3\n[sink]\nlocation = \"/tmp/l\"\ntable = \"t\"\n").unwrap();
    assert_user_error(
        output(pipelab(None).arg("run").arg(&unknown)),
        &["unknown.toml", "line 4", "speed"],
    );
    // A [source] key written in [sink] is refused there, not ignored.
    let misplaced = dir.path().join("misplaced.toml");
    std::fs::write(&misplaced, "name = \"x\"\n[source]\ntopic = \"t\"\n[sink]\nlocation = \"/tmp/l\"\ntable = \"t\"\nfield_names = \"fold\"\n").unwrap();
    assert_user_error(
        output(pipelab(None).arg("run").arg(&misplaced)),
        &["misplaced.toml", "line 7", "field_names"],
    );

    let same_table = dir.path().join("same_table.toml");
    std::fs::write(&same_table, "name = \"x\"\n[source]\ntopic = \"t\"\n[sink]\nlocation = \"/tmp/l\"\ntable = \"t\"\ndead_letter_table = \"t\"\n").unwrap();
    assert_user_error(
        output(pipelab(None).arg("run").arg(&same_table)),
        &["same_table.toml", "line 7", "dead_letter_table"],
    );

    let syntax = dir.path().join("syntax.toml");
    std::fs::write(&syntax, "name = \"x\"\n[source\n").unwrap();
    assert_user_error(
        output(pipelab(None).arg("run").arg(&syntax)),
        &["syntax.toml", "line 2"],
    );

    let no_topic = dir.path().join("no_topic.toml");
    std::fs::write(
        &no_topic,
        "name = \"x\"\n[source]\nbrokers = \"b:1\"\n[sink]\nlocation = \"/tmp/l\"\ntable = \"t\"\n",
    )
    .unwrap();
    assert_user_error(
        output(pipelab(None).arg("run").arg(&no_topic)),
        &["no_topic.toml", "topic"],
    );

    let bad_sql = dir.path().join("bad_sql.toml");
    std::fs::write(
        &bad_sql,
        "name = \"x\"\n[source]\ntopic = \"t\"\n[[steps]]\nname = \"s\"\nsql = \"SELEC oops FROM input\"\n[sink]\nlocation = \"/tmp/l\"\ntable = \"t\"\n",
    )
    .unwrap();
    assert_user_error(
        output(pipelab(None).arg("run").arg(&bad_sql)),
        &["step 's'", "SELEC oops FROM input"],
    );
}

#[test]
fn bad_query_exits_2_with_the_sql() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().display().to_string();
    assert_user_error(
        output(pipelab(None).args(["query", "--lake", &lake, "SELECT * FROM no_such_table"])),
        &["no_such_table", "in SQL: SELECT * FROM no_such_table"],
    );
    assert_user_error(
        output(pipelab(None).args(["query", "--lake", &lake, "SELEKT 1"])),
        &["SELEKT"],
    );
}

/// `pipelab query` with no SQL reads statements from standard input: several on one
/// line run in turn, and a script with a failing statement exits 2 after the rest ran.
#[test]
fn shell_runs_piped_statements_and_fails_on_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().display().to_string();
    let shell = |script: &str| {
        output_with_stdin(
            pipelab(None).args(["query", "--lake", &lake, "--format", "csv"]),
            script,
        )
    };
    let out = shell("SELECT 1 AS a; SELECT 'x;y' AS b;\nSELECT 3\n  AS c;\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "a\n1\nb\nx;y\nc\n3\n");

    let out = shell("SELECT nope FROM nowhere;\nSELECT 4 AS d;\n");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "d\n4\n");
    assert_user_error(out, &["nowhere", "1 statement(s) failed"]);
}

#[test]
fn unreachable_broker_is_named_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        "down",
        "127.0.0.1:1",
        "clicks",
        &dir.path().join("lake").display().to_string(),
        10,
    );
    let started = Instant::now();
    let out = output(pipelab(None).args(["run", "--until-idle"]).arg(&spec));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_environment_error(out, &["127.0.0.1:1"]);
}

#[test]
fn unreachable_s3_endpoint_is_named_within_seconds() {
    let started = Instant::now();
    let out = output(
        pipelab(None)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "y")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ALLOW_HTTP", "true")
            .args(["query", "--lake", "s3://lake", "SELECT 1"]),
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_environment_error(out, &["127.0.0.1:1"]);
}

/// The README's first command, on a small number of events: the whole main job on the
/// embedded stack, checked by the demo itself (lake per-day counts against the
/// generated events) and again here by querying the lake directory it leaves behind.
#[test]
fn demo_runs_end_to_end_and_leaves_a_queryable_lake() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let out = run_ok(
        pipelab(None)
            .args(["demo", "--events", "20000", "--dir"])
            .arg(&work),
    );
    assert!(
        out.contains("per-day counts in the lake equal the generated events"),
        "{out}"
    );
    assert!(
        out.contains("produced") && out.contains("20,000 events"),
        "{out}"
    );
    let lake = work.join("s3").join("lake").display().to_string();
    let rows = query_csv(
        None,
        &lake,
        "SELECT count(*), count(DISTINCT event_id) FROM clicks",
    );
    assert_eq!(rows, vec![vec!["20000".to_string(), "20000".to_string()]]);

    // The partition lab runs on the demo's table (its text times parsed) with its
    // default layouts and queries.
    let lab = dir.path().join("lab");
    let printed = run_ok(
        pipelab(None)
            .args(["lab", "partitions", "--runs", "1", "--source"])
            .arg(work.join("s3/lake/clicks"))
            .arg("--out")
            .arg(&lab),
    );
    assert!(printed.contains("day+country"), "{printed}");
    assert!(lab.join("report.md").exists());
    assert_chart(&lab);

    // A second run replaces its own directory; a directory it did not make is refused.
    run_ok(
        pipelab(None)
            .args(["demo", "--events", "1000", "--dir"])
            .arg(&work),
    );
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("keep.txt"), "mine").unwrap();
    let out = output(
        pipelab(None)
            .args(["demo", "--events", "10", "--dir"])
            .arg(&foreign),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(foreign.join("keep.txt").exists());
}

/// Output piped into `head`: the demo runs to its end, exit 0, and never panics.
#[test]
fn the_demo_piped_into_head_runs_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    runs_to_its_end_into_head(&format!("demo --events 1000 --dir {}", work.display()));
    assert!(work.join("s3/lake/clicks/_delta_log").is_dir());
}

/// Every command the demo prints works when pasted into a new shell, in the order
/// printed: the queries, the devstack (kept running, on the ports the spec names), then
/// from "a second terminal" gen, run and the last query, which counts the events added.
/// Started as `cargo run` starts it (not on PATH), the demo prints the binary's path;
/// with `pipelab` on PATH, `pipelab`.
#[test]
fn the_commands_the_demo_prints_work_when_pasted() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let out = run_ok(
        pipelab(None)
            .env("PATH", NO_PIPELAB_PATH)
            .args(["demo", "--events", "2000", "--dir"])
            .arg(&work),
    );
    let me = std::path::Path::new(PIPELAB).canonicalize().unwrap();
    let me = format!("{} ", me.display());
    let commands: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| l.starts_with(&me))
        .collect();
    let names: Vec<&str> = commands
        .iter()
        .map(|c| c[me.len()..].split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        names,
        ["query", "query", "devstack", "gen", "run", "query"],
        "{out}"
    );
    let mut devstack = None;
    let mut last = String::new();
    for command in &commands {
        if command[me.len()..].starts_with("devstack ") {
            devstack = Some(DevstackChild::start(pasted(&format!("exec {command}"))));
            continue;
        }
        last = run_ok(&mut pasted(command));
    }
    drop(devstack);
    assert!(last.contains("12000"), "the last query printed:\n{last}");

    let bin = std::path::Path::new(PIPELAB).parent().unwrap();
    let on_path = run_ok(
        pipelab(None)
            .env("PATH", format!("{}:{NO_PIPELAB_PATH}", bin.display()))
            .args(["demo", "--events", "100", "--dir"])
            .arg(dir.path().join("again")),
    );
    assert!(on_path.contains("\n  pipelab query --lake "), "{on_path}");
}

/// CSV has no nested values: struct, list and map columns are written as their JSON text
/// (quoted as CSV quotes), nulls stay empty, and other columns are as they were.
#[test]
fn csv_writes_nested_columns_as_json_text() {
    let dir = tempfile::tempdir().unwrap();
    let sql = "SELECT 7 AS id, named_struct('a', 1, 'b', 'x') AS s, make_array(1, 2, 3) AS l, \
               CAST(NULL AS INT) AS n, \
               CASE WHEN 1 = 2 THEN make_array(1) END AS empty, \
               map(['k'], [2]) AS m";
    let out = run_ok(
        pipelab(None)
            .args(["query", "--format", "csv", "--lake"])
            .arg(dir.path())
            .arg(sql),
    );
    assert_eq!(
        out,
        "id,s,l,n,empty,m\n7,\"{\"\"a\"\":1,\"\"b\"\":\"\"x\"\"}\",\"[1,2,3]\",,,\"{\"\"k\"\":2}\"\n"
    );
}

/// EXPLAIN in the table format prints each plan under its type as an indented tree, one
/// operator a line, not as a table cell of one very wide line.
#[test]
fn explain_prints_indented_plans() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(
        pipelab(None)
            .args(["query", "--lake"])
            .arg(dir.path())
            .arg("EXPLAIN SELECT x, count(*) FROM (VALUES (1), (2)) t(x) GROUP BY x"),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"logical_plan:"), "{out}");
    assert!(lines.contains(&"physical_plan:"), "{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("    ") && l.trim_start().starts_with("Aggregate")),
        "{out}"
    );
    assert!(!out.contains('|') && !out.contains("+--"), "{out}");
}

/// At a terminal the shell edits lines: the up arrow recalls the last statement and Enter
/// runs it again, Ctrl-C drops a half-typed one, Ctrl-D ends the shell, and the history
/// is kept in the file `PIPELAB_HISTORY` names for the next session.
#[test]
fn the_shell_at_a_terminal_recalls_statements_and_keeps_history() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");
    let result = json_of(
        std::process::Command::new(python())
            .arg(script("shell_pty.py"))
            .arg(&history)
            .arg(env!("CARGO_BIN_EXE_pipelab"))
            .args(["query", "--format", "csv", "--lake"])
            .arg(dir.path()),
    );
    let screen = result["screen"].as_str().unwrap();
    assert_eq!(result["exit"], 0, "{screen}");
    assert_eq!(screen.matches("answer\r\n42").count(), 2, "{screen}");
    assert!(!screen.contains("never run\r\n"), "{screen}");
    let kept = std::fs::read_to_string(&history).unwrap();
    assert!(kept.contains("SELECT 40 + 2 AS answer;"), "{kept}");
    assert!(!kept.contains("never run"), "{kept}");
}
