//! The derived partition columns' types and values: each transform applied to a source
//! column (Iceberg's bucket hash and truncation, the time transforms in their zone).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, PrimitiveArray, StringArray};
use arrow::compute::cast;
use arrow::compute::kernels::substring::{substring, substring_by_char};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Date64Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use chrono::{Datelike, NaiveDate, Timelike};

use crate::partitioning::{PartitionField, Transform, TransformError};

const MICROS_PER_DAY: i64 = 86_400_000_000;

impl PartitionField {
    /// The derived column's type for a source of type `source`.
    pub(crate) fn output_type(&self, source: &DataType) -> Result<DataType, TransformError> {
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

/// One string per time value (nulls kept).
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
    use chrono::DateTime;

    fn one(entry: &str) -> PartitionField {
        PartitionField::parse(entry).unwrap()
    }
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
}
