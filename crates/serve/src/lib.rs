//! `pipelab serve`: Trino's client REST protocol over a [`QueryEngine`], so Trino's own
//! clients (the Python `trino` package, JDBC, the CLI) run federated SQL on pipelab.
//!
//! `POST /v1/statement` plans the statement and answers with its columns and a `nextUri`;
//! each `GET` of a `nextUri` returns the next page of rows; `DELETE` cancels. Results
//! stream: the query's batches pass through a channel of one batch, so a client that reads
//! slowly holds the query back rather than letting its result pile up in memory.

pub mod auth;
mod errors;
mod request;
mod response;
pub mod tls;
pub mod types;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use pipelab_federate::query_log::{FinishGuard, LoggedQuery, QueryState, new_query_id};
use pipelab_federate::{ClientSession, ClientStatement, FederateError, QueryEngine};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use errors::QueryError;

use crate::request::{bad_request, base_uri, client_session, request_user};
use crate::response::{Page, append_rows, columns_of, json_response, next_uri, results};

/// How the server pages and guards itself.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Rows per page at most.
    pub page_rows: usize,
    /// How long a `GET` waits for rows before answering with none (the client asks again).
    pub page_wait: Duration,
    /// The largest statement accepted, in bytes (larger: HTTP 413).
    pub max_statement_bytes: usize,
    /// A query no client has asked about for this long is cancelled.
    pub abandoned_after: Duration,
    /// Users, passwords and grants; `None`: anyone, as any user, may read everything.
    pub users: Option<Arc<auth::Users>>,
    /// HTTPS with this certificate and key ([`tls::server_config`]); `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            page_rows: 4096,
            page_wait: Duration::from_secs(1),
            max_statement_bytes: 1 << 20,
            abandoned_after: Duration::from_secs(300),
            users: None,
            tls: None,
        }
    }
}

/// Serve `engine` on `listener` until `shutdown` completes.
pub async fn serve(
    engine: Arc<QueryEngine>,
    listener: tokio::net::TcpListener,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Arc::new(App {
        engine,
        queries: Mutex::default(),
        started: Instant::now(),
        options: options.clone(),
    });
    tokio::spawn(reap_abandoned(Arc::downgrade(&app)));
    let router = Router::new()
        .route("/v1/statement", post(submit))
        .route(
            "/v1/statement/executing/{id}/{token}",
            get(next_page).delete(cancel),
        )
        .route("/v1/info", get(info))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(options.max_statement_bytes))
        .with_state(app);
    match options.tls {
        Some(config) => {
            axum::serve(tls::TlsListener::new(listener, config)?, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

struct App {
    engine: Arc<QueryEngine>,
    queries: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Query>>>>,
    started: Instant,
    options: ServeOptions,
}

/// One running query, between the client's pages.
struct Query {
    id: String,
    /// Who submitted it: only they may read its pages or cancel it.
    user: String,
    columns: Value,
    rows: Option<mpsc::Receiver<Result<RecordBatch, QueryError>>>,
    /// A batch partly sent, and the row to go on from.
    pending: Option<(RecordBatch, usize)>,
    /// Pages served; the next `nextUri` carries this token.
    served: u64,
    /// The last page, for a client that asks for it again.
    last: Option<(u64, Value)>,
    producer: JoinHandle<()>,
    rows_sent: u64,
    started: Instant,
    touched: Instant,
}

impl App {
    fn query(&self, id: &str) -> Option<Arc<tokio::sync::Mutex<Query>>> {
        self.queries.lock().ok()?.get(id).cloned()
    }

    fn forget(&self, id: &str) {
        if let Ok(mut queries) = self.queries.lock()
            && let Some(query) = queries.remove(id)
            && let Ok(query) = query.try_lock()
        {
            query.producer.abort();
        }
    }
}

async fn submit(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let (named, session) = match client_session(&headers) {
        Ok(s) => s,
        Err(message) => return bad_request(message),
    };
    let user = match request_user(app.options.users.as_deref(), &headers, named.as_deref()) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let Ok(sql) = std::str::from_utf8(&body) else {
        return bad_request("the statement is not UTF-8 text");
    };
    let id = new_query_id();
    let base = base_uri(app.options.tls.is_some(), &headers);
    let started = Instant::now();
    let respond = |columns: &Value, page: Page| {
        json_response(StatusCode::OK, &results(&id, &base, columns, page, started))
    };
    tracing::info!(%id, %user, "query submitted");
    // With a query log, nothing runs before its `query_submitted` is stored.
    let mut guard = None;
    if let Some(log) = app.engine.query_log() {
        let query = LoggedQuery::new(id.clone(), user.clone(), sql.trim(), "serve");
        if let Err(e) = log.submitted(&query).await {
            return respond(
                &Value::Null,
                Page::failed(&QueryError::internal(e.to_string())),
            );
        }
        guard = Some(FinishGuard::new(Arc::clone(log), query));
    }
    let df = match plan(&app, sql.trim(), &session, &user).await {
        Ok(ClientStatement::Query(df)) => df,
        Ok(ClientStatement::ViewChange(df)) => {
            return match change_view(&app, df, guard).await {
                Ok(()) => respond(&Value::Null, Page::finished(Vec::new())),
                Err(e) => respond(&Value::Null, Page::failed(&QueryError::of(&e))),
            };
        }
        Err((message, error)) => {
            if let Some(guard) = guard {
                guard.ended(Some(message)).await;
            }
            return respond(&Value::Null, Page::failed(&error));
        }
    };
    let columns = columns_of(df.schema().as_arrow());
    let (tx, rx) = mpsc::channel(1);
    let producer = tokio::spawn(produce(df, sql.to_string(), tx, guard));
    let query = Query {
        id: id.clone(),
        user,
        columns: columns.clone(),
        rows: Some(rx),
        pending: None,
        served: 0,
        last: None,
        producer,
        rows_sent: 0,
        started,
        touched: Instant::now(),
    };
    if let Ok(mut queries) = app.queries.lock() {
        queries.insert(id.clone(), Arc::new(tokio::sync::Mutex::new(query)));
    }
    respond(&columns, Page::running(Vec::new(), next_uri(&base, &id, 0)))
}

/// Plan a client's statement and check the user may run it: on failure, the message
/// for the query log and the error for the client.
async fn plan(
    app: &App,
    sql: &str,
    session: &ClientSession,
    user: &str,
) -> Result<ClientStatement, (String, QueryError)> {
    let (statement, access) = app
        .engine
        .plan_for_client(sql, session)
        .await
        .map_err(|e| (e.to_string(), QueryError::of(&e)))?;
    if let Some(users) = &app.options.users {
        users
            .check(user, &access)
            .map_err(|denied| (denied.clone(), QueryError::permission_denied(denied)))?;
    }
    Ok(statement)
}

/// Make or drop a view, and log how that ended.
async fn change_view(
    app: &App,
    df: datafusion::dataframe::DataFrame,
    guard: Option<FinishGuard>,
) -> Result<(), FederateError> {
    let done = app.engine.run_view_change(df).await;
    if let Some(guard) = guard {
        guard.ended(done.as_ref().err()).await;
    }
    done
}

/// Run the query, handing its batches to the pages through `tx`; with a query log, log
/// how it ended (an aborted task logs CANCELED as its guard is dropped).
async fn produce(
    df: datafusion::dataframe::DataFrame,
    sql: String,
    tx: mpsc::Sender<Result<RecordBatch, QueryError>>,
    mut guard: Option<FinishGuard>,
) {
    let mut stream = match df.execute_stream().await {
        Ok(stream) => stream,
        Err(e) => {
            let error = execution_error(&sql, e);
            if let Some(guard) = guard {
                guard.ended(Some(&error.message)).await;
            }
            let _ = tx.send(Err(error)).await;
            return;
        }
    };
    while let Some(item) = stream.next().await {
        let item = item
            .map(types::decoded)
            .map_err(|e| execution_error(&sql, e));
        match &item {
            Ok(batch) => guard.iter_mut().for_each(|g| g.add(batch)),
            Err(error) => {
                if let Some(guard) = guard.take() {
                    guard.ended(Some(&error.message)).await;
                }
            }
        }
        let failed = item.is_err();
        // A closed channel: the query was cancelled or abandoned (the guard logs it).
        if tx.send(item).await.is_err() || failed {
            return;
        }
    }
    if let Some(guard) = guard {
        guard.finish(QueryState::Finished, None).await;
    }
}

fn execution_error(sql: &str, e: datafusion::error::DataFusionError) -> QueryError {
    QueryError::of(&FederateError::Sql {
        sql: sql.trim().to_string(),
        source: Box::new(e),
        hint: String::new(),
    })
}

async fn next_page(
    State(app): State<Arc<App>>,
    Path((id, token)): Path<(String, u64)>,
    headers: HeaderMap,
) -> Response {
    let Some(query) = app.query(&id) else {
        return (
            StatusCode::NOT_FOUND,
            format!("no query {id} (finished, cancelled or never started)"),
        )
            .into_response();
    };
    let base = base_uri(app.options.tls.is_some(), &headers);
    let mut query = query.lock().await;
    if let Err(response) = owner_only(&app, &headers, &query) {
        return *response;
    }
    query.touched = Instant::now();
    if let Some((served, body)) = &query.last
        && *served == token
    {
        return json_response(StatusCode::OK, body);
    }
    if token != query.served {
        return (
            StatusCode::NOT_FOUND,
            format!("query {id} has no page {token} (next is {})", query.served),
        )
            .into_response();
    }
    let page = fill_page(&mut query, &app.options, &base).await;
    let done = page.next.is_none();
    let body = results(&query.id, &base, &query.columns, page, query.started);
    query.served += 1;
    query.last = Some((token, body.clone()));
    if done {
        tracing::info!(id = %query.id, rows = query.rows_sent, "query finished");
        drop(query);
        app.forget(&id);
    }
    json_response(StatusCode::OK, &body)
}

/// Up to a page of rows: what is there now, or what arrives within the page wait.
async fn fill_page(query: &mut Query, options: &ServeOptions, base: &str) -> Page {
    let deadline = tokio::time::Instant::now() + options.page_wait;
    let mut data = Vec::new();
    loop {
        if let Some((batch, offset)) = query.pending.take() {
            let take = (options.page_rows - data.len()).min(batch.num_rows() - offset);
            append_rows(&mut data, &batch, offset, take);
            if offset + take < batch.num_rows() {
                query.pending = Some((batch, offset + take));
            }
        }
        if data.len() >= options.page_rows {
            break;
        }
        let Some(rows) = query.rows.as_mut() else {
            break;
        };
        // Rows in hand go out as soon as no more are ready; an empty page waits a while.
        let received = if data.is_empty() {
            match tokio::time::timeout_at(deadline, rows.recv()).await {
                Ok(r) => r,
                Err(_) => break,
            }
        } else {
            match rows.try_recv() {
                Ok(r) => Some(r),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            }
        };
        match received {
            Some(Ok(batch)) => query.pending = Some((batch, 0)),
            Some(Err(error)) => {
                query.rows = None;
                return Page::failed(&error);
            }
            None => query.rows = None,
        }
    }
    query.rows_sent += data.len() as u64;
    if query.rows.is_none() && query.pending.is_none() {
        Page::finished(data)
    } else {
        Page::running(data, next_uri(base, &query.id, query.served + 1))
    }
}

/// With a users file, a query's pages and its cancelling are its submitter's alone; to
/// anyone else it does not exist.
fn owner_only(app: &App, headers: &HeaderMap, query: &Query) -> Result<(), Box<Response>> {
    if app.options.users.is_none() {
        return Ok(());
    }
    match request_user(app.options.users.as_deref(), headers, None) {
        Ok(user) if user == query.user => Ok(()),
        Ok(_) => Err(Box::new(
            (StatusCode::NOT_FOUND, format!("no query {}", query.id)).into_response(),
        )),
        Err(response) => Err(response),
    }
}

async fn cancel(
    State(app): State<Arc<App>>,
    Path((id, _token)): Path<(String, u64)>,
    headers: HeaderMap,
) -> Response {
    if let Some(query) = app.query(&id) {
        let query = query.lock().await;
        if let Err(response) = owner_only(&app, &headers, &query) {
            return *response;
        }
        query.producer.abort();
        tracing::info!(id = %query.id, rows = query.rows_sent, "query cancelled");
    }
    if let Ok(mut queries) = app.queries.lock() {
        queries.remove(&id);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn info(State(app): State<Arc<App>>) -> Response {
    let uptime = app.started.elapsed().as_secs_f64();
    json_response(
        StatusCode::OK,
        &json!({
            "nodeVersion": {"version": format!("pipelab-{}", env!("CARGO_PKG_VERSION"))},
            "environment": "pipelab",
            "coordinator": true,
            "starting": false,
            "uptime": format!("{uptime:.2}s"),
        }),
    )
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "pipelab serve speaks Trino's /v1/statement and /v1/info",
    )
        .into_response()
}

/// Cancel queries no client has asked about for `abandoned_after`.
async fn reap_abandoned(app: std::sync::Weak<App>) {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let Some(app) = app.upgrade() else {
            return;
        };
        let stale: Vec<String> = match app.queries.lock() {
            Ok(queries) => queries
                .iter()
                .filter(|(_, q)| {
                    q.try_lock()
                        .is_ok_and(|q| q.touched.elapsed() > app.options.abandoned_after)
                })
                .map(|(id, _)| id.clone())
                .collect(),
            Err(_) => Vec::new(),
        };
        for id in stale {
            tracing::info!(%id, "query abandoned by its client: cancelled");
            app.forget(&id);
        }
    }
}
