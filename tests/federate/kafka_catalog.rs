//! Kafka topics as tables (`kind = "kafka"`) and the query event log (`[query_log]`):
//! a topic's records with Trino's internal columns and nothing lost, and the query a
//! killed `pipelab serve` was running found by SQL over the event topic after a restart.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use pipelab_ingest::RawRecord;
use serde_json::Value;

use crate::common::*;

fn write_catalogs(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("catalogs.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_is_a_table_of_its_records_and_bad_ones_are_kept_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(&dir.path().join("stack")).await;
    stack.create_topic("clicks", 3).await.unwrap();
    let events = generated(3000, 7);
    produce(&stack, "clicks", &events).await;
    let with =
        |key: &str, payload: Option<&[u8]>, headers: Vec<(String, Option<Vec<u8>>)>| RawRecord {
            key: Some(key.as_bytes().to_vec()),
            payload: payload.map(<[u8]>::to_vec),
            headers,
            ..RawRecord::new(0, 0, Vec::new())
        };
    let bad = vec![
        with(
            "k-bad",
            Some(b"not json"),
            vec![("trace".into(), Some(b"abc".to_vec()))],
        ),
        with(
            "k-misfit",
            Some(br#"{"event_id":"x","price":"cheap"}"#),
            vec![],
        ),
        with("k-gone", None, vec![]),
        // The name rules: a field that differs from a column only by case, a repeated key.
        with("k-case", Some(br#"{"event_id":"y","Price":1.5}"#), vec![]),
        with(
            "k-twice",
            Some(br#"{"event_id":"z","event_id":"w"}"#),
            vec![],
        ),
    ];
    produce_records(&stack, "clicks", bad).await;
    let catalogs = write_catalogs(
        dir.path(),
        &format!(
            "[catalogs.events]\nkind = \"kafka\"\nbrokers = \"{}\"\n",
            stack.kafka_bootstrap()
        ),
    );

    assert_eq!(
        catalog_rows(
            &catalogs,
            "SELECT count(*), count(DISTINCT _partition_id), \
             sum(CASE WHEN _message_corrupt THEN 1 ELSE 0 END) FROM events.default.clicks"
        ),
        [["3005", "3", "5"]]
    );
    // The value's fields are columns: the days counted from the topic are the produced ones.
    let per_topic_day: std::collections::BTreeMap<String, i64> = catalog_rows(
        &catalogs,
        "SELECT substr(ts, 1, 10), count(*) FROM clicks WHERE NOT _message_corrupt \
         GROUP BY 1 ORDER BY 1",
    )
    .into_iter()
    .map(|r| (r[0].clone(), r[1].parse().unwrap()))
    .collect();
    assert_eq!(per_topic_day, per_day(&events));
    // Records that do not decode keep their key, text and headers.
    assert_eq!(
        catalog_rows(
            &catalogs,
            "SELECT _key, _message IS NULL, _message = 'not json', price IS NULL, \
             coalesce(arrow_cast(_headers['trace'], 'Utf8'), '-') \
             FROM events.default.clicks WHERE _message_corrupt ORDER BY _key"
        ),
        [
            ["k-bad", "false", "true", "true", "abc"],
            ["k-case", "false", "false", "true", "-"],
            ["k-gone", "true", "", "true", "-"],
            ["k-misfit", "false", "false", "true", "-"],
            ["k-twice", "false", "false", "true", "-"],
        ]
    );
    // A colliding record's text is kept whole, and it is no row of the colliding column.
    assert_eq!(
        catalog_rows(
            &catalogs,
            r#"SELECT _key, _message IN ('{"event_id":"y","Price":1.5}',
             '{"event_id":"z","event_id":"w"}'), event_id IS NULL FROM clicks
             WHERE _key IN ('k-case', 'k-twice') ORDER BY _key"#
        ),
        [["k-case", "true", "true"], ["k-twice", "true", "true"]]
    );
    // Reaching the end of each partition is how a read ends, not an error to report.
    let out = output(
        pipelab(None)
            .args(["query", "--catalogs"])
            .arg(&catalogs)
            .arg("SELECT count(*) FROM clicks"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("ERROR"),
        "{stderr}"
    );
    // Offsets and partitions as filters, a LIMIT, and the topic listed as a table.
    assert_eq!(
        catalog_rows(
            &catalogs,
            "SELECT count(*), min(_partition_offset), max(_partition_offset) \
             FROM clicks WHERE _partition_id = 0 AND _partition_offset >= 10 \
             AND _partition_offset < 20"
        ),
        [["10", "10", "19"]]
    );
    assert_eq!(
        catalog_rows(
            &catalogs,
            "SELECT count(*) FROM (SELECT * FROM clicks LIMIT 5)"
        ),
        [["5"]]
    );
    // Keys are the producer's (the user id): every event of a user is found by its key.
    let user = &events[0].user_id;
    let of_user = events.iter().filter(|e| &e.user_id == user).count();
    assert_eq!(
        catalog_rows(
            &catalogs,
            &format!("SELECT count(*) FROM clicks WHERE _key = '{user}' AND user_id = _key")
        ),
        [[of_user.to_string()]]
    );
    assert_eq!(
        catalog_rows(
            &catalogs,
            "SELECT table_name FROM information_schema.tables \
             WHERE table_catalog = 'events' AND table_schema = 'default' ORDER BY 1"
        ),
        [["clicks"]]
    );
}

/// `pipelab query --catalogs FILE "SELECT 1"`: what opening the catalogs gives.
fn select_one(catalogs: &Path) -> std::process::Output {
    output(
        pipelab(None)
            .args(["query", "--catalogs"])
            .arg(catalogs)
            .arg("SELECT 1"),
    )
}

#[test]
fn a_kafka_catalog_that_cannot_be_used_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let down = write_catalogs(
        dir.path(),
        "[catalogs.events]\nkind = \"kafka\"\nbrokers = \"127.0.0.1:1\"\n",
    );
    assert_environment_error(select_one(&down), &["\"events\"", "127.0.0.1:1"]);
    let no_brokers = write_catalogs(dir.path(), "[catalogs.events]\nkind = \"kafka\"\n");
    assert_user_error(select_one(&no_brokers), &["line 1", "needs `brokers`"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_topic_in_the_catalogs_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(&dir.path().join("stack")).await;
    stack.create_topic("clicks", 1).await.unwrap();
    let catalogs = write_catalogs(
        dir.path(),
        &format!(
            "[catalogs.events]\nkind = \"kafka\"\nbrokers = \"{}\"\ntopics = [\"nope\"]\n",
            stack.kafka_bootstrap()
        ),
    );
    assert_user_error(select_one(&catalogs), &["\"nope\"", "clicks"]);
}

/// Ask until `check` holds of the rows of `sql` (events are stored as the queries
/// end; a cancelled query's last event is sent as its task is dropped).
fn eventually(port: u16, sql: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, rows, error) = Trino::new(port).run(sql);
        assert!(error.is_null(), "{error}");
        if check(&rows) || Instant::now() > deadline {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

const CRASHED: &str = "SELECT s.query_id, CAST(s._timestamp AS DATE) AS day, s.sql \
    FROM events.default.pipelab_queries s \
    WHERE s.event = 'query_submitted' AND NOT EXISTS (\
      SELECT 1 FROM events.default.pipelab_queries f \
      WHERE f.event = 'query_finished' AND f.query_id = s.query_id) \
    ORDER BY s.query_id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_a_killed_server_was_running_is_found_by_sql_over_the_event_topic() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(&dir.path().join("stack")).await;
    let catalogs = write_catalogs(
        dir.path(),
        &format!(
            "[catalogs.events]\nkind = \"kafka\"\nbrokers = \"{b}\"\n\n\
             [query_log]\nbrokers = \"{b}\"\n",
            b = stack.kafka_bootstrap()
        ),
    );
    let serve = || {
        Server::spawn(
            pipelab(None)
                .args(["serve", "--port", "0", "--catalogs"])
                .arg(&catalogs),
        )
    };
    let server = serve();
    let client = Trino::new(server.port);
    let (answered, rows, error) = client.run("SELECT 42 AS answer");
    assert_eq!((rows, error), (vec![serde_json::json!([42])], Value::Null));
    let (refused, _, error) = client.run("SELEC 1");
    assert_eq!(error["errorName"], "SYNTAX_ERROR", "{error}");
    // A long query cancelled by its client.
    let submitted = client.json("POST", "/v1/statement", "SELECT * FROM range(1000000000)");
    let cancelled = submitted["id"].as_str().unwrap().to_string();
    client.json("DELETE", &path_of(&submitted["nextUri"]).unwrap(), "");
    let finished = "SELECT query_id, state, rows, error IS NOT NULL \
        FROM events.default.pipelab_queries WHERE event = 'query_finished' ORDER BY query_id";
    let ended = eventually(server.port, finished, |rows| {
        rows.iter().any(|r| r[0] == cancelled.as_str())
    });
    // The engine of `pipelab query` logs its statements too.
    run_ok(
        pipelab(None)
            .args(["query", "--catalogs"])
            .arg(&catalogs)
            .arg("SELECT 1"),
    );
    // A long query the client does not read: it waits on the client, running, when the
    // server is killed.
    let running = client.json("POST", "/v1/statement", "SELECT * FROM range(1000000000)");
    let crashed = running["id"].as_str().unwrap().to_string();
    drop(server);

    let server = serve();
    let (audit, found, error) = Trino::new(server.port).run(CRASHED);
    assert!(error.is_null(), "{error}");
    // The crashed query, and the audit itself, which is running as it reads the topic.
    let ids: BTreeSet<&str> = found.iter().filter_map(|r| r[0].as_str()).collect();
    assert_eq!(
        ids,
        BTreeSet::from([crashed.as_str(), audit.as_str()]),
        "{found:?}"
    );
    let today = chrono::Utc::now().date_naive().to_string();
    assert!(found.iter().all(|r| r[1] == today.as_str()), "{found:?}");
    let crashed_row = found.iter().find(|r| r[0] == crashed.as_str()).unwrap();
    assert_eq!(crashed_row[2], "SELECT * FROM range(1000000000)");

    let state_of = |id: &str| {
        ended
            .iter()
            .find(|r| r[0] == id)
            .map(|r| (r[1].clone(), r[2].clone(), r[3].clone()))
    };
    assert_eq!(
        state_of(&answered),
        Some(("FINISHED".into(), 1.into(), false.into()))
    );
    assert_eq!(
        state_of(&refused),
        Some(("FAILED".into(), 0.into(), true.into()))
    );
    assert_eq!(state_of(&cancelled).map(|s| s.0), Some("CANCELED".into()));
    let (_, by_source, _) = Trino::new(server.port).run(
        "SELECT source, event, count(*) FROM events.default.pipelab_queries \
         WHERE source = 'query' GROUP BY 1, 2 ORDER BY 2",
    );
    assert_eq!(
        by_source,
        vec![
            serde_json::json!(["query", "query_finished", 1]),
            serde_json::json!(["query", "query_submitted", 1]),
        ]
    );
}
