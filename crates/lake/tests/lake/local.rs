//! Lake tables on a local directory: create, exactly-once txns, evolution, SQL, orphans.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::array_value_to_string;
use datafusion::prelude::SessionContext;
use pipelab_lake::{LakeError, LakeLocation, LakeTable, Partitioning, TableSpec, register_lake};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("msg", DataType::Utf8, true),
        Field::new("dt", DataType::Utf8, false),
    ]))
}

fn batch(ids: &[i64], dt: &str) -> Result<RecordBatch, arrow::error::ArrowError> {
    let msgs: Vec<String> = ids.iter().map(|i| format!("m{i}")).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef,
            Arc::new(StringArray::from(msgs)),
            Arc::new(StringArray::from(vec![dt; ids.len()])),
        ],
    )
}

fn spec() -> TableSpec {
    TableSpec {
        name: "events".into(),
        partitioning: Partitioning::parse(&["dt"]).unwrap(),
        ..TableSpec::default()
    }
}

fn txns(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    pairs.iter().map(|(a, v)| (a.to_string(), *v)).collect()
}

/// Run SQL and render every cell as a string (partition columns may come back
/// dictionary-encoded, so compare rendered values rather than Arrow types).
async fn rows(
    ctx: &SessionContext,
    sql: &str,
) -> Result<Vec<Vec<String>>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for batch in ctx.sql(sql).await?.collect().await? {
        for row in 0..batch.num_rows() {
            let mut cells = Vec::new();
            for col in batch.columns() {
                cells.push(array_value_to_string(col, row)?);
            }
            out.push(cells);
        }
    }
    Ok(out)
}

fn s(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// A Parquet file dropped into a partition directory by an attempt that never committed.
fn write_orphan(dir: &Path) -> TestResult {
    std::fs::create_dir_all(dir)?;
    let file = std::fs::File::create(dir.join("part-00000-orphan-c000.snappy.parquet"))?;
    let data = batch(&(1000..1100).collect::<Vec<_>>(), "2026-11-23")?;
    let mut writer = deltalake::parquet::arrow::ArrowWriter::try_new(file, data.schema(), None)?;
    writer.write(&data)?;
    writer.close()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_appends_txns_sql_evolution_and_orphans() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake_dir = dir.path().join("lake");
    let loc = LakeLocation::parse(&lake_dir.to_string_lossy(), HashMap::new())?;
    assert!(
        loc.list_tables().await?.is_empty(),
        "missing lake dir is an empty lake"
    );

    let mut table = LakeTable::open_or_create(&loc, &spec(), schema()).await?;
    assert_eq!(table.version(), 0);
    assert_eq!(table.partition_columns()?, vec!["dt".to_string()]);

    // Commit 1: two partitions, two txns.
    let mut b1 = vec![
        batch(&[1, 2, 3], "2026-11-23")?,
        batch(&[4, 5], "2026-11-24")?,
    ];
    b1.push(batch(&[], "2026-11-25")?); // empty batches are ignored
    let c1 = table
        .append(b1, &txns(&[("pipe-topic-0", 10), ("pipe-topic-1", 5)]))
        .await?;
    assert_eq!(c1.version, 1);
    assert_eq!(c1.rows_added, 5);
    assert_eq!(c1.files_added, 2);
    assert!(c1.bytes_added > 0);
    assert!(
        lake_dir.join("events/dt=2026-11-23").is_dir(),
        "Hive-style partition dir"
    );
    assert!(lake_dir.join("events/_delta_log").is_dir());

    // Commit 2: same app ids, later versions.
    let c2 = table
        .append(
            vec![batch(&[6, 7, 8, 9], "2026-11-24")?],
            &txns(&[("pipe-topic-0", 20), ("pipe-topic-1", 9)]),
        )
        .await?;
    assert_eq!(c2.version, 2);
    assert_eq!((c2.files_added, c2.rows_added), (1, 4));

    // Reopen from storage: resume points are the second commit's.
    let mut reopened = LakeTable::open(&loc, "events").await?;
    assert_eq!(reopened.version(), 2);
    let ids: Vec<String> = ["pipe-topic-0", "pipe-topic-1", "pipe-topic-7"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let resume = reopened.txn_versions(&ids).await?;
    assert_eq!(
        resume,
        HashMap::from([
            ("pipe-topic-0".to_string(), 20),
            ("pipe-topic-1".to_string(), 9)
        ])
    );

    // Files that never made it into a commit are invisible.
    write_orphan(&lake_dir.join("events/dt=2026-11-23"))?;
    let files = reopened.file_uris().await?;
    assert_eq!(files.len(), 3);
    assert!(files.iter().all(|f| !f.contains("orphan")), "{files:?}");

    let ctx = SessionContext::new();
    assert_eq!(register_lake(&ctx, &loc).await?, vec!["events".to_string()]);
    assert_eq!(
        rows(
            &ctx,
            "SELECT dt, count(*) FROM events GROUP BY dt ORDER BY dt"
        )
        .await?,
        vec![s(&["2026-11-23", "3"]), s(&["2026-11-24", "6"])]
    );
    assert_eq!(
        rows(
            &ctx,
            "SELECT count(*), sum(id) FROM events WHERE dt = '2026-11-24'"
        )
        .await?,
        vec![s(&["6", "39"])]
    );

    // The WHERE on the partition column prunes the scan to that partition's files.
    let plan = rows(
        &ctx,
        "EXPLAIN SELECT sum(id) FROM events WHERE dt = '2026-11-24'",
    )
    .await?;
    let plan = format!("{plan:?}");
    assert!(plan.contains("dt=2026-11-24/"), "{plan}");
    assert!(!plan.contains("dt=2026-11-23/"), "{plan}");

    // Schema evolution: a new nullable column appears, `msg` is missing; two batches of
    // different shapes go into the same commit.
    let evolved = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("dt", DataType::Utf8, false),
            Field::new("user_agent", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![10, 11])) as ArrayRef,
            Arc::new(StringArray::from(vec!["2026-11-25"; 2])),
            Arc::new(StringArray::from(vec![Some("curl"), None])),
        ],
    )?;
    let c3 = table
        .append(
            vec![evolved, batch(&[12], "2026-11-25")?],
            &txns(&[("pipe-topic-0", 23)]),
        )
        .await?;
    assert_eq!((c3.version, c3.rows_added), (3, 3));
    let names: Vec<String> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["id", "msg", "dt", "user_agent"]);
    assert!(table.schema().field_with_name("user_agent")?.is_nullable());

    // Re-registering shows the new version and column.
    register_lake(&ctx, &loc).await?;
    assert_eq!(
        rows(
            &ctx,
            "SELECT dt, count(*), count(msg), count(user_agent) FROM events GROUP BY dt ORDER BY dt"
        )
        .await?,
        vec![
            s(&["2026-11-23", "3", "3", "0"]),
            s(&["2026-11-24", "6", "6", "0"]),
            s(&["2026-11-25", "3", "1", "1"]),
        ]
    );

    // No rows but offsets to record: a txn-only commit, no files.
    let c4 = table
        .append(Vec::new(), &txns(&[("pipe-topic-1", 12)]))
        .await?;
    assert_eq!((c4.version, c4.files_added, c4.rows_added), (4, 0, 0));
    // Nothing at all: no commit.
    assert_eq!(table.append(Vec::new(), &[]).await?.version, 4);
    let resume = reopened.txn_versions(&ids).await?; // refreshes the stale handle
    assert_eq!(resume.get("pipe-topic-0"), Some(&23));
    assert_eq!(resume.get("pipe-topic-1"), Some(&12));
    assert_eq!(reopened.version(), 4);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_table() -> TestResult {
    let dir = tempfile::tempdir()?;
    let loc = LakeLocation::parse(&format!("file://{}", dir.path().display()), HashMap::new())?;

    let missing = LakeTable::open(&loc, "nope").await;
    match missing {
        Err(e @ LakeError::TableNotFound { .. }) => {
            assert!(e.to_string().contains("/nope"), "{e}")
        }
        other => panic!("expected TableNotFound, got {other:?}"),
    }
    assert!(matches!(
        LakeTable::open(&loc, "../x").await,
        Err(LakeError::InvalidTableName { .. })
    ));

    // A stray directory without a Delta log is not a table.
    std::fs::create_dir_all(dir.path().join("not_a_table/dt=x"))?;
    LakeTable::open_or_create(&loc, &spec(), schema()).await?;
    assert_eq!(loc.list_tables().await?, vec!["events".to_string()]);

    // Asking for another partitioning of an existing table is an error, not a silent change.
    let other = TableSpec {
        name: "events".into(),
        partitioning: Partitioning::default(),
        ..TableSpec::default()
    };
    let err = LakeTable::open_or_create(&loc, &other, schema()).await;
    assert!(
        matches!(err, Err(LakeError::PartitionMismatch { .. })),
        "{err:?}"
    );

    // A type clash is refused with the column named.
    let mut table = LakeTable::open(&loc, "events").await?;
    let bad = RecordBatch::try_from_iter([
        ("id", Arc::new(StringArray::from(vec!["x"])) as ArrayRef),
        (
            "dt",
            Arc::new(StringArray::from(vec!["2026-11-23"])) as ArrayRef,
        ),
    ])?;
    let err = table.append(vec![bad], &[]).await;
    assert!(err.is_err(), "{err:?}");
    assert_eq!(table.version(), 0);
    Ok(())
}

/// Set in the child process of `crash_between_files_and_commit`.
const CHILD_LAKE: &str = "PIPELAB_LAKE_TEST_CHILD_LAKE";

/// A writer killed after putting its Parquet files but before its commit: the files are on
/// storage, yet no reader sees them and the txn resume point did not move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_files_and_commit() -> TestResult {
    if let Ok(lake) = std::env::var(CHILD_LAKE) {
        // Child: the fail point aborts the process inside this append.
        let loc = LakeLocation::parse(&lake, HashMap::new())?;
        let mut table = LakeTable::open(&loc, "events").await?;
        table
            .append(vec![batch(&[7, 8], "2026-11-23")?], &txns(&[("p-0", 2)]))
            .await?;
        return Err("the fail point did not fire".into());
    }

    let dir = tempfile::tempdir()?;
    let loc = LakeLocation::parse(&dir.path().to_string_lossy(), HashMap::new())?;
    let mut table = LakeTable::open_or_create(&loc, &spec(), schema()).await?;
    table
        .append(vec![batch(&[1], "2026-11-23")?], &txns(&[("p-0", 1)]))
        .await?;

    let status = std::process::Command::new(std::env::current_exe()?)
        .args([
            "local::crash_between_files_and_commit",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD_LAKE, dir.path())
        .env("PIPELAB_FAILPOINT", "lake-before-commit")
        .stderr(std::process::Stdio::null())
        .status()?;
    assert!(
        !status.success(),
        "child should have died at the fail point"
    );

    let parquet_on_disk = std::fs::read_dir(dir.path().join("events/dt=2026-11-23"))?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        })
        .count();
    assert_eq!(parquet_on_disk, 2, "the dead writer's file is on disk");

    let mut reopened = LakeTable::open(&loc, "events").await?;
    assert_eq!(reopened.version(), 1);
    assert_eq!(reopened.file_uris().await?.len(), 1);
    assert_eq!(
        reopened
            .txn_versions(&["p-0".to_string()])
            .await?
            .get("p-0"),
        Some(&1)
    );
    let ctx = SessionContext::new();
    register_lake(&ctx, &loc).await?;
    assert_eq!(
        rows(&ctx, "SELECT count(*) FROM events").await?,
        vec![s(&["1"])]
    );
    Ok(())
}

/// `LakeTable::widen` rewrites the table in one commit with the wider column types: the
/// old values read the same, the `txn` resume points stay, and a later append of the wider
/// values fits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widening_rewrites_the_table_keeping_values_and_txns() -> TestResult {
    use arrow::array::Float64Array;
    let dir = tempfile::tempdir()?;
    let loc = LakeLocation::parse(&dir.path().to_string_lossy(), HashMap::new())?;
    let mut table = LakeTable::open_or_create(&loc, &spec(), schema()).await?;
    table
        .append(vec![batch(&[1, 2], "2026-11-23")?], &txns(&[("p-0", 2)]))
        .await?;
    let before = table.version();

    // `id` gets a double, `msg` (text) a number: id widens to double, msg stays text.
    let wider = RecordBatch::try_from_iter([
        ("id", Arc::new(Float64Array::from(vec![2.5])) as ArrayRef),
        (
            "dt",
            Arc::new(StringArray::from(vec!["2026-11-24"])) as ArrayRef,
        ),
    ])?;
    let target = pipelab_lake::widened_schema(&table.schema(), std::slice::from_ref(&wider));
    assert_eq!(
        target.field_with_name("id")?.data_type(),
        &DataType::Float64
    );
    table.widen(&target).await?;
    assert_eq!(table.version(), before + 1, "one commit");
    assert_eq!(
        table.schema().field_with_name("id")?.data_type(),
        &DataType::Float64
    );
    let fitted = pipelab_lake::widen_batch(&wider, &table.schema())?;
    table.append(vec![fitted], &txns(&[("p-0", 3)])).await?;

    let versions = table.txn_versions(&["p-0".to_string()]).await?;
    assert_eq!(versions.get("p-0"), Some(&3));
    let ctx = SessionContext::new();
    register_lake(&ctx, &loc).await?;
    assert_eq!(
        rows(&ctx, "SELECT id, msg, dt FROM events ORDER BY id").await?,
        vec![
            s(&["1.0", "m1", "2026-11-23"]),
            s(&["2.0", "m2", "2026-11-23"]),
            s(&["2.5", "", "2026-11-24"]),
        ]
    );

    // A text value then makes the column text, the doubles written as their digits.
    let text = RecordBatch::try_from_iter([
        ("id", Arc::new(StringArray::from(vec!["n/a"])) as ArrayRef),
        (
            "dt",
            Arc::new(StringArray::from(vec!["2026-11-24"])) as ArrayRef,
        ),
    ])?;
    let target = pipelab_lake::widened_schema(&table.schema(), std::slice::from_ref(&text));
    table.widen(&target).await?;
    assert_eq!(
        table.schema().field_with_name("id")?.data_type(),
        &DataType::Utf8
    );
    register_lake(&ctx, &loc).await?;
    assert_eq!(
        rows(&ctx, "SELECT id FROM events ORDER BY id").await?,
        vec![s(&["1.0"]), s(&["2.0"]), s(&["2.5"])]
    );
    Ok(())
}

/// Files appended by another writer while the rewrite runs are not left behind with the
/// old types: such an append makes the rewrite's commit conflict and it runs again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_racing_a_widening_leave_no_file_of_the_old_type() -> TestResult {
    use arrow::array::Float64Array;
    let dir = tempfile::tempdir()?;
    let loc = LakeLocation::parse(&dir.path().to_string_lossy(), HashMap::new())?;
    let mut widener = LakeTable::open_or_create(&loc, &spec(), schema()).await?;
    widener
        .append(
            vec![batch(&(0..50_000).collect::<Vec<_>>(), "2026-11-23")?],
            &[],
        )
        .await?;
    let appender = {
        let loc = loc.clone();
        tokio::spawn(async move {
            let mut other = LakeTable::open(&loc, "events").await?;
            for i in 0..30 {
                let rows = batch(&[100_000 + i], "2026-11-25")?;
                // A commit lost to the widening is tried again on the new schema.
                while let Err(e) = other.append(vec![rows.clone()], &[]).await {
                    if !e.is_commit_conflict() {
                        return Err(Box::<dyn std::error::Error + Send + Sync>::from(e));
                    }
                    other.refresh().await?;
                }
                // Room for the rewrite to commit between appends (a pipeline commits
                // once per flush interval).
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Ok(())
        })
    };
    let wider =
        RecordBatch::try_from_iter([("id", Arc::new(Float64Array::from(vec![0.5])) as ArrayRef)])?;
    let target = pipelab_lake::widened_schema(&widener.schema(), &[wider]);
    widener.widen(&target).await?;
    appender.await?.map_err(|e| e.to_string())?;
    widener.refresh().await?;
    for uri in widener.file_uris().await? {
        // Local tables list plain paths; file:// URLs are taken too.
        let path = match url::Url::parse(&uri) {
            Ok(url) => url.to_file_path().map_err(|()| "not a file")?,
            Err(_) => std::path::PathBuf::from(&uri),
        };
        let reader = deltalake::parquet::file::reader::SerializedFileReader::new(
            std::fs::File::open(&path)?,
        )?;
        let schema = deltalake::parquet::file::reader::FileReader::metadata(&reader)
            .file_metadata()
            .schema_descr()
            .column(0)
            .physical_type();
        assert_eq!(
            schema,
            deltalake::parquet::basic::Type::DOUBLE,
            "{uri} still holds id as {schema}"
        );
    }
    let ctx = SessionContext::new();
    register_lake(&ctx, &loc).await?;
    assert_eq!(
        rows(&ctx, "SELECT count(*), count(DISTINCT id) FROM events").await?,
        vec![s(&["50030", "50030"])]
    );
    Ok(())
}
