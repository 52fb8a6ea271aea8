//! Types for the fields of JSON records: inferred by arrow from a batch, merged with the
//! types fields already have (new nested sub-fields added, nothing else changed).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields};
use arrow::json::reader::infer_json_schema_from_iterator;
use serde_json::Value;

use crate::names::same_name;

/// Types JSON values decode to directly, the ones a table column can impose on input.
pub(crate) fn json_native(dt: &DataType) -> bool {
    match dt {
        DataType::Boolean | DataType::Int64 | DataType::Float64 | DataType::Utf8 => true,
        DataType::List(item) => json_native(item.data_type()),
        DataType::Struct(fields) => fields.iter().all(|f| json_native(f.data_type())),
        _ => false,
    }
}

/// The type a field has after a batch with `new` values: `known`, plus nested sub-fields
/// it lacked. Any other difference keeps `known` (the values that do not fit it are
/// dead-lettered). With `known` Null, `new` with its Null-typed sub-fields left out (they
/// have no type yet). A new sub-field that differs only by case from one the struct has
/// is left out (its records are dead letters) or, with `fold`, merged into it.
pub(crate) fn merge_type(known: &DataType, new: &DataType, fold: bool) -> DataType {
    match (known, new) {
        (DataType::Struct(k), DataType::Struct(n)) => {
            let mut fields: Vec<Arc<Field>> = k.iter().cloned().collect();
            for nf in n.iter() {
                if nf.data_type() == &DataType::Null {
                    continue;
                }
                let exact = fields.iter().position(|f| f.name() == nf.name());
                let twin = || fields.iter().position(|f| same_name(f.name(), nf.name()));
                match exact.or_else(|| twin().filter(|_| fold)) {
                    Some(i) => {
                        let merged = merge_type(fields[i].data_type(), nf.data_type(), fold);
                        fields[i] = Arc::new(fields[i].as_ref().clone().with_data_type(merged));
                    }
                    None if twin().is_some() => {}
                    None => fields.push(Arc::new(Field::new(
                        nf.name(),
                        merge_type(&DataType::Null, nf.data_type(), fold),
                        true,
                    ))),
                }
            }
            DataType::Struct(Fields::from(fields))
        }
        (DataType::List(k), DataType::List(n)) => {
            let item = merge_type(k.data_type(), n.data_type(), fold);
            DataType::List(Arc::new(k.as_ref().clone().with_data_type(item)))
        }
        (DataType::Null, DataType::Struct(_)) => {
            merge_type(&DataType::Struct(Fields::empty()), new, fold)
        }
        (DataType::Null, DataType::List(n)) => DataType::List(Arc::new(
            n.as_ref()
                .clone()
                .with_data_type(merge_type(&DataType::Null, n.data_type(), fold)),
        )),
        (DataType::Null, n) => n.clone(),
        _ => known.clone(),
    }
}

/// The fields of a batch's objects with their inferred types. When the records disagree
/// in a way inference cannot merge (an object here, a number there), each field takes the
/// type of the first record that has it; the records that do not fit it become dead
/// letters. `objects` parses the batch anew on each call: no tree of the whole batch is
/// held.
pub(crate) fn infer_fields<I: Iterator<Item = Value>>(
    objects: impl Fn() -> I,
    fold: bool,
) -> Vec<Arc<Field>> {
    if let Ok(schema) =
        infer_json_schema_from_iterator(objects().map(Ok::<_, arrow::error::ArrowError>))
    {
        return schema.fields().iter().cloned().collect();
    }
    let mut fields: Vec<Arc<Field>> = Vec::new();
    for value in objects() {
        let Ok(schema) = infer_json_schema_from_iterator(std::iter::once(Ok::<
            _,
            arrow::error::ArrowError,
        >(value))) else {
            continue;
        };
        for field in schema.fields() {
            match fields.iter_mut().find(|f| f.name() == field.name()) {
                None => fields.push(field.clone()),
                // A field null so far takes the first real type seen; a struct gains the
                // sub-fields later records bring.
                Some(f) => {
                    let merged = merge_type(f.data_type(), field.data_type(), fold);
                    *f = Arc::new(f.as_ref().clone().with_data_type(merged));
                }
            }
        }
    }
    fields
}
