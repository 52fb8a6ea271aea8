//! `pipelab run --metrics json`: the live view's numbers as one JSON line a second, for
//! scripts: per partition the lag and records/s, and the run's rates, buffered bytes
//! against the budget, commits, dead letters and retries.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_json_gives_lag_per_partition_and_the_budget_every_second() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("clicks", 3).await.unwrap();
    let events = generated(150_000, 9);
    produce(&stack, "clicks", &events).await;
    let spec = write_spec(
        dir.path(),
        "live",
        &stack.kafka_bootstrap(),
        "clicks",
        &stack.lake_url(),
        20_000,
    );
    let out = run_ok(
        pipelab(Some(&stack))
            .args(["run", "--until-idle", "--metrics", "json"])
            .arg(&spec),
    );
    let samples: Vec<serde_json::Value> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!samples.is_empty(), "no JSON line in:\n{out}");
    for s in &samples {
        assert_eq!(s["budget_bytes"], 256 << 20, "{s}");
        let partitions = s["partitions"].as_array().unwrap();
        assert!(partitions.len() <= 3, "{s}");
        for p in partitions {
            assert!(
                p["lag"].as_i64().unwrap() >= 0 && p["records_per_s"].as_f64().is_some(),
                "{s}"
            );
        }
    }
    // The partitions are seen with their log ends, and the counters only grow.
    let last = samples.last().unwrap();
    assert_eq!(last["partitions"].as_array().unwrap().len(), 3, "{last}");
    let ends: i64 = last["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["high_watermark"].as_i64().unwrap())
        .sum();
    assert_eq!(ends, events.len() as i64, "{last}");
    let reads: Vec<u64> = samples
        .iter()
        .map(|s| s["read"].as_u64().unwrap())
        .collect();
    assert!(reads.windows(2).all(|w| w[0] <= w[1]), "{reads:?}");
    // The summary follows the samples, as without the option.
    assert!(
        out.contains("pipeline 'live': read 150,000 records"),
        "{out}"
    );
}

/// At a terminal (a pseudo-terminal that `script` gives it), `pipelab run` draws the live
/// view in place of the progress line: rates, buffered bytes against the budget, and per
/// partition the lag and records/s; the summary follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_a_terminal_the_live_view_shows_lag_per_partition_and_the_budget() {
    if !require("script", installed("script"), "apt-get install bsdutils") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    stack.create_topic("clicks", 3).await.unwrap();
    produce(&stack, "clicks", &generated(150_000, 5)).await;
    let spec = write_spec(
        dir.path(),
        "terminal",
        &stack.kafka_bootstrap(),
        "clicks",
        &stack.lake_url(),
        20_000,
    );
    let mut cmd = std::process::Command::new("script");
    without_user_env(&mut cmd)
        .env("PIPELAB_LOG", "warn")
        .env("TERM", "xterm")
        .envs(aws_env(&stack))
        .args(["-qefc"])
        .arg(format!("{PIPELAB} run --until-idle {}", spec.display()))
        .arg("/dev/null");
    let screen = run_ok(&mut cmd);
    for shown in [
        "partition        lag   records/s",
        "budget",
        "commits",
        "pipeline 'terminal': read 150,000 records",
    ] {
        assert!(
            screen.contains(shown),
            "no {shown:?} on the screen:\n{screen}"
        );
    }
}
