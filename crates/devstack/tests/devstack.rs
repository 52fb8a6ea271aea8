//! End-to-end check of the embedded stack with real clients: rdkafka against the broker,
//! object_store's S3 client against the S3 endpoint; then a restart on the same data
//! directory, which crash/recovery tests elsewhere depend on.

use std::{collections::BTreeMap, str::FromStr, sync::Arc, time::Duration};

use futures::TryStreamExt;
use object_store::{
    ObjectStore, ObjectStoreExt, PutMode, PutPayload,
    aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey},
    path::Path as ObjectPath,
};
use pipelab_devstack::{DevStack, DevStackConfig, DevstackError, KAFKA_CONSUMER_OVERRIDES};
use rdkafka::{
    ClientConfig, Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer},
    producer::{FutureProducer, FutureRecord},
};

const TOPIC: &str = "events";
const PARTITIONS: i32 = 4;
const MESSAGES: i64 = 1000;
const GROUP: &str = "devstack-test";
const TIMEOUT: Duration = Duration::from_secs(30);

fn consumer_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    for (key, value) in KAFKA_CONSUMER_OVERRIDES {
        config.set(*key, *value);
    }
    config
}

fn s3_store(stack: &DevStack) -> AmazonS3 {
    let mut builder = AmazonS3Builder::new().with_url(stack.lake_url());
    for (key, value) in stack.s3_storage_options() {
        let key = AmazonS3ConfigKey::from_str(&key)
            .unwrap_or_else(|err| panic!("object_store rejects option {key}: {err}"));
        builder = builder.with_config(key, value);
    }
    builder.build().expect("S3 client")
}

/// High watermark of every partition, read with a blocking client off the async workers.
async fn high_watermarks(bootstrap: String) -> Vec<i64> {
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = consumer_config(&bootstrap).create().expect("consumer");
        (0..PARTITIONS)
            .map(|p| {
                let (low, high) = consumer
                    .fetch_watermarks(TOPIC, p, TIMEOUT)
                    .expect("watermarks");
                assert_eq!(low, 0, "partition {p} low watermark");
                high
            })
            .collect()
    })
    .await
    .expect("watermark task")
}

/// Committed offsets of GROUP, read by a fresh client so they must come from the broker.
async fn committed(bootstrap: String) -> Vec<Offset> {
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = consumer_config(&bootstrap).create().expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition(TOPIC, p);
        }
        let tpl = consumer
            .committed_offsets(tpl, TIMEOUT)
            .expect("committed_offsets");
        (0..PARTITIONS)
            .map(|p| {
                tpl.find_partition(TOPIC, p)
                    .expect("partition in committed list")
                    .offset()
            })
            .collect()
    })
    .await
    .expect("committed task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_and_s3_round_trip_and_survive_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = std::time::Instant::now();
    let stack = DevStack::start(DevStackConfig::new(dir.path()))
        .await
        .expect("stack starts");
    eprintln!("start: {:?} {stack:?}", t0.elapsed());

    assert!(stack.kafka_bootstrap().starts_with("127.0.0.1:"));
    assert!(stack.s3_endpoint().starts_with("http://127.0.0.1:"));
    assert_eq!(stack.lake_url(), "s3://lake");
    assert!(
        dir.path().join("kafka").join("tansu.db").is_file(),
        "broker database lives in the data dir"
    );

    // --- topics: create, idempotent re-create, mismatch -----------------------------
    let t = std::time::Instant::now();
    stack.create_topic(TOPIC, PARTITIONS).await.expect("create");
    eprintln!("create_topic: {:?}", t.elapsed());
    stack
        .create_topic(TOPIC, PARTITIONS)
        .await
        .expect("re-create is a no-op");
    match stack.create_topic(TOPIC, 3).await {
        Err(DevstackError::TopicPartitionMismatch { existing: 4, .. }) => {}
        other => panic!("expected a partition mismatch, got {other:?}"),
    }

    // --- produce ------------------------------------------------------------------------
    let bootstrap = stack.kafka_bootstrap();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("broker.address.family", "v4")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let t = std::time::Instant::now();
    let sends = (0..MESSAGES).map(|i| {
        let producer = &producer;
        async move {
            let key = format!("k{i}");
            let payload = format!("message-{i}");
            let partition = (i % PARTITIONS as i64) as i32;
            producer
                .send(
                    FutureRecord::to(TOPIC)
                        .partition(partition)
                        .key(&key)
                        .payload(&payload),
                    TIMEOUT,
                )
                .await
                .map_err(|(err, _)| err)
        }
    });
    let deliveries = futures::future::try_join_all(sends).await.expect("produce");
    eprintln!("produce {MESSAGES}: {:?}", t.elapsed());
    let per_partition = MESSAGES / PARTITIONS as i64;
    for d in &deliveries {
        assert!(d.offset >= 0 && d.offset < per_partition, "offset {d:?}");
    }

    // --- consume everything back from the beginning --------------------------------------
    let consumer: StreamConsumer = consumer_config(&bootstrap).create().expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment
            .add_partition_offset(TOPIC, p, Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");

    let t = std::time::Instant::now();
    let mut seen: BTreeMap<(i32, i64), String> = BTreeMap::new();
    while (seen.len() as i64) < MESSAGES {
        let message = tokio::time::timeout(TIMEOUT, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("stalled after {} messages", seen.len()))
            .expect("consume");
        let payload =
            String::from_utf8(message.payload().expect("payload").to_vec()).expect("utf8");
        let previous = seen.insert((message.partition(), message.offset()), payload);
        assert!(previous.is_none(), "duplicate delivery");
    }
    eprintln!("consume {MESSAGES}: {:?}", t.elapsed());
    for p in 0..PARTITIONS {
        let offsets: Vec<i64> = seen
            .keys()
            .filter(|(q, _)| *q == p)
            .map(|(_, o)| *o)
            .collect();
        assert_eq!(
            offsets,
            (0..per_partition).collect::<Vec<_>>(),
            "partition {p}"
        );
    }
    let mut payloads: Vec<&String> = seen.values().collect();
    payloads.sort();
    let mut expected: Vec<String> = (0..MESSAGES).map(|i| format!("message-{i}")).collect();
    expected.sort();
    assert_eq!(payloads, expected.iter().collect::<Vec<_>>());

    // --- seek into the middle of a produced batch (what recovery does) --------------------
    let mid = 101;
    let seeker: StreamConsumer = consumer_config(&bootstrap).create().expect("consumer");
    let mut from_mid = TopicPartitionList::new();
    from_mid
        .add_partition_offset(TOPIC, 0, Offset::Offset(mid))
        .expect("assignment");
    seeker.assign(&from_mid).expect("assign");
    let mut offsets = Vec::new();
    while (offsets.len() as i64) < per_partition - mid {
        let message = tokio::time::timeout(TIMEOUT, seeker.recv())
            .await
            .unwrap_or_else(|_| panic!("seek stalled after {offsets:?}"))
            .expect("consume");
        assert_eq!(
            message.payload(),
            seen.get(&(0, message.offset())).map(|p| p.as_bytes())
        );
        offsets.push(message.offset());
    }
    assert_eq!(offsets, (mid..per_partition).collect::<Vec<_>>());
    tokio::task::spawn_blocking(move || drop(seeker))
        .await
        .expect("client teardown");

    // --- watermarks: catches storage that loses count ------------------------------------
    assert_eq!(
        high_watermarks(bootstrap.clone()).await,
        vec![per_partition; PARTITIONS as usize]
    );

    // --- commit a group offset and read it back -----------------------------------------
    let consumer = Arc::new(consumer);
    let mut commit = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        // Commit different offsets per partition so a mix-up would show.
        commit
            .add_partition_offset(TOPIC, p, Offset::Offset(per_partition - p as i64))
            .expect("commit list");
    }
    let committer = Arc::clone(&consumer);
    tokio::task::spawn_blocking(move || committer.commit(&commit, CommitMode::Sync))
        .await
        .expect("commit task")
        .expect("commit");
    let expected_committed: Vec<Offset> = (0..PARTITIONS)
        .map(|p| Offset::Offset(per_partition - p as i64))
        .collect();
    assert_eq!(committed(bootstrap.clone()).await, expected_committed);
    // Client teardown blocks; keep it off the async workers.
    tokio::task::spawn_blocking(move || {
        drop(consumer);
        drop(producer);
    })
    .await
    .expect("client teardown");

    // --- S3 through object_store --------------------------------------------------------
    let store = s3_store(&stack);
    let a = ObjectPath::from("table/date=2024-01-01/part-0.parquet");
    let b = ObjectPath::from("table/date=2024-01-02/part-0.parquet");
    let t = std::time::Instant::now();
    store
        .put(&a, PutPayload::from_static(b"first"))
        .await
        .expect("put a");
    store
        .put(&b, PutPayload::from_static(b"second"))
        .await
        .expect("put b");
    eprintln!("2 puts: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let got = store
        .get(&a)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");
    eprintln!("1 get: {:?}", t.elapsed());
    assert_eq!(got.as_ref(), b"first");
    let mut listed: Vec<String> = store
        .list(Some(&ObjectPath::from("table")))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .expect("list");
    listed.sort();
    assert_eq!(listed, vec![a.to_string(), b.to_string()]);
    // Delta commits rely on create-only puts (If-None-Match: *).
    let log = ObjectPath::from("table/_delta_log/00000000000000000000.json");
    store
        .put_opts(&log, PutPayload::from_static(b"{}"), PutMode::Create.into())
        .await
        .expect("first create");
    match store
        .put_opts(&log, PutPayload::from_static(b"{}"), PutMode::Create.into())
        .await
    {
        Err(object_store::Error::AlreadyExists { .. }) => {}
        other => panic!("second create-only put must fail with AlreadyExists, got {other:?}"),
    }
    assert!(dir.path().join("s3").join("lake").join("table").is_dir());

    // Wrong credentials are refused: the endpoint really checks signatures.
    let mut wrong = AmazonS3Builder::new().with_url(stack.lake_url());
    for (key, value) in stack.s3_storage_options() {
        let value = if key == "aws_secret_access_key" {
            "wrong".to_owned()
        } else {
            value
        };
        wrong = wrong.with_config(AmazonS3ConfigKey::from_str(&key).expect("key"), value);
    }
    let wrong = wrong.build().expect("S3 client");
    assert!(wrong.get(&a).await.is_err(), "bad signature accepted");

    let exports = stack.export_lines();
    assert!(exports.contains(&format!("AWS_ENDPOINT_URL={}", stack.s3_endpoint())));
    assert!(exports.contains("AWS_ALLOW_HTTP=true"));

    // --- restart on the same data directory ---------------------------------------------
    let t = std::time::Instant::now();
    stack.shutdown().await;
    eprintln!("shutdown: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let stack = DevStack::start(DevStackConfig::new(dir.path()))
        .await
        .expect("stack restarts on the same data");
    eprintln!("restart: {:?}", t.elapsed());
    let bootstrap = stack.kafka_bootstrap();
    stack
        .create_topic(TOPIC, PARTITIONS)
        .await
        .expect("topic survived");
    assert_eq!(
        high_watermarks(bootstrap.clone()).await,
        vec![per_partition; PARTITIONS as usize]
    );
    assert_eq!(committed(bootstrap).await, expected_committed);
    let store = s3_store(&stack);
    let got = store
        .get(&b)
        .await
        .expect("get after restart")
        .bytes()
        .await
        .expect("body");
    assert_eq!(got.as_ref(), b"second");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_what_failed() {
    let dir = tempfile::tempdir().expect("tempdir");

    let mut cfg = DevStackConfig::new(dir.path());
    cfg.bucket = "Not_A_Bucket".into();
    let err = DevStack::start(cfg).await.expect_err("bad bucket");
    assert!(err.to_string().contains("Not_A_Bucket"), "{err}");

    // A port someone else holds is reported with its address.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let mut cfg = DevStackConfig::new(dir.path());
    cfg.kafka_port = port;
    let err = DevStack::start(cfg).await.expect_err("port in use");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );

    let mut cfg = DevStackConfig::new(dir.path());
    cfg.s3_port = port;
    let err = DevStack::start(cfg).await.expect_err("port in use");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}
