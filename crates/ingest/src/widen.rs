//! [`TypePolicy::Widen`]: the type a field grows to so that a value fits, and values kept
//! as their JSON text in a text field.
//!
//! The same rules hold for a lake table's columns in `pipelab_lake`'s `widen.rs`, which
//! widens Arrow columns against a table (after a restart, the decoder starts from the
//! table's types). They are written twice on purpose: here they read JSON values, there
//! Arrow arrays, and ingest depends on no other pipelab crate. The end-to-end test
//! `the_widen_policy_changes_the_column_type_and_keeps_every_record` runs both in turn
//! (integer to double in a running decoder, double to text in the table after a restart).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use serde_json::Value;

use crate::fit::{TypePolicy, fits};

/// The narrowest type holding the values of `dt` and `value` (see [`TypePolicy::Widen`]).
pub(crate) fn widen_type(dt: &DataType, value: &Value) -> DataType {
    if fits(value, dt, "", TypePolicy::Widen).is_ok() {
        return dt.clone();
    }
    match (dt, value) {
        (DataType::Int64, Value::Number(n)) if n.is_f64() => DataType::Float64,
        (DataType::Struct(fields), Value::Object(map)) => DataType::Struct(
            fields
                .iter()
                .map(|f| match map.get(f.name()) {
                    Some(v) => Arc::new(Field::new(f.name(), widen_type(f.data_type(), v), true)),
                    None => f.clone(),
                })
                .collect(),
        ),
        (DataType::List(item), Value::Array(items)) => {
            let wider = items
                .iter()
                .fold(item.data_type().clone(), |dt, v| widen_type(&dt, v));
            DataType::List(Arc::new(Field::new(item.name(), wider, true)))
        }
        _ => DataType::Utf8,
    }
}

/// Widening: values that are not strings in text fields become their JSON text.
pub(crate) fn stringify_record(value: &mut Value, schema: &Schema) {
    let Value::Object(map) = value else {
        return;
    };
    for field in schema.fields() {
        if let Some(v) = map.get_mut(field.name()) {
            stringify(v, field.data_type());
        }
    }
}

fn stringify(value: &mut Value, dt: &DataType) {
    match (dt, value) {
        (_, Value::Null) | (DataType::Utf8, Value::String(_)) => {}
        (DataType::Utf8, other) => *other = Value::String(other.to_string()),
        (DataType::Struct(fields), Value::Object(map)) => {
            for f in fields.iter() {
                if let Some(v) = map.get_mut(f.name()) {
                    stringify(v, f.data_type());
                }
            }
        }
        (DataType::List(item), Value::Array(items)) => {
            for v in items {
                stringify(v, item.data_type());
            }
        }
        _ => {}
    }
}
