//! Fitting batches to a table's schema without changing any value.
//!
//! delta-rs casts an appended column to the table's type on its own, silently: a double
//! `10.5` written to a bigint column is stored as `10` (deltalake 1.1, Python and Rust
//! alike). So the lake checks first. A column of the table's type passes; a column of
//! another type of the same kind (numbers, text, times, binary) is cast only where the
//! cast round-trips to the very same value, and the rows where it does not are reported;
//! a column of another kind (text for a number, a number for a boolean) does not fit in
//! any row that holds a value. Columns new to the table, and struct sub-fields new to a
//! struct column, are schema evolution and pass untouched.
//!
//! The batches of one write are then given one schema ([`unify_batches`]), which
//! deltalake's writer needs.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, new_null_array};
use arrow::compute::kernels::cmp::distinct;
use arrow::compute::{CastOptions, cast, cast_with_options, or_kleene};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};

/// Rows of a batch that do not fit the table, with the reason per column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misfit {
    /// Row indices (in the batch) that do not fit, ascending.
    pub rows: Vec<usize>,
    /// One line per offending column: name, batch type, table type.
    pub reasons: Vec<String>,
}

impl Misfit {
    /// The reasons, one clause per column.
    pub fn message(&self) -> String {
        self.reasons.join("; ")
    }
}

/// Fit `batch` to `table`: columns the table has are given its types (lossless casts
/// only), others pass as they are. `Err` lists the rows that cannot fit.
pub fn conform(batch: &RecordBatch, table: &Schema) -> Result<RecordBatch, Misfit> {
    let mut bad: Option<BooleanArray> = None;
    let mut reasons = Vec::new();
    let mut fields: Vec<Arc<Field>> = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    let schema = batch.schema();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let Ok(target) = table.field_with_name(field.name()) else {
            fields.push(field.clone());
            columns.push(column.clone());
            continue;
        };
        match fit_column(column, target.data_type()) {
            Fit::Same => {
                fields.push(field.clone());
                columns.push(column.clone());
            }
            Fit::Cast(cast) => {
                fields.push(Arc::new(
                    field
                        .as_ref()
                        .clone()
                        .with_data_type(cast.data_type().clone()),
                ));
                columns.push(cast);
            }
            Fit::Rows(misfits) => {
                reasons.push(format!(
                    "column `{}` is {} in the batch but {} in the table",
                    field.name(),
                    field.data_type(),
                    target.data_type()
                ));
                bad = Some(match bad {
                    None => misfits,
                    Some(b) => or_kleene(&b, &misfits).unwrap_or(misfits),
                });
            }
        }
    }
    if let Some(bad) = bad {
        let rows = (0..bad.len())
            .filter(|&i| bad.is_valid(i) && bad.value(i))
            .collect::<Vec<_>>();
        if !rows.is_empty() {
            return Err(Misfit { rows, reasons });
        }
    }
    let schema: SchemaRef = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    RecordBatch::try_new(schema, columns).map_err(|e| Misfit {
        rows: (0..batch.num_rows()).collect(),
        reasons: vec![e.to_string()],
    })
}

/// Every value of `column` fits `target` (as it is, or by a lossless cast).
pub(crate) fn fits_losslessly(column: &ArrayRef, target: &DataType) -> bool {
    match fit_column(column, target) {
        Fit::Same | Fit::Cast(_) => true,
        Fit::Rows(misfits) => misfits.true_count() == 0,
    }
}

enum Fit {
    Same,
    Cast(ArrayRef),
    /// true for each row that does not fit.
    Rows(BooleanArray),
}

fn fit_column(column: &ArrayRef, target: &DataType) -> Fit {
    let source = column.data_type();
    if source == target || extends(source, target) {
        return Fit::Same;
    }
    let holding_values =
        || BooleanArray::from_iter((0..column.len()).map(|i| Some(column.is_valid(i))));
    if kind(source) != kind(target) || kind(source) == Kind::Nested {
        return Fit::Rows(holding_values());
    }
    let safe = CastOptions {
        safe: true,
        ..CastOptions::default()
    };
    let Ok(cast) = cast_with_options(column, target, &safe) else {
        return Fit::Rows(holding_values());
    };
    let Ok(back) = cast_with_options(&cast, source, &safe) else {
        return Fit::Rows(holding_values());
    };
    // A row fits when the round trip gives the same value (null stays null).
    match distinct(column, &back) {
        Ok(changed) if changed.true_count() == 0 => Fit::Cast(cast),
        Ok(changed) => Fit::Rows(changed),
        Err(_) => Fit::Rows(holding_values()),
    }
}

/// `source` is `target` plus struct sub-fields (at any depth) the table does not have
/// yet: Delta schema evolution adds them.
fn extends(source: &DataType, target: &DataType) -> bool {
    match (source, target) {
        (DataType::Struct(s), DataType::Struct(t)) => s.iter().all(|sf| {
            t.iter().find(|tf| tf.name() == sf.name()).is_none_or(|tf| {
                sf.data_type() == tf.data_type() || extends(sf.data_type(), tf.data_type())
            })
        }),
        (DataType::List(s), DataType::List(t))
        | (DataType::LargeList(s), DataType::LargeList(t)) => {
            s.data_type() == t.data_type() || extends(s.data_type(), t.data_type())
        }
        _ => false,
    }
}

/// The table's schema grown by what a conformed batch adds, as Delta's schema evolution
/// grows it: the table's columns in their order (struct columns, also inside lists,
/// gaining the batch's new sub-fields at their end), then the batch's new columns. What
/// is new is nullable: the rows already stored have no value for it.
pub(crate) fn evolved_schema(table: &Schema, batch: &Schema) -> Schema {
    Schema::new_with_metadata(
        evolved_fields(table.fields(), batch.fields()),
        table.metadata().clone(),
    )
}

fn evolved_fields(table: &Fields, batch: &Fields) -> Vec<FieldRef> {
    let mut fields: Vec<FieldRef> = table
        .iter()
        .map(|t| match batch.find(t.name()) {
            Some((_, b)) => Arc::new(evolved_field(t, b)),
            None => t.clone(),
        })
        .collect();
    fields.extend(
        batch
            .iter()
            .filter(|b| table.find(b.name()).is_none())
            .map(|b| Arc::new(b.as_ref().clone().with_nullable(true))),
    );
    fields
}

fn evolved_field(table: &Field, batch: &Field) -> Field {
    let grown = match (table.data_type(), batch.data_type()) {
        (DataType::Struct(t), DataType::Struct(b)) => DataType::Struct(evolved_fields(t, b).into()),
        (DataType::List(t), DataType::List(b)) => DataType::List(Arc::new(evolved_field(t, b))),
        (DataType::LargeList(t), DataType::LargeList(b)) => {
            DataType::LargeList(Arc::new(evolved_field(t, b)))
        }
        // conform gave the column the table's type.
        (same, _) => same.clone(),
    };
    table.clone().with_data_type(grown)
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Boolean,
    Number,
    Text,
    Binary,
    Time,
    Nested,
    Other,
}

fn kind(dt: &DataType) -> Kind {
    use DataType::*;
    match dt {
        Boolean => Kind::Boolean,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Float16 | Float32
        | Float64 | Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => Kind::Number,
        Utf8 | LargeUtf8 | Utf8View => Kind::Text,
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Kind::Binary,
        Date32 | Date64 | Timestamp(..) | Time32(_) | Time64(_) | Duration(_) | Interval(_) => {
            Kind::Time
        }
        List(_) | LargeList(_) | ListView(_) | LargeListView(_) | FixedSizeList(..) | Struct(_)
        | Map(..) | Union(..) | Dictionary(..) | RunEndEncoded(..) => Kind::Nested,
        _ => Kind::Other,
    }
}

/// Give all batches one schema, because deltalake's writer takes the first batch's schema
/// for all of them. Columns are matched by name in first-seen order; a column missing from
/// some batch becomes nullable and is filled with nulls there. String-like (or binary-like)
/// columns of differing Arrow encodings are cast to plain Utf8 (Binary); any other type
/// clash is an error rather than a silent cast.
pub(crate) fn unify_batches(batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, String> {
    let first = match batches.first() {
        Some(b) => b.schema(),
        None => return Ok(batches),
    };
    if batches.iter().all(|b| b.schema() == first) {
        return Ok(batches);
    }

    let mut fields: Vec<Field> = Vec::new();
    for batch in &batches {
        let schema = batch.schema();
        for field in schema.fields() {
            match fields.iter_mut().find(|f| f.name() == field.name()) {
                None => fields.push(field.as_ref().clone()),
                Some(existing) => {
                    let merged =
                        merge_type(existing.data_type(), field.data_type()).ok_or_else(|| {
                            format!(
                                "column {:?} is {} in one batch and {} in another",
                                field.name(),
                                existing.data_type(),
                                field.data_type()
                            )
                        })?;
                    let nullable = existing.is_nullable() || field.is_nullable();
                    *existing = existing
                        .clone()
                        .with_data_type(merged)
                        .with_nullable(nullable);
                }
            }
        }
    }
    for field in &mut fields {
        if batches
            .iter()
            .any(|b| b.schema().field_with_name(field.name()).is_err())
        {
            *field = field.clone().with_nullable(true);
        }
    }
    let schema = Arc::new(Schema::new(fields));

    batches
        .into_iter()
        .map(|batch| {
            let columns = schema
                .fields()
                .iter()
                .map(|field| match batch.column_by_name(field.name()) {
                    None => Ok(new_null_array(field.data_type(), batch.num_rows())),
                    Some(col) if col.data_type() == field.data_type() => Ok(col.clone()),
                    Some(col) => cast(col, field.data_type()).map_err(|e| e.to_string()),
                })
                .collect::<Result<Vec<_>, String>>()?;
            RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
        })
        .collect()
}

/// The one type two batches' encodings of a column share, if any.
fn merge_type(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    if a == b {
        return Some(a.clone());
    }
    match (a, b) {
        (Utf8 | LargeUtf8 | Utf8View, Utf8 | LargeUtf8 | Utf8View) => Some(Utf8),
        (Binary | LargeBinary | BinaryView, Binary | LargeBinary | BinaryView) => Some(Binary),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::array::{Float64Array, Int32Array, Int64Array, StringArray, StringViewArray};
    use arrow::datatypes::Int64Type;

    fn table(dt: DataType) -> Schema {
        Schema::new(vec![Field::new("v", dt, true)])
    }

    fn one(col: ArrayRef) -> RecordBatch {
        RecordBatch::try_from_iter([("v", col)]).unwrap()
    }

    #[test]
    fn fractions_do_not_fit_an_integer_column_but_whole_doubles_do() {
        let batch = one(Arc::new(Float64Array::from(vec![
            Some(10.0),
            Some(10.5),
            None,
        ])));
        let misfit = conform(&batch, &table(DataType::Int64)).unwrap_err();
        assert_eq!(misfit.rows, [1]);
        assert!(misfit.message().contains("Float64") && misfit.message().contains("Int64"));
        let ok = one(Arc::new(Float64Array::from(vec![Some(10.0), None])));
        let fitted = conform(&ok, &table(DataType::Int64)).unwrap();
        assert_eq!(fitted.column(0).as_primitive::<Int64Type>().value(0), 10);
    }

    #[test]
    fn narrower_integers_and_string_encodings_are_cast() {
        let batch = one(Arc::new(Int32Array::from(vec![1, 2])));
        let fitted = conform(&batch, &table(DataType::Int64)).unwrap();
        assert_eq!(fitted.schema().field(0).data_type(), &DataType::Int64);
        let batch = one(Arc::new(StringViewArray::from(vec!["a"])));
        let fitted = conform(&batch, &table(DataType::Utf8)).unwrap();
        assert_eq!(fitted.schema().field(0).data_type(), &DataType::Utf8);
    }

    #[test]
    fn numeric_text_is_not_a_number() {
        let batch = one(Arc::new(StringArray::from(vec![Some("4.7"), None])));
        let misfit = conform(&batch, &table(DataType::Float64)).unwrap_err();
        assert_eq!(misfit.rows, [0]);
    }

    #[test]
    fn new_columns_and_new_sub_fields_pass() {
        let batch = RecordBatch::try_from_iter([
            ("v", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
            ("w", Arc::new(StringArray::from(vec!["new"])) as ArrayRef),
        ])
        .unwrap();
        assert!(conform(&batch, &table(DataType::Int64)).is_ok());
        let wide = DataType::Struct(
            vec![
                Field::new("a", DataType::Int64, true),
                Field::new("b", DataType::Int64, true),
            ]
            .into(),
        );
        let narrow = DataType::Struct(vec![Field::new("a", DataType::Int64, true)].into());
        assert!(extends(&wide, &narrow));
        assert!(!extends(
            &narrow.clone(),
            &DataType::Struct(vec![Field::new("a", DataType::Utf8, true)].into())
        ));
    }

    #[test]
    fn evolved_schema_keeps_table_order_and_adds_new_fields_nullable() {
        let inner = |names: &[&str]| {
            DataType::Struct(
                names
                    .iter()
                    .map(|n| Field::new(*n, DataType::Int64, false))
                    .collect(),
            )
        };
        let table = Schema::new(vec![
            Field::new("a", DataType::Utf8, false),
            Field::new("s", inner(&["x"]), true),
        ]);
        let batch = Schema::new(vec![
            Field::new("new", DataType::Int64, false),
            Field::new("s", inner(&["y", "x"]), true),
            Field::new("a", DataType::Utf8, false),
        ]);
        let grown = evolved_schema(&table, &batch);
        let names: Vec<&str> = grown.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["a", "s", "new"]);
        assert!(grown.field(2).is_nullable());
        let DataType::Struct(sub) = grown.field(1).data_type() else {
            panic!("s is not a struct")
        };
        let sub: Vec<(&str, bool)> = sub
            .iter()
            .map(|f| (f.name().as_str(), f.is_nullable()))
            .collect();
        assert_eq!(sub, [("x", false), ("y", true)]);
    }

    #[test]
    fn unify_fills_missing_columns_and_string_encodings() -> Result<(), Box<dyn std::error::Error>>
    {
        let a = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(vec![1, 2])) as _),
            ("s", Arc::new(StringArray::from(vec!["x", "y"])) as _),
        ])?;
        let b = RecordBatch::try_from_iter([
            ("s", Arc::new(StringViewArray::from(vec!["z"])) as _),
            ("extra", Arc::new(Int64Array::from(vec![7])) as _),
        ])?;
        let out = unify_batches(vec![a, b])?;
        let schema = out[0].schema();
        assert_eq!(out[1].schema(), schema);
        let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["id", "s", "extra"]);
        assert!(schema.field(0).is_nullable());
        assert_eq!(schema.field(1).data_type(), &DataType::Utf8);
        assert_eq!(out[0].column(2).null_count(), 2);
        assert_eq!(out[1].column(0).null_count(), 1);
        Ok(())
    }

    #[test]
    fn unify_rejects_type_clash() -> Result<(), Box<dyn std::error::Error>> {
        let a = RecordBatch::try_from_iter([("v", Arc::new(Int64Array::from(vec![1])) as _)])?;
        let b = RecordBatch::try_from_iter([("v", Arc::new(StringArray::from(vec!["1"])) as _)])?;
        assert!(unify_batches(vec![a, b]).is_err());
        Ok(())
    }
}
