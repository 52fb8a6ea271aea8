//! Parsing `partition_by` entries (`dt`, `day(ts) AS dt`, `bucket(16, user_id)`, …) and
//! the canonical form kept in a table's `pipelab.partitioning` property.

use chrono_tz::Tz;

use crate::partitioning::{PartitionField, PartitionSpecError, Partitioning, Transform, Zone};

impl Partitioning {
    /// Parse `partition_by` entries (`dt`, `day(ts) AS dt`, `bucket(16, user_id)`, …).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, PartitionSpecError> {
        let fields: Vec<PartitionField> = entries
            .iter()
            .map(|e| PartitionField::parse(e.as_ref()))
            .collect::<Result<_, _>>()?;
        for (i, f) in fields.iter().enumerate() {
            if fields[..i].iter().any(|g| g.name == f.name) {
                return Err(PartitionSpecError {
                    entry: entries[i].as_ref().to_string(),
                    reason: format!("a second partition column named {:?}", f.name),
                });
            }
        }
        Ok(Self { fields })
    }
}

impl std::str::FromStr for Partitioning {
    type Err = PartitionSpecError;

    /// The canonical form back (commas inside parentheses belong to the entry).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut entries = Vec::new();
        let (mut depth, mut start) = (0i32, 0);
        for (i, c) in s.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    entries.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        if !s[start..].trim().is_empty() {
            entries.push(&s[start..]);
        }
        Self::parse(&entries)
    }
}

impl PartitionField {
    /// One entry: `col`, `name(args)` or either followed by `AS alias`.
    pub(crate) fn parse(entry: &str) -> Result<Self, PartitionSpecError> {
        let err = |reason: String| PartitionSpecError {
            entry: entry.to_string(),
            reason,
        };
        let text = entry.trim();
        let (expr, alias) = split_alias(text);
        let alias = alias.map(unquote).filter(|a| !a.is_empty());
        let Some(open) = expr.find('(') else {
            let column = unquote(expr);
            if column.is_empty() || column.contains(|c: char| "(),".contains(c)) {
                return Err(err("expected a column name or transform(args)".into()));
            }
            if alias.is_some_and(|a| a != column) {
                return Err(err(
                    "an identity partition column keeps its name; leave out AS".into(),
                ));
            }
            return Ok(Self {
                name: column.to_string(),
                source: column.to_string(),
                transform: Transform::Identity,
            });
        };
        if !expr.ends_with(')') {
            return Err(err("missing ')' at the end".into()));
        }
        let function = expr[..open].trim().to_ascii_lowercase();
        let args: Vec<&str> = expr[open + 1..expr.len() - 1]
            .split(',')
            .map(|a| unquote(a.trim()))
            .collect();
        let (transform, source) = Transform::from_call(&function, &args).map_err(err)?;
        let name = match alias {
            Some(a) => a.to_string(),
            None => default_name(&transform, source),
        };
        Ok(Self {
            name,
            source: source.to_string(),
            transform,
        })
    }
}

impl Transform {
    /// The transform a call names and the column it takes.
    fn from_call<'a>(function: &str, args: &[&'a str]) -> Result<(Self, &'a str), String> {
        let column = |a: &'a str| {
            if a.is_empty() {
                Err("a column name is missing".to_string())
            } else {
                Ok(a)
            }
        };
        let width = |a: &str, what: &str| match a.parse::<u32>() {
            Ok(0) => Err(format!("the {what} must be at least 1")),
            Ok(n) => Ok(n),
            Err(_) => Err(format!("the {what} must be a whole number, not {a:?}")),
        };
        match (function, args) {
            ("identity", [c]) => Ok((Self::Identity, column(c)?)),
            ("year" | "month" | "day" | "hour", [c, rest @ ..]) if rest.len() <= 1 => {
                let zone = match rest.first() {
                    None => Zone::default(),
                    Some(name) => Zone::parse(name)?,
                };
                let transform = match function {
                    "year" => Self::Year(zone),
                    "month" => Self::Month(zone),
                    "day" => Self::Day(zone),
                    _ => Self::Hour(zone),
                };
                Ok((transform, column(c)?))
            }
            ("bucket", [n, c]) => Ok((Self::Bucket(width(n, "bucket count")?), column(c)?)),
            ("truncate", [w, c]) => Ok((Self::Truncate(width(w, "width")?), column(c)?)),
            ("identity" | "bucket" | "truncate" | "year" | "month" | "day" | "hour", _) => {
                Err(format!(
                    "wrong arguments for {function}: expected {}",
                    usage(function)
                ))
            }
            _ => Err(format!(
                "unknown transform {function:?}; known: identity(col), year/month/day/hour(ts[, \
                 zone]), bucket(n, col), truncate(width, col)"
            )),
        }
    }
}

/// How to call `function`, for an error about its arguments.
fn usage(function: &str) -> &'static str {
    match function {
        "identity" => "identity(col)",
        "bucket" => "bucket(n, col)",
        "truncate" => "truncate(width, col)",
        _ => "year/month/day/hour(ts) or (ts, 'Time/Zone')",
    }
}

impl Zone {
    /// A zone by IANA name; `UTC` (or `Z`) is the default zone.
    pub(crate) fn parse(name: &str) -> Result<Self, String> {
        if name.eq_ignore_ascii_case("utc") || name == "Z" {
            return Ok(Self(None));
        }
        name.parse::<Tz>().map(|tz| Self(Some(tz))).map_err(|_| {
            format!("unknown time zone {name:?}; use an IANA name such as Europe/Berlin, or UTC")
        })
    }
}

/// `… AS alias` split off, case-insensitively, outside parentheses.
fn split_alias(text: &str) -> (&str, Option<&str>) {
    let lower = text.to_ascii_lowercase();
    match lower.rfind(" as ") {
        Some(at) if !text[at..].contains(')') => (text[..at].trim(), Some(text[at + 4..].trim())),
        _ => (text, None),
    }
}

/// `s` without one pair of surrounding quotes (`"`, `'` or a backtick).
fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['"', '\'', '`'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// The derived column's name when the entry gives none: `source_transform`.
fn default_name(transform: &Transform, source: &str) -> String {
    let suffix = match transform {
        Transform::Identity => return source.to_string(),
        Transform::Bucket(_) => "bucket",
        Transform::Truncate(_) => "trunc",
        t => t.name(),
    };
    format!("{source}_{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_with_default_and_given_names() {
        let p = Partitioning::parse(&[
            "country",
            "day(ts) AS dt",
            "hour(ts, 'Europe/Berlin')",
            "bucket(16, user_id)",
            "truncate(3, page) as page_prefix",
        ])
        .unwrap();
        assert_eq!(
            p.columns(),
            ["country", "dt", "ts_hour", "user_id_bucket", "page_prefix"]
        );
        assert_eq!(
            p.to_string(),
            "country, day(ts, UTC) AS dt, hour(ts, Europe/Berlin) AS ts_hour, \
             bucket(16, user_id) AS user_id_bucket, truncate(3, page) AS page_prefix"
        );
        // The canonical form reads back the same.
        assert_eq!(p.to_string().parse::<Partitioning>().unwrap(), p);
    }

    #[test]
    fn bad_entries_are_named_with_the_reason() {
        let err = |e: &str| PartitionField::parse(e).unwrap_err().to_string();
        assert!(
            err("bucket(0, user_id)").contains("at least 1"),
            "{}",
            err("bucket(0, u)")
        );
        assert!(err("day(ts, 'Mars/Olympus')").contains("unknown time zone"));
        assert!(err("week(ts)").contains("unknown transform"));
        assert!(err("bucket(user_id)").contains("bucket(n, col)"));
        assert!(err("day(ts").contains("missing ')'"));
        let dup = Partitioning::parse(&["day(ts) AS d", "month(ts) AS d"]).unwrap_err();
        assert!(dup.to_string().contains("second partition column"));
    }
}
