//! A client of Trino's protocol, as the server steps talk to `pipelab serve`: POST the
//! statement, then follow `nextUri` until the answer ends, as the Python `trino` client
//! and the JDBC driver do.

use serde_json::Value;

/// Who the server steps say they are (`X-Trino-User`).
const USER: &str = "scenario";

/// A failed exchange: the query's own error (bad SQL: the user can fix it), or the
/// server not answering as the protocol says (the environment).
#[derive(Debug)]
pub(crate) enum TrinoError {
    /// The query failed: the error's name and message.
    Query(String),
    /// The server did not answer, or not with the protocol's JSON.
    Server(String),
}

/// An answer: its column names and its rows as JSON values.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<Value>>,
}

/// The server at `http://127.0.0.1:PORT`.
pub(crate) struct TrinoClient {
    http: reqwest::Client,
    base: String,
}

impl TrinoClient {
    pub(crate) fn new(port: u16) -> Self {
        TrinoClient {
            http: reqwest::Client::new(),
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Submit `sql` and return its first page, reading nothing more: the query runs on,
    /// waiting on this client.
    pub(crate) async fn submit(&self, sql: &str) -> Result<Value, TrinoError> {
        let url = format!("{}/v1/statement", self.base);
        self.exchange(self.http.post(&url).body(sql.to_string()))
            .await
    }

    /// Run `sql` to the end.
    pub(crate) async fn run(&self, sql: &str) -> Result<Answer, TrinoError> {
        let mut page = self.submit(sql).await?;
        let (mut columns, mut rows) = (Vec::new(), Vec::new());
        loop {
            if let Some(error) = page.get("error").filter(|e| !e.is_null()) {
                return Err(TrinoError::Query(format!(
                    "{}: {}",
                    error["errorName"].as_str().unwrap_or("ERROR"),
                    error["message"].as_str().unwrap_or_default()
                )));
            }
            if columns.is_empty()
                && let Some(listed) = page["columns"].as_array()
            {
                columns = listed
                    .iter()
                    .map(|c| c["name"].as_str().unwrap_or_default().to_string())
                    .collect();
            }
            if let Some(data) = page["data"].as_array() {
                rows.extend(
                    data.iter()
                        .map(|r| r.as_array().cloned().unwrap_or_default()),
                );
            }
            match page["nextUri"].as_str() {
                Some(next) => page = self.exchange(self.http.get(next)).await?,
                None => return Ok(Answer { columns, rows }),
            }
        }
    }

    async fn exchange(&self, request: reqwest::RequestBuilder) -> Result<Value, TrinoError> {
        let server = |e: &dyn std::fmt::Display| TrinoError::Server(format!("{}: {e}", self.base));
        let response = request
            .header("X-Trino-User", USER)
            .send()
            .await
            .map_err(|e| server(&e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| server(&e))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(server(&format!("HTTP {status}: {}", text.trim())));
        }
        serde_json::from_slice(&body).map_err(|e| server(&e))
    }
}
