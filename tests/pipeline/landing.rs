//! The landing source (the notes' Lambda trigger): objects dropped under an S3 prefix
//! (the embedded endpoint) or a directory, each read once into the lake: through
//! SIGKILLs, with rewrites read again, garbage in the dead letters, CSV typed by column.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use object_store::{ObjectStore, ObjectStoreExt, PutPayload, path::Path as ObjectPath};
use pipelab_devstack::DevStack;

use crate::common::*;

/// A landing spec: `location` read as `format` into table `name` (partitioned by
/// `region`), `sinks` appended after the lake sink.
fn landing_spec(
    dir: &Path,
    name: &str,
    (location, format): (&str, &str),
    lake: &str,
    sinks: &str,
) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"name = "{name}"
[source]
kind = "landing"
location = "{location}"
format = "{format}"
poll_interval_secs = 0.2
[sink]
location = "{lake}"
table = "{name}"
partition_by = ["region"]
flush_rows = 400
{sinks}
"#
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The object store of the stack's bucket.
fn bucket(stack: &DevStack) -> Arc<dyn ObjectStore> {
    pipelab_lake::register_handlers();
    pipelab_lake::LakeLocation::parse(&stack.lake_url(), stack.s3_storage_options())
        .unwrap()
        .object_store()
        .unwrap()
}

async fn put(store: &dyn ObjectStore, key: &str, body: impl Into<Vec<u8>>) {
    store
        .put(&ObjectPath::from(key), PutPayload::from(body.into()))
        .await
        .unwrap();
}

/// Object `i`'s JSON lines: `rows` orders with ids `{tag}-{i}-{j}`, its region by `i`.
fn orders(tag: &str, i: usize, rows: usize) -> String {
    let region = ["us", "eu", "ap"][i % 3];
    (0..rows)
        .map(|j| {
            format!(
                "{{\"order_id\":\"{tag}-{i}-{j}\",\"region\":\"{region}\",\"amount\":{}}}\n",
                (i * 7 + j) % 100
            )
        })
        .collect()
}

fn run_landing(stack: &DevStack, spec: &Path) -> Command {
    let mut cmd = pipelab(Some(stack));
    cmd.args(["run", "--quiet"]).arg(spec);
    cmd
}

/// 200 objects dropped while the pipeline runs and is SIGKILLed 10 times: every row once;
/// an object rewritten under its key is read again; a garbage object's lines are dead
/// letters naming the object and the line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_objects_land_once_through_sigkills_and_rewrites_are_read_again() {
    const OBJECTS: usize = 200;
    const ROWS: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let stack = start_stack(dir.path()).await;
    let store = bucket(&stack);
    let lake = format!("{}/lake", stack.lake_url());
    let landing = format!("{}/landing/", stack.lake_url());
    // A warehouse-style summary of each object, upserted into PostgreSQL beside the lake.
    let pipeline = unique("landing");
    let summary = format!("{pipeline}_objects");
    let sinks = if databases_here() {
        format!(
            "from = \"orders\"\n\
             [[steps]]\nname = \"orders\"\nsql = \"SELECT * FROM input\"\n\
             [[steps]]\nname = \"per_object\"\n\
             sql = \"SELECT _object, region, count(*) AS orders, sum(amount) AS revenue \
             FROM input GROUP BY _object, region\"\n\
             [[sinks]]\nkind = \"postgres\"\nurl = \"{}\"\ntable = \"{summary}\"\n\
             from = \"per_object\"\nkey = [\"_object\"]\n",
            postgres_url().unwrap()
        )
    } else {
        String::new()
    };
    let spec = landing_spec(dir.path(), &pipeline, (&landing, "jsonl"), &lake, &sinks);
    let spec_text = std::fs::read_to_string(&spec).unwrap();
    // The table is `orders` whatever the pipeline's name.
    std::fs::write(
        &spec,
        spec_text.replace(&format!("table = \"{pipeline}\""), "table = \"orders\""),
    )
    .unwrap();

    let dropping = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..OBJECTS {
                let key = format!("landing/{}/batch-{i:04}.jsonl", ["us", "eu", "ap"][i % 3]);
                put(store.as_ref(), &key, orders("o", i, ROWS)).await;
                tokio::time::sleep(std::time::Duration::from_millis(40)).await;
            }
        })
    };
    kill_repeatedly(|| run_landing(&stack, &spec), 10, (0x1a4d, 400, 1200));
    dropping.await.unwrap();
    let out = run_ok(run_landing(&stack, &spec).arg("--until-idle"));
    assert!(out.contains("landing objects:"), "{out}");
    let n = (OBJECTS * ROWS) as i64;
    assert_eq!(
        rows_and_distinct(Some(&stack), &lake, "orders", "order_id"),
        (n, n)
    );
    let by_region = counts(query_csv(
        Some(&stack),
        &lake,
        "SELECT region, count(*) FROM orders GROUP BY region ORDER BY region",
    ));
    assert_eq!(by_region["us"], (ROWS * OBJECTS.div_ceil(3)) as i64);

    // A rewrite under the same key (a new ETag) is read again; nothing else is.
    put(
        store.as_ref(),
        "landing/us/batch-0000.jsonl",
        orders("r", 0, 5),
    )
    .await;
    put(
        store.as_ref(),
        "landing/eu/garbage.jsonl",
        "{\"order_id\":\"g-1\",\"region\":\"eu\",\"amount\":1}\nnot json at all\n\n{\"order_id\":\n",
    )
    .await;
    // Temporary names and markers are not objects to read.
    put(store.as_ref(), "landing/eu/.part-9.jsonl", "half a line").await;
    put(store.as_ref(), "landing/_SUCCESS", "").await;
    let out = run_ok(run_landing(&stack, &spec).arg("--until-idle"));
    assert!(out.contains("landing objects: 2 read"), "{out}");
    assert_eq!(
        rows_and_distinct(Some(&stack), &lake, "orders", "order_id"),
        (n + 6, n + 6)
    );
    let letters = query_csv(
        Some(&stack),
        &lake,
        "SELECT topic, \"offset\", stage FROM orders_dead_letters ORDER BY \"offset\"",
    );
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert!(
        letters[0][0].starts_with("eu/garbage.jsonl@"),
        "{letters:?}"
    );
    assert_eq!(
        letters.iter().map(|l| l[1].as_str()).collect::<Vec<_>>(),
        ["2", "4"],
        "line numbers of the bad lines"
    );
    let out = run_ok(run_landing(&stack, &spec).arg("--until-idle"));
    assert!(out.contains("landing objects: 0 read"), "{out}");
    if sinks.is_empty() {
        return;
    }
    // One row per object, the rewritten one with its new content; one offsets row per
    // object version read (200, the rewrite, the garbage object).
    let pg = psql(&format!(
        "SELECT count(*), sum(orders) FROM \"{summary}\";\n\
         SELECT orders FROM \"{summary}\" WHERE _object = 'us/batch-0000.jsonl';\n\
         SELECT count(*) FROM pipelab_offsets WHERE pipeline = '{pipeline}';\n\
         DROP TABLE \"{summary}\"; DELETE FROM pipelab_offsets WHERE pipeline = '{pipeline}';"
    ));
    let expected_rows = OBJECTS * ROWS - ROWS + 5 + 1;
    assert_eq!(
        pg.lines().take(3).collect::<Vec<_>>(),
        [
            format!("{},{expected_rows}", OBJECTS + 1),
            "5".into(),
            format!("{}", OBJECTS + 2)
        ]
    );
}

/// A directory of CSV objects: each column typed by its values (a zip code with a
/// leading zero stays text), each row knowing its object (`_object`), a row of the wrong
/// width a dead letter with its line; an
/// object larger than a batch may hold stops the run with exit 2 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_landing_directory_of_csv_is_typed_by_column_and_oversized_objects_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let landing = dir.path().join("drop");
    std::fs::create_dir_all(landing.join("eu")).unwrap();
    let lake = dir.path().join("lake");
    let lake = lake.to_str().unwrap();
    std::fs::write(
        landing.join("eu/stores.csv"),
        "store,region,zip,revenue\ns1,eu,0150,10.5\ns2,eu,2000,4\ns3,eu,too,many,fields\n",
    )
    .unwrap();
    let spec = landing_spec(
        dir.path(),
        "stores",
        (landing.to_str().unwrap(), "csv"),
        lake,
        "",
    );
    let out = run_ok(
        pipelab(None)
            .args(["run", "--quiet", "--until-idle"])
            .arg(&spec),
    );
    assert!(out.contains("landing objects: 1 read"), "{out}");
    let rows = query_csv(
        None,
        lake,
        "SELECT store, zip, revenue * 2, _object FROM stores ORDER BY store",
    );
    assert_eq!(
        rows,
        [
            ["s1", "0150", "21.0", "eu/stores.csv"]
                .map(String::from)
                .to_vec(),
            ["s2", "2000", "8.0", "eu/stores.csv"]
                .map(String::from)
                .to_vec()
        ]
    );
    let letters = query_csv(
        None,
        lake,
        "SELECT \"offset\", error FROM stores_dead_letters",
    );
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0][0], "4");
    // The error holds a comma: query_csv split it.
    let error = letters[0][1..].join(",");
    assert!(error.contains("has 5 fields, the header has 4"), "{error}");

    // memory_budget_mb = 8: a batch holds at most 1 MiB.
    let big: String = std::iter::once("store,region,zip,revenue\n".to_string())
        .chain((0..80_000).map(|i| format!("s{i},eu,{i},{i}.5\n")))
        .collect();
    std::fs::write(landing.join("eu/big.csv"), big).unwrap();
    let tight = landing_spec(
        dir.path(),
        "tight",
        (landing.to_str().unwrap(), "csv"),
        lake,
        "",
    );
    let text = std::fs::read_to_string(&tight).unwrap();
    std::fs::write(&tight, format!("memory_budget_mb = 8\n{text}")).unwrap();
    let out = output(
        pipelab(None)
            .args(["run", "--quiet", "--until-idle"])
            .arg(&tight),
    );
    assert_user_error(out, &["object eu/big.csv", "memory_budget_mb"]);

    // A landing directory that is not there is named, not taken for an empty prefix.
    let typo = landing_spec(dir.path(), "typo", ("/nowhere/drop", "csv"), lake, "");
    let out = output(
        pipelab(None)
            .args(["run", "--quiet", "--until-idle"])
            .arg(&typo),
    );
    assert_user_error(out, &["landing directory /nowhere/drop does not exist"]);
}
