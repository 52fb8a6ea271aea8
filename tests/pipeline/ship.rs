//! `pipelab ship`: files tailed into a topic through rotation by rename and by
//! truncation and a file that appears, positions kept between runs, addresses masked
//! before they leave. The topic is read back through a kafka catalog.

use std::io::Write;
use std::path::Path;

use crate::common::*;

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// SQL over the embedded broker's topics, as catalog `k`: its rows as text.
fn topic_rows(dir: &Path, stack: &pipelab_devstack::DevStack, sql: &str) -> Vec<Vec<String>> {
    let catalogs = dir.join("catalogs.toml");
    let text = format!(
        "[catalogs.k]\nkind = \"kafka\"\nbrokers = \"{}\"\n",
        stack.kafka_bootstrap()
    );
    std::fs::write(&catalogs, text).unwrap();
    catalog_rows(&catalogs, sql)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_once_through_rotation_and_restarts_with_addresses_masked() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(&dir.path().join("stack")).await;
    stack.create_topic("logs", 2).await.unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let app = logs.join("app.log");
    append(&app, "login ada@example.org from 10.0.0.7\nGET /index\n");
    append(&logs.join("db.log"), "db up\ndb query 1\n");
    let checkpoint = dir.path().join("positions.json");
    let ship = || {
        run_ok(
            pipelab(None)
                .args([
                    "ship",
                    "--brokers",
                    &stack.kafka_bootstrap(),
                    "--topic",
                    "logs",
                ])
                .args(["--name", "web-1", "--mask", "email,ipv4", "--until-idle"])
                .arg("--checkpoint")
                .arg(&checkpoint)
                .arg(logs.join("*.log")),
        )
    };
    let first = ship();
    assert!(first.contains("4 lines"), "{first}");
    // The rest of a line, then rotation by rename; a truncation written past its old end;
    // a file that appears.
    append(&app, "half a li");
    append(&app, "ne\nlast of the old file");
    std::fs::rename(&app, logs.join("app.log.1")).unwrap();
    append(&app, "first of the new file\n");
    std::fs::write(
        logs.join("db.log"),
        "after truncation and longer than before\n",
    )
    .unwrap();
    append(&logs.join("cache.log"), "cache warm\n");
    let second = ship();
    assert!(second.contains("5 lines"), "{second}");
    // Nothing new: a third run ships nothing again.
    let third = ship();
    assert!(third.contains(" 0 lines"), "{third}");

    let mut lines: Vec<String> =
        topic_rows(dir.path(), &stack, "SELECT _message FROM k.default.logs")
            .into_iter()
            .map(|r| r.join(","))
            .collect();
    lines.sort();
    let mut expected = vec![
        "login <email> from <ipv4>",
        "GET /index",
        "db up",
        "db query 1",
        "half a line",
        "last of the old file",
        "first of the new file",
        "after truncation and longer than before",
        "cache warm",
    ];
    expected.sort();
    assert_eq!(lines, expected);
    let keys = topic_rows(
        dir.path(),
        &stack,
        "SELECT DISTINCT _key FROM k.default.logs ORDER BY _key",
    );
    assert!(keys.iter().all(|k| k[0].starts_with("web-1:")), "{keys:?}");
}

/// A mask that names no rule and a pattern that is no glob: exit 2, naming them.
#[test]
fn a_bad_mask_or_pattern_exits_2_naming_it() {
    let out = output(pipelab(None).args(["ship", "--topic", "logs", "--mask", "phone", "x.log"]));
    assert_user_error(out, &["--mask \"phone\"", "email, ipv4 and regex:PATTERN"]);
    let out = output(pipelab(None).args(["ship", "--topic", "logs", "logs/[.log"]));
    assert_user_error(out, &["\"logs/[.log\" is not a path or glob"]);
}

/// Twenty agents on twenty hosts into one topic, half of them dying (as by SIGKILL) right
/// after the broker acknowledged their lines and before they checkpointed them, then
/// started again: they send those lines again. A pipeline of `format = "lines"` with
/// `dedupe_by` on the line's identity stores every line once. (Small files: the embedded
/// broker serves records with headers at a few hundred a second.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_agents_killed_and_restarted_land_every_line_once() {
    const AGENTS: usize = 20;
    const LINES: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(&dir.path().join("stack")).await;
    stack.create_topic("logs", 4).await.unwrap();
    let brokers = stack.kafka_bootstrap();
    for a in 0..AGENTS {
        let logs = dir.path().join(format!("host-{a}"));
        std::fs::create_dir_all(&logs).unwrap();
        let text: String = (0..LINES)
            .map(|i| format!("host-{a} line {i} status=200\n"))
            .collect();
        append(&logs.join("app.log"), &text);
    }
    let agent = |a: usize, crash: bool| {
        let logs = dir.path().join(format!("host-{a}"));
        let mut cmd = pipelab(None);
        if crash {
            cmd.env("PIPELAB_FAILPOINT", "ship-after-ack");
        }
        cmd.args([
            "ship",
            "--brokers",
            &brokers,
            "--topic",
            "logs",
            "--until-idle",
        ])
        .args(["--name", &format!("host-{a}")])
        .arg("--checkpoint")
        .arg(logs.join("positions.json"))
        .arg(logs.join("*.log"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
    };
    // All twenty at once; the even ones die after their acknowledgement.
    let first: Vec<_> = (0..AGENTS).map(|a| agent(a, a % 2 == 0)).collect();
    for (a, child) in first.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.success(), a % 2 == 1, "agent {a}: {out:?}");
    }
    let again: Vec<_> = (0..AGENTS).map(|a| agent(a, false)).collect();
    for child in again {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    let spec = dir.path().join("logs.toml");
    let lake = stack.lake_url();
    std::fs::write(
        &spec,
        format!(
            "name = \"logs\"\n[source]\nbrokers = \"{brokers}\"\ntopic = \"logs\"\nformat = \"lines\"\n\
             headers = [\"host\", \"file\", \"file_id\", \"offset\"]\n\
             [sink]\nlocation = \"{lake}\"\ntable = \"logs\"\npartition_by = [\"host\"]\n\
             dedupe_by = [\"host\", \"file_id\", \"offset\"]\nflush_interval_secs = 1.0\n"
        ),
    )
    .unwrap();
    let out = run_ok(
        pipelab(Some(&stack))
            .args(["run", "--quiet", "--until-idle"])
            .arg(&spec),
    );
    // The ten agents that died sent their lines twice.
    assert!(out.contains("read 3,000 records"), "{out}");
    assert!(out.contains("1,000 rows dropped"), "{out}");
    let total = (AGENTS * LINES).to_string();
    let rows = query_csv(
        Some(&stack),
        &lake,
        "SELECT count(*), count(DISTINCT line), count(DISTINCT host || file_id || \"offset\") FROM logs",
    );
    assert_eq!(
        rows,
        vec![vec![total.clone(), total.clone(), total]],
        "{out}"
    );
}
