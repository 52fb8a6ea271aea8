//! The ingest guarantees under the events of a real pipeline: several members of one
//! spec (started together, one killed, one joining), values whose type changes, records
//! that cannot be stored, and a stored offset the log no longer has.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use crate::common::*;

/// A spec with the given [sink] extras, reading every partition (the default on the
/// embedded broker).
fn spec(dir: &Path, name: &str, brokers: &str, topic: &str, lake: &str, extra: &str) -> PathBuf {
    spec_with(dir, name, brokers, topic, lake, "all", extra)
}

/// A spec whose processes are members of the consumer group; the session timeout is
/// short so a killed member's partitions move on within seconds.
fn group_spec(dir: &Path, name: &str, brokers: &str, lake: &str, extra: &str) -> PathBuf {
    spec_with(dir, name, brokers, "clicks", lake, "group", extra)
}

fn spec_with(
    dir: &Path,
    name: &str,
    brokers: &str,
    topic: &str,
    lake: &str,
    assignment: &str,
    extra: &str,
) -> PathBuf {
    let source =
        format!("assignment = \"{assignment}\"\noptions = {{ \"session.timeout.ms\" = \"3000\" }}");
    let sink = format!("flush_interval_secs = 0.5\n{extra}");
    write_spec_with(dir, name, (brokers, topic), lake, &source, &sink)
}

fn member(stack: &pipelab_devstack::DevStack, spec: &Path) -> Child {
    pipelab(Some(stack))
        // Assignments and waits, printed with the output when a member fails.
        .env("PIPELAB_LOG", "pipelab_ingest=info,warn")
        .args(["run", "--quiet", "--until-idle"])
        .arg(spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> String {
    let (status, text) = wait(child);
    assert!(status.success(), "member failed ({status}): {text}");
    text
}

/// Wait for a child; its status and its stdout and stderr as text.
fn wait(child: Child) -> (std::process::ExitStatus, String) {
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status, text)
}

/// Like [`finish`], but a member that the embedded broker's group coordinator (tansu 0.6)
/// never gave an assignment may stop with pipelab's message for that, instead of hanging:
/// the test's last pass, without the group, stores what it left.
fn finish_or_wedged(child: Child) -> String {
    let (status, text) = wait(child);
    // The broker's failure, not the input's: exit code 1.
    let wedged = status.code() == Some(1) && text.contains("assigned no partitions");
    assert!(
        status.success() || wedged,
        "member failed ({status}): {text}"
    );
    text
}

/// The consumer group's committed offsets (the lag commits), summed over partitions.
fn group_committed(brokers: &str, group: &str, topic: &str, partitions: i32) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_started_together_share_the_topic_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("clicks", 4).await.unwrap();
    let events = generated(40_000, 21);
    produce(&stack, "clicks", &events).await;
    let lake = stack.lake_url();
    let brokers = stack.kafka_bootstrap();
    let spec = group_spec(dir.path(), "pair", &brokers, &lake, "flush_rows = 2000");

    let (a, b) = (member(&stack, &spec), member(&stack, &spec));
    let (out_a, out_b) = (finish(a), finish(b));
    eprintln!("member a:\n{out_a}\nmember b:\n{out_b}");
    assert_exactly_once(&stack, &lake, &events);
    assert_eq!(
        group_committed(&brokers, "pipelab-pair", "clicks", 4),
        40_000
    );
}

/// Without the group (the embedded broker's default) two processes of one spec each read
/// every partition; the commit guard still stores every record once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_reading_every_partition_store_each_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("clicks", 4).await.unwrap();
    let events = generated(30_000, 23);
    produce(&stack, "clicks", &events).await;
    let lake = stack.lake_url();
    let brokers = stack.kafka_bootstrap();
    let spec = spec(
        dir.path(),
        "both",
        &brokers,
        "clicks",
        &lake,
        "flush_rows = 2000",
    );
    let (a, b) = (member(&stack, &spec), member(&stack, &spec));
    let (out_a, out_b) = (finish(a), finish(b));
    eprintln!("process a:\n{out_a}\nprocess b:\n{out_b}");
    assert_exactly_once(&stack, &lake, &events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_member_and_a_joining_one_lose_and_repeat_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("clicks", 4).await.unwrap();
    let events = generated(60_000, 22);
    produce(&stack, "clicks", &events).await;
    let lake = stack.lake_url();
    let brokers = stack.kafka_bootstrap();
    let spec = group_spec(dir.path(), "trio", &brokers, &lake, "flush_rows = 3000");

    let mut a = member(&stack, &spec);
    let b = member(&stack, &spec);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        a.try_wait().unwrap().is_none(),
        "member a ended before it could be killed"
    );
    a.kill().unwrap(); // SIGKILL, to pipelab itself
    a.wait().unwrap();
    let c = member(&stack, &spec);
    eprintln!("member b: {}", finish_or_wedged(b));
    eprintln!("member c: {}", finish_or_wedged(c));
    // The killed member's partitions return to the group when its session expires; a
    // last process takes whatever is left. It reads every partition without the group:
    // after members leave, the embedded broker's coordinator (tansu 0.6) can keep a
    // departed leader and never settle again.
    let all = spec.with_file_name("trio_all.toml");
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("assignment = \"group\"", "assignment = \"all\"");
    std::fs::write(&all, text).unwrap();
    finish(member(&stack, &all));
    assert_exactly_once(&stack, &lake, &events);
}

/// Produce records with keys, headers and possibly null payloads.
fn produce_records(brokers: &str, topic: &str, records: &[Record]) {
    produce_records_with(brokers, topic, records, &[]);
}

/// [`produce_records`] with producer settings.
fn produce_records_with(brokers: &str, topic: &str, records: &[Record], config: &[(&str, &str)]) {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", brokers);
    for (k, v) in config {
        client.set(*k, *v);
    }
    let producer: ThreadedProducer<DefaultProducerContext> = client.create().unwrap();
    for r in records {
        let mut headers = OwnedHeaders::new();
        for (k, v) in &r.headers {
            headers = headers.insert(Header {
                key: k,
                value: v.as_deref(),
            });
        }
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).headers(headers);
        if let Some(k) = &r.key {
            record = record.key(k.as_slice());
        }
        if let Some(p) = &r.payload {
            record = record.payload(p.as_slice());
        }
        producer.send(record).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

#[derive(Default)]
struct Record {
    key: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    payload: Option<Vec<u8>>,
}

fn json(s: &str) -> Record {
    Record {
        payload: Some(s.as_bytes().to_vec()),
        ..Record::default()
    }
}

fn lake_rows(stack: &pipelab_devstack::DevStack, lake: &str, sql: &str) -> Vec<String> {
    query_csv(Some(stack), lake, sql)
        .into_iter()
        .map(|r| r.join("|"))
        .collect()
}

const TS: &str = r#""ts":"2026-11-23T10:00:00Z""#;

/// A stack with topic `prices` and a spec reading it with these [sink] extras. Every
/// record is a batch (`flush_rows = 1`), so types meet across batches.
async fn prices_pipeline(dir: &Path, extra: &str) -> (pipelab_devstack::DevStack, PathBuf) {
    let stack = start_stack(dir).await;
    stack.create_topic("prices", 1).await.unwrap();
    let extra = format!("flush_rows = 1\n{extra}");
    let (lake, brokers) = (stack.lake_url(), stack.kafka_bootstrap());
    let spec = spec(dir, "prices", &brokers, "prices", &lake, &extra);
    (stack, spec)
}

/// An integer column meets a fraction and a numeric string, a struct gains a sub-field,
/// in one process and after a restart: no value changes, the run never gets stuck, and
/// the records that do not fit are in the dead-letter table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_types_change_no_value_and_never_stick() {
    let dir = tempfile::tempdir().unwrap();
    let (stack, spec) = prices_pipeline(dir.path(), "").await;
    let (lake, brokers) = (stack.lake_url(), stack.kafka_bootstrap());
    let ts = TS;

    produce_records(
        &brokers,
        "prices",
        &[
            json(&format!(r#"{{"id":1,"price":10,"n":{{"a":1}},{ts}}}"#)),
            json(&format!(
                r#"{{"id":2,"price":10.5,"n":{{"a":2,"b":3}},{ts}}}"#
            )),
            json(&format!(
                r#"{{"id":3,"price":12,"n":{{"a":3,"b":4}},{ts}}}"#
            )),
        ],
    );
    run_until_idle(&stack, &spec);
    // A restart whose first batch holds a conflicting type (the table says bigint).
    produce_records(
        &brokers,
        "prices",
        &[
            json(&format!(r#"{{"id":4,"price":"4.7",{ts}}}"#)),
            json(&format!(r#"{{"id":5,"price":7.25,{ts}}}"#)),
            json(&format!(r#"{{"id":6,"price":8,"n":{{"a":6,"b":7}},{ts}}}"#)),
        ],
    );
    let out = run_until_idle(&stack, &spec);
    assert!(out.contains("read 3 records"), "{out}");
    assert_eq!(
        lake_rows(
            &stack,
            &lake,
            "SELECT id, price, n['a'], n['b'] FROM prices ORDER BY id"
        ),
        ["1|10|1|", "3|12|3|4", "6|8|6|7"]
    );
    let dead = lake_rows(
        &stack,
        &lake,
        "SELECT \"offset\", stage, raw_text, error FROM prices_dead_letters ORDER BY \"offset\"",
    );
    assert_eq!(dead.len(), 3, "{dead:?}");
    for (row, (offset, value)) in dead.iter().zip([(1, "10.5"), (3, "\"4.7\""), (4, "7.25")]) {
        assert!(row.starts_with(&format!("{offset}|decode|")), "{row}");
        assert!(row.contains("`price`") && row.contains(value), "{row}");
    }
    // Not stuck: a third run reads nothing and succeeds.
    let out = run_until_idle(&stack, &spec);
    assert!(out.contains("read 0 records"), "{out}");
}

/// `on_type_mismatch = "widen"`: the column's type grows instead (integer to double in
/// a running process, then double to text after a restart); every record is stored,
/// none is a dead letter, no value changes, and the Delta log says the new type to
/// other engines (delta-rs Python and DuckDB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widen_policy_changes_the_column_type_and_keeps_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let (stack, spec) = prices_pipeline(dir.path(), "on_type_mismatch = \"widen\"").await;
    let (lake, brokers) = (stack.lake_url(), stack.kafka_bootstrap());
    let ts = TS;
    produce_records(
        &brokers,
        "prices",
        &[
            json(&format!(r#"{{"id":1,"price":10,"n":{{"a":1}},{ts}}}"#)),
            json(&format!(
                r#"{{"id":2,"price":10.5,"n":{{"a":2,"b":3}},{ts}}}"#
            )),
            json(&format!(r#"{{"id":3,"price":12,{ts}}}"#)),
        ],
    );
    let out = run_until_idle(&stack, &spec);
    assert!(
        out.contains("wrote 3 rows") && out.contains(", 0 dead letters"),
        "{out}"
    );
    assert!(out.contains("widened in 1 rewrite"), "{out}");
    assert_eq!(
        lake_rows(
            &stack,
            &lake,
            "SELECT id, price, n['a'], n['b'] FROM prices ORDER BY id"
        ),
        ["1|10.0|1|", "2|10.5|2|3", "3|12.0||"]
    );

    // After a restart, the first batch holds text and then an object for `price`.
    produce_records(
        &brokers,
        "prices",
        &[
            json(&format!(r#"{{"id":4,"price":"4.7",{ts}}}"#)),
            json(&format!(r#"{{"id":5,"price":{{"amount":1}},{ts}}}"#)),
        ],
    );
    let out = run_until_idle(&stack, &spec);
    assert!(
        out.contains("read 2 records") && out.contains(", 0 dead letters"),
        "{out}"
    );
    let table_dir = dir.path().join("s3").join(stack.bucket()).join("prices");
    if require(
        "python deltalake + duckdb",
        python_has(&["deltalake", "duckdb"]),
        "pip install deltalake duckdb",
    ) {
        let report = json_of(
            std::process::Command::new(python())
                .arg(script("read_columns.py"))
                .arg(&table_dir)
                .args(["id", "price"]),
        );
        let prices = serde_json::json!([["10.0"], ["10.5"], ["12.0"], ["4.7"], ["{\"amount\":1}"]]);
        for (reader, text_type) in [("deltalake", "string"), ("duckdb", "VARCHAR")] {
            assert_eq!(
                report[reader]["types"]["price"], text_type,
                "{reader}: {report}"
            );
            assert_eq!(report[reader]["rows"], prices, "{reader}: {report}");
        }
    }
    // Not stuck, nothing read twice.
    let out = run_until_idle(&stack, &spec);
    assert!(out.contains("read 0 records"), "{out}");
    assert_eq!(
        lake_rows(
            &stack,
            &lake,
            "SELECT count(*), count(DISTINCT id) FROM prices"
        ),
        ["5|5"]
    );
}

/// A partition added to the topic while a pipeline runs is read too, from its start,
/// by the reader of every partition (the embedded broker's default). tansu does not
/// implement CreatePartitions, so the partition is added in its catalog (see
/// tests/python/add_partition.py). Group members are left to librdkafka, which rejoins
/// the group when the partition count changes; tansu's group then hands out the old
/// partitions only (a plain confluent-kafka consumer sees the same), so that case needs
/// a real Kafka to show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_added_while_running_is_read_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    let (lake, brokers) = (stack.lake_url(), stack.kafka_bootstrap());
    let topic = "grow";
    stack.create_topic(topic, 2).await.unwrap();
    let spec = spec_with(dir.path(), topic, &brokers, topic, &lake, "all", "");
    let event = |i: usize| format!(r#"{{"id":{i},"ts":"2026-11-23T10:00:00Z"}}"#);
    produce_to(&brokers, topic, &[0, 1], (0..100).map(event));
    let mut run = pipelab(Some(&stack))
        .env("PIPELAB_LOG", "pipelab_ingest=info,warn")
        .args(["run", "--quiet", "--max-records", "150"])
        .arg(&spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let added = std::process::Command::new(python())
        .arg(script("add_partition.py"))
        .arg(dir.path().join("kafka").join("tansu.db"))
        .args([topic, "3"])
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    produce_to(&brokers, topic, &[2], (100..150).map(event));
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while run.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    if run.try_wait().unwrap().is_none() {
        run.kill().unwrap();
    }
    let out = finish(run);
    assert!(out.contains("wrote 150 rows"), "{out}");
    let sql = format!("SELECT count(*), count(DISTINCT id), min(id) FROM {topic} WHERE id >= 100");
    assert_eq!(lake_rows(&stack, &lake, &sql), ["50|50|100"], "{out}");
}

/// Produce `payloads` round-robin to the given partitions.
fn produce_to(
    brokers: &str,
    topic: &str,
    partitions: &[i32],
    payloads: impl Iterator<Item = String>,
) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    for (i, payload) in payloads.enumerate() {
        let record = BaseRecord::<'_, [u8], [u8]>::to(topic)
            .partition(partitions[i % partitions.len()])
            .payload(payload.as_bytes());
        producer.send(record).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// Dead letters keep the record as it was: payload bytes (null distinct from empty),
/// key, headers and Kafka timestamp, with the stage and error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_keep_payload_key_headers_and_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("raw", 1).await.unwrap();
    let lake = stack.lake_url();
    let brokers = stack.kafka_bootstrap();
    let spec = spec(dir.path(), "raw", &brokers, "raw", &lake, "");
    let garbage = Record {
        key: Some(b"k1".to_vec()),
        headers: vec![("h1".into(), Some(b"v1".to_vec())), ("h2".into(), None)],
        payload: Some(vec![0xff, 0xfe, b'{']),
    };
    let tombstone = Record {
        key: Some(b"k2".to_vec()),
        ..Record::default()
    };
    let empty = Record {
        payload: Some(Vec::new()),
        ..Record::default()
    };
    produce_records(
        &brokers,
        "raw",
        &[
            garbage,
            json(r#"{"id":1,"ts":"2026-11-23T10:00:00Z"}"#),
            tombstone,
            empty,
        ],
    );
    let out = run_until_idle(&stack, &spec);
    assert!(out.contains("3 dead letters"), "{out}");
    assert_eq!(lake_rows(&stack, &lake, "SELECT id FROM raw"), ["1"]);
    let dead = lake_rows(
        &stack,
        &lake,
        "SELECT \"offset\", raw IS NULL, raw = X'', CAST(key AS VARCHAR), \
         array_length(headers), headers[1]['key'], CAST(headers[1]['value'] AS VARCHAR), \
         headers[2]['key'], headers[2]['value'] IS NULL, \"timestamp\" IS NOT NULL, stage \
         FROM raw_dead_letters ORDER BY \"offset\"",
    );
    assert_eq!(
        dead,
        [
            "0|false|false|k1|2|h1|v1|h2|true|true|decode",
            "2|true||k2|0||||true|true|decode",
            "3|false|true||0||||true|true|decode",
        ]
    );
    let raw = lake_rows(
        &stack,
        &lake,
        "SELECT raw = X'FFFE7B' FROM raw_dead_letters WHERE \"offset\" = 0",
    );
    assert_eq!(raw, ["true"]);

    // `dlq list` shows them, `--where` selects; `dlq replay` produces them again as
    // they were.
    let listed = run_ok(pipelab(Some(&stack)).args([
        "dlq",
        "list",
        "raw_dead_letters",
        "--lake",
        &lake,
        "--format",
        "csv",
        "--where",
        "raw IS NULL",
    ]));
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.contains("no payload"), "{listed}");
    stack.create_topic("replayed", 1).await.unwrap();
    let out = run_ok(pipelab(Some(&stack)).args([
        "dlq",
        "replay",
        "raw_dead_letters",
        "--lake",
        &lake,
        "--to",
        "replayed",
        "--brokers",
        &brokers,
    ]));
    assert!(out.contains("replayed 3 of 3 dead letters"), "{out}");
    let replayed = consume_all(&brokers, "replayed", 3);
    let expected: Vec<Consumed> = vec![
        (
            Some(b"k1".to_vec()),
            vec![("h1".into(), Some(b"v1".to_vec())), ("h2".into(), None)],
            Some(vec![0xff, 0xfe, b'{']),
        ),
        (Some(b"k2".to_vec()), vec![], None),
        (None, vec![], Some(Vec::new())),
    ];
    assert_eq!(replayed, expected);
}

/// A consumed record: key, headers and payload.
type Consumed = (
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
    Option<Vec<u8>>,
);

/// Every record of a topic (one partition), as key, headers and payload.
fn consume_all(brokers: &str, topic: &str, n: usize) -> Vec<Consumed> {
    use rdkafka::message::{Headers, Message};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "pipelab-test-reader")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while out.len() < n && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let headers = m.headers().map_or_else(Vec::new, |hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            });
            out.push((
                m.key().map(<[u8]>::to_vec),
                headers,
                m.payload().map(<[u8]>::to_vec),
            ));
        }
    }
    out
}

/// A stored offset the log no longer has stops the run with a message naming it,
/// unless the spec says to move on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_range_offset_stops_the_run_unless_the_spec_moves_on() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("gone", 1).await.unwrap();
    let lake = stack.lake_url();
    let brokers = stack.kafka_bootstrap();
    produce_records(
        &brokers,
        "gone",
        &(0..10)
            .map(|i| json(&format!(r#"{{"id":{i},"ts":"2026-11-23T10:00:00Z"}}"#)))
            .collect::<Vec<_>>(),
    );
    // The table says partition 0 stands at 1000, as if the topic had been re-created.
    write_resume_point(&stack, &lake, "gone", "pipelab/gone/gone/0", 1000).await;

    let strict = spec(dir.path(), "gone", &brokers, "gone", &lake, "");
    let out = output(
        pipelab(Some(&stack))
            .args(["run", "--until-idle"])
            .arg(&strict),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for expect in [
        "'gone' partition 0",
        "1000",
        "0 to 10",
        "on_offset_out_of_range",
    ] {
        assert!(stderr.contains(expect), "{expect:?} missing in: {stderr}");
    }

    let lenient = strict.with_file_name("lenient.toml");
    let text = std::fs::read_to_string(&strict).unwrap().replace(
        "topic = \"gone\"\n",
        "topic = \"gone\"\non_offset_out_of_range = \"earliest\"\n",
    );
    std::fs::write(&lenient, text).unwrap();
    let out = run_until_idle(&stack, &lenient);
    assert!(out.contains("1 partitions moved"), "{out}");
    assert_eq!(
        lake_rows(&stack, &lake, "SELECT count(*) FROM gone"),
        ["10"]
    );
}

async fn write_resume_point(
    stack: &pipelab_devstack::DevStack,
    lake: &str,
    table: &str,
    app_id: &str,
    offset: i64,
) {
    use arrow::datatypes::{DataType, Field, Schema};
    let options: std::collections::HashMap<String, String> = aws_env(stack)
        .into_iter()
        .filter(|(k, _)| k.starts_with("AWS_"))
        .collect();
    pipelab_lake::register_handlers();
    let location = pipelab_lake::LakeLocation::parse(lake, options).unwrap();
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("ts", DataType::Utf8, true),
        Field::new("dt", DataType::Utf8, true),
    ]));
    let spec = pipelab_lake::TableSpec {
        name: table.to_string(),
        partitioning: pipelab_lake::Partitioning::parse(&["dt"]).unwrap(),
        ..pipelab_lake::TableSpec::default()
    };
    let mut t = pipelab_lake::LakeTable::open_or_create(&location, &spec, schema)
        .await
        .unwrap();
    t.append(Vec::new(), &[(app_id.to_string(), offset)])
        .await
        .unwrap();
}

/// `pipelab produce` sends each line's bytes as they are (not only UTF-8), keyed by line
/// number; the pipeline dead-letters the line that is not JSON, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_sends_lines_as_bytes_and_bad_ones_reach_the_dead_letters_intact() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("lines", 1).await.unwrap();
    let lake = stack.lake_url();
    let brokers = stack.kafka_bootstrap();
    let file = dir.path().join("lines.jsonl");
    let mut bytes = br#"{"id":1,"ts":"2026-11-23T10:00:00Z"}"#.to_vec();
    bytes.extend_from_slice(b"\n\xff\xfe not utf-8\n");
    bytes.extend_from_slice(br#"{"id":3,"ts":"2026-11-23T10:00:00Z"}"#);
    bytes.push(b'\n');
    std::fs::write(&file, bytes).unwrap();
    let out = run_ok(
        pipelab(Some(&stack))
            .args(["produce", "--brokers", &brokers, "--topic", "lines"])
            .arg(&file),
    );
    assert!(out.contains("produced 3 records"), "{out}");
    let spec = spec(dir.path(), "lines", &brokers, "lines", &lake, "");
    run_until_idle(&stack, &spec);
    assert_eq!(
        lake_rows(&stack, &lake, "SELECT id FROM lines ORDER BY id"),
        ["1", "3"]
    );
    assert_eq!(
        lake_rows(
            &stack,
            &lake,
            "SELECT CAST(key AS VARCHAR), raw = X'FFFE206E6F74207574662D38' \
             FROM lines_dead_letters"
        ),
        ["2|true"]
    );
}

/// The crash harness: the pipeline as a child process (pipelab itself, no wrapper),
/// checked alive, then killed with SIGKILL at random moments (`PIPELAB_KILLS` times,
/// default 20), and once at the fail point between the lake commit and the group commit.
/// After every kill no record is in the lake twice; at the end every record is there
/// once, with the produced per-day counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_and_repeats_nothing() {
    let kills = kills();
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("clicks", 4).await.unwrap();
    let events = generated(300_000 * u64::from(kills.div_ceil(20)), 31);
    produce(&stack, "clicks", &events).await;
    let lake = stack.lake_url();
    let brokers = stack.kafka_bootstrap();
    let spec = spec(
        dir.path(),
        "kills",
        &brokers,
        "clicks",
        &lake,
        "flush_rows = 3000",
    );

    let out = run_until_failpoint(&stack, &spec, "pipeline-after-commit");
    assert!(!out.status.success(), "the fail point did not fire");
    let (rows, distinct) = total_and_distinct(&stack, &lake, "clicks");
    assert!(
        rows > 0 && rows == distinct,
        "{rows} rows, {distinct} distinct"
    );

    let mut killed = 0;
    for delay in replayable_delays(0x5eed, 100, 900).take(kills as usize) {
        let mut child = member(&stack, &spec);
        std::thread::sleep(delay);
        assert!(
            child.try_wait().unwrap().is_none(),
            "the pipeline ended before kill {} ({delay:?} in): the topic is too small",
            killed + 1
        );
        child.kill().unwrap();
        child.wait().unwrap();
        killed += 1;
        let (rows, distinct) = total_and_distinct(&stack, &lake, "clicks");
        assert_eq!(
            rows, distinct,
            "a record twice after kill {killed} at {delay:?}"
        );
    }
    finish(member(&stack, &spec));
    assert_exactly_once(&stack, &lake, &events);
}

/// Ten records, then silence: a running pipeline (no `--until-idle`) commits them on
/// its flush interval, without more records coming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_topic_is_committed_on_the_flush_interval() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("quiet", 1).await.unwrap();
    let lake = stack.lake_url();
    let brokers = stack.kafka_bootstrap();
    let spec = spec(dir.path(), "quiet", &brokers, "quiet", &lake, "");
    let mut child = pipelab(Some(&stack))
        .args(["run", "--quiet"])
        .arg(&spec)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    produce_records(
        &brokers,
        "quiet",
        &(0..10)
            .map(|i| json(&format!(r#"{{"id":{i},"ts":"2026-11-23T10:00:00Z"}}"#)))
            .collect::<Vec<_>>(),
    );
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    while started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(250));
        let out = output(pipelab(Some(&stack)).args([
            "query",
            "--lake",
            &lake,
            "--format",
            "csv",
            "SELECT count(*) FROM quiet",
        ]));
        rows = String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .map(str::to_string)
            .collect();
        if rows == ["10"] {
            break;
        }
    }
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(still_running, "the pipeline stopped by itself");
    assert_eq!(
        rows,
        ["10"],
        "not committed {:?} after the records",
        started.elapsed()
    );
    eprintln!(
        "committed {:?} after the last record (flush interval 0.5 s)",
        started.elapsed()
    );
}

/// A step that fails on some records at run time is narrowed down to them: they are
/// dead letters naming the step, the rest is stored. A step no record is to blame for
/// (an unknown column) stops the run with the SQL, exit code 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_dead_letters_its_records_and_a_wrong_one_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("steps", 1).await.unwrap();
    let lake = stack.lake_url();
    let brokers = stack.kafka_bootstrap();
    let write = |name: &str, sql: &str| {
        let path = dir.path().join(format!("{name}.toml"));
        let text = format!(
            "name = \"{name}\"\n[source]\nbrokers = \"{brokers}\"\ntopic = \"steps\"\n\
             [[steps]]\nname = \"to_number\"\nsql = \"{sql}\"\n\
             [sink]\nlocation = \"{lake}\"\ntable = \"{name}\"\n"
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    produce_records(
        &brokers,
        "steps",
        &["1", "2", "x", "4", "5", "6", "y", "8"].map(|n| json(&format!(r#"{{"n":"{n}"}}"#))),
    );
    let good = write("casts", "SELECT CAST(n AS BIGINT) AS n FROM input");
    let out = run_until_idle(&stack, &good);
    assert!(out.contains("2 dead letters"), "{out}");
    assert_eq!(
        lake_rows(&stack, &lake, "SELECT n FROM casts ORDER BY n"),
        ["1", "2", "4", "5", "6", "8"]
    );
    let dead = lake_rows(
        &stack,
        &lake,
        "SELECT \"offset\", stage, raw_text = '{\"n\":\"x\"}' OR raw_text = '{\"n\":\"y\"}' \
         FROM casts_dead_letters ORDER BY \"offset\"",
    );
    assert_eq!(dead, ["2|to_number|true", "6|to_number|true"]);

    let wrong = write("wrong", "SELECT nope FROM input");
    let out = output(
        pipelab(Some(&stack))
            .args(["run", "--until-idle"])
            .arg(&wrong),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("nope") && stderr.contains("to_number"),
        "{stderr}"
    );
}

/// A topic that does not exist is named, exit code 2, before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_topic_is_named_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    let lake = stack.lake_url();
    let spec = spec(
        dir.path(),
        "nope",
        &stack.kafka_bootstrap(),
        "nope",
        &lake,
        "",
    );
    let out = output(
        pipelab(Some(&stack))
            .args(["run", "--until-idle"])
            .arg(&spec),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("topic 'nope' does not exist"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Batches that span 1,000 date partitions from 8 Kafka partitions stay within the
/// memory budget: the run's peak of anonymous memory (RssAnon, which pipelab samples from
/// /proc and prints; the resident set also holds ~80 MiB of the program's own code) stays
/// under the budget plus 64 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_over_a_thousand_partitions_stays_within_the_memory_budget() {
    const RECORDS: usize = 200_000;
    const DAYS: usize = 1_000;
    const BUDGET_MB: u64 = 64;
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("wide", 8).await.unwrap();
    let first = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let records: Vec<(String, Vec<u8>)> = (0..RECORDS)
        .map(|i| {
            let day = first + chrono::Days::new((i % DAYS) as u64);
            let payload = format!(
                r#"{{"id":{i},"ts":"{day}T10:{:02}:00Z","user_id":"u{}","page":"/products/{}","referrer":"https://search.example.com/?q=item-{}","amount":{}.{:02}}}"#,
                i % 60,
                i % 7919,
                i % 503,
                i % 211,
                i % 1000,
                i % 100
            );
            (i.to_string(), payload.into_bytes())
        })
        .collect();
    produce_raw(&stack, "wide", records).await;
    let lake = dir.path().join("lake");
    let spec = spec(
        dir.path(),
        "wide",
        &stack.kafka_bootstrap(),
        "wide",
        lake.to_str().unwrap(),
        "",
    );
    set_memory_budget(&spec, BUDGET_MB);
    let out = run_until_idle(&stack, &spec);
    let peak_mib: f64 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("peak memory: data "))
        .and_then(mib)
        .unwrap_or_else(|| panic!("no peak memory line in: {out}"));
    let lake = lake.to_str().unwrap();
    let rows = lake_rows(
        &stack,
        lake,
        "SELECT count(*), count(DISTINCT id), count(DISTINCT dt) FROM wide",
    );
    assert_eq!(rows, [format!("{RECORDS}|{RECORDS}|{DAYS}")], "{out}");
    eprintln!("peak data memory {peak_mib:.1} MiB with memory_budget_mb = {BUDGET_MB}: {out}");
    assert!(
        peak_mib < (BUDGET_MB + 64) as f64,
        "peak memory {peak_mib:.1} MiB is over the budget {BUDGET_MB} MiB + 64 MiB: {out}"
    );
}

/// Set a spec's top-level `memory_budget_mb` (replacing one set before).
fn set_memory_budget(spec: &Path, mb: u64) {
    let text = std::fs::read_to_string(spec).unwrap();
    let rest: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("memory_budget_mb"))
        .collect();
    std::fs::write(
        spec,
        format!("memory_budget_mb = {mb}\n{}\n", rest.join("\n")),
    )
    .unwrap();
}

/// "123.4 MiB (resident; …)" → 123.4 (KiB and GiB converted).
fn mib(text: &str) -> Option<f64> {
    let mut words = text.split_whitespace();
    let value: f64 = words.next()?.parse().ok()?;
    match words.next()? {
        "KiB" => Some(value / 1024.0),
        "MiB" => Some(value),
        "GiB" => Some(value * 1024.0),
        _ => None,
    }
}

/// A record larger than a batch may hold under the memory budget stops the run, exit
/// code 2, with a message naming its partition and offset and the setting to raise; the
/// records before it are stored, and a larger budget then reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_larger_than_the_budget_allows_is_named_and_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("big", 1).await.unwrap();
    let brokers = stack.kafka_bootstrap();
    let blob = "x".repeat(1_500_000);
    let mut records: Vec<Record> = (0..3)
        .map(|i| json(&format!(r#"{{"id":{i},"ts":"2026-11-23T10:00:00Z"}}"#)))
        .collect();
    records.push(json(&format!(
        r#"{{"id":3,"ts":"2026-11-23T10:00:00Z","blob":"{blob}"}}"#
    )));
    produce_records_with(
        &brokers,
        "big",
        &records,
        &[("message.max.bytes", "4000000")],
    );
    let lake = dir.path().join("lake");
    let lake = lake.to_str().unwrap();
    let spec = spec(dir.path(), "big", &brokers, "big", lake, "");
    set_memory_budget(&spec, 8);
    let out = output(
        pipelab(Some(&stack))
            .args(["run", "--quiet", "--until-idle"])
            .arg(&spec),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("partition 0 offset 3") && stderr.contains("raise `memory_budget_mb`"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(lake_rows(&stack, lake, "SELECT count(*) FROM big"), ["3"]);

    set_memory_budget(&spec, 32);
    run_until_idle(&stack, &spec);
    assert_eq!(
        lake_rows(&stack, lake, "SELECT count(*), max(length(blob)) FROM big"),
        ["4|1500000"]
    );
}

/// A lake the run may not write to (the S3 endpoint refuses its key): exit code 2 with
/// a message naming the lake, nothing committed and nothing lost: with the right key the
/// next run stores every record once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lake_that_refuses_writes_stops_the_run_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("denied", 2).await.unwrap();
    let events = generated(2_000, 11);
    produce(&stack, "denied", &events).await;
    let lake = stack.lake_url();
    let spec = spec(
        dir.path(),
        "denied",
        &stack.kafka_bootstrap(),
        "denied",
        &lake,
        "",
    );
    let out = output(
        pipelab(Some(&stack))
            .env("AWS_SECRET_ACCESS_KEY", "not-the-key")
            .args(["run", "--quiet", "--until-idle"])
            .arg(&spec),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&lake), "the lake is not named: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "not one message: {stderr}"
    );

    run_until_idle(&stack, &spec);
    let rows = lake_rows(
        &stack,
        &lake,
        "SELECT count(*), count(DISTINCT event_id) FROM denied",
    );
    assert_eq!(rows, ["2000|2000"]);
}

/// The lake's storage going down while a pipeline runs (a service failing mid-run)
/// stops the run with exit code 1, the environment's failure, naming the lake; nothing
/// is lost: once the storage is back, the next run stores every record once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_going_down_mid_run_exits_1_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let kafka = start_stack(&dir.path().join("kafka")).await;
    let storage_dir = dir.path().join("storage");
    let storage = start_stack(&storage_dir).await;
    kafka.create_topic("falls", 1).await.unwrap();
    let brokers = kafka.kafka_bootstrap();
    let lake = storage.lake_url();
    let spec = spec(dir.path(), "falls", &brokers, "falls", &lake, "");
    let record = |i: u32| json(&format!(r#"{{"id":{i},"ts":"2026-11-23T10:00:00Z"}}"#));
    let child = pipelab(Some(&storage))
        .args(["run", "--quiet"])
        .arg(&spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    produce_records(&brokers, "falls", &(0..10).map(record).collect::<Vec<_>>());
    let started = std::time::Instant::now();
    while falls_rows(&storage, &lake) != Some(10) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the first records were not committed"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let (_, s3_port) = storage.ports();
    let aws = aws_env(&storage);
    storage.shutdown().await;
    produce_records(&brokers, "falls", &(10..20).map(record).collect::<Vec<_>>());
    let pid = child.id().to_string();
    let waited = tokio::time::timeout(
        Duration::from_secs(180),
        tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()),
    )
    .await;
    let Ok(out) = waited else {
        let _ = std::process::Command::new("kill").arg(&pid).status();
        panic!("the run did not stop within 180 s of its storage going down");
    };
    assert_environment_error(out.unwrap(), &[&lake]);

    let mut config = pipelab_devstack::DevStackConfig::new(&storage_dir);
    config.s3_port = s3_port;
    let storage = pipelab_devstack::DevStack::start(config).await.unwrap();
    assert_eq!(aws_env(&storage), aws, "the storage came back elsewhere");
    run_until_idle(&storage, &spec);
    let rows = lake_rows(
        &storage,
        &lake,
        "SELECT count(*), count(DISTINCT id) FROM falls",
    );
    assert_eq!(rows, ["20|20"]);
}

/// The row count of table `falls`, or `None` while it does not exist.
fn falls_rows(stack: &pipelab_devstack::DevStack, lake: &str) -> Option<i64> {
    let out = output(pipelab(Some(stack)).args([
        "query",
        "--lake",
        lake,
        "--format",
        "csv",
        "SELECT count(*) FROM falls",
    ]));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)?
        .parse()
        .ok()
}

/// `pipelab bench ingest` runs both sides on the same records, checks each stored every
/// record, and writes its results with the ratio.
#[test]
fn the_ingest_benchmark_compares_with_python_on_the_same_records() {
    if !require(
        "Python with pyarrow and deltalake",
        python_has(&["pyarrow", "deltalake"]),
        "pip install -r tests/python/requirements.txt",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(
        pipelab(None)
            .args([
                "bench",
                "ingest",
                "--records",
                "3000",
                "--batch",
                "1000",
                "--runs",
                "2",
            ])
            .arg("--python")
            .arg(python())
            .arg("--out")
            .arg(dir.path()),
    );
    assert!(out.contains("ratio per core: pipelab"), "{out}");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("ingest.json")).unwrap()).unwrap();
    assert_eq!(results["pipelab"]["rows"], 3000, "{results}");
    assert_eq!(results["python"]["rows"], 3000, "{results}");
    for side in ["pipelab_runs", "python_runs"] {
        assert_eq!(results[side].as_array().unwrap().len(), 2, "{results}");
    }
    assert!(
        results["ratio_per_core"].as_f64().unwrap() > 0.0,
        "{results}"
    );
}
