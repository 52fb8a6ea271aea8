//! The benchmarks' Python peers: a script run with its job as JSON on standard input,
//! its one JSON result read from standard output.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::BenchError;

/// Run a peer's Python script (`source`, written to `work/name`) with `job` as JSON on its
/// standard input, and read its one JSON result from standard output. `needs` says what
/// the interpreter must have, for the message when it cannot start.
pub(crate) fn run_python_peer<T: serde::de::DeserializeOwned>(
    python: &str,
    work: &Path,
    (name, source): (&str, &str),
    job: &serde_json::Value,
    needs: &str,
) -> Result<T, BenchError> {
    let script = work.join(name);
    std::fs::write(&script, source)?;
    let mut child = Command::new(python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| BenchError::failed(format!("{python}: {e} ({needs})")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(job.to_string().as_bytes())?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        return Err(BenchError::failed(format!(
            "{name} failed ({})",
            output.status
        )));
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}
