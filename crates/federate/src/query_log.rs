//! The query event log: every query emits `query_submitted` before it runs and
//! `query_finished` when it ends (finished, failed or cancelled), as JSON records keyed
//! by the query's id on a Kafka topic, like Trino's event listeners. A query whose
//! engine died mid-run has the first event and not the second; through a kafka catalog
//! the topic is a table, so finding such queries is one SQL query.
//!
//! ```toml
//! [query_log]
//! brokers = "127.0.0.1:9092"
//! topic = "pipelab_queries"   # the default
//! ```
//!
//! A query runs only once its `query_submitted` event is stored: an engine that cannot
//! log refuses to run queries rather than run them unaudited.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pipelab_ingest::client::create_topic;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use serde_json::{Value, json};
use thiserror::Error;

/// The topic events go to when the file names none.
pub const DEFAULT_TOPIC: &str = "pipelab_queries";

/// How long an event may take to be stored.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryLogConfig {
    /// The Kafka bootstrap servers.
    pub brokers: String,
    /// The topic the events go to (default `pipelab_queries`).
    pub topic: String,
}

/// The query log could not be reached or did not store an event: which topic, on which
/// cluster, what was being done.
#[derive(Debug, Error)]
#[error("query log (topic '{topic}' on {brokers}): {what}: {source}")]
pub struct QueryLogError {
    brokers: String,
    topic: String,
    what: &'static str,
    #[source]
    source: KafkaError,
}

/// A producer of query events.
pub struct QueryLog {
    producer: FutureProducer,
    config: QueryLogConfig,
}

impl std::fmt::Debug for QueryLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryLog")
            .field("config", &self.config)
            .finish()
    }
}

impl QueryLog {
    /// Connect and make the topic (one partition, so events keep their order) if the
    /// cluster does not have it.
    pub async fn connect(config: QueryLogConfig) -> Result<Self, QueryLogError> {
        let err = |what| {
            let config = config.clone();
            move |source| QueryLogError {
                brokers: config.brokers,
                topic: config.topic,
                what,
                source,
            }
        };
        let delivery_ms = DELIVERY_TIMEOUT.as_millis().to_string();
        let mut client = pipelab_ingest::client::config(&config.brokers);
        client
            .set("acks", "all")
            .set("linger.ms", "0")
            .set("message.timeout.ms", delivery_ms);
        let producer: FutureProducer = client.create().map_err(err("connect"))?;
        let admin: AdminClient<DefaultClientContext> = client.create().map_err(err("connect"))?;
        let options = AdminOptions::new().request_timeout(Some(DELIVERY_TIMEOUT));
        create_topic(&admin, &config.topic, 1, &options)
            .await
            .map_err(|e| err("create the topic")(e.into_kafka()))?;
        producer
            .client()
            .fetch_metadata(Some(&config.topic), DELIVERY_TIMEOUT)
            .map_err(err("reach the topic"))?;
        Ok(Self { producer, config })
    }

    /// The topic the events go to.
    pub fn topic(&self) -> &str {
        &self.config.topic
    }

    /// Store the `query_submitted` event; the query must not run before this returns Ok.
    pub async fn submitted(&self, query: &LoggedQuery) -> Result<(), QueryLogError> {
        let event = query.event("query_submitted", json!({"state": "QUEUED"}));
        self.send(&query.id, &event).await
    }

    /// Store the `query_finished` event. A failure is logged, not returned: the query
    /// has already run.
    pub async fn finished(&self, query: &LoggedQuery, outcome: &Outcome) {
        let mut fields = json!({
            "state": outcome.state.as_str(),
            "rows": outcome.rows,
            "bytes": outcome.bytes,
            "elapsed_ms": query.started.elapsed().as_millis() as u64,
        });
        // An absent field, not a null one: a topic's columns are typed from its values.
        if let Some(error) = &outcome.error {
            fields["error"] = Value::String(error.clone());
        }
        let event = query.event("query_finished", fields);
        if let Err(e) = self.send(&query.id, &event).await {
            tracing::warn!(query = %query.id, "query_finished not logged: {e}");
        }
    }

    async fn send(&self, id: &str, event: &Value) -> Result<(), QueryLogError> {
        let payload = event.to_string();
        let record = FutureRecord::to(&self.config.topic)
            .key(id)
            .payload(&payload);
        self.producer
            .send(record, DELIVERY_TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|(source, _)| QueryLogError {
                brokers: self.config.brokers.clone(),
                topic: self.config.topic.clone(),
                what: "store an event",
                source,
            })
    }
}

/// One query, as the log names it.
#[derive(Debug, Clone)]
pub struct LoggedQuery {
    /// The query's id, in Trino's form (see [`new_query_id`]).
    pub id: String,
    /// Who ran it: the client's user, or `$USER` for `pipelab query`.
    pub user: String,
    /// The statement as submitted.
    pub sql: String,
    /// What ran it: `serve` or `query`.
    pub source: &'static str,
    /// When it was submitted, for `elapsed_ms`.
    pub started: Instant,
}

impl LoggedQuery {
    /// A query submitted now.
    pub fn new(id: String, user: String, sql: &str, source: &'static str) -> Self {
        Self {
            id,
            user,
            sql: sql.to_string(),
            source,
            started: Instant::now(),
        }
    }

    fn event(&self, name: &str, fields: Value) -> Value {
        let mut event = json!({
            "event": name,
            "query_id": self.id,
            "user": self.user,
            "source": self.source,
            "sql": self.sql,
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        if let (Some(event), Value::Object(fields)) = (event.as_object_mut(), fields) {
            event.extend(fields);
        }
        event
    }
}

/// How a query ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryState {
    /// It ran to the end.
    Finished,
    /// It failed; `error` says why.
    Failed,
    /// It was cancelled or abandoned.
    Canceled,
}

impl QueryState {
    /// The state as Trino's clients spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryState::Finished => "FINISHED",
            QueryState::Failed => "FAILED",
            QueryState::Canceled => "CANCELED",
        }
    }
}

/// What a query did: rows and Arrow bytes of its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// How it ended.
    pub state: QueryState,
    /// Rows of the result.
    pub rows: u64,
    /// Arrow bytes of the result.
    pub bytes: u64,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// A query id in Trino's form, `YYYYMMDD_HHMMSS_NNNNN_xxxxx`: the time, a counter of
/// this process, and five random characters (ids from two processes do not clash).
pub fn new_query_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = chrono::Utc::now().format("%Y%m%d_%H%M%S");
    let tail = &uuid::Uuid::new_v4().simple().to_string()[..5];
    format!("{now}_{n:05}_{tail}")
}

/// Emits a query's `query_finished` exactly once: when told how it ended, or, when it is
/// dropped untold (the query's task was aborted: cancelled, abandoned), as CANCELED.
pub struct FinishGuard {
    log: Arc<QueryLog>,
    query: Option<LoggedQuery>,
    rows: u64,
    bytes: u64,
}

impl FinishGuard {
    /// A guard for `query`, which must be logged as submitted already.
    pub fn new(log: Arc<QueryLog>, query: LoggedQuery) -> Self {
        Self {
            log,
            query: Some(query),
            rows: 0,
            bytes: 0,
        }
    }

    /// Count a batch of the result.
    pub fn add(&mut self, batch: &datafusion::arrow::record_batch::RecordBatch) {
        self.rows += batch.num_rows() as u64;
        self.bytes += batch.get_array_memory_size() as u64;
    }

    /// Log the query as FINISHED, or as FAILED with `error`.
    pub async fn ended(self, error: Option<impl std::fmt::Display>) {
        match error {
            Some(e) => self.finish(QueryState::Failed, Some(e.to_string())).await,
            None => self.finish(QueryState::Finished, None).await,
        }
    }

    /// Log how the query ended.
    pub async fn finish(mut self, state: QueryState, error: Option<String>) {
        if let Some(query) = self.query.take() {
            let outcome = self.outcome(state, error);
            self.log.finished(&query, &outcome).await;
        }
    }

    fn outcome(&self, state: QueryState, error: Option<String>) -> Outcome {
        Outcome {
            state,
            rows: self.rows,
            bytes: self.bytes,
            error,
        }
    }
}

impl Drop for FinishGuard {
    fn drop(&mut self) {
        let Some(query) = self.query.take() else {
            return;
        };
        let outcome = self.outcome(QueryState::Canceled, None);
        let log = Arc::clone(&self.log);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { log.finished(&query, &outcome).await });
            }
            Err(_) => tracing::warn!(query = %query.id, "query_finished not logged: no runtime"),
        }
    }
}
