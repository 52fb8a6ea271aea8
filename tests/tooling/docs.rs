//! The documentation's commands, run as a user pastes them: README.md and the pages of
//! docs/, in reading order, in one working directory.
//!
//! What a page runs:
//! - every line of a fenced `sh` block that starts with `pipelab ` (a trailing `\`
//!   continues it on the next line), through `bash -c` with the binary first on PATH;
//!   a `sh` block whose first line is `# needs Docker` is left out;
//! - a command whose line ends with `# runs until Ctrl-C` is started, must print a first
//!   line within 60 s, and is then stopped with SIGINT (and must exit 0);
//! - before its commands, every `toml file=NAME` block of the page is written to NAME.
//!
//! The working directory is what a user has after the README's first steps: the demo
//! has run (`pipelab demo --events 20000`), `sample-data/` is there, and an embedded
//! stack stands in for `pipelab devstack --topic clicks:4` with its `export` lines
//! pasted (PIPELAB_BROKERS and the AWS_* variables). That stack listens on free ports,
//! not devstack's default 9092 and 9000, so the addresses 127.0.0.1:9092 and
//! 127.0.0.1:9000 in the pages' files and commands are replaced by its own (a catalog's
//! `brokers` reads no variable). `reference.db` is made from `sample-data/markets.sql`
//! as the `sqlite3` line of docs/federation.md says (through Python's sqlite3 module,
//! which needs no SQLite shell). PostgreSQL and MariaDB are the machine's, at the URLs
//! the pages name.
//!
//! Also checked: the README is at most 150 lines, every page a page links to exists,
//! and every `pipelab <command>` of the README's table answers `--help`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::*;

/// The pages, in the order a reader meets them (and the order they run in).
const PAGES: [&str; 15] = [
    "README.md",
    "docs/operations.md",
    "docs/pipeline.md",
    "docs/lake.md",
    "docs/partitioning.md",
    "docs/federation.md",
    "docs/trino.md",
    "docs/benchmarks.md",
    "scenarios/interview-katas/README.md",
    "scenarios/skyline-cohort/README.md",
    "scenarios/lake-integrity/README.md",
    "scenarios/query-audit/README.md",
    "scenarios/nosql-vs-sql/README.md",
    "scenarios/clickstream/README.md",
    "scenarios/landing-trigger/README.md",
];

const README_MAX_LINES: usize = 150;
/// How long a command that runs until Ctrl-C may take to print its first line.
const FIRST_LINE_WITHIN: Duration = Duration::from_secs(60);
/// How long any other command may take (the small benchmarks take a minute or two).
const COMMAND_WITHIN: Duration = Duration::from_secs(15 * 60);
const UNTIL_CTRL_C: &str = "# runs until Ctrl-C";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository's root")
}

/// A fenced block: its info string, the line number of its opening fence (1-based) and
/// its lines.
struct Block {
    info: String,
    fence_line: usize,
    lines: Vec<String>,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match open.take() {
            None if fence => {
                open = Some(Block {
                    info: line.trim_start().trim_start_matches('`').trim().to_string(),
                    fence_line: i + 1,
                    lines: Vec::new(),
                })
            }
            None => {}
            Some(block) if fence => out.push(block),
            Some(mut block) => {
                block.lines.push(line.to_string());
                open = Some(block);
            }
        }
    }
    assert!(open.is_none(), "a fenced block is not closed");
    out
}

/// A command of a page: its first line's number and its text (continuation lines kept,
/// so that bash joins them as a user's shell does).
struct DocCommand {
    line: usize,
    text: String,
}

impl DocCommand {
    fn until_ctrl_c(&self) -> bool {
        self.text.trim_end().ends_with(UNTIL_CTRL_C)
    }
}

fn commands(blocks: &[Block]) -> Vec<DocCommand> {
    let mut out = Vec::new();
    for block in blocks.iter().filter(|b| b.info == "sh") {
        if block
            .lines
            .first()
            .is_some_and(|l| l.trim() == "# needs Docker")
        {
            continue;
        }
        let mut i = 0;
        while i < block.lines.len() {
            let first = i;
            if block.lines[i].trim_start().starts_with("pipelab ") {
                let mut text = block.lines[i].clone();
                while text.ends_with('\\') && i + 1 < block.lines.len() {
                    i += 1;
                    text.push('\n');
                    text.push_str(&block.lines[i]);
                }
                out.push(DocCommand {
                    line: block.fence_line + 1 + first,
                    text,
                });
            }
            i += 1;
        }
    }
    out
}

/// The `toml file=NAME` blocks: (NAME, contents).
fn files(blocks: &[Block]) -> Vec<(String, String)> {
    blocks
        .iter()
        .filter_map(|b| {
            let mut words = b.info.split_whitespace();
            if words.next() != Some("toml") {
                return None;
            }
            let name = words.find_map(|w| w.strip_prefix("file="))?;
            Some((name.to_string(), b.lines.join("\n") + "\n"))
        })
        .collect()
}

/// Relative links of a Markdown page (`](target)`), without their `#anchor`.
fn relative_links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|t| !t.starts_with("http://") && !t.starts_with("https://") && !t.starts_with('#'))
        .map(|t| t.split('#').next().unwrap_or(t).to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The subcommand words of each `pipelab …` in the first column of the README's tables:
/// `pipelab lake schema-history T` → `lake schema-history`.
fn table_commands(readme: &str) -> BTreeSet<Vec<String>> {
    readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `pipelab "))
        .map(|rest| {
            let cell = rest.split('`').next().unwrap_or("");
            cell.split_whitespace()
                .take_while(|w| {
                    w.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                        && w.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                })
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|words| !words.is_empty())
        .collect()
}

/// Everything a page's commands run with.
struct Env<'a> {
    work: &'a Path,
    stack: &'a pipelab_devstack::DevStack,
    path: String,
}

impl Env<'_> {
    /// The stand-in stack's addresses for devstack's default ones.
    fn localize(&self, text: &str) -> String {
        let (_, s3_port) = self.stack.ports();
        text.replace("127.0.0.1:9092", &self.stack.kafka_bootstrap())
            .replace("127.0.0.1:9000", &format!("127.0.0.1:{s3_port}"))
    }

    fn bash(&self, script: &str) -> Command {
        let mut cmd = Command::new("bash");
        without_user_env(&mut cmd)
            .arg("-c")
            .arg(script)
            .current_dir(self.work)
            .env("PATH", &self.path)
            .env("PIPELAB_LOG", "warn")
            .env("PIPELAB_PYTHON", python())
            .env("PIPELAB_BROKERS", self.stack.kafka_bootstrap())
            .env("PIPELAB_HISTORY", self.work.join(".pipelab_history"))
            .envs(aws_env(self.stack))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group, so that a signal reaches the command and not only bash.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd
    }
}

/// What a command did.
struct Ran {
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
    secs: f64,
    note: String,
}

fn read_all(mut from: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

fn signal_group(child: &Child, signal: libc::c_int) {
    // SAFETY: kill(2) with the id of a process group this test started.
    unsafe {
        libc::kill(-(child.id() as libc::pid_t), signal);
    }
}

/// Wait for `child` until `deadline`; on time out, kill its group.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("wait for the command") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            signal_group(child, libc::SIGKILL);
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(env: &Env, command: &DocCommand) -> Ran {
    let started = Instant::now();
    let mut child = env
        .bash(&env.localize(&command.text))
        .spawn()
        .expect("start bash");
    let stderr = read_all(child.stderr.take().expect("stderr"));
    let mut note = String::new();
    let (status, stdout) = if command.until_ctrl_c() {
        // The first line of stdout says it is up; then Ctrl-C, as a user would.
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            let mut lines = BufReader::new(out).lines();
            let first = lines.next().and_then(Result::ok);
            let _ = tx.send(first.clone());
            let rest: Vec<String> = lines.map_while(Result::ok).collect();
            let _ = tx.send(Some(rest.join("\n")));
        });
        match rx.recv_timeout(FIRST_LINE_WITHIN) {
            Ok(Some(first)) => {
                signal_group(&child, libc::SIGINT);
                let status = wait_until(&mut child, Instant::now() + Duration::from_secs(30));
                if status.is_none() {
                    note = "did not stop within 30 s of SIGINT".into();
                }
                let rest = rx
                    .recv_timeout(Duration::from_secs(5))
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                (status, format!("{first}\n{rest}"))
            }
            Ok(None) => {
                note = "ended without printing a line".into();
                (
                    wait_until(&mut child, Instant::now() + Duration::from_secs(30)),
                    String::new(),
                )
            }
            Err(_) => {
                signal_group(&child, libc::SIGKILL);
                let _ = child.wait();
                note = format!("printed no line within {} s", FIRST_LINE_WITHIN.as_secs());
                (None, String::new())
            }
        }
    } else {
        let stdout = read_all(child.stdout.take().expect("stdout"));
        let status = wait_until(&mut child, started + COMMAND_WITHIN);
        if status.is_none() {
            note = format!("killed after {} s", COMMAND_WITHIN.as_secs());
        }
        (status, stdout.recv().unwrap_or_default())
    };
    Ran {
        status,
        stdout,
        stderr: stderr.recv().unwrap_or_default(),
        secs: started.elapsed().as_secs_f64(),
        note,
    }
}

/// The SQLite file of docs/federation.md (`sqlite3 reference.db < sample-data/markets.sql`).
fn make_reference_db(work: &Path) {
    let out = Command::new(python())
        .current_dir(work)
        .args([
            "-c",
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1])\n\
             c.executescript(open(sys.argv[2]).read())\n\
             c.commit()\n",
            "reference.db",
            "sample-data/markets.sql",
        ])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "making reference.db: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_readme_is_short_and_its_links_and_commands_exist() {
    let root = repo();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines; at most {README_MAX_LINES}: move details to docs/"
    );
    for page in PAGES {
        let text = std::fs::read_to_string(root.join(page)).unwrap();
        let dir = root.join(page).parent().unwrap().to_path_buf();
        for link in relative_links(&text) {
            assert!(
                dir.join(&link).exists(),
                "{page} links to {link}, which does not exist"
            );
        }
    }
    let linked: BTreeSet<String> = relative_links(&readme).into_iter().collect();
    for page in PAGES.iter().skip(1) {
        assert!(linked.contains(*page), "README.md does not link to {page}");
    }
    let table = table_commands(&readme);
    assert!(table.len() >= 20, "README's table names only {table:?}");
    for words in &table {
        let out = output(pipelab(None).args(words).arg("--help"));
        assert!(
            out.status.success(),
            "README's table names `pipelab {}`, which is no command: {}",
            words.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_command_runs() {
    let root = repo();
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();

    // What a user has after the README's first steps.
    copy_dir(&root.join("sample-data"), &work.join("sample-data"));
    run_ok(
        pipelab(None)
            .current_dir(&work)
            .args(["demo", "--events", "20000"]),
    );
    make_reference_db(&work);
    let stack = start_stack(&dir.path().join("stack")).await;
    stack.create_topic("clicks", 4).await.unwrap();

    let bin = Path::new(PIPELAB).parent().unwrap();
    let path = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap()
    .into_string()
    .unwrap();
    let env = Env {
        work: &work,
        stack: &stack,
        path,
    };

    let mut failures = Vec::new();
    let mut counts = Vec::new();
    for page in PAGES {
        let text = std::fs::read_to_string(root.join(page)).unwrap();
        let blocks = blocks(&text);
        for (name, contents) in files(&blocks) {
            std::fs::write(work.join(&name), env.localize(&contents)).unwrap();
        }
        let commands = commands(&blocks);
        for command in &commands {
            let ran = run(&env, command);
            let ok = ran.status.is_some_and(|s| s.success()) && ran.note.is_empty();
            eprintln!(
                "docs: {page}:{} {} ({:.1} s) {}",
                command.line,
                if ok { "ok" } else { "FAILED" },
                ran.secs,
                command.text.lines().next().unwrap_or("")
            );
            if !ok {
                failures.push(format!(
                    "{page}:{}: {}\nexit: {:?} {}\nstdout:\n{}\nstderr:\n{}",
                    command.line, command.text, ran.status, ran.note, ran.stdout, ran.stderr
                ));
            }
        }
        counts.push((page, commands.len()));
    }
    for (page, n) in &counts {
        eprintln!("docs: {page}: {n} commands run");
    }
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    eprintln!("docs: {total} commands in all");
    assert!(
        failures.is_empty(),
        "{} of {total} documented commands failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    stack.shutdown().await;
}
