//! `pipelab serve` answers Trino's own Python client (`trino`, DB-API): every type with
//! its value, a million rows paged with bounded memory, errors the client raises as
//! Trino's, cancellation, and twenty clients at once.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::common::*;

/// A running `pipelab serve` on a port the system chose; killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(lake: &std::path::Path) -> Self {
        let mut child = pipelab(None)
            .args(["serve", "--port", "0", "--lake"])
            .arg(lake)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start pipelab serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .split("http://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Self { child, port }
    }

    /// Run one check of trino_client.py: what it printed, as JSON.
    fn check(&self, name: &str) -> serde_json::Value {
        json_of(
            Command::new(python())
                .arg(script("trino_client.py"))
                .arg(self.port.to_string())
                .arg(name),
        )
    }

    /// A line of /proc/PID/status, in KiB.
    fn status_kib(&self, field: &str) -> u64 {
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

/// A server over an empty lake, when the Python client is here (in CI it must be).
fn server_for_the_client() -> Option<(tempfile::TempDir, Server)> {
    if !require("python trino", python_has(&["trino"]), "pip install trino") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    Some((dir, server))
}

#[test]
fn the_trino_python_client_reads_every_type_with_its_value() {
    let Some((_lake, server)) = server_for_the_client() else {
        return;
    };
    let found = server.check("types");
    let types = &found["types"];
    assert_eq!(types["dec"], "decimal(10,2)", "{found}");
    assert_eq!(types["tstz"], "timestamp(3) with time zone", "{found}");
    assert_eq!(types["ro"], "row(x bigint, y varchar)", "{found}");
}

#[test]
fn a_million_rows_page_through_with_bounded_server_memory() {
    let Some((_lake, server)) = server_for_the_client() else {
        return;
    };
    server.check("syntax"); // warm up: the session's first plan allocates its caches
    let before = server.status_kib("VmRSS:");
    let found = server.check("million");
    let peak = server.status_kib("VmHWM:");
    // The result is over 100 MB as Arrow (a 100-byte string a row) and more as JSON: held
    // whole it would show; streamed, a few batches are in memory at once.
    let grew_mib = peak.saturating_sub(before) / 1024;
    assert!(grew_mib < 64, "server grew by {grew_mib} MiB: {found}");
    eprintln!(
        "1,000,000 rows in {:.2} s; server grew {grew_mib} MiB",
        found["seconds"]
    );
}

#[test]
fn errors_reach_the_client_as_trinos_and_the_server_keeps_serving() {
    let Some((_lake, server)) = server_for_the_client() else {
        return;
    };
    let syntax = server.check("syntax");
    assert_eq!(syntax["location"], serde_json::json!([2, 16]), "{syntax}");
    server.check("errors");
    server.check("cancel");
    let concurrent = server.check("concurrent");
    assert_eq!(concurrent["clients"], 20);
}
