//! `pipelab devstack` as other tools see it: confluent-kafka (Python) and kcat
//! against its broker, pyarrow's S3 client against its endpoint, configured only
//! from what `pipelab devstack` prints.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::common::*;

struct Devstack {
    child: Child,
    env: HashMap<String, String>,
}

impl Drop for Devstack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_devstack(dir: &std::path::Path) -> Devstack {
    let mut child = pipelab(None)
        .args([
            "devstack",
            "--kafka-port",
            "0",
            "--s3-port",
            "0",
            "--topic",
            "peers:2",
            "--dir",
        ])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut printed = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if line.starts_with("running until Ctrl-C") {
            break;
        }
    }
    let env = parse_exports(&printed);
    assert!(
        env.contains_key("PIPELAB_BROKERS") && env.contains_key("AWS_ENDPOINT_URL"),
        "{printed}"
    );
    Devstack { child, env }
}

#[test]
fn python_clients_work_against_devstack() {
    if !require(
        "python confluent-kafka + pyarrow",
        python_has(&["confluent_kafka", "pyarrow"]),
        "pip install confluent-kafka pyarrow",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let stack = start_devstack(dir.path());
    let out = Command::new(python())
        .arg(script("devstack_peers.py"))
        .arg("peers")
        .envs(&stack.env)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.ends_with("ok\n"), "{stdout}");
}

/// kcat linked against a current librdkafka: Debian's kcat 1.7 carries librdkafka
/// 2.0, whose handshake tansu refuses, so we point it at the one in the
/// confluent-kafka wheel (README, "kcat").
fn kcat() -> Option<Command> {
    let which = Command::new("sh")
        .args(["-c", "command -v kcat"])
        .output()
        .ok()?;
    if !which.status.success() {
        return None;
    }
    let lib = Command::new(python())
        .args(["-c", "import confluent_kafka, glob, os; d = os.path.dirname(confluent_kafka.__file__); print((glob.glob(d + '.libs/librdkafka*') + glob.glob(d + '/.libs/librdkafka*'))[0])"])
        .output()
        .ok()?;
    if !lib.status.success() {
        return None;
    }
    let lib = String::from_utf8_lossy(&lib.stdout).trim().to_string();
    let dir = std::env::temp_dir().join(format!("pipelab-kcat-lib-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let link = dir.join("librdkafka.so.1");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(lib, &link).ok()?;
    let mut cmd = Command::new("kcat");
    cmd.env("LD_LIBRARY_PATH", dir);
    Some(cmd)
}

#[test]
fn kcat_lists_produces_consumes_and_commits() {
    let Some(_) = kcat() else {
        require(
            "kcat and the confluent-kafka wheel's librdkafka",
            false,
            "apt-get install kcat; pip install confluent-kafka",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let stack = start_devstack(dir.path());
    let brokers = stack.env["PIPELAB_BROKERS"].clone();
    let run = |args: &[&str], input: Option<&str>| -> String {
        let mut cmd = kcat().unwrap();
        cmd.arg("-b")
            .arg(&brokers)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = input {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        } else {
            drop(child.stdin.take());
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kcat {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let listing = run(&["-L"], None);
    assert!(
        listing.contains("topic \"peers\" with 2 partitions"),
        "{listing}"
    );
    run(&["-P", "-t", "peers", "-p", "0"], Some("one\ntwo\nthree\n"));
    let consumed = run(
        &[
            "-C",
            "-t",
            "peers",
            "-p",
            "0",
            "-o",
            "beginning",
            "-e",
            "-q",
        ],
        None,
    );
    assert_eq!(
        consumed.lines().collect::<Vec<_>>(),
        ["one", "two", "three"]
    );
    // A balanced consumer in a group commits what it read.
    let grouped = run(
        &[
            "-G",
            "kcat-group",
            "-X",
            "enable.auto.commit=true",
            "-X",
            "auto.offset.reset=earliest",
            "-e",
            "-q",
            "peers",
        ],
        None,
    );
    assert_eq!(grouped.lines().count(), 3, "{grouped}");
    // Read the group's committed offsets back with another client.
    let code = format!(
        "from confluent_kafka import Consumer, TopicPartition as T\n\
         c = Consumer({{'bootstrap.servers': '{brokers}', 'group.id': 'kcat-group'}})\n\
         print(sum(max(t.offset, 0) for t in c.committed([T('peers', 0), T('peers', 1)], timeout=30)))"
    );
    let out = Command::new(python()).args(["-c", &code]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "3",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
