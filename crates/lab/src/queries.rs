//! The lab's query set: named SQL statements over a table called `events`, with
//! placeholders for values taken from the data.
//!
//! A query file holds statements separated by `;`; a `-- name: …` line before one names
//! it (else `q1`, `q2`, …). Placeholders, filled from the data before the first run:
//! `${day}` (the middle day of the data, YYYY-MM-DD), `${next_day}`, `${user_id}` (the
//! most active user), `${country}` (the most common country). Only those used are
//! looked up; their columns (the time column, `user_id`, `country`) must then exist.

use std::collections::BTreeMap;

/// One query of the set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabQuery {
    /// From the `-- name:` line before the statement, else `q1`, `q2`, … by position.
    pub name: String,
    /// The statement, trimmed and without its `;`; may hold placeholders.
    pub sql: String,
}

/// The default set, for the clickstream (`pipelab gen`, the demo's `clicks`).
pub const CLICKSTREAM: &str = "\
-- name: full scan
SELECT count(*) AS events, count(DISTINCT user_id) AS users FROM events;
-- name: one day
SELECT count(*) AS events, count(DISTINCT session_id) AS sessions FROM events
WHERE ts >= TIMESTAMP '${day} 00:00:00' AND ts < TIMESTAMP '${next_day} 00:00:00';
-- name: one hour
SELECT event_type, count(*) AS events FROM events
WHERE ts >= TIMESTAMP '${day} 18:00:00' AND ts < TIMESTAMP '${day} 19:00:00'
GROUP BY event_type ORDER BY event_type;
-- name: one user
SELECT count(*) AS events, min(ts) AS first_seen, max(ts) AS last_seen FROM events
WHERE user_id = '${user_id}';
-- name: one country, one day
SELECT event_type, count(*) AS events FROM events
WHERE country = '${country}'
  AND ts >= TIMESTAMP '${day} 00:00:00' AND ts < TIMESTAMP '${next_day} 00:00:00'
GROUP BY event_type ORDER BY event_type;
-- name: revenue per country
SELECT country, round(sum(price), 2) AS revenue FROM events
WHERE event_type = 'purchase' GROUP BY country ORDER BY country;
";

/// The placeholders a query set can use.
pub const PLACEHOLDERS: [&str; 4] = ["day", "next_day", "user_id", "country"];

/// Split a query file into named queries.
pub fn parse(text: &str) -> Result<Vec<LabQuery>, String> {
    let mut queries = Vec::new();
    let (mut name, mut sql) = (None::<String>, String::new());
    let mut finish = |name: &mut Option<String>, sql: &mut String| {
        let body = sql.trim();
        if !body.is_empty() {
            let n = queries.len() + 1;
            queries.push(LabQuery {
                name: name.take().unwrap_or_else(|| format!("q{n}")),
                sql: body.to_string(),
            });
        }
        sql.clear();
    };
    for line in text.lines() {
        if let Some(given) = line.trim().strip_prefix("-- name:") {
            finish(&mut name, &mut sql);
            name = Some(given.trim().to_string());
            continue;
        }
        if line.trim_start().starts_with("--") {
            continue;
        }
        // A `;` ends a statement at the end of a line (SQL text inside one is left as is).
        match line.trim_end().strip_suffix(';') {
            Some(last) => {
                sql.push_str(last);
                finish(&mut name, &mut sql);
            }
            None => {
                sql.push_str(line);
                sql.push('\n');
            }
        }
    }
    finish(&mut name, &mut sql);
    if queries.is_empty() {
        return Err("the query file holds no SQL statement".into());
    }
    for (i, q) in queries.iter().enumerate() {
        if queries[..i].iter().any(|p| p.name == q.name) {
            return Err(format!("two queries are named {:?}", q.name));
        }
    }
    Ok(queries)
}

/// Placeholders the queries use, known or not.
pub fn used(queries: &[LabQuery]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for q in queries {
        let mut rest = q.sql.as_str();
        while let Some(at) = rest.find("${") {
            let Some(end) = rest[at..].find('}') else {
                break;
            };
            let name = rest[at + 2..at + end].to_string();
            if !names.contains(&name) {
                names.push(name);
            }
            rest = &rest[at + end..];
        }
    }
    names
}

/// The queries with their placeholders replaced.
pub fn fill(queries: &[LabQuery], values: &BTreeMap<String, String>) -> Vec<LabQuery> {
    queries
        .iter()
        .map(|q| {
            let mut sql = q.sql.clone();
            for (k, v) in values {
                sql = sql.replace(&format!("${{{k}}}"), v);
            }
            LabQuery {
                name: q.name.clone(),
                sql,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_set_parses_with_names_and_placeholders() {
        let queries = parse(CLICKSTREAM).unwrap();
        let names: Vec<&str> = queries.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "full scan",
                "one day",
                "one hour",
                "one user",
                "one country, one day",
                "revenue per country"
            ]
        );
        assert_eq!(used(&queries), ["day", "next_day", "user_id", "country"]);
        let values = BTreeMap::from([("day".to_string(), "2026-11-20".to_string())]);
        assert!(
            fill(&queries, &values)[2]
                .sql
                .contains("'2026-11-20 18:00:00'")
        );
    }

    #[test]
    fn unnamed_queries_are_numbered_and_empty_files_refused() {
        let queries = parse("SELECT 1;\n\nSELECT\n  2;").unwrap();
        assert_eq!(queries[1].name, "q2");
        assert_eq!(queries[1].sql, "SELECT\n  2");
        assert!(parse("-- just a comment\n").is_err());
        assert!(parse("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;").is_err());
    }
}
