//! Partition transforms: partition columns the writer derives from a source column.
//!
//! Delta partitions only by a column's value, so a transform (`day(ts)`, `bucket(16,
//! user_id)`) becomes a derived partition column, as Delta's generated columns are: the
//! writer computes it, the table's metadata records how (the `pipelab.partitioning`
//! property), and queries on the source column are rewritten to also select on the
//! derived one (see [`crate::pruning`]), so `WHERE ts >= …` prunes `dt` partitions.
//!
//! The transforms follow Iceberg's partition transforms, with values a person can read in
//! a directory name:
//!
//! | entry                     | derived column (default name) | value            |
//! |---------------------------|-------------------------------|------------------|
//! | `col` or `identity(col)`  | `col` itself                  | the value        |
//! | `year(ts[, zone])`        | `ts_year`, int                | 2026             |
//! | `month(ts[, zone])`       | `ts_month`, string            | `2026-11`        |
//! | `day(ts[, zone])`         | `ts_day`, date                | `2026-11-23`     |
//! | `hour(ts[, zone])`        | `ts_hour`, string             | `2026-11-23-14`  |
//! | `bucket(n, col)`          | `col_bucket`, int             | 0 ‥ n-1          |
//! | `truncate(w, col)`        | `col_trunc`, string or bigint | `abc`, 1200      |
//!
//! `… AS name` names the derived column. Times are taken in the zone given (an IANA name,
//! UTC by default); a timestamp without time zone is taken as UTC. The bucket is Iceberg's:
//! `(murmur3_x86_32(bytes) & i32::MAX) % n`, where the bytes are the value's 8-byte
//! little-endian integer for integers (dates as days, timestamps as microseconds since
//! 1970) and the UTF-8 or raw bytes for strings and binaries, so an Iceberg or Spark
//! engine would put every row in the same bucket. `truncate` keeps the first `w`
//! characters of a string (bytes of a binary) or rounds an integer down to a multiple of
//! `w`. A null source gives a null partition (`__HIVE_DEFAULT_PARTITION__`).
//!
//! This module holds the model: the types, a table's schema with its derived columns, and
//! the canonical text form. Parsing `partition_by` entries lives in `partition_spec.rs`,
//! the derived columns' types and values in `partition_values.rs`.

use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema};
use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;

/// The table property that records a table's partition transforms.
pub const PARTITIONING_PROPERTY: &str = "pipelab.partitioning";

const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// How one partition column is computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transform {
    /// The source column itself.
    Identity,
    /// The year in the zone (int).
    Year(Zone),
    /// `YYYY-MM` in the zone.
    Month(Zone),
    /// The date in the zone.
    Day(Zone),
    /// `YYYY-MM-DD-HH` in the zone.
    Hour(Zone),
    /// Iceberg's bucket among this many.
    Bucket(u32),
    /// Iceberg's truncation to this width.
    Truncate(u32),
}

/// The time zone of a time transform; UTC when none is named.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Zone(
    // Crate-visible for `Zone::parse` in `partition_spec.rs`.
    pub(crate) Option<Tz>,
);

/// One partition column: its name, the column it is computed from and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionField {
    /// The partition column's name.
    pub name: String,
    /// The data's column it is computed from (itself for identity).
    pub source: String,
    /// How it is computed.
    pub transform: Transform,
}

/// A table's partition columns, outermost first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Partitioning {
    // Crate-visible for `Partitioning::parse` in `partition_spec.rs`.
    pub(crate) fields: Vec<PartitionField>,
}

/// A `partition_by` entry that cannot be understood; the message names the entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("partition_by entry {entry:?}: {reason}")]
pub struct PartitionSpecError {
    /// The entry as written.
    pub entry: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Data a transform cannot be applied to (a missing column, a wrong type).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("partition column {name} ({transform}): {reason}")]
pub struct TransformError {
    /// The partition column.
    pub name: String,
    /// Its entry in canonical form.
    pub transform: String,
    /// What is wrong with the data.
    pub reason: String,
}

impl Partitioning {
    /// Identity partitioning on these columns (a table without recorded transforms).
    pub fn identity(columns: &[String]) -> Self {
        Self {
            fields: columns
                .iter()
                .map(|c| PartitionField {
                    name: c.clone(),
                    source: c.clone(),
                    transform: Transform::Identity,
                })
                .collect(),
        }
    }

    /// The partition columns, outermost first.
    pub fn fields(&self) -> &[PartitionField] {
        &self.fields
    }

    /// The partition columns' names, outermost first.
    pub fn columns(&self) -> Vec<String> {
        self.fields.iter().map(|f| f.name.clone()).collect()
    }

    /// Whether some column is derived (not the identity of a column of the data).
    pub fn has_transforms(&self) -> bool {
        self.fields
            .iter()
            .any(|f| f.transform != Transform::Identity)
    }

    /// The schema a table of data shaped `data` has: `data`'s columns then the derived
    /// ones. Fails when a source column is missing or of a type its transform does not
    /// take, or when the data already holds a column of a derived one's name.
    pub fn table_schema(&self, data: &Schema) -> Result<Schema, TransformError> {
        let mut fields: Vec<Arc<Field>> = data.fields().iter().cloned().collect();
        for f in self.derived() {
            if data.field_with_name(&f.name).is_ok() {
                return Err(f.error(format!(
                    "the data already has a column {:?}; name the derived column \
                     otherwise (`{} AS other_name`)",
                    f.name, f
                )));
            }
            let source = data
                .field_with_name(&f.source)
                .map_err(|_| f.error(format!("no column {:?} in the data", f.source)))?;
            let data_type = f.output_type(source.data_type())?;
            fields.push(Arc::new(Field::new(&f.name, data_type, true)));
        }
        for f in &self.fields {
            if f.transform == Transform::Identity {
                let field = data
                    .field_with_name(&f.name)
                    .map_err(|_| f.error("not a column of the data".into()))?;
                if field.data_type().is_nested() {
                    return Err(f.error(format!(
                        "a partition column cannot be of nested type {}",
                        field.data_type()
                    )));
                }
            }
        }
        Ok(Schema::new_with_metadata(fields, data.metadata().clone()))
    }

    /// `batch` with the derived partition columns appended (identity columns are the
    /// data's own).
    pub fn derive(&self, batch: &RecordBatch) -> Result<RecordBatch, TransformError> {
        if !self.has_transforms() {
            return Ok(batch.clone());
        }
        let schema = self.table_schema(&batch.schema())?;
        let mut columns = batch.columns().to_vec();
        for f in self.derived() {
            let source = batch
                .column_by_name(&f.source)
                .expect("checked by table_schema");
            columns.push(f.apply(source)?);
        }
        RecordBatch::try_new(Arc::new(schema), columns).map_err(|e| TransformError {
            name: "(all)".into(),
            transform: self.to_string(),
            reason: e.to_string(),
        })
    }

    fn derived(&self) -> impl Iterator<Item = &PartitionField> {
        self.fields
            .iter()
            .filter(|f| f.transform != Transform::Identity)
    }

    /// The derived field computed from `source`, if any (several may be).
    pub fn derived_from<'a>(&'a self, source: &'a str) -> impl Iterator<Item = &'a PartitionField> {
        self.derived().filter(move |f| f.source == source)
    }
}

impl fmt::Display for Partitioning {
    /// The canonical form, as kept in the table's `pipelab.partitioning` property.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{field}")?;
        }
        Ok(())
    }
}

impl PartitionField {
    /// An error about this partition column.
    pub(crate) fn error(&self, reason: String) -> TransformError {
        TransformError {
            name: self.name.clone(),
            transform: self.to_string(),
            reason,
        }
    }
}

impl fmt::Display for PartitionField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = &self.source;
        match &self.transform {
            Transform::Identity => return write!(f, "{source}"),
            Transform::Year(z) => write!(f, "year({source}, {z})")?,
            Transform::Month(z) => write!(f, "month({source}, {z})")?,
            Transform::Day(z) => write!(f, "day({source}, {z})")?,
            Transform::Hour(z) => write!(f, "hour({source}, {z})")?,
            Transform::Bucket(n) => write!(f, "bucket({n}, {source})")?,
            Transform::Truncate(w) => write!(f, "truncate({w}, {source})")?,
        }
        write!(f, " AS {}", self.name)
    }
}

impl Transform {
    /// The transform's function name in a `partition_by` entry.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Year(_) => "year",
            Self::Month(_) => "month",
            Self::Day(_) => "day",
            Self::Hour(_) => "hour",
            Self::Bucket(_) => "bucket",
            Self::Truncate(_) => "truncate",
        }
    }

    /// Whether `a <= b` implies `t(a) <= t(b)`: range predicates carry over.
    pub fn preserves_order(&self) -> bool {
        !matches!(self, Self::Bucket(_))
    }

    /// The time zone of a time transform.
    pub fn zone(&self) -> Option<Zone> {
        match self {
            Self::Year(z) | Self::Month(z) | Self::Day(z) | Self::Hour(z) => Some(*z),
            _ => None,
        }
    }
}

impl Zone {
    /// Local date and time of `micros` (UTC microseconds since 1970).
    pub(crate) fn local(&self, micros: i64) -> chrono::NaiveDateTime {
        let utc = DateTime::from_timestamp_micros(micros).unwrap_or_default();
        match self.0 {
            None => utc.naive_utc(),
            Some(tz) => utc.with_timezone(&tz).naive_local(),
        }
    }

    /// Whether the zone's UTC offset is the same from `micros - span` to `micros + span`
    /// (sampled hourly): local time then only moves forward with UTC time near
    /// `micros`, and a bound computed from it is exact.
    pub fn steady_around(&self, micros: i64, span_hours: i64) -> bool {
        let Some(tz) = self.0 else { return true };
        let offset = |m: i64| {
            let utc = DateTime::from_timestamp_micros(m).unwrap_or_default();
            tz.offset_from_utc_datetime(&utc.naive_utc()).fix()
        };
        let here = offset(micros);
        (-span_hours..=span_hours).all(|h| offset(micros + h * MICROS_PER_HOUR) == here)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("UTC"),
            Some(tz) => f.write_str(tz.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::DataType;

    #[test]
    fn schema_errors_name_the_column() {
        let schema = Schema::new(vec![
            Field::new("ts", DataType::Utf8, true),
            Field::new("dt", DataType::Utf8, true),
        ]);
        let check = |e: &str| {
            Partitioning::parse(&[e])
                .unwrap()
                .table_schema(&schema)
                .unwrap_err()
                .to_string()
        };
        assert!(check("day(ts) AS d").contains("CAST(ts AS TIMESTAMP)"));
        assert!(check("day(missing) AS d").contains("no column \"missing\""));
        assert!(check("hour(dt) AS dt").contains("already has a column"));
        assert!(check("nope").contains("not a column"));
    }

    #[test]
    fn offsets_are_steady_away_from_transitions() {
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros();
        assert!(berlin.steady_around(at("2026-06-01T00:00:00Z"), 26));
        assert!(!berlin.steady_around(at("2026-03-29T12:00:00Z"), 26));
        assert!(Zone::default().steady_around(at("2026-03-29T12:00:00Z"), 26));
    }
}
