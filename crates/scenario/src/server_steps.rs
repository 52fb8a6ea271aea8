//! The step kinds around a running server: `pipelab serve` started as a child process on
//! the run's catalogs and killed with SIGKILL as a crash would end it, queries sent to it
//! as a client sends them, and waiting for a condition.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::compare::Table;
use crate::definition::{QueryStep, ServerAction, ServerStep, WaitStep};
use crate::explain::Arrow;
use crate::runner::{Failure, Run, plural, printed};
use crate::trino::{TrinoClient, TrinoError};

/// How long a started server may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A `pipelab serve` child process; killed when dropped, so that a failed or interrupted
/// run leaves no server behind.
pub(crate) struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Run<'_> {
    /// Start or kill the run's server.
    pub(crate) async fn server(&mut self, step: &ServerStep) -> Result<(String, String), Failure> {
        match step.action {
            ServerAction::Start => self.start_server(step.query_log).await,
            ServerAction::Kill => self.kill_server(),
        }
        .map(|summary| (summary, String::new()))
    }

    async fn start_server(&mut self, query_log: bool) -> Result<String, Failure> {
        if self.server.is_some() {
            return Err(Failure::user("a server is running already; kill it first"));
        }
        let program = self.program.clone().ok_or_else(|| {
            Failure::environment("server steps run the pipelab program, and this run has none")
        })?;
        let catalogs = self.server_catalogs(query_log)?;
        let log = self.dir.join("serve.log");
        let server = tokio::task::spawn_blocking(move || spawn_server(&program, &catalogs, &log))
            .await
            .map_err(Failure::environment)??;
        let summary = format!(
            "pid {} listening on http://127.0.0.1:{}{}",
            server.child.id(),
            server.port,
            if query_log {
                ", query events to topic pipelab_queries"
            } else {
                ""
            }
        );
        self.server = Some(server);
        Ok(summary)
    }

    /// The catalogs file the server gets: the run's, with `[query_log]` on the run's
    /// broker when asked for.
    fn server_catalogs(&self, query_log: bool) -> Result<PathBuf, Failure> {
        if !query_log {
            return Ok(self.catalogs.clone());
        }
        let stack = self
            .stack
            .as_ref()
            .ok_or_else(|| Failure::user("the scenario does not declare `needs = [\"kafka\"]`"))?;
        let mut text = std::fs::read_to_string(&self.catalogs).map_err(Failure::environment)?;
        text.push_str(&format!(
            "\n[query_log]\nbrokers = {:?}\n",
            stack.kafka_bootstrap()
        ));
        let path = self.dir.join("serve-catalogs.toml");
        std::fs::write(&path, text).map_err(Failure::environment)?;
        Ok(path)
    }

    fn kill_server(&mut self) -> Result<String, Failure> {
        let mut server = self
            .server
            .take()
            .ok_or_else(|| Failure::user("no server is running: start one first"))?;
        let pid = server.child.id();
        // Child::kill is SIGKILL on Unix: no handler runs, no event is written.
        server.child.kill().map_err(Failure::environment)?;
        let status = server.child.wait().map_err(Failure::environment)?;
        Ok(format!("pid {pid} ended: {status}"))
    }

    /// Run the step's SQL through the server; its answer as printed and as text.
    pub(crate) async fn answer_of_server(
        &self,
        sql: &str,
        at: &str,
    ) -> Result<(String, Table), Failure> {
        let answer = self.client()?.run(sql).await.map_err(|e| failure(at, e))?;
        let table = Table::of_json(answer.columns, &answer.rows);
        Ok((table.printed().map_err(Failure::environment)?, table))
    }

    /// Submit the step's SQL and read none of its answer: it runs on, waiting.
    pub(crate) async fn leave_running(
        &mut self,
        step: &QueryStep,
        sql: &str,
    ) -> Result<(String, String), Failure> {
        let page = self
            .client()?
            .submit(sql)
            .await
            .map_err(|e| failure(&step.file, e))?;
        let id = page["id"].as_str().unwrap_or("?");
        let state = page["stats"]["state"].as_str().unwrap_or("?");
        self.arrows.push(Arrow::new(
            "client",
            format!("query {id}, left {state}"),
            "pipelab serve",
        ));
        Ok((
            format!("query {id} submitted, {state}; its answer is left unread"),
            String::new(),
        ))
    }

    fn client(&self) -> Result<TrinoClient, Failure> {
        let server = self
            .server
            .as_ref()
            .ok_or_else(|| Failure::user("no server is running: start one first"))?;
        Ok(TrinoClient::new(server.port))
    }

    /// Run the step's SQL on the runner's engine until it answers with a row.
    pub(crate) async fn wait(&mut self, step: &WaitStep) -> Result<(String, String), Failure> {
        let path = self.scenario.folder.join(&step.file);
        let sql = std::fs::read_to_string(&path)
            .map_err(|e| Failure::user(format!("{}: {e}", path.display())))?;
        let deadline = Instant::now() + Duration::from_secs(step.timeout_seconds);
        let mut tries = 0;
        loop {
            tries += 1;
            let batches = self
                .engine()
                .await?
                .sql(&sql)
                .await
                .map_err(|e| Failure::of(e.is_user_fixable(), format!("{}: {e}", step.file)))?;
            if batches.iter().any(|b| b.num_rows() > 0) {
                let summary = format!("holds after {}", plural(tries, "attempt"));
                return Ok((summary, printed(&batches)?));
            }
            if Instant::now() > deadline {
                return Err(Failure::environment(format!(
                    "{}: no row after {} s ({})",
                    step.file,
                    step.timeout_seconds,
                    plural(tries, "attempt")
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// A query's error is the user's to fix; a server that does not answer is not.
fn failure(at: &str, error: TrinoError) -> Failure {
    match error {
        TrinoError::Query(message) => Failure::user(format!("{at}: {message}")),
        TrinoError::Server(message) => Failure::environment(format!("{at}: {message}")),
    }
}

/// `program serve --port 0 --catalogs FILE`, its output in `log`; returns once it says
/// where it listens.
fn spawn_server(program: &Path, catalogs: &Path, log: &Path) -> Result<Server, Failure> {
    let file = std::fs::File::create(log).map_err(Failure::environment)?;
    let child = Command::new(program)
        .args(["serve", "--port", "0", "--catalogs"])
        .arg(catalogs)
        .stdin(Stdio::null())
        .stdout(file.try_clone().map_err(Failure::environment)?)
        .stderr(file)
        .spawn()
        .map_err(|e| Failure::environment(format!("{}: {e}", program.display())))?;
    let mut server = Server { child, port: 0 };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let said = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(port) = said.lines().find_map(port_of) {
            server.port = port;
            return Ok(server);
        }
        let ended = server.child.try_wait().map_err(Failure::environment)?;
        if ended.is_some() || Instant::now() > deadline {
            return Err(Failure::environment(format!(
                "pipelab serve did not start ({}): {}",
                log.display(),
                said.trim()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The port in serve's first line (`… on http://127.0.0.1:PORT over …`).
fn port_of(line: &str) -> Option<u16> {
    let rest = line.split("://127.0.0.1:").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}
