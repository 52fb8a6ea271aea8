//! What the server answers: the JSON body of a page of results (Trino's `QueryResults`),
//! its columns and rows, and the URI of the next page.

use std::time::Instant;

use arrow::array::RecordBatch;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::errors::QueryError;
use crate::types;

/// `body` as an `application/json` answer.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Where the client asks for page `token` of query `id`.
pub(crate) fn next_uri(base: &str, id: &str, token: u64) -> String {
    format!("{base}/v1/statement/executing/{id}/{token}")
}

/// The `columns` of a result: each name with its Trino type and type signature.
pub(crate) fn columns_of(schema: &arrow::datatypes::Schema) -> Value {
    Value::Array(
        schema
            .fields()
            .iter()
            .map(|f| {
                let t = types::trino_field_type(f);
                json!({"name": f.name(), "type": t.name, "typeSignature": t.signature})
            })
            .collect(),
    )
}

/// What one response says besides the query's id and columns.
pub(crate) struct Page {
    pub(crate) data: Vec<Value>,
    pub(crate) next: Option<String>,
    state: &'static str,
    error: Option<Value>,
}

impl Page {
    pub(crate) fn running(data: Vec<Value>, next: String) -> Self {
        Self {
            data,
            next: Some(next),
            state: "RUNNING",
            error: None,
        }
    }

    pub(crate) fn finished(data: Vec<Value>) -> Self {
        Self {
            data,
            next: None,
            state: "FINISHED",
            error: None,
        }
    }

    pub(crate) fn failed(error: &QueryError) -> Self {
        Self {
            data: Vec::new(),
            next: None,
            state: "FAILED",
            error: Some(error.to_json()),
        }
    }
}

pub(crate) fn results(
    id: &str,
    base: &str,
    columns: &Value,
    page: Page,
    started: Instant,
) -> Value {
    let elapsed = started.elapsed().as_millis() as u64;
    let mut body = json!({
        "id": id,
        "infoUri": format!("{base}/ui/query.html?{id}"),
        "stats": {
            "state": page.state, "queued": false, "scheduled": true, "nodes": 1,
            "totalSplits": 0, "queuedSplits": 0, "runningSplits": 0, "completedSplits": 0,
            "cpuTimeMillis": 0, "wallTimeMillis": elapsed, "queuedTimeMillis": 0,
            "elapsedTimeMillis": elapsed, "processedRows": 0, "processedBytes": 0,
            "physicalInputBytes": 0, "peakMemoryBytes": 0, "spilledBytes": 0,
        },
        "warnings": [],
    });
    if !columns.is_null() {
        body["columns"] = columns.clone();
    }
    if !page.data.is_empty() {
        body["data"] = Value::Array(page.data);
    }
    if let Some(next) = page.next {
        body["nextUri"] = Value::String(next);
    }
    if let Some(error) = page.error {
        body["error"] = error;
    }
    body
}

/// Rows `offset..offset + count` of `batch` as JSON arrays, in Trino's value encoding.
pub(crate) fn append_rows(data: &mut Vec<Value>, batch: &RecordBatch, offset: usize, count: usize) {
    for row in offset..offset + count {
        data.push(Value::Array(
            batch
                .columns()
                .iter()
                .map(|column| types::value(column, row))
                .collect(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn a_running_page_carries_its_rows_and_the_next_uri() {
        let batch = batch();
        let columns = columns_of(&batch.schema());
        assert_eq!(columns[0]["name"], "id");
        assert_eq!(columns[0]["type"], "bigint");
        assert_eq!(columns[1]["type"], "varchar");
        let mut data = Vec::new();
        append_rows(&mut data, &batch, 1, 2);
        let next = next_uri("http://h:1", "q1", 2);
        assert_eq!(next, "http://h:1/v1/statement/executing/q1/2");
        let body = results(
            "q1",
            "http://h:1",
            &columns,
            Page::running(data, next.clone()),
            Instant::now(),
        );
        assert_eq!(body["id"], "q1");
        assert_eq!(body["stats"]["state"], "RUNNING");
        assert_eq!(body["nextUri"], next.as_str());
        assert_eq!(body["data"], json!([[2, null], [3, "c"]]));
        assert!(body.get("error").is_none());
    }

    #[test]
    fn the_last_page_has_no_next_uri_and_an_empty_one_no_data() {
        let body = results(
            "q1",
            "http://h:1",
            &Value::Null,
            Page::finished(Vec::new()),
            Instant::now(),
        );
        assert_eq!(body["stats"]["state"], "FINISHED");
        // Trino's clients stop at a page without nextUri; no columns or data keys when
        // there are none (the client reads their absence, not an empty list).
        assert!(body.get("nextUri").is_none());
        assert!(body.get("data").is_none());
        assert!(body.get("columns").is_none());
    }

    #[test]
    fn a_failed_page_carries_trinos_error_object() {
        let error = QueryError::user("SYNTAX_ERROR", 1, "line 1:8: mismatched input");
        let body = results(
            "q1",
            "http://h:1",
            &Value::Null,
            Page::failed(&error),
            Instant::now(),
        );
        assert_eq!(body["stats"]["state"], "FAILED");
        assert_eq!(body["error"]["errorName"], "SYNTAX_ERROR");
        assert!(body.get("nextUri").is_none());
    }
}
