//! A running `pipelab serve`, as the Trino-protocol tests (serve, the Kafka catalog's
//! query log) start it.

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
