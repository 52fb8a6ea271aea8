//! Records a user's upstream really sends, mixed into ordinary events: none stops a
//! pipeline, none disappears. Field names that differ only by case (Delta's column names
//! ignore case) and repeated keys follow the spec's `field_names` and `duplicate_keys`;
//! everything else that is not a JSON object of fitting values is a dead letter.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pipelab_ingest::RawRecord;
use serde_json::Value;

use crate::common::*;

/// A spec reading `topic` into the table of the same name, with `source` lines added to
/// its [source].
fn spec(dir: &Path, stack: &pipelab_devstack::DevStack, topic: &str, source: &str) -> PathBuf {
    let (brokers, lake) = (stack.kafka_bootstrap(), stack.lake_url());
    write_spec_with(
        dir,
        topic,
        (&brokers, topic),
        &lake,
        source,
        "flush_interval_secs = 0.5",
    )
}

fn keyed(key: String, payload: Option<Vec<u8>>) -> RawRecord {
    RawRecord {
        key: Some(key.into_bytes()),
        payload,
        ..RawRecord::new(0, 0, Vec::new())
    }
}

fn lines(records: &[&str]) -> Vec<RawRecord> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let r = r.replace("TS", r#""ts":"2026-11-23T10:00:00Z""#);
            keyed(format!("k{i}"), Some(r.into_bytes()))
        })
        .collect()
}

fn rows(stack: &pipelab_devstack::DevStack, sql: &str) -> Vec<String> {
    query_csv(Some(stack), &stack.lake_url(), sql)
        .into_iter()
        .map(|r| r.join("|"))
        .collect()
}

/// Names that differ only by case, within a record, between two new fields of a first
/// batch, against an existing column and against a nested sub-field, and repeated keys at
/// the top and nested, under the default rules and under `field_names = "fold"`: every
/// run exits 0, the next records of the batch and of later runs land, and rows + dead
/// letters = records produced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_differ_only_by_case_and_repeated_keys_never_stop_a_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(&dir.path().join("stack")).await;
    let first = [
        r#"{"ID":7,"id":1,TS}"#,
        r#"{"id":2,"Name":"first",TS}"#,
        r#"{"id":3,"name":"second",TS}"#,
        r#"{"id":4,"id":5,TS}"#,
        r#"{"id":6,"n":{"a":1,"a":2},TS}"#,
        r#"{"id":7,"n":{"a":3},TS}"#,
    ];
    let second = [
        r#"{"ID":8,TS}"#,
        r#"{"id":9,"n":{"A":4},TS}"#,
        r#"{"id":10,"NAME":"third",TS}"#,
        r#"{"id":11,"name":null,TS}"#,
        r#"{"id":12,TS}"#,
    ];
    let cases = [
        (
            "exact",
            "",
            vec!["2|first|", "7||3", "11||", "12||"],
            vec![
                (0, "field names `ID` and `id` differ only by case"),
                (2, "`name` differs only by case from the column `Name`"),
                (3, "duplicate key `id`"),
                (4, "duplicate key `n.a`"),
                (6, "`ID` differs only by case from the column `id`"),
                (7, "`n.A` differs only by case from the column `n.a`"),
                (8, "`NAME` differs only by case from the column `Name`"),
            ],
        ),
        (
            "fold",
            "field_names = \"fold\"",
            vec![
                "2|first|",
                "3|second|",
                "7||3",
                "8||",
                "9||4",
                "10|third|",
                "11||",
                "12||",
            ],
            vec![
                (0, "field names `ID` and `id` differ only by case"),
                (3, "duplicate key `id`"),
                (4, "duplicate key `n.a`"),
            ],
        ),
    ];
    for (topic, source, table, dead) in cases {
        stack.create_topic(topic, 1).await.unwrap();
        let spec = spec(dir.path(), &stack, topic, source);
        produce_records(&stack, topic, lines(&first)).await;
        // A first batch: the table is created from it.
        let out = run_until_idle(&stack, &spec);
        assert!(out.contains("read 6 records"), "{topic}: {out}");
        produce_records(&stack, topic, lines(&second)).await;
        // A restart: the table's columns are the ones to differ from.
        let out = run_until_idle(&stack, &spec);
        assert!(out.contains("read 5 records"), "{topic}: {out}");
        let out = run_until_idle(&stack, &spec);
        assert!(out.contains("read 0 records"), "{topic}: {out}");
        assert_eq!(
            rows(
                &stack,
                &format!("SELECT id, \"Name\", n['a'] FROM {topic} ORDER BY id")
            ),
            table,
            "{topic}"
        );
        let letters = query_csv(
            Some(&stack),
            &stack.lake_url(),
            &format!("SELECT \"offset\", stage, error FROM {topic}_dead_letters ORDER BY 1"),
        );
        let got: Vec<(i64, &str)> = letters
            .iter()
            .map(|r| (r[0].parse().unwrap(), r[1].as_str()))
            .collect();
        let want: Vec<(i64, &str)> = dead.iter().map(|(o, _)| (*o, "decode")).collect();
        assert_eq!(got, want, "{topic}: {letters:?}");
        for (row, (_, error)) in letters.iter().zip(&dead) {
            assert!(row[2..].join(",").contains(error), "{topic}: {row:?}");
        }
        assert_eq!(table.len() + dead.len(), first.len() + second.len());
    }
}

/// Every hostile kind met in the wild, mixed into 2,800 ordinary events over three
/// partitions: the run exits 0, rows + dead letters = records produced, and every good
/// record's values are stored unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mix_of_hostile_records_is_kept_and_good_records_are_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(&dir.path().join("stack")).await;
    stack.create_topic("mixed", 3).await.unwrap();
    let events = generated(2800, 11);
    let mut good: BTreeMap<String, Value> = BTreeMap::new();
    let mut records: Vec<RawRecord> = Vec::new();
    for (i, event) in events.iter().enumerate() {
        let mut value = serde_json::to_value(event).unwrap();
        // One ordinary event in 400 carries a 900 kB page (under the producer's 1 MB
        // message limit): big, but a good record.
        if i % 400 == 7 {
            value["page"] = Value::String("p".repeat(900_000));
        }
        records.push(keyed(
            event.user_id.clone(),
            Some(serde_json::to_vec(&value).unwrap()),
        ));
        value.as_object_mut().unwrap().retain(|_, v| !v.is_null());
        good.insert(event.event_id.clone(), value);
    }
    let hostile = hostile_payloads();
    let bad = 200;
    for i in 0..bad {
        let payload = hostile[i % hostile.len()].clone();
        records.push(keyed(format!("bad-{i}"), payload));
    }
    // Spread through the stream, not only at its end, but after the first hundred or so
    // records of each partition: a field's type is its first non-null value's in Kafka's
    // order, which holds only within a partition, so a partition whose hostile `"9.99"`
    // came before any numeric price in the batch's interleaving would make every later
    // numeric price a dead letter (a loaded CI machine stored 2,532 rows, 468 dead
    // letters). Each partition's ordinary events, read first, give the types.
    let n = records.len();
    for i in 0..bad {
        records.swap(n - 1 - i, i * 13 + 300);
    }
    produce_records(&stack, "mixed", records).await;
    let spec = spec(dir.path(), &stack, "mixed", "");
    let out = run_until_idle(&stack, &spec);
    assert_eq!(n, 3000);
    assert!(out.contains("read 3,000 records"), "{out}");

    let count = |sql: &str| -> usize { rows(&stack, sql)[0].parse().unwrap() };
    let stored = count("SELECT count(*) FROM mixed");
    let dead = count("SELECT count(*) FROM mixed_dead_letters");
    if (stored, dead) != (good.len(), bad) {
        let why = rows(
            &stack,
            "SELECT stage || ': ' || substr(error, 1, 160) || ' x' || CAST(count(*) AS VARCHAR) FROM mixed_dead_letters GROUP BY stage, substr(error, 1, 160)",
        );
        panic!("{stored} rows and {dead} dead letters; {out}\n{why:#?}");
    }
    assert_eq!(
        count("SELECT count(DISTINCT \"partition\") FROM mixed_dead_letters"),
        3
    );
    // Each kind's error, once per kind.
    let kinds = count("SELECT count(DISTINCT error) FROM mixed_dead_letters");
    assert!(kinds >= hostile.len() - 2, "{kinds} kinds of error");

    // The stored rows, as JSON, equal the events produced (the partition column aside).
    let table = run_ok(pipelab(Some(&stack)).args([
        "query",
        "--lake",
        &stack.lake_url(),
        "--format",
        "json",
        "SELECT * EXCEPT (dt) FROM mixed",
    ]));
    let mut seen = 0;
    for line in table.lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        let id = row["event_id"].as_str().unwrap();
        assert_eq!(Some(&row), good.get(id), "{id}");
        seen += 1;
    }
    assert_eq!(seen, good.len());
    // Not stuck: a second run reads nothing and succeeds.
    let out = run_until_idle(&stack, &spec);
    assert!(out.contains("read 0 records"), "{out}");
}

/// One payload of each hostile kind (`None`: a null value).
fn hostile_payloads() -> Vec<Option<Vec<u8>>> {
    let ev = r#""event_id":"bad","user_id":"u","ts":"2026-11-23T10:00:00.000Z""#;
    let text = |s: String| Some(s.into_bytes());
    let mut deep = "[".repeat(5000);
    deep.push_str(&"]".repeat(5000));
    let mut invalid_utf8 = format!(r#"{{{ev},"page":""#).into_bytes();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, b'"', b'}']);
    let mut bom = vec![0xef, 0xbb, 0xbf];
    bom.extend_from_slice(format!("{{{ev}}}").as_bytes());
    vec![
        text(format!(r#"{{{ev},"page":"/tru"#)),
        text(format!(r#"{{{ev},"n":{deep}}}"#)),
        text(format!(r#"{{{ev},"price":1e400}}"#)),
        text(format!(r#"{{{ev},"price":NaN}}"#)),
        Some(invalid_utf8),
        text(format!("{{{ev},\"page\":\"a\u{1}b\"}}")),
        Some(Vec::new()),
        None,
        text("[1,2,3]".into()),
        text("42".into()),
        text(r#""just text""#.into()),
        Some(bom),
        text(format!(r#"{{{ev}}} {{{ev}}}"#)),
        text(format!(r#"{{{ev},"price":"9.99"}}"#)),
        text(format!(r#"{{{ev},"Price":9.99}}"#)),
        text(format!(r#"{{{ev},"page":"/a","page":"/b"}}"#)),
        text(format!(r#"{{{ev},"meta":{{"x":1,"x":2}}}}"#)),
        text(format!(r#"{{{ev},"price":{{"amount":1}}}}"#)),
    ]
}
