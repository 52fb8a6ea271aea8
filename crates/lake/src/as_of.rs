//! A point in a table's past, for time travel.

use chrono::{DateTime, NaiveDate, Utc};

/// A point in a table's past for time travel: a version, or a time (the newest commit
/// made at or before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// A table version, as `history` lists it.
    Version(u64),
    /// A time (UTC): the table as of the newest commit made at or before it.
    Time(DateTime<Utc>),
}

impl std::str::FromStr for AsOf {
    type Err = String;

    /// `12` (a version), `2026-11-25T10:00:00Z` (RFC 3339), `2026-11-25 10:00:00` (UTC) or
    /// `2026-11-25` (its midnight UTC).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(version) = text.parse::<u64>() {
            return Ok(AsOf::Version(version));
        }
        if let Ok(time) = DateTime::parse_from_rfc3339(text) {
            return Ok(AsOf::Time(time.with_timezone(&Utc)));
        }
        if let Ok(time) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S") {
            return Ok(AsOf::Time(time.and_utc()));
        }
        if let Some(midnight) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
        {
            return Ok(AsOf::Time(midnight.and_utc()));
        }
        Err(format!(
            "{text:?} is neither a version (a whole number ≥ 0) nor a time \
             (2026-11-25T10:00:00Z, 2026-11-25 10:00:00 in UTC, or 2026-11-25)"
        ))
    }
}

impl std::fmt::Display for AsOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AsOf::Version(v) => write!(f, "version {v}"),
            AsOf::Time(t) => write!(f, "{}", t.to_rfc3339()),
        }
    }
}
