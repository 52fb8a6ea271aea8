//! `pipelab scenario run nosql-vs-sql`: the same documents into the lake with schema
//! evolution and into a relational table with a strict load. The runner checks the
//! answers against `expected/` (counted by hand from the documents); here Python's
//! `deltalake` reads the lake and `sqlite3` the database and find the same split.

use crate::common::*;

/// What the lake and the database hold, as other readers see them.
const REFERENCE: &str = r#"
import json, sqlite3, sys
from deltalake import DeltaTable
run = sys.argv[1]
lake = DeltaTable(f"{run}/lake/documents").to_pyarrow_table()
db = sqlite3.connect(f"{run}/ops.db")
print(json.dumps({
    "lake_rows": lake.num_rows,
    "types": {f.name: str(f.type) for f in lake.schema},
    "dead": DeltaTable(f"{run}/lake/documents_dead_letters").to_pyarrow_table().num_rows,
    "products": sorted(r[0] for r in db.execute("SELECT doc_id FROM products")),
    "refused": [list(r) for r in db.execute(
        "SELECT line, field, reason FROM products_refused ORDER BY line")],
}))
"#;

#[test]
fn the_lake_keeps_every_document_and_the_strict_load_refuses_what_does_not_fit() {
    if !has_python_deltalake() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = run_scenario("nosql-vs-sql", &run, &[]);
    assert!(out.contains("6 answers as expected"), "{out}");
    assert!(out.contains("7 rows in SQLite"), "{out}");
    assert!(out.contains("9 refused into products_refused"), "{out}");
    let reference = python_reference(REFERENCE, &[&run]);
    assert_eq!(reference["lake_rows"], 15);
    assert_eq!(reference["dead"], 1);
    let types = &reference["types"];
    assert_eq!(types["price"], "double", "{types}");
    assert!(
        types["stock"].as_str().unwrap().contains("string"),
        "{types}"
    );
    assert!(
        types["tags"].as_str().unwrap().starts_with("list"),
        "{types}"
    );
    assert!(
        types["dimensions"].as_str().unwrap().starts_with("struct"),
        "{types}"
    );
    assert_eq!(
        reference["products"],
        serde_json::json!([1, 2, 3, 4, 5, 6, 9])
    );
    let refused = reference["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 9, "{refused:?}");
    assert_eq!(refused[2], serde_json::json!([10, "stock", "wrong type"]));
    assert_eq!(refused[8], serde_json::json!([16, "", "not JSON"]));
}

#[test]
fn the_strict_load_refuses_the_same_on_postgres_and_mariadb() {
    runs_on_postgres_and_mariadb("nosql-vs-sql", 6);
}

/// A schema file that creates another table than the step loads: exit 2, naming both.
#[test]
fn a_schema_for_another_table_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let copy = edited_copy(
        &scenario_folder("nosql-vs-sql"),
        dir.path(),
        "sql/products_table.sql",
        |t| t.replace("CREATE TABLE products", "CREATE TABLE items"),
    );
    let out = scenario_output(&copy, &dir.path().join("run"), &[]);
    assert_user_error(out, &["step 4", "creates table items", "loads products"]);
}
