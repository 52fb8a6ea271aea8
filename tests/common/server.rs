//! Child processes of the tests: a running `pipelab serve`, as the Trino-protocol tests
//! (serve, the Kafka catalog's query log) start it, and a `pipelab devstack`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::{json_of, pipelab, python, script};

/// A running `pipelab serve` on a port the system chose; killed (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Server {
    pub fn start(lake: &std::path::Path) -> Self {
        Self::spawn(
            pipelab(None)
                .args(["serve", "--port", "0", "--lake"])
                .arg(lake),
        )
    }

    /// Start `cmd` (a `pipelab serve --port 0 …`) and wait for the address it prints.
    pub fn spawn(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .expect("start pipelab serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .split("://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Self { child, port }
    }

    /// Run one check of trino_client.py: what it printed, as JSON.
    pub fn check(&self, name: &str) -> serde_json::Value {
        json_of(
            Command::new(python())
                .arg(script("trino_client.py"))
                .arg(self.port.to_string())
                .arg(name),
        )
    }

    /// A line of /proc/PID/status, in KiB.
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {status}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `pipelab devstack` child, stopped with Ctrl-C (SIGINT) when dropped.
pub struct DevstackChild(std::process::Child);

impl DevstackChild {
    pub fn start(mut cmd: std::process::Command) -> Self {
        use std::io::BufRead;
        let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut printed = String::new();
        for line in stdout.lines().map_while(Result::ok) {
            printed.push_str(&line);
            if line.starts_with("running until Ctrl-C") {
                return Self(child);
            }
        }
        let status = child.wait().unwrap();
        panic!("pipelab devstack ended ({status}) before it was ready: {printed}");
    }
}

impl Drop for DevstackChild {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let _ = self.0.wait();
    }
}
