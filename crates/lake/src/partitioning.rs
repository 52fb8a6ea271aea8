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

use std::fmt;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, PrimitiveArray, RecordBatch, StringArray,
};
use arrow::compute::cast;
use arrow::compute::kernels::substring::{substring, substring_by_char};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Date64Type, Field, Int32Type, Int64Type, Schema,
    TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone, Timelike};
use chrono_tz::Tz;

/// The table property that records a table's partition transforms.
pub const PARTITIONING_PROPERTY: &str = "pipelab.partitioning";

const MICROS_PER_DAY: i64 = 86_400_000_000;
const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// How one partition column is computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transform {
    Identity,
    Year(Zone),
    Month(Zone),
    Day(Zone),
    Hour(Zone),
    Bucket(u32),
    Truncate(u32),
}

/// The time zone of a time transform; UTC when none is named.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Zone(Option<Tz>);

/// One partition column: its name, the column it is computed from and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionField {
    pub name: String,
    pub source: String,
    pub transform: Transform,
}

/// A table's partition columns, outermost first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Partitioning {
    fields: Vec<PartitionField>,
}

/// A `partition_by` entry that cannot be understood; the message names the entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("partition_by entry {entry:?}: {reason}")]
pub struct PartitionSpecError {
    pub entry: String,
    pub reason: String,
}

/// Data a transform cannot be applied to (a missing column, a wrong type).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("partition column {name} ({transform}): {reason}")]
pub struct TransformError {
    pub name: String,
    pub transform: String,
    pub reason: String,
}

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
    fn parse(entry: &str) -> Result<Self, PartitionSpecError> {
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

    fn error(&self, reason: String) -> TransformError {
        TransformError {
            name: self.name.clone(),
            transform: self.to_string(),
            reason,
        }
    }

    /// The derived column's type for a source of type `source`.
    fn output_type(&self, source: &DataType) -> Result<DataType, TransformError> {
        let unsupported = || {
            self.error(format!(
                "column {:?} is of type {source}, which {} does not take",
                self.source,
                self.transform.name()
            ))
        };
        Ok(match &self.transform {
            Transform::Identity => source.clone(),
            Transform::Year(_) | Transform::Month(_) | Transform::Day(_) | Transform::Hour(_) => {
                if !is_time(source) {
                    return Err(self.error(format!(
                        "column {:?} is of type {source}, not a timestamp or date \
                         (cast it in a step: CAST({} AS TIMESTAMP))",
                        self.source, self.source
                    )));
                }
                match self.transform {
                    Transform::Year(_) => DataType::Int32,
                    Transform::Day(_) => DataType::Date32,
                    _ => DataType::Utf8,
                }
            }
            Transform::Bucket(_) => {
                if !(is_integer(source) || is_time(source) || is_text(source)) {
                    return Err(unsupported());
                }
                DataType::Int32
            }
            Transform::Truncate(_) => match source {
                t if is_integer(t) => DataType::Int64,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
                _ => return Err(unsupported()),
            },
        })
    }

    /// The derived column of `source`'s values.
    pub fn apply(&self, source: &ArrayRef) -> Result<ArrayRef, TransformError> {
        let fail = |e: arrow::error::ArrowError| self.error(e.to_string());
        self.output_type(source.data_type())?;
        Ok(match &self.transform {
            Transform::Identity => source.clone(),
            Transform::Year(zone) => {
                let micros = utc_micros(source).map_err(fail)?;
                Arc::new(micros.unary::<_, Int32Type>(|m| zone.local(m).year()))
            }
            Transform::Day(zone) => {
                let micros = utc_micros(source).map_err(fail)?;
                let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
                Arc::new(
                    micros.unary::<_, Date32Type>(|m| {
                        (zone.local(m).date() - epoch).num_days() as i32
                    }),
                )
            }
            Transform::Month(zone) => {
                let micros = utc_micros(source).map_err(fail)?;
                Arc::new(format_each(&micros, |m| {
                    let t = zone.local(m);
                    format!("{:04}-{:02}", t.year(), t.month())
                }))
            }
            Transform::Hour(zone) => {
                let micros = utc_micros(source).map_err(fail)?;
                Arc::new(format_each(&micros, |m| {
                    let t = zone.local(m);
                    format!(
                        "{:04}-{:02}-{:02}-{:02}",
                        t.year(),
                        t.month(),
                        t.day(),
                        t.hour()
                    )
                }))
            }
            Transform::Bucket(n) => Arc::new(bucket(source, *n).map_err(fail)?),
            Transform::Truncate(w) => truncate(source, *w).map_err(fail)?,
        })
    }

    /// The transform of one value, through the same code as the data (so a rewritten
    /// predicate's bound is exactly what the writer would have stored for it).
    pub fn apply_scalar(
        &self,
        value: &datafusion::scalar::ScalarValue,
    ) -> Option<datafusion::scalar::ScalarValue> {
        let array = value.to_array().ok()?;
        let out = self.apply(&array).ok()?;
        datafusion::scalar::ScalarValue::try_from_array(&out, 0).ok()
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

    fn name(&self) -> &'static str {
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

fn usage(function: &str) -> &'static str {
    match function {
        "identity" => "identity(col)",
        "bucket" => "bucket(n, col)",
        "truncate" => "truncate(width, col)",
        _ => "year/month/day/hour(ts) or (ts, 'Time/Zone')",
    }
}

impl Zone {
    fn parse(name: &str) -> Result<Self, String> {
        if name.eq_ignore_ascii_case("utc") || name == "Z" {
            return Ok(Self(None));
        }
        name.parse::<Tz>().map(|tz| Self(Some(tz))).map_err(|_| {
            format!("unknown time zone {name:?}; use an IANA name such as Europe/Berlin, or UTC")
        })
    }

    /// Local date and time of `micros` (UTC microseconds since 1970).
    fn local(&self, micros: i64) -> chrono::NaiveDateTime {
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

/// `… AS alias` split off, case-insensitively, outside parentheses.
fn split_alias(text: &str) -> (&str, Option<&str>) {
    let lower = text.to_ascii_lowercase();
    match lower.rfind(" as ") {
        Some(at) if !text[at..].contains(')') => (text[..at].trim(), Some(text[at + 4..].trim())),
        _ => (text, None),
    }
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['"', '\'', '`'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

fn default_name(transform: &Transform, source: &str) -> String {
    let suffix = match transform {
        Transform::Identity => return source.to_string(),
        Transform::Bucket(_) => "bucket",
        Transform::Truncate(_) => "trunc",
        t => t.name(),
    };
    format!("{source}_{suffix}")
}

fn is_time(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
    )
}

fn is_integer(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
    )
}

fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    )
}

/// A time column as UTC microseconds since 1970 (nulls kept). The stored value of a
/// timestamp is UTC whatever its zone; one without a zone is taken as UTC.
pub(crate) fn utc_micros(
    array: &ArrayRef,
) -> Result<PrimitiveArray<Int64Type>, arrow::error::ArrowError> {
    fn scaled<T: ArrowPrimitiveType>(
        a: &ArrayRef,
        f: impl Fn(T::Native) -> i64,
    ) -> PrimitiveArray<Int64Type> {
        a.as_primitive::<T>().unary(f)
    }
    Ok(match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            scaled::<TimestampSecondType>(array, |v| v.saturating_mul(1_000_000))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            scaled::<TimestampMillisecondType>(array, |v| v.saturating_mul(1_000))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            scaled::<TimestampMicrosecondType>(array, |v| v)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            scaled::<TimestampNanosecondType>(array, |v| v.div_euclid(1_000))
        }
        DataType::Date32 => scaled::<Date32Type>(array, |d| i64::from(d) * MICROS_PER_DAY),
        DataType::Date64 => scaled::<Date64Type>(array, |ms| ms.saturating_mul(1_000)),
        other => {
            return Err(arrow::error::ArrowError::CastError(format!(
                "{other} is not a timestamp or date"
            )));
        }
    })
}

fn format_each(micros: &PrimitiveArray<Int64Type>, f: impl Fn(i64) -> String) -> StringArray {
    micros.iter().map(|m| m.map(&f)).collect()
}

/// Iceberg's bucket: `(murmur3_x86_32(bytes, seed 0) & i32::MAX) % n`.
fn bucket(source: &ArrayRef, n: u32) -> Result<Int32Array, arrow::error::ArrowError> {
    let of = |h: u32| ((h & i32::MAX as u32) % n) as i32;
    let of_long = |v: i64| of(mur3::murmurhash3_x86_32(&v.to_le_bytes(), 0));
    let longs = |a: PrimitiveArray<Int64Type>| a.unary::<_, Int32Type>(of_long);
    Ok(match source.data_type() {
        t if is_time(t) => {
            // Dates hash as days, timestamps as microseconds (Iceberg's representations).
            if *t == DataType::Date32 {
                source
                    .as_primitive::<Date32Type>()
                    .unary(|d| of_long(d.into()))
            } else {
                longs(utc_micros(source)?)
            }
        }
        t if is_integer(t) => longs(cast(source, &DataType::Int64)?.as_primitive().clone()),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            let bytes = cast(source, &DataType::LargeBinary)?;
            bytes
                .as_binary::<i64>()
                .iter()
                .map(|b| b.map(|b| of(mur3::murmurhash3_x86_32(b, 0))))
                .collect()
        }
        _ => {
            let text = cast(source, &DataType::LargeUtf8)?;
            text.as_string::<i64>()
                .iter()
                .map(|s| s.map(|s| of(mur3::murmurhash3_x86_32(s.as_bytes(), 0))))
                .collect()
        }
    })
}

/// Iceberg's truncate: a string's first `w` characters, a binary's first `w` bytes, an
/// integer rounded down to a multiple of `w`.
fn truncate(source: &ArrayRef, w: u32) -> Result<ArrayRef, arrow::error::ArrowError> {
    let w = i64::from(w);
    Ok(match source.data_type() {
        t if is_integer(t) => Arc::new(
            cast(source, &DataType::Int64)?
                .as_primitive::<Int64Type>()
                .unary::<_, Int64Type>(|v| v.saturating_sub(v.rem_euclid(w))),
        ),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            substring(&cast(source, &DataType::Binary)?, 0, Some(w as u64))?
        }
        _ => substring_by_char(
            cast(source, &DataType::Utf8)?.as_string::<i32>(),
            0,
            Some(w as u64),
        )
        .map(|a| Arc::new(a) as ArrayRef)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, TimestampMicrosecondArray};

    fn one(entry: &str) -> PartitionField {
        PartitionField::parse(entry).unwrap()
    }

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

    /// Appendix B of the Iceberg table spec: the 32-bit hash of each value.
    #[test]
    fn bucket_hash_matches_the_iceberg_spec() {
        let hash = |bytes: &[u8]| mur3::murmurhash3_x86_32(bytes, 0) as i32;
        assert_eq!(hash(&34i64.to_le_bytes()), 2017239379);
        assert_eq!(hash(b"iceberg"), 1210000089);
        assert_eq!(hash(&[0, 1, 2, 3]), -188683207);
        let days = NaiveDate::from_ymd_opt(2017, 11, 16).unwrap()
            - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert_eq!(hash(&days.num_days().to_le_bytes()), -653330422);
        let micros = DateTime::parse_from_rfc3339("2017-11-16T22:31:08Z")
            .unwrap()
            .timestamp_micros();
        assert_eq!(hash(&micros.to_le_bytes()), -2047944441);
        // Through the transform, for every integer width and for timestamps.
        let b = one("bucket(16, id)");
        let ids: ArrayRef = Arc::new(arrow::array::Int32Array::from(vec![Some(34), None]));
        let got = b.apply(&ids).unwrap();
        let expected = (2017239379u32 & i32::MAX as u32) % 16;
        assert_eq!(got.as_primitive::<Int32Type>().value(0), expected as i32);
        assert!(got.is_null(1));
        let ts: ArrayRef =
            Arc::new(TimestampMicrosecondArray::from(vec![micros]).with_timezone("UTC"));
        let got = one("bucket(7, ts)").apply(&ts).unwrap();
        let expected = ((-2047944441i32) as u32 & i32::MAX as u32) % 7;
        assert_eq!(got.as_primitive::<Int32Type>().value(0), expected as i32);
    }

    #[test]
    fn time_transforms_use_the_zone() {
        // 2026-03-29 00:30 UTC is 01:30 in Berlin (CET, +1); 23:30 UTC on the 28th is
        // already the 29th in Berlin.
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros();
        let ts: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![
                Some(at("2026-03-29T00:30:00Z")),
                Some(at("2026-03-28T23:30:00Z")),
                None,
            ])
            .with_timezone("UTC"),
        );
        let strings = |entry: &str| -> Vec<Option<String>> {
            let out = one(entry).apply(&ts).unwrap();
            let out = cast(&out, &DataType::Utf8).unwrap();
            out.as_string::<i32>()
                .iter()
                .map(|s| s.map(str::to_string))
                .collect()
        };
        let s = |v: &str| Some(v.to_string());
        assert_eq!(strings("day(ts)"), [s("2026-03-29"), s("2026-03-28"), None]);
        assert_eq!(
            strings("day(ts, 'Europe/Berlin')"),
            [s("2026-03-29"), s("2026-03-29"), None]
        );
        assert_eq!(
            strings("hour(ts, Europe/Berlin)"),
            [s("2026-03-29-01"), s("2026-03-29-00"), None]
        );
        assert_eq!(strings("month(ts)"), [s("2026-03"), s("2026-03"), None]);
        assert_eq!(strings("year(ts)"), [s("2026"), s("2026"), None]);
    }

    #[test]
    fn truncate_rounds_integers_down_and_cuts_characters() {
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(1234), Some(-1), None]));
        let out = one("truncate(100, n)").apply(&ints).unwrap();
        let out: Vec<_> = out.as_primitive::<Int64Type>().iter().collect();
        assert_eq!(out, [Some(1200), Some(-100), None]);
        let text: ArrayRef = Arc::new(StringArray::from(vec![Some("zürich/=%"), Some("ab"), None]));
        let out = one("truncate(3, s)").apply(&text).unwrap();
        let out: Vec<_> = out.as_string::<i32>().iter().collect();
        assert_eq!(out, [Some("zür"), Some("ab"), None]);
    }

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
