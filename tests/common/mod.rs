//! Shared helpers of the end-to-end tests: the binary, the embedded stack, and
//! the peers (Python packages, kcat) that prove interoperability.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pipelab_devstack::{DevStack, DevStackConfig};
use pipelab_ingest::RawRecord;
use pipelab_ingest::generate::{Clickstream, ClickstreamConfig};

mod assert;
mod databases;
mod server;
pub use assert::*;
pub use databases::*;
pub use server::{DevstackChild, Server};

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

/// Produce records as they are (keys, headers, null payloads) to `topic`, through rdkafka.
pub async fn produce_records(stack: &DevStack, topic: &str, records: Vec<RawRecord>) {
    let brokers = stack.kafka_bootstrap();
    let topic = topic.to_string();
    let n = records.len() as u64;
    let stats = tokio::task::spawn_blocking(move || {
        pipelab_ingest::produce::produce_records(&brokers, &topic, records, |_| {})
    })
    .await
    .unwrap()
    .expect("produce");
    assert_eq!(stats.acked, n);
}

pub async fn produce_raw(stack: &DevStack, topic: &str, records: Vec<(String, Vec<u8>)>) {
    let records = records
        .into_iter()
        .map(|(key, payload)| RawRecord {
            key: Some(key.into_bytes()),
            ..RawRecord::new(0, 0, payload)
        })
        .collect();
    produce_records(stack, topic, records).await;
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
    let sink = format!("flush_rows = {flush_rows}\nflush_interval_secs = 1.0");
    write_spec_with(dir, name, (brokers, topic), lake, "", &sink)
}

/// A pipeline spec `name` reading `topic` at `brokers` into the table of the same name,
/// partitioned by the day of `ts`, with `source` and `sink` lines added to those sections.
pub fn write_spec_with(
    dir: &Path,
    name: &str,
    (brokers, topic): (&str, &str),
    lake: &str,
    source: &str,
    sink: &str,
) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"name = "{name}"
[source]
brokers = "{brokers}"
topic = "{topic}"
{source}
[[steps]]
name = "event_date"
sql = "SELECT *, substr(ts, 1, 10) AS dt FROM input"
[sink]
location = "{lake}"
table = "{topic}"
partition_by = ["dt"]
{sink}
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

/// `pipelab query --catalogs FILE --format csv SQL`: the rows, the header left out.
pub fn catalog_rows(catalogs: &Path, sql: &str) -> Vec<Vec<String>> {
    let out = run_ok(
        pipelab(None)
            .args(["query", "--format", "csv", "--catalogs"])
            .arg(catalogs)
            .arg(sql),
    );
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

/// The Python the peers run in: `PIPELAB_PYTHON` when set (`.ci/run` sets it), else a
/// virtual environment of the tests' own with `tests/python/requirements.txt`, made once
/// under the target directory and reused while the requirements stay the same. A user's
/// `python3` is used only when that environment cannot be made, and then the tests say
/// why; each test names the peers it finds missing.
pub fn python() -> String {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| match std::env::var("PIPELAB_PYTHON") {
            Ok(python) if !python.is_empty() => python,
            _ => test_venv().unwrap_or_else(|why| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "the tests' Python environment could not be made ({why}); \
                     peers are looked for in python3"
                );
                "python3".to_string()
            }),
        })
        .clone()
}

/// `python3 -m venv` + `pip install -r tests/python/requirements.txt`, unless the venv
/// under the target directory already holds these requirements.
fn test_venv() -> Result<String, String> {
    let requirements =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("{}: {e}", requirements.display()))?;
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pipelab-test-venv");
    let python = venv.join("bin").join("python");
    let marker = venv.join("pipelab-requirements.txt");
    if std::fs::read_to_string(&marker).is_ok_and(|made| made == wanted) && python.exists() {
        return Ok(python.display().to_string());
    }
    let step = |what: &str, cmd: &mut Command| -> Result<(), String> {
        let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "{what}: {}",
            stderr.lines().last().unwrap_or("failed")
        ))
    };
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "making the tests' Python environment in {} (once)",
        venv.display()
    );
    step(
        "python3 -m venv",
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
    )?;
    step(
        "pip install -r tests/python/requirements.txt",
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements),
    )?;
    std::fs::write(&marker, wanted).map_err(|e| format!("{}: {e}", marker.display()))?;
    Ok(python.display().to_string())
}

/// Whether the DuckDB extension packages (`duckdb-ext-NAME`) hold these extensions for
/// the installed DuckDB, looked up as the peer scripts load them: by path.
pub fn duckdb_extensions_here(names: &[&str]) -> bool {
    let code = "import duckdb, duckdb_ext, glob, os, sys\n\
        root = list(duckdb_ext.__path__)[0]\n\
        sys.exit(0 if all(glob.glob(os.path.join(root, 'extensions', f'v{duckdb.__version__}', '*', \
        f'{n}.duckdb_extension')) for n in sys.argv[1:]) else 1)";
    python_succeeds(code, names)
}

/// Whether the peers' Python runs `code` (with `args` as `sys.argv[1:]`) successfully:
/// how each "is this peer here" question is asked.
pub fn python_succeeds(code: &str, args: &[&str]) -> bool {
    Command::new(python())
        .args(["-c", code])
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The test PostgreSQL database: `PIPELAB_TEST_POSTGRES_URL`, else the machine's own at
/// 127.0.0.1:5432 when it answers there.
pub fn postgres_url() -> Option<String> {
    test_database(
        "PIPELAB_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    )
}

/// The test MySQL/MariaDB database: `PIPELAB_TEST_MYSQL_URL`, else the machine's own at
/// 127.0.0.1:3306 when it answers there.
pub fn mysql_url() -> Option<String> {
    test_database("PIPELAB_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
}

fn test_database(variable: &str, local: &str) -> Option<String> {
    if let Ok(url) = std::env::var(variable) {
        return Some(url);
    }
    let address = local.rsplit_once('@')?.1.split('/').next()?;
    let answers = address.parse().is_ok_and(|addr| {
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1)).is_ok()
    });
    answers.then(|| local.to_string())
}

pub fn python_has(modules: &[&str]) -> bool {
    let code = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    python_succeeds(&code, &[])
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

/// A client of `pipelab serve` speaking Trino's protocol over plain HTTP/1.1, as user
/// `auditor` unless told otherwise: for what the Python client cannot send (basic
/// credentials over HTTP) and for requests it would not make.
pub struct Trino {
    port: u16,
    headers: Vec<(String, String)>,
}

impl Trino {
    pub fn new(port: u16) -> Self {
        Self {
            port,
            headers: vec![("X-Trino-User".into(), "auditor".into())],
        }
    }

    /// The same client with HTTP basic credentials (and no X-Trino-User).
    pub fn signed_in(port: u16, user: &str, password: &str) -> Self {
        use base64::Engine;
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Self {
            port,
            headers: vec![("Authorization".into(), format!("Basic {credentials}"))],
        }
    }

    pub fn add_header(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_string(), value.to_string()));
    }

    /// One exchange: the status code, headers and body.
    pub fn request(&self, method: &str, path: &str, body: &str) -> (u16, String, String) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n",
            self.port
        );
        for (name, value) in &self.headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ));
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head}"));
        (status, head.to_string(), body.to_string())
    }

    /// One exchange that must answer 200 with JSON (or 204): the JSON.
    pub fn json(&self, method: &str, path: &str, body: &str) -> serde_json::Value {
        let (status, head, text) = self.request(method, path, body);
        if status == 204 {
            return serde_json::Value::Null;
        }
        assert_eq!(status, 200, "{head}\n{text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// Run `sql` to the end through its `nextUri`s: the query's id, its rows, and the
    /// error object if it failed (null if not).
    pub fn run(&self, sql: &str) -> (String, Vec<serde_json::Value>, serde_json::Value) {
        let mut page = self.json("POST", "/v1/statement", sql);
        let id = page["id"].as_str().unwrap().to_string();
        let mut data = Vec::new();
        loop {
            if let Some(rows) = page["data"].as_array() {
                data.extend(rows.iter().cloned());
            }
            match path_of(&page["nextUri"]) {
                Some(next) => page = self.json("GET", &next, ""),
                None => return (id, data, page["error"].clone()),
            }
        }
    }
}

/// The path of a `nextUri`.
pub fn path_of(uri: &serde_json::Value) -> Option<String> {
    let uri = uri.as_str()?;
    Some(format!(
        "/{}",
        uri.split('/').skip(3).collect::<Vec<_>>().join("/")
    ))
}

/// `pipelab ARGS | head -1` in a new shell: the command still runs to its end (the
/// pipeline's status is its own, `pipefail`), exits 0 and never panics.
pub fn runs_to_its_end_into_head(args: &str) {
    let line = format!("set -o pipefail; {PIPELAB} {args} | head -1");
    let out = output(&mut pasted(&line));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{line}: {:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A PATH with the system's tools and no `pipelab`, as a new user's shell has.
pub const NO_PIPELAB_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// A shell as a new terminal would be: PATH without `pipelab`, and none of the variables
/// that would point pipelab somewhere else (the test's own or the user's).
pub fn pasted(line: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new("bash");
    cmd.args(["-c", line])
        .env("PATH", NO_PIPELAB_PATH)
        .stdin(std::process::Stdio::null());
    without_user_env(&mut cmd);
    cmd
}

/// `pipelab scenario run NAME --dir DIR ARGS…`, which must succeed: what it printed.
pub fn run_scenario(name: &str, dir: &Path, args: &[&str]) -> String {
    run_ok(
        pipelab(None)
            .args(["scenario", "run", name, "--dir"])
            .arg(dir)
            .args(args),
    )
}

/// `pipelab scenario run SCENARIO --dir DIR ARGS…` (a name or a folder), however it
/// ends: for the tests of what a failing run says.
pub fn scenario_output(scenario: impl AsRef<std::ffi::OsStr>, dir: &Path, args: &[&str]) -> Output {
    output(
        pipelab(None)
            .args(["scenario", "run"])
            .arg(scenario)
            .arg("--dir")
            .arg(dir)
            .args(args),
    )
}

/// The scenario on the machine's PostgreSQL and MariaDB in turn (`--postgres URL`, then
/// `--mysql URL`): each run checks `answers` answers against `expected/`.
pub fn runs_on_postgres_and_mariadb(name: &str, answers: usize) {
    let databases = [("--postgres", postgres_url()), ("--mysql", mysql_url())];
    for (flag, url) in databases {
        if !require(flag, url.is_some(), "a database for PIPELAB_TEST_*_URL") {
            continue;
        }
        let url = url.unwrap_or_default();
        let dir = tempfile::tempdir().unwrap();
        let out = run_scenario(name, &dir.path().join("run"), &[flag, &url]);
        let checked = format!("{answers} answers as expected");
        assert!(out.contains(&checked), "{name} {flag}: {out}");
    }
}

/// Whether Python's `deltalake` is here to read the lake as another reader (required
/// under CI).
pub fn has_python_deltalake() -> bool {
    require(
        "python deltalake",
        python_has(&["deltalake"]),
        "pip install -r tests/python/requirements.txt",
    )
}

/// A reference computed by a Python script (`python -c SCRIPT ARGS…`, the script
/// importing `sys`): the JSON it printed.
pub fn python_reference(script: &str, args: &[&Path]) -> serde_json::Value {
    // pyarrow's scan threads can outlive the interpreter's teardown and abort it (exit
    // 134, apache/arrow#34314) after the answer is printed: leave without the teardown.
    let script = format!("{script}\nimport os\nsys.stdout.flush()\nos._exit(0)\n");
    json_of(Command::new(python()).args(["-c", &script]).args(args))
}

/// A scenario's folder in the repository.
pub fn scenario_folder(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
}

/// A copy of the scenario folder `source` under `dir`, with `edit` applied to its `file`.
pub fn edited_copy(
    source: &Path,
    dir: &Path,
    file: &str,
    edit: impl Fn(String) -> String,
) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let copy = dir.join("my-scenario");
    let status = Command::new("cp")
        .arg("-r")
        .arg(source)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let path = copy.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(text)).unwrap();
    copy
}

/// How many SIGKILLs a crash test makes: `PIPELAB_KILLS`, default 20.
pub fn kills() -> u32 {
    std::env::var("PIPELAB_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// A fixed-seed sequence of delays of `min_ms` up to `min_ms + spread_ms`, so that a
/// crash test's failure can be replayed.
pub fn replayable_delays(
    seed: u64,
    min_ms: u64,
    spread_ms: u64,
) -> impl Iterator<Item = std::time::Duration> {
    std::iter::successors(Some(seed), |s| {
        Some(
            s.wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407),
        )
    })
    .skip(1)
    .map(move |s| std::time::Duration::from_millis(min_ms + (s >> 33) % spread_ms))
}

/// Start `command()` `kills` times and SIGKILL it each time after a replayable random
/// delay (`seed`; `min_ms` plus up to `spread_ms`); it must still be running when killed.
pub fn kill_repeatedly(
    mut command: impl FnMut() -> Command,
    kills: u32,
    (seed, min_ms, spread_ms): (u64, u64, u64),
) {
    for (kill, delay) in (1..=kills).zip(replayable_delays(seed, min_ms, spread_ms)) {
        let mut child = command()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        assert!(
            child.try_wait().unwrap().is_none(),
            "the process ended before kill {kill} ({delay:?} in): too little to do"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// A name no other run of the tests has used: tables and offsets in the shared
/// databases stay apart.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}
