//! The interactive SQL shell of `pipelab query`: statements end with `;`.

use std::io::{BufRead, IsTerminal, Write};

use pipelab_federate::QueryEngine;

use crate::error::CliError;
use crate::output::{self, Format};

pub async fn run(engine: &QueryEngine, format: Format) -> Result<(), CliError> {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    if interactive {
        eprintln!("pipelab SQL shell over {}", engine.lake());
        eprintln!("tables: {}", engine.tables().join(", "));
        eprintln!("end statements with ';'  \\d lists tables  \\q quits");
    }
    let mut pending = String::new();
    let mut failed = 0usize;
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            eprint!(
                "{}",
                if pending.is_empty() {
                    "pipelab> "
                } else {
                    "     ..> "
                }
            );
            let _ = std::io::stderr().flush();
        }
        let Some(line) = lines.next() else { break };
        let line = line.map_err(|e| CliError::path(std::path::Path::new("standard input"), e))?;
        let trimmed = line.trim();
        if pending.is_empty() {
            match trimmed {
                "\\q" | "quit" | "exit" => break,
                "\\d" => {
                    println!("{}", engine.tables().join("\n"));
                    continue;
                }
                "" => continue,
                _ => {}
            }
        }
        pending.push_str(&line);
        pending.push('\n');
        if trimmed.ends_with(';') {
            let script = std::mem::take(&mut pending);
            failed += run_script(engine, &script, format).await;
        }
    }
    if !pending.trim().is_empty() {
        failed += run_script(engine, &pending, format).await;
    }
    // Piped scripts report failure through the exit code; at a terminal each error was
    // shown where it happened.
    if failed > 0 && !interactive {
        return Err(CliError::usage(format!("{failed} statement(s) failed")));
    }
    Ok(())
}

/// Run each statement of `script` in turn; returns how many failed.
async fn run_script(engine: &QueryEngine, script: &str, format: Format) -> usize {
    match engine.split_statements(script) {
        Ok(statements) => {
            let mut failed = 0;
            for sql in statements {
                failed += usize::from(!run_one(engine, &sql, format).await);
            }
            failed
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

async fn run_one(engine: &QueryEngine, sql: &str, format: Format) -> bool {
    let started = std::time::Instant::now();
    match engine.sql_with_stats(sql).await {
        Ok((batches, stats)) => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = output::print(&batches, format, &mut out) {
                eprintln!("error: {}", e.report());
                return false;
            }
            eprintln!("({:.3} s; {stats})", started.elapsed().as_secs_f64());
            true
        }
        // In the shell a bad statement is reported and the session goes on.
        Err(e) => {
            eprintln!("error: {e}");
            false
        }
    }
}
