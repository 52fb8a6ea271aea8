//! An s3:// lake against an in-process S3 endpoint (s3s-fs over a temp dir, plain http,
//! signed requests): the paths a real S3-compatible store takes, including conditional put.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::array_value_to_string;
use datafusion::prelude::SessionContext;
use deltalake::ObjectStoreError;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{PutMode, PutOptions, PutPayload};
use pipelab_lake::{LakeLocation, LakeTable, Partitioning, TableSpec, register_lake};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const ACCESS_KEY: &str = "pipelab";
const SECRET_KEY: &str = "pipelab-secret";

/// Serve s3s-fs rooted at `root` on an ephemeral port; returns the endpoint URL.
async fn start_s3(root: &std::path::Path) -> Result<String, Box<dyn std::error::Error>> {
    let fs = s3s_fs::FileSystem::new(root).map_err(|e| format!("s3s-fs: {e:?}"))?;
    let mut builder = s3s::service::S3ServiceBuilder::new(fs);
    builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let http = ConnBuilder::new(TokioExecutor::new());
        while let Ok((socket, _)) = listener.accept().await {
            let conn = http
                .serve_connection(TokioIo::new(socket), service.clone())
                .into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
    Ok(format!("http://{addr}"))
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("dt", DataType::Utf8, false),
    ]))
}

fn batch(ids: &[i64], dt: &str) -> Result<RecordBatch, arrow::error::ArrowError> {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef,
            Arc::new(StringArray::from(vec![dt; ids.len()])),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_lake_commits_atomically_and_is_queryable() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("lake"))?; // the bucket
    let endpoint = start_s3(dir.path()).await?;

    // Options as a user would pass them (upper-case env-style names work too);
    // aws_allow_http is filled in because the endpoint is http://.
    let options = HashMap::from([
        ("AWS_ENDPOINT_URL".to_string(), endpoint.clone()),
        ("AWS_ACCESS_KEY_ID".to_string(), ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), SECRET_KEY.to_string()),
        ("AWS_REGION".to_string(), "us-east-1".to_string()),
    ]);
    let loc = LakeLocation::parse("s3://lake/warehouse", options)?;
    assert_eq!(loc.display(), "s3://lake/warehouse/");
    assert!(loc.list_tables().await?.is_empty());

    let spec = TableSpec {
        name: "clicks".into(),
        partitioning: Partitioning::parse(&["dt"]).unwrap(),
        ..TableSpec::default()
    };
    let mut table = LakeTable::open_or_create(&loc, &spec, schema()).await?;
    let c1 = table
        .append(
            vec![batch(&[1, 2], "2026-11-23")?, batch(&[3], "2026-11-24")?],
            &[("p-clicks-0".to_string(), 3)],
        )
        .await?;
    assert_eq!((c1.version, c1.files_added, c1.rows_added), (1, 2, 3));
    assert!(
        dir.path()
            .join("lake/warehouse/clicks/dt=2026-11-23")
            .is_dir()
    );

    // Conditional put: an existing log entry can't be created again. This is the
    // mechanism that makes a Delta commit on S3 atomic (no lock provider needed).
    let store = table.delta().log_store().object_store(None);
    let again = store
        .put_opts(
            &ObjectPath::from("_delta_log/00000000000000000001.json"),
            PutPayload::from_static(b"{}"),
            PutOptions::from(PutMode::Create),
        )
        .await;
    assert!(
        matches!(again, Err(ObjectStoreError::AlreadyExists { .. })),
        "{again:?}"
    );

    // A second writer (a zombie of the same pipeline) holding the old snapshot loses.
    let mut zombie = LakeTable::open(&loc, "clicks").await?;
    table
        .append(
            vec![batch(&[4], "2026-11-24")?],
            &[("p-clicks-0".to_string(), 4)],
        )
        .await?;
    let lost = zombie
        .append(
            vec![batch(&[4], "2026-11-24")?],
            &[("p-clicks-0".to_string(), 4)],
        )
        .await;
    assert!(
        matches!(&lost, Err(e) if e.is_commit_conflict()),
        "{lost:?}"
    );

    let mut reopened = LakeTable::open(&loc, "clicks").await?;
    let resume = reopened.txn_versions(&["p-clicks-0".to_string()]).await?;
    assert_eq!(resume.get("p-clicks-0"), Some(&4));

    let ctx = SessionContext::new();
    assert_eq!(register_lake(&ctx, &loc).await?, vec!["clicks".to_string()]);
    let batches = ctx
        .sql("SELECT dt, count(*) AS n FROM clicks GROUP BY dt ORDER BY dt")
        .await?
        .collect()
        .await?;
    let mut got = Vec::new();
    for b in &batches {
        for row in 0..b.num_rows() {
            got.push((
                array_value_to_string(b.column(0), row)?,
                array_value_to_string(b.column(1), row)?,
            ));
        }
    }
    assert_eq!(
        got,
        vec![
            ("2026-11-23".to_string(), "2".to_string()),
            ("2026-11-24".to_string(), "2".to_string())
        ]
    );
    Ok(())
}
