//! `[[sink.quality]]`: data-quality metrics per commit, kept as a queryable table.

use crate::common::*;

/// 200 records: every fifth without a price, every tenth with a negative one, users
/// repeating every 10 records, every twentieth a day old.
fn records() -> Vec<(String, Vec<u8>)> {
    let now = chrono::Utc::now();
    (0..200)
        .map(|i| {
            let price = match i {
                i if i % 5 == 0 => String::new(),
                i if i % 10 == 1 => r#","price":-1.0"#.to_string(),
                _ => r#","price":2.5"#.to_string(),
            };
            let at = if i % 20 == 7 {
                now - chrono::Duration::days(1)
            } else {
                now
            };
            let ts = at.format("%Y-%m-%dT%H:%M:%SZ");
            let json = format!(r#"{{"id":{i},"user":"u{}","ts":"{ts}"{price}}}"#, i % 10);
            (i.to_string(), json.into_bytes())
        })
        .collect()
}

const RULES: &str = r#"
[[sink.quality]]
rule = "price present"
check = "completeness"
column = "price"
min = 0.9
[[sink.quality]]
rule = "price not negative"
check = "validity"
condition = "price >= 0"
[[sink.quality]]
rule = "one row per id"
check = "uniqueness"
column = "id"
min = 1.0
[[sink.quality]]
rule = "fresh"
check = "timeliness"
column = "ts"
max_delay_secs = 3600
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quality_rules_are_measured_on_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(&dir.path().join("stack")).await;
    stack.create_topic("q", 1).await.unwrap();
    let lake_dir = dir.path().join("lake");
    let lake = lake_dir.display().to_string();
    let spec = write_spec(dir.path(), "q", &stack.kafka_bootstrap(), "q", &lake, 1000);
    let text = std::fs::read_to_string(&spec).unwrap() + RULES;
    std::fs::write(&spec, text).unwrap();
    produce_raw(&stack, "q", records()).await;
    run_until_idle(&stack, &spec);

    // Weighted by each commit's rows, the fractions are the whole input's, however the
    // records were cut into commits.
    let rows = query_csv(
        None,
        &lake,
        "SELECT rule, sum(rows), round(sum(value * rows) / sum(rows), 4), \
         bool_and(passed), count(DISTINCT version) = count(*) \
         FROM q_quality WHERE rule <> 'one row per id' GROUP BY rule ORDER BY rule",
    );
    let expect = |rule: &str, value: &str, passed: &str| {
        vec![
            rule.to_string(),
            "200".into(),
            value.into(),
            passed.into(),
            "true".into(),
        ]
    };
    assert_eq!(
        rows,
        [
            expect("fresh", "0.95", "true"),
            expect("price not negative", "0.7", "true"),
            expect("price present", "0.8", "false"),
        ]
    );
    // Each commit is measured against the version it made.
    let versions = query_csv(
        None,
        &lake,
        "SELECT count(*) FROM q_quality quality \
         WHERE rule = 'one row per id' AND (value <> 1.0 OR NOT passed)",
    );
    assert_eq!(versions, [["0"]]);
    let history =
        run_ok(pipelab(None).args(["lake", "history", "q", "--lake", &lake, "--format", "csv"]));
    let measured = query_csv(
        None,
        &lake,
        "SELECT DISTINCT version FROM q_quality ORDER BY version",
    );
    for v in measured {
        assert!(
            history
                .lines()
                .any(|l| l.starts_with(&format!("{},", v[0]))),
            "{v:?}"
        );
    }

    // A rule missing what its check needs is a spec error.
    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(&spec).unwrap()
        + "[[sink.quality]]\nrule = \"late\"\ncheck = \"timeliness\"\ncolumn = \"ts\"\n";
    std::fs::write(&bad, text).unwrap();
    let out = output(
        pipelab(Some(&stack))
            .args(["run", "--until-idle"])
            .arg(&bad),
    );
    assert_user_error(out, &["late", "max_delay_secs"]);
}
