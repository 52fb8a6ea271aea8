//! `pipelab query --catalogs FILE`: a lake and files catalogs in one session, as
//! `catalog.schema.table`, with Trino's SHOW CATALOGS / SHOW SCHEMAS.

use std::path::Path;

use crate::common::*;

/// The shell of `pipelab query --catalogs FILE --format csv`, fed `input`: what it printed.
fn shell(catalogs: &Path, input: &str) -> String {
    let out = output_with_stdin(
        pipelab(None)
            .args(["query", "--format", "csv", "--catalogs"])
            .arg(catalogs),
        input,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn query(catalogs: &Path, sql: &str) -> std::process::Output {
    output(
        pipelab(None)
            .args(["query", "--catalogs"])
            .arg(catalogs)
            .arg(sql),
    )
}

#[test]
fn a_lake_joins_csv_json_and_parquet_files_by_catalog_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lab");
    run_ok(
        pipelab(None)
            .args(["lab", "partitions", "--runs", "1", "--events", "4000"])
            .args(["--layouts", "day", "--out"])
            .arg(&out),
    );
    let lake = out.join("lake");
    let lake_str = lake.display().to_string();

    // Reference data in three formats: names and regions per country code.
    let codes = query_csv(
        None,
        &lake_str,
        "SELECT country, count(*) FROM day GROUP BY country ORDER BY country",
    );
    assert!(codes.len() >= 3, "{codes:?}");
    let csv: String = std::iter::once("code,name\n".to_string())
        .chain(codes.iter().map(|c| format!("{0},name of {0}\n", c[0])))
        .collect();
    std::fs::write(dir.path().join("countries.csv"), csv).unwrap();
    let regions: String = codes
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{{\"code\":\"{}\",\"region\":\"r{}\"}}\n", c[0], i % 2))
        .collect();
    std::fs::write(dir.path().join("regions.jsonl"), regions).unwrap();
    // A Parquet file: one of the lake's own, read as a plain file.
    let parquet = std::fs::read_dir(lake.join("day"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .flat_map(|d| std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()))
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();

    let catalogs = dir.path().join("catalogs.toml");
    std::fs::write(
        &catalogs,
        format!(
            "[catalogs.lake]\nkind = \"lake\"\nlocation = {lake:?}\n\n\
             [catalogs.ref]\nkind = \"files\"\n\
             tables = {{ countries = {csv:?}, regions = {json:?}, one_file = {parquet:?} }}\n",
            lake = lake_str,
            csv = dir.path().join("countries.csv").display().to_string(),
            json = dir.path().join("regions.jsonl").display().to_string(),
            parquet = parquet.display().to_string(),
        ),
    )
    .unwrap();

    assert_eq!(
        catalog_rows(&catalogs, "SHOW CATALOGS"),
        vec![vec!["lake".to_string()], vec!["ref".to_string()]]
    );
    assert_eq!(
        catalog_rows(&catalogs, "SHOW SCHEMAS"),
        vec![vec!["default".to_string()]]
    );
    assert_eq!(
        catalog_rows(&catalogs, "SHOW SCHEMAS FROM ref"),
        vec![vec!["default".to_string()]]
    );

    // The lake's counts per country, joined to the names in the CSV and the regions in
    // the JSON lines: the same counts under the other names.
    let joined = catalog_rows(
        &catalogs,
        "SELECT c.name, r.region, count(*) FROM lake.default.day e \
         JOIN ref.default.countries c ON e.country = c.code \
         JOIN ref.default.regions r ON r.code = c.code \
         GROUP BY c.name, r.region ORDER BY c.name",
    );
    let expected: Vec<Vec<String>> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            vec![
                format!("name of {}", c[0]),
                format!("r{}", i % 2),
                c[1].clone(),
            ]
        })
        .collect();
    assert_eq!(joined, expected);

    // Unqualified names are the default catalog's (the one lake); the Parquet file holds
    // one of its files' rows.
    let total = catalog_rows(&catalogs, "SELECT count(*) FROM day");
    assert_eq!(total, vec![vec!["4000".to_string()]]);
    let in_file = catalog_rows(&catalogs, "SELECT count(*) > 0 FROM ref.default.one_file");
    assert_eq!(in_file, vec![vec!["true".to_string()]]);

    // psql's listing commands in the shell: \l catalogs, \dn schemas, \d TABLE columns.
    let listed = shell(&catalogs, "\\l\n\\dn ref\n\\d ref.default.countries\n");
    assert!(
        listed.starts_with(
            "Catalog\nlake\nref\nSchema\ndefault\ncolumn_name,data_type,is_nullable\n"
        ),
        "{listed}"
    );
    assert!(
        listed.contains("\ncode,") && listed.contains("\nname,"),
        "{listed}"
    );

    // A table no catalog has is named with the tables there are.
    assert_user_error(
        query(&catalogs, "SELECT * FROM ref.default.nope"),
        &["nope", "ref.default.countries"],
    );
}

#[test]
fn bad_catalogs_files_exit_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalogs.toml");
    let cases: [(&str, &[&str]); 5] = [
        (
            "[catalogs.pg]\nkind = \"oracle\"\n",
            &["catalogs.toml: line 2", "\"oracle\"", "lake, files"],
        ),
        (
            "[catalogs.l]\nkind = \"lake\"\nlocaton = \"x\"\n",
            &["catalogs.toml", "line 3", "locaton"],
        ),
        (
            "[catalogs.l]\nkind = \"lake\"\nlocation = \"x\"\nbrokers = \"127.0.0.1:9092\"\n",
            &["catalogs.toml: line 4", "kind lake does not take `brokers`"],
        ),
        (
            "[catalogs.f]\nkind = \"files\"\ntables = { t = \"notes.txt\" }\n",
            &["line 3", "notes.txt", ".csv"],
        ),
        (
            "[catalogs.f]\nkind = \"files\"\ntables = { t = \"/nonexistent/dir/t.csv\" }\n",
            &["catalog \"f\"", "table \"t\"", "/nonexistent/dir/t.csv"],
        ),
    ];
    for (text, expect) in cases {
        std::fs::write(&file, text).unwrap();
        assert_user_error(query(&file, "SELECT 1"), expect);
    }
    assert_user_error(
        output(
            pipelab(None)
                .args(["query", "--as-of", "1", "--catalogs"])
                .arg(&file)
                .arg("SELECT 1"),
        ),
        &["--as-of", "does not combine with --catalogs"],
    );
    assert_user_error(
        query(&dir.path().join("missing.toml"), "SELECT 1"),
        &["missing.toml", "cannot read the catalogs file"],
    );
}
