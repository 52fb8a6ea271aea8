//! Shared helpers of the end-to-end tests: the binary, the embedded stack, and
//! the peers (Python packages, kcat) that prove interoperability.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pipelab_devstack::{DevStack, DevStackConfig};
use pipelab_ingest::generate::{Clickstream, ClickstreamConfig};

pub const PIPELAB: &str = env!("CARGO_BIN_EXE_pipelab");

/// The `pipelab` binary, with the lake's S3 settings of `stack` in its environment and
/// no other `PIPELAB_*` or `AWS_*` variable: a user's shell cannot redirect a test.
pub fn pipelab(stack: Option<&DevStack>) -> Command {
    let mut cmd = Command::new(PIPELAB);
    without_user_env(&mut cmd)
        .env("PIPELAB_LOG", "warn")
        .env("PIPELAB_PYTHON", python());
    if let Some(stack) = stack {
        cmd.envs(aws_env(stack));
    }
    cmd
}

/// `cmd` without the `PIPELAB_*` and `AWS_*` variables of the shell the tests run in.
pub fn without_user_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars() {
        if key.starts_with("PIPELAB_") || key.starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// The variables `pipelab devstack` tells a user to export, as a map.
pub fn aws_env(stack: &DevStack) -> HashMap<String, String> {
    parse_exports(&stack.export_lines())
}

pub fn parse_exports(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .flat_map(|rest| rest.split_whitespace())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.to_string(),
                v.trim_matches('"').trim_matches('\'').to_string(),
            )
        })
        .collect()
}

pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run pipelab");
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `pipelab run --quiet --until-idle SPEC` against the stack; its stdout.
pub fn run_until_idle(stack: &DevStack, spec: &Path) -> String {
    run_ok(
        pipelab(Some(stack))
            .args(["run", "--quiet", "--until-idle"])
            .arg(spec),
    )
}

/// `pipelab run --quiet --until-idle SPEC` with the fail point `point` armed (the process
/// dies there); its output.
pub fn run_until_failpoint(stack: &DevStack, spec: &Path, point: &str) -> Output {
    output(
        pipelab(Some(stack))
            .env("PIPELAB_FAILPOINT", point)
            .args(["run", "--quiet", "--until-idle"])
            .arg(spec),
    )
}

pub fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("run pipelab")
}

/// Run `cmd` with `input` on its standard input (then closed); its output.
pub fn output_with_stdin(cmd: &mut Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the command");
    child
        .stdin
        .take()
        .expect("its standard input")
        .write_all(input.as_bytes())
        .expect("write its input");
    child.wait_with_output().expect("wait for the command")
}

pub async fn start_stack(dir: &Path) -> DevStack {
    DevStack::start(DevStackConfig::new(dir))
        .await
        .expect("start the embedded stack")
}

pub fn generated(events: u64, seed: u64) -> Vec<pipelab_ingest::generate::ClickEvent> {
    let mut cfg = ClickstreamConfig::new(
        events,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
    );
    cfg.seed = seed;
    Clickstream::new(cfg).collect()
}

pub fn per_day(events: &[pipelab_ingest::generate::ClickEvent]) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for e in events {
        *out.entry(e.day().to_string()).or_default() += 1;
    }
    out
}

/// Produce the events to `topic` through rdkafka, as any producer would.
pub async fn produce(
    stack: &DevStack,
    topic: &str,
    events: &[pipelab_ingest::generate::ClickEvent],
) {
    let records: Vec<(String, Vec<u8>)> = events
        .iter()
        .map(|e| (e.user_id.clone(), serde_json::to_vec(e).unwrap()))
        .collect();
    produce_raw(stack, topic, records).await;
}

pub async fn produce_raw(stack: &DevStack, topic: &str, records: Vec<(String, Vec<u8>)>) {
    let brokers = stack.kafka_bootstrap();
    let topic = topic.to_string();
    let n = records.len() as u64;
    let stats = tokio::task::spawn_blocking(move || {
        pipelab_ingest::produce::produce_all(&brokers, &topic, records, |_| {})
    })
    .await
    .unwrap()
    .expect("produce");
    assert_eq!(stats.acked, n);
}

/// A pipeline spec over the stack's broker and S3 lake.
pub fn write_spec(
    dir: &Path,
    name: &str,
    brokers: &str,
    topic: &str,
    lake: &str,
    flush_rows: usize,
) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"name = "{name}"
[source]
brokers = "{brokers}"
topic = "{topic}"
[[steps]]
name = "event_date"
sql = "SELECT *, substr(ts, 1, 10) AS dt FROM input"
[sink]
location = "{lake}"
table = "{topic}"
partition_by = ["dt"]
flush_rows = {flush_rows}
flush_interval_secs = 1.0
"#
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Run SQL through `pipelab query --format csv`; rows as string fields, header dropped.
pub fn query_csv(stack: Option<&DevStack>, lake: &str, sql: &str) -> Vec<Vec<String>> {
    let out = run_ok(pipelab(stack).args(["query", "--lake", lake, "--format", "csv", sql]));
    out.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether a peer is here. In CI a missing peer fails the test; elsewhere the test
/// says loudly that it skipped.
pub fn require(what: &str, present: bool, install: &str) -> bool {
    if present {
        return true;
    }
    assert!(
        !in_ci(),
        "{what} is required under CI but missing: {install}"
    );
    // Straight to the process's stderr, past the test harness's capture: the run's
    // output shows the skip even though the test passes.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {what} is missing ({install})");
    false
}

pub fn python() -> String {
    std::env::var("PIPELAB_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

pub fn python_has(modules: &[&str]) -> bool {
    let code = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    Command::new(python())
        .args(["-c", &code])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run `cmd` (a peer script), which must succeed; what it printed, parsed as JSON.
pub fn json_of(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().expect("run the peer");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{cmd:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/python")
        .join(name)
}
