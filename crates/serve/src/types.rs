//! Arrow types and values as Trino's client protocol writes them: a column's type name and
//! `typeSignature`, and each value as the JSON a Trino client decodes (decimals and
//! temporal values as text, varbinary as base64, rows as arrays, maps as objects).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, GenericBinaryArray, GenericStringArray, MapArray,
    RecordBatch, StructArray,
};
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
    Time64NanosecondType, TimeUnit, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use base64::Engine as _;
use serde_json::{Value, json};

/// Trino's name for an unbounded varchar's length.
const VARCHAR_MAX: i64 = 2_147_483_647;

/// A column's type as Trino names it, with its signature.
#[derive(Debug, Clone, PartialEq)]
pub struct TrinoType {
    /// The type's name as Trino writes it, such as `decimal(20,0)` or `array(bigint)`.
    pub name: String,
    /// Trino's `typeSignature`: the JSON object of `rawType` and `arguments`.
    pub signature: Value,
}

fn plain(raw: &str) -> TrinoType {
    TrinoType {
        name: raw.to_string(),
        signature: json!({"rawType": raw, "arguments": []}),
    }
}

fn with_longs(raw: &str, name: String, values: &[i64]) -> TrinoType {
    let arguments: Vec<Value> = values
        .iter()
        .map(|v| json!({"kind": "LONG", "value": v}))
        .collect();
    TrinoType {
        name,
        signature: json!({"rawType": raw, "arguments": arguments}),
    }
}

fn precision(unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    }
}

/// A column's Trino type: its Arrow type's, or `json` for text marked as JSON (Arrow's
/// `arrow.json` extension type, which `json_parse` gives).
pub fn trino_field_type(field: &arrow::datatypes::Field) -> TrinoType {
    if pipelab_federate::json::is_json(field) {
        plain("json")
    } else {
        trino_type(field.data_type())
    }
}

/// The Trino type of an Arrow type. Unsigned integers become the next wider signed
/// type (Trino has none); anything without a Trino counterpart is sent as varchar text.
pub fn trino_type(data_type: &DataType) -> TrinoType {
    match data_type {
        DataType::Null => plain("unknown"),
        DataType::Boolean => plain("boolean"),
        DataType::Int8 => plain("tinyint"),
        DataType::Int16 | DataType::UInt8 => plain("smallint"),
        DataType::Int32 | DataType::UInt16 => plain("integer"),
        DataType::Int64 | DataType::UInt32 => plain("bigint"),
        DataType::UInt64 => with_longs("decimal", "decimal(20,0)".into(), &[20, 0]),
        DataType::Float16 | DataType::Float32 => plain("real"),
        DataType::Float64 => plain("double"),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => {
            let (p, s) = (i64::from(*p), i64::from(*s));
            with_longs("decimal", format!("decimal({p},{s})"), &[p, s])
        }
        DataType::Date32 | DataType::Date64 => plain("date"),
        DataType::Time32(unit) | DataType::Time64(unit) => {
            let p = precision(unit);
            with_longs("time", format!("time({p})"), &[p])
        }
        DataType::Timestamp(unit, None) => {
            let p = precision(unit);
            with_longs("timestamp", format!("timestamp({p})"), &[p])
        }
        DataType::Timestamp(unit, Some(_)) => {
            let p = precision(unit);
            with_longs(
                "timestamp with time zone",
                format!("timestamp({p}) with time zone"),
                &[p],
            )
        }
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => plain("varbinary"),
        DataType::List(field)
        | DataType::LargeList(field)
        | DataType::ListView(field)
        | DataType::LargeListView(field)
        | DataType::FixedSizeList(field, _) => {
            let element = trino_type(field.data_type());
            TrinoType {
                name: format!("array({})", element.name),
                signature: json!({"rawType": "array",
                    "arguments": [{"kind": "TYPE", "value": element.signature}]}),
            }
        }
        DataType::Map(entries, _) => {
            let (key, value) = match entries.data_type() {
                DataType::Struct(fields) if fields.len() == 2 => (
                    trino_type(fields[0].data_type()),
                    trino_type(fields[1].data_type()),
                ),
                _ => (plain("unknown"), plain("unknown")),
            };
            TrinoType {
                name: format!("map({}, {})", key.name, value.name),
                signature: json!({"rawType": "map", "arguments": [
                    {"kind": "TYPE", "value": key.signature},
                    {"kind": "TYPE", "value": value.signature}]}),
            }
        }
        DataType::Struct(fields) => {
            let members: Vec<(String, TrinoType)> = fields
                .iter()
                .map(|f| (f.name().clone(), trino_type(f.data_type())))
                .collect();
            let name = members
                .iter()
                .map(|(n, t)| format!("{} {}", quote_field(n), t.name))
                .collect::<Vec<_>>()
                .join(", ");
            let arguments: Vec<Value> = members
                .into_iter()
                .map(|(n, t)| {
                    json!({"kind": "NAMED_TYPE", "value": {
                        "fieldName": {"name": n}, "typeSignature": t.signature}})
                })
                .collect();
            TrinoType {
                name: format!("row({name})"),
                signature: json!({"rawType": "row", "arguments": arguments}),
            }
        }
        DataType::Dictionary(_, value) => trino_type(value),
        DataType::RunEndEncoded(_, value) => trino_type(value.data_type()),
        _ => varchar(),
    }
}

fn varchar() -> TrinoType {
    TrinoType {
        name: "varchar".into(),
        signature: json!({"rawType": "varchar",
            "arguments": [{"kind": "LONG", "value": VARCHAR_MAX}]}),
    }
}

fn quote_field(name: &str) -> String {
    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !name.is_empty() {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `batch` with its dictionary-encoded columns decoded, so that each value is read
/// directly (deltalake hands partition columns over as dictionaries).
pub fn decoded(batch: RecordBatch) -> RecordBatch {
    if !batch
        .columns()
        .iter()
        .any(|c| matches!(c.data_type(), DataType::Dictionary(_, _)))
    {
        return batch;
    }
    let columns: Result<Vec<ArrayRef>, _> = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Dictionary(_, value_type) => arrow::compute::cast(c, value_type),
            _ => Ok(Arc::clone(c)),
        })
        .collect();
    let fields: Vec<_> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Dictionary(_, value_type) => Arc::new(
                f.as_ref()
                    .clone()
                    .with_data_type(value_type.as_ref().clone()),
            ),
            _ => Arc::clone(f),
        })
        .collect();
    match columns
        .and_then(|c| RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), c))
    {
        Ok(decoded) => decoded,
        Err(_) => batch,
    }
}

/// Value `row` of `array` as Trino's JSON.
pub fn value(array: &ArrayRef, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Null => Value::Null,
        DataType::Boolean => Value::Bool(
            array
                .as_any()
                .downcast_ref::<BooleanArray>()
                .is_some_and(|a| a.value(row)),
        ),
        DataType::Int8 => json!(array.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => json!(array.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => json!(array.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => json!(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => json!(array.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt16 => json!(array.as_primitive::<UInt16Type>().value(row)),
        DataType::UInt32 => json!(array.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => {
            Value::String(array.as_primitive::<UInt64Type>().value(row).to_string())
        }
        DataType::Float32 => float(f64::from(array.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => text(array.as_string::<i32>(), row),
        DataType::LargeUtf8 => text(array.as_string::<i64>(), row),
        DataType::Utf8View => Value::String(array.as_string_view().value(row).to_string()),
        DataType::Binary => binary(array.as_binary::<i32>(), row),
        DataType::LargeBinary => binary(array.as_binary::<i64>(), row),
        DataType::BinaryView => base64(array.as_binary_view().value(row)),
        DataType::FixedSizeBinary(_) => base64(array.as_fixed_size_binary().value(row)),
        DataType::Date32 => {
            date(i64::from(array.as_primitive::<Date32Type>().value(row)) * 86_400_000)
        }
        DataType::Date64 => date(array.as_primitive::<Date64Type>().value(row)),
        DataType::Time32(TimeUnit::Second) => time_of_day(
            i64::from(array.as_primitive::<Time32SecondType>().value(row)) * 1_000_000_000,
            0,
        ),
        DataType::Time32(_) => time_of_day(
            i64::from(array.as_primitive::<Time32MillisecondType>().value(row)) * 1_000_000,
            3,
        ),
        DataType::Time64(TimeUnit::Microsecond) => time_of_day(
            array.as_primitive::<Time64MicrosecondType>().value(row) * 1_000,
            6,
        ),
        DataType::Time64(_) => {
            time_of_day(array.as_primitive::<Time64NanosecondType>().value(row), 9)
        }
        DataType::Timestamp(unit, zone) => timestamp(array, row, unit, zone.is_some()),
        DataType::Decimal128(_, scale) => decimal(
            array
                .as_primitive::<arrow::datatypes::Decimal128Type>()
                .value(row),
            *scale,
        ),
        DataType::Decimal64(_, scale) => decimal(
            i128::from(
                array
                    .as_primitive::<arrow::datatypes::Decimal64Type>()
                    .value(row),
            ),
            *scale,
        ),
        DataType::Decimal32(_, scale) => decimal(
            i128::from(
                array
                    .as_primitive::<arrow::datatypes::Decimal32Type>()
                    .value(row),
            ),
            *scale,
        ),
        DataType::List(_) => list(&array.as_list::<i32>().value(row)),
        DataType::LargeList(_) => list(&array.as_list::<i64>().value(row)),
        DataType::FixedSizeList(_, _) => list(&array.as_fixed_size_list().value(row)),
        DataType::Struct(_) => struct_row(array.as_struct(), row),
        DataType::Map(_, _) => map(array.as_map(), row),
        // Top-level dictionaries are decoded once per batch (`decoded`); one nested in a
        // list or struct is decoded here, one value at a time.
        DataType::Dictionary(_, value_type) => {
            match arrow::compute::cast(&array.slice(row, 1), value_type) {
                Ok(one) => value(&one, 0),
                Err(_) => formatted(array, row),
            }
        }
        _ => formatted(array, row),
    }
}

fn float(v: f64) -> Value {
    if v.is_nan() {
        Value::String("NaN".into())
    } else if v.is_infinite() {
        Value::String(if v > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        json!(v)
    }
}

fn text<O: arrow::array::OffsetSizeTrait>(a: &GenericStringArray<O>, row: usize) -> Value {
    Value::String(a.value(row).to_string())
}

fn binary<O: arrow::array::OffsetSizeTrait>(a: &GenericBinaryArray<O>, row: usize) -> Value {
    base64(a.value(row))
}

fn base64(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn date(millis: i64) -> Value {
    chrono::DateTime::from_timestamp_millis(millis).map_or(Value::Null, |d| {
        Value::String(d.format("%Y-%m-%d").to_string())
    })
}

/// `HH:MM:SS.fff…` with `digits` digits of fraction, from nanoseconds since midnight.
fn time_of_day(nanos: i64, digits: usize) -> Value {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    let clock = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    Value::String(with_fraction(clock, frac, digits))
}

fn with_fraction(mut text: String, nanos: i64, digits: usize) -> String {
    if digits > 0 {
        let frac = format!("{nanos:09}");
        text.push('.');
        text.push_str(&frac[..digits]);
    }
    text
}

/// `YYYY-MM-DD HH:MM:SS.fff…`; with a zone, the instant in UTC followed by ` UTC`.
fn timestamp(array: &ArrayRef, row: usize, unit: &TimeUnit, zoned: bool) -> Value {
    let raw = match unit {
        TimeUnit::Second => array
            .as_primitive::<arrow::datatypes::TimestampSecondType>()
            .value(row),
        TimeUnit::Millisecond => array
            .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
            .value(row),
        TimeUnit::Microsecond => array
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
            .value(row),
        TimeUnit::Nanosecond => array
            .as_primitive::<arrow::datatypes::TimestampNanosecondType>()
            .value(row),
    };
    let per_second: i64 = match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    };
    let secs = raw.div_euclid(per_second);
    let nanos = raw.rem_euclid(per_second) * (1_000_000_000 / per_second);
    let Some(at) = chrono::DateTime::from_timestamp(secs, 0) else {
        return Value::Null;
    };
    let text = with_fraction(
        at.format("%Y-%m-%d %H:%M:%S").to_string(),
        nanos,
        precision(unit) as usize,
    );
    Value::String(if zoned { format!("{text} UTC") } else { text })
}

fn list(values: &ArrayRef) -> Value {
    Value::Array((0..values.len()).map(|i| value(values, i)).collect())
}

fn struct_row(array: &StructArray, row: usize) -> Value {
    Value::Array(array.columns().iter().map(|c| value(c, row)).collect())
}

fn map(array: &MapArray, row: usize) -> Value {
    let entries = array.value(row);
    let (keys, values) = (entries.column(0), entries.column(1));
    let object = (0..entries.len())
        .map(|i| {
            let key = match value(keys, i) {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (key, value(values, i))
        })
        .collect();
    Value::Object(object)
}

/// Types without a Trino counterpart (intervals, durations): their text.
fn formatted(array: &ArrayRef, row: usize) -> Value {
    let options = FormatOptions::default();
    match ArrayFormatter::try_new(array.as_ref(), &options) {
        Ok(f) => Value::String(f.value(row).to_string()),
        Err(_) => Value::Null,
    }
}

/// A decimal's digits with `scale` places after the point, as Trino sends decimals.
fn decimal(unscaled: i128, scale: i8) -> Value {
    if scale <= 0 {
        let factor = 10i128.checked_pow(u32::from(scale.unsigned_abs()));
        return Value::String(
            factor
                .and_then(|f| unscaled.checked_mul(f))
                .map_or_else(|| unscaled.to_string(), |v| v.to_string()),
        );
    }
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, frac) = padded.split_at(padded.len() - scale);
    let sign = if unscaled < 0 { "-" } else { "" };
    Value::String(format!("{sign}{whole}.{frac}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Decimal128Array, Int32Array, StringArray, TimestampMillisecondArray};

    #[test]
    fn signatures_name_their_arguments_as_the_python_client_reads_them() {
        let d = trino_type(&DataType::Decimal128(10, 2));
        assert_eq!(d.name, "decimal(10,2)");
        assert_eq!(d.signature["arguments"][1]["value"], 2);
        let ts = trino_type(&DataType::Timestamp(
            TimeUnit::Millisecond,
            Some("UTC".into()),
        ));
        assert_eq!(ts.name, "timestamp(3) with time zone");
        assert_eq!(ts.signature["rawType"], "timestamp with time zone");
        let row = trino_type(&DataType::Struct(
            vec![arrow::datatypes::Field::new("a b", DataType::Int32, true)].into(),
        ));
        assert_eq!(row.name, "row(\"a b\" integer)");
        assert_eq!(
            row.signature["arguments"][0]["value"]["fieldName"]["name"],
            "a b"
        );
    }

    #[test]
    fn values_are_written_as_trino_writes_them() {
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![1_700_000_000_123]));
        assert_eq!(value(&ts, 0), json!("2023-11-14 22:13:20.123"));
        let dec: ArrayRef = Arc::new(
            Decimal128Array::from(vec![-1234])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        );
        assert_eq!(value(&dec, 0), json!("-12.34"));
        assert_eq!(decimal(5, 3), json!("0.005"));
        assert_eq!(decimal(-5, 0), json!("-5"));
        let s: ArrayRef = Arc::new(StringArray::from(vec![Some("é"), None]));
        assert_eq!(value(&s, 0), json!("é"));
        assert_eq!(value(&s, 1), Value::Null);
        let i: ArrayRef = Arc::new(Int32Array::from(vec![7]));
        assert_eq!(value(&i, 0), json!(7));
        assert_eq!(float(f64::NAN), json!("NaN"));
        assert_eq!(time_of_day(3_723_004_000_000, 3), json!("01:02:03.004"));
    }
}
