//! The interactive SQL shell of `pipelab query`: statements end with `;`. At a terminal,
//! lines are edited and recalled with rustyline (arrow keys, Ctrl-R, history kept in
//! `PIPELAB_HISTORY`, default `~/.pipelab_history`); piped input is read as it comes.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use rustyline::config::{Behavior, Config};
use rustyline::error::ReadlineError;

use pipelab_federate::QueryEngine;

use crate::error::CliError;
use crate::output::{self, Format};

pub(crate) async fn run(engine: &QueryEngine, format: Format) -> Result<(), CliError> {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    if interactive {
        eprintln!("pipelab SQL shell over {}", engine.lake());
        eprintln!("tables: {}", engine.tables().join(", "));
        eprintln!(
            "end statements with ';'  \\d lists tables, \\d TABLE its columns, \\dn schemas, \\l \
             catalogs  \\q quits"
        );
    }
    let mut pending = String::new();
    let mut failed = 0usize;
    let mut lines = if interactive {
        Lines::terminal()?
    } else {
        Lines::Piped(Box::new(stdin.lock().lines()))
    };
    loop {
        let prompt = if pending.is_empty() {
            "pipelab> "
        } else {
            "     ..> "
        };
        let line = match lines.next(prompt)? {
            Line::Text(line) => line,
            Line::Cancelled => {
                // Ctrl-C drops the statement being typed, as in psql.
                pending.clear();
                continue;
            }
            Line::End => break,
        };
        let trimmed = line.trim();
        if pending.is_empty() {
            match trimmed {
                "\\q" | "quit" | "exit" => break,
                "\\d" => {
                    println!("{}", engine.tables().join("\n"));
                    continue;
                }
                "" => continue,
                _ => {
                    if let Some(sql) = listing(trimmed) {
                        failed += run_script(engine, &sql, format).await;
                        continue;
                    }
                }
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
    lines.save_history();
    // Piped scripts report failure through the exit code; at a terminal each error was
    // shown where it happened.
    if failed > 0 && !interactive {
        return Err(CliError::usage(format!("{failed} statement(s) failed")));
    }
    Ok(())
}

/// psql's listing commands, as the statements that answer them: `\d TABLE` its columns,
/// `\dn [CATALOG]` the schemas, `\l` the catalogs.
fn listing(command: &str) -> Option<String> {
    let (name, arg) = command
        .split_once(char::is_whitespace)
        .map_or((command, ""), |(n, a)| (n, a.trim().trim_end_matches(';')));
    match (name, arg) {
        ("\\d", table) if !table.is_empty() => Some(format!("DESCRIBE {table}")),
        ("\\dn", "") => Some("SHOW SCHEMAS".into()),
        ("\\dn", catalog) => Some(format!("SHOW SCHEMAS FROM {catalog}")),
        ("\\l", "") => Some("SHOW CATALOGS".into()),
        _ => None,
    }
}

/// Where the shell's lines come from.
enum Lines {
    /// A terminal: rustyline edits each line and keeps the history in a file.
    Terminal {
        editor: Box<rustyline::DefaultEditor>,
        history: Option<PathBuf>,
    },
    Piped(Box<dyn Iterator<Item = std::io::Result<String>>>),
}

enum Line {
    Text(String),
    /// Ctrl-C at the prompt.
    Cancelled,
    End,
}

impl Lines {
    fn terminal() -> Result<Self, CliError> {
        // PreferTerm: prompts and editing go to the terminal even when the results are
        // redirected to a file.
        let config = Config::builder()
            .behavior(Behavior::PreferTerm)
            .auto_add_history(false)
            .build();
        let mut editor = rustyline::DefaultEditor::with_config(config).map_err(|e| {
            CliError::path(
                std::path::Path::new("the terminal"),
                std::io::Error::other(e),
            )
        })?;
        let history = std::env::var_os("PIPELAB_HISTORY")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pipelab_history"))
            });
        if let Some(path) = &history {
            // A first session has no history file yet.
            let _ = editor.load_history(path);
        }
        Ok(Lines::Terminal {
            editor: Box::new(editor),
            history,
        })
    }

    fn next(&mut self, prompt: &str) -> Result<Line, CliError> {
        match self {
            Lines::Terminal { editor, .. } => match editor.readline(prompt) {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = editor.add_history_entry(line.as_str());
                    }
                    Ok(Line::Text(line))
                }
                Err(ReadlineError::Interrupted) => Ok(Line::Cancelled),
                Err(ReadlineError::Eof) => Ok(Line::End),
                Err(e) => Err(CliError::path(
                    std::path::Path::new("the terminal"),
                    std::io::Error::other(e),
                )),
            },
            Lines::Piped(lines) => match lines.next() {
                Some(line) => line
                    .map(Line::Text)
                    .map_err(|e| CliError::path(std::path::Path::new("standard input"), e)),
                None => Ok(Line::End),
            },
        }
    }

    fn save_history(&mut self) {
        if let Lines::Terminal {
            editor,
            history: Some(path),
        } = self
            && let Err(e) = editor.save_history(path)
        {
            eprintln!("note: history not kept in {}: {e}", path.display());
        }
    }
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
