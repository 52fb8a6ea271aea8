//! Layouts to compare, as the lab's `--layouts` names them.
//!
//! A layout is `none` or partition parts joined by `+`: `day`, `hour`, `month`, `year`
//! (of the time column), `bucketN(col)`, `truncateN(col)`, a column name (identity), or
//! any `partition_by` entry (`bucket(16, user_id)`). `day+country` partitions by day,
//! then country.

use pipelab_lake::Partitioning;

/// One layout: the name it was asked by, a table name made of it, its partitioning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The layout as written in `--layouts`, such as `day+country`.
    pub name: String,
    /// The lake table name made from it: lowercase letters, digits and `_`.
    pub table: String,
    /// How the table is partitioned; no columns for `none`.
    pub partitioning: Partitioning,
}

/// A layout that cannot be understood; the message names it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("layout {layout:?}: {reason}")]
pub struct LayoutError {
    /// The layout, or the whole `--layouts` list, as given.
    pub layout: String,
    /// Why it cannot be used.
    pub reason: String,
}

/// Parse a `--layouts` list: layouts separated by commas outside parentheses.
pub fn parse_layouts(list: &str, time_column: &str) -> Result<Vec<Layout>, LayoutError> {
    let layouts: Vec<Layout> = split_top_level(list, ',')
        .into_iter()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| Layout::parse(l, time_column))
        .collect::<Result<_, _>>()?;
    if layouts.is_empty() {
        return Err(LayoutError {
            layout: list.to_string(),
            reason: "no layout named (try none,day,hour,bucket16(user_id))".into(),
        });
    }
    for (i, l) in layouts.iter().enumerate() {
        if layouts[..i].iter().any(|m| m.table == l.table) {
            return Err(LayoutError {
                layout: l.name.clone(),
                reason: "named twice".into(),
            });
        }
    }
    Ok(layouts)
}

impl Layout {
    /// Parse one layout: `none`, or parts joined by `+`; time parts apply to `time_column`.
    pub fn parse(text: &str, time_column: &str) -> Result<Self, LayoutError> {
        let err = |reason: String| LayoutError {
            layout: text.to_string(),
            reason,
        };
        let entries: Vec<String> = if text.eq_ignore_ascii_case("none") {
            Vec::new()
        } else {
            split_top_level(text, '+')
                .into_iter()
                .map(|part| entry(part.trim(), time_column))
                .collect::<Result<_, _>>()
                .map_err(err)?
        };
        let partitioning = Partitioning::parse(&entries).map_err(|e| err(e.to_string()))?;
        Ok(Self {
            name: text.to_string(),
            table: table_name(text),
            partitioning,
        })
    }
}

/// One `+` part as a `partition_by` entry.
fn entry(part: &str, time_column: &str) -> Result<String, String> {
    if part.is_empty() {
        return Err("an empty part".into());
    }
    let lower = part.to_ascii_lowercase();
    if ["year", "month", "day", "hour"].contains(&lower.as_str()) {
        return Ok(format!("{lower}({time_column})"));
    }
    for function in ["bucket", "truncate"] {
        // bucket16(user_id) → bucket(16, user_id)
        if let Some(rest) = lower.strip_prefix(function)
            && let Some((n, column)) = rest.split_once('(')
            && !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit())
        {
            let column = &part[part.len() - column.len()..];
            let column = column.strip_suffix(')').ok_or("missing ')'")?;
            return Ok(format!("{function}({n}, {column})"));
        }
    }
    Ok(part.to_string())
}

/// A lake table name for a layout: letters, digits and `_` only.
fn table_name(layout: &str) -> String {
    let mut name = String::new();
    for c in layout.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.ends_with('_') {
            name.push('_');
        }
    }
    name.trim_matches('_').to_string()
}

fn split_top_level(text: &str, sep: char) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            c if c == sep && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_parse_to_partitionings_and_table_names() {
        let layouts = parse_layouts(
            "none,day,hour,bucket16(user_id),day+country,truncate(2, page)",
            "ts",
        )
        .unwrap();
        let shown: Vec<(String, String)> = layouts
            .iter()
            .map(|l| (l.table.clone(), l.partitioning.to_string()))
            .collect();
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            shown,
            [
                pair("none", ""),
                pair("day", "day(ts, UTC) AS ts_day"),
                pair("hour", "hour(ts, UTC) AS ts_hour"),
                pair("bucket16_user_id", "bucket(16, user_id) AS user_id_bucket"),
                pair("day_country", "day(ts, UTC) AS ts_day, country"),
                pair("truncate_2_page", "truncate(2, page) AS page_trunc"),
            ]
        );
    }

    #[test]
    fn bad_layouts_are_named() {
        let err = |l: &str| parse_layouts(l, "ts").unwrap_err().to_string();
        assert!(err("day,day").contains("named twice"));
        assert!(err("bucket0(user_id)").contains("at least 1"));
        assert!(err("day+").contains("empty part"));
        assert!(err(" , ").contains("no layout"));
    }
}
