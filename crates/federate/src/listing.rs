//! Trino's listing statements (`SHOW CATALOGS`, `SHOW SCHEMAS`, `SHOW TABLES`) as the
//! queries over `information_schema` that answer them.

/// Trino's `SHOW CATALOGS`, `SHOW SCHEMAS [FROM|IN catalog]` and `SHOW TABLES [FROM|IN
/// [catalog.]schema]` (each with an optional `LIKE 'pattern'`), which DataFusion does not
/// plan as Trino does, as the queries over `information_schema` that answer them, with
/// Trino's column names (`Catalog`, `Schema`, `Table`). `SHOW TABLES` lists the current
/// schema's tables, as in Trino.
pub(crate) fn listing_statement(
    sql: &str,
    default_catalog: &str,
    default_schema: &str,
) -> Option<String> {
    let text = sql.trim().trim_end_matches(';');
    let original: Vec<&str> = text.split_whitespace().collect();
    let upper: Vec<String> = original.iter().map(|w| w.to_ascii_uppercase()).collect();
    let words: Vec<&str> = upper.iter().map(String::as_str).collect();
    // A trailing LIKE 'pattern' filters the one column listed.
    let (words, like) = match words.as_slice() {
        [head @ .., "LIKE", _] => (head, Some(original[words.len() - 1])),
        all => (all, None),
    };
    let name = |i: usize| original[i].trim_matches('"');
    let (query, column) = match words {
        ["SHOW", "CATALOGS"] => (
            "SELECT DISTINCT catalog_name AS \"Catalog\" FROM information_schema.schemata \
             WHERE true"
                .to_string(),
            "catalog_name",
        ),
        ["SHOW", "SCHEMAS"] => (schemas_of(default_catalog), "schema_name"),
        ["SHOW", "SCHEMAS", "FROM" | "IN", _] => (schemas_of(name(3)), "schema_name"),
        ["SHOW", "TABLES"] => (tables_of(default_catalog, default_schema), "table_name"),
        ["SHOW", "TABLES", "FROM" | "IN", _] => {
            let (catalog, schema) = match name(3).split_once('.') {
                Some((catalog, schema)) => (catalog.trim_matches('"'), schema.trim_matches('"')),
                None => (default_catalog, name(3)),
            };
            (tables_of(catalog, schema), "table_name")
        }
        _ => return None,
    };
    let filter = match like {
        // The pattern is kept as written: a quoted SQL string.
        Some(pattern) => format!(" AND {column} LIKE {pattern}"),
        None => String::new(),
    };
    Some(format!("{query}{filter} ORDER BY 1"))
}

/// `text` as a SQL string literal.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The query listing a catalog's schemas.
fn schemas_of(catalog: &str) -> String {
    format!(
        "SELECT schema_name AS \"Schema\" FROM information_schema.schemata \
         WHERE catalog_name = {}",
        quoted(catalog)
    )
}

/// The query listing a schema's tables.
fn tables_of(catalog: &str, schema: &str) -> String {
    format!(
        "SELECT table_name AS \"Table\" FROM information_schema.tables \
         WHERE table_catalog = {} AND table_schema = {}",
        quoted(catalog),
        quoted(schema)
    )
}

#[cfg(test)]
mod tests {
    use super::listing_statement;

    #[test]
    fn trinos_listings_become_information_schema_queries() {
        let listed = |sql: &str| listing_statement(sql, "lake", "default");
        assert_eq!(
            listed("show tables").unwrap(),
            "SELECT table_name AS \"Table\" FROM information_schema.tables \
             WHERE table_catalog = 'lake' AND table_schema = 'default' ORDER BY 1"
        );
        assert!(
            listed("SHOW TABLES FROM pg.public LIKE 'pl%';")
                .unwrap()
                .ends_with("table_catalog = 'pg' AND table_schema = 'public' AND table_name LIKE 'pl%' ORDER BY 1")
        );
        assert!(
            listed("SHOW TABLES IN test")
                .unwrap()
                .contains("table_catalog = 'lake' AND table_schema = 'test'")
        );
        assert!(
            listed("SHOW CATALOGS LIKE 'p%'")
                .unwrap()
                .contains("WHERE true AND catalog_name LIKE 'p%'")
        );
        assert!(
            listed("SHOW SCHEMAS FROM \"my\"")
                .unwrap()
                .contains("catalog_name = 'my'")
        );
        assert_eq!(listed("SELECT 1"), None);
    }
}
