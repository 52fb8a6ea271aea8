//! Widening column types (`on_type_mismatch = "widen"`): when a batch holds values a
//! table column cannot, the column takes a type that holds both, never by changing a
//! value. An integer column becomes a double when every integer in it and in the batch is
//! one a double holds exactly (|v| ≤ 2^53), and text otherwise; any other clash makes the
//! column text. Text keeps strings as they are and stores other values as their JSON text
//! (`10`, `10.5`, `true`, `{"a":1}`). Struct and list columns widen field by field.
//! These are the rules `pipelab_ingest`'s decoder applies to JSON values (its `widen.rs`);
//! here they apply to Arrow columns, for batches from any source.
//!
//! Delta cannot change a column's type in place without the `typeWidening` table feature,
//! which delta-rs 1.1 does not write; so the table is rewritten in one overwrite commit
//! with the new schema ([`crate::LakeTable::widen`]), and readers see either the old table
//! or the widened one.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ListArray, RecordBatch, StringBuilder, StructArray};
use arrow::array::{new_null_array, types::Float64Type};
use arrow::compute::kernels::cmp::distinct;
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::writer::{EncoderOptions, make_encoder};

use datafusion::error::DataFusionError;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;

use crate::conform::fits_losslessly;
use crate::error::LakeError;
use crate::table::LakeTable;

/// Integers a double holds exactly.
const EXACT_IN_DOUBLE: f64 = (1u64 << 53) as f64;

/// Rewrites a widening tries before giving up on concurrent writers.
const WIDEN_ATTEMPTS: usize = 50;

/// The schema `table` needs to hold `batches` with no value changed: the table's own
/// schema when every column already fits (new columns and sub-fields are left to schema
/// evolution), else the same with the clashing columns widened.
pub fn widened_schema(table: &Schema, batches: &[RecordBatch]) -> SchemaRef {
    let mut fields: Vec<FieldRef> = table.fields().iter().cloned().collect();
    for batch in batches {
        let schema = batch.schema();
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            let Some(target) = fields.iter_mut().find(|f| f.name() == field.name()) else {
                continue;
            };
            if fits_losslessly(column, target.data_type()) {
                continue;
            }
            let mut wider = widened_type(target.data_type(), field.data_type());
            if widen_array(column, &wider).is_err() {
                // Integers beyond 2^53 in a column about to become double.
                wider = DataType::Utf8;
            }
            *target = Arc::new(Field::new(field.name(), wider, true));
        }
    }
    Arc::new(Schema::new_with_metadata(fields, table.metadata().clone()))
}

/// The narrowest type holding values of both types, by the rules of this module.
pub(crate) fn widened_type(table: &DataType, batch: &DataType) -> DataType {
    use DataType::*;
    match (table, batch) {
        (t, b) if t == b => t.clone(),
        (Null, b) => b.clone(),
        (t, Null) => t.clone(),
        (t, b) if t.is_integer() && b.is_integer() => Int64,
        (t, b) if is_number(t) && is_number(b) => Float64,
        (Struct(t), Struct(b)) => {
            let mut fields: Vec<FieldRef> = t
                .iter()
                .map(|tf| match b.iter().find(|bf| bf.name() == tf.name()) {
                    Some(bf) => Arc::new(Field::new(
                        tf.name(),
                        widened_type(tf.data_type(), bf.data_type()),
                        true,
                    )),
                    None => tf.clone(),
                })
                .collect();
            fields.extend(
                b.iter()
                    .filter(|bf| t.iter().all(|tf| tf.name() != bf.name()))
                    .cloned(),
            );
            Struct(Fields::from(fields))
        }
        (List(t), List(b)) => {
            let item = widened_type(t.data_type(), b.data_type());
            List(Arc::new(Field::new(t.name(), item, true)))
        }
        _ => Utf8,
    }
}

/// `array` with the type `target` (a widening of its own), no value changed.
pub(crate) fn widen_array(array: &ArrayRef, target: &DataType) -> Result<ArrayRef, ArrowError> {
    let source = array.data_type();
    if source == target {
        return Ok(array.clone());
    }
    match (source, target) {
        (DataType::Null, _) => Ok(new_null_array(target, array.len())),
        (_, DataType::Utf8) => json_text(array),
        (s, DataType::Float64) if is_number(s) => exact_double(array),
        (DataType::Struct(_), DataType::Struct(fields)) => widen_struct(array, fields),
        (DataType::List(_), DataType::List(item)) => widen_list(array, item),
        _ if fits_losslessly(array, target) => {
            cast_with_options(array, target, &CastOptions::default())
        }
        _ => Err(ArrowError::CastError(format!(
            "{source} does not widen to {target}"
        ))),
    }
}

/// Each column of `batch` given the type `table` has for it, by [`widen_array`].
pub fn widen_batch(batch: &RecordBatch, table: &Schema) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        match table.field_with_name(field.name()) {
            Ok(target) if !fits_losslessly(column, target.data_type()) => {
                let target = target.data_type();
                columns.push(widen_array(column, target)?);
                fields.push(Arc::new(Field::new(field.name(), target.clone(), true)));
            }
            _ => {
                columns.push(column.clone());
                fields.push(field.clone());
            }
        }
    }
    let schema = Schema::new_with_metadata(fields, schema.metadata().clone());
    RecordBatch::try_new(Arc::new(schema), columns)
}

/// Text of each value: strings as they are, other scalars as arrow prints them (the same
/// digits as JSON for numbers and booleans), structs and lists as JSON.
fn json_text(array: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    if !array.data_type().is_nested() {
        return cast_with_options(array, &DataType::Utf8, &CastOptions::default());
    }
    let field: FieldRef = Arc::new(Field::new("value", array.data_type().clone(), true));
    let options = EncoderOptions::default();
    let mut encoder = make_encoder(&field, array.as_ref(), &options)?;
    let mut out = StringBuilder::with_capacity(array.len(), array.len() * 16);
    let mut buffer = Vec::new();
    for i in 0..array.len() {
        if encoder.is_null(i) {
            out.append_null();
            continue;
        }
        buffer.clear();
        encoder.encode(i, &mut buffer);
        out.append_value(String::from_utf8_lossy(&buffer));
    }
    Ok(Arc::new(out.finish()))
}

/// Numbers as doubles, refused when one would change (an integer beyond 2^53).
fn exact_double(array: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    let safe = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let cast = cast_with_options(array, &DataType::Float64, &safe)?;
    let back = cast_with_options(&cast, array.data_type(), &safe)?;
    let changed = distinct(array, &back)?;
    let beyond = cast
        .as_any()
        .downcast_ref::<arrow::array::PrimitiveArray<Float64Type>>()
        .is_some_and(|a| {
            array.data_type().is_integer() && a.iter().flatten().any(|v| v.abs() > EXACT_IN_DOUBLE)
        });
    if changed.true_count() > 0 || beyond {
        return Err(ArrowError::CastError(
            "an integer beyond 2^53 would change as a double".into(),
        ));
    }
    Ok(cast)
}

fn widen_struct(array: &ArrayRef, fields: &Fields) -> Result<ArrayRef, ArrowError> {
    let Some(source) = array.as_any().downcast_ref::<StructArray>() else {
        return Err(ArrowError::InvalidArgumentError(
            "not a struct array".into(),
        ));
    };
    let columns = fields
        .iter()
        .map(|f| match source.column_by_name(f.name()) {
            Some(child) => widen_array(child, f.data_type()),
            None => Ok(new_null_array(f.data_type(), source.len())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let fields: Fields = fields
        .iter()
        .map(|f| Arc::new(f.as_ref().clone().with_nullable(true)))
        .collect();
    StructArray::try_new(fields, columns, source.nulls().cloned()).map(|a| Arc::new(a) as ArrayRef)
}

fn widen_list(array: &ArrayRef, item: &FieldRef) -> Result<ArrayRef, ArrowError> {
    let Some(source) = array.as_any().downcast_ref::<ListArray>() else {
        return Err(ArrowError::InvalidArgumentError("not a list array".into()));
    };
    let values = widen_array(source.values(), item.data_type())?;
    let item = Arc::new(item.as_ref().clone().with_nullable(true));
    ListArray::try_new(
        item,
        source.offsets().clone(),
        values,
        source.nulls().cloned(),
    )
    .map(|a| Arc::new(a) as ArrayRef)
}

/// A DataFusion function applying [`widen_array`] to one column, so the rewrite of a
/// widened table streams through a plan instead of holding the table in memory.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct WidenUdf {
    name: String,
    target: DataType,
    signature: Signature,
}

impl WidenUdf {
    /// A function named `pipelab_widen_COLUMN` that widens `column`'s values to `target`.
    pub(crate) fn new(column: &str, target: DataType) -> Self {
        Self {
            name: format!("pipelab_widen_{column}"),
            target,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for WidenUdf {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(self.target.clone())
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return Err(DataFusionError::Internal(format!(
                "{} takes one column",
                self.name
            )));
        };
        let array = arg.to_array(args.number_rows)?;
        widen_array(&array, &self.target)
            .map(ColumnarValue::Array)
            .map_err(DataFusionError::from)
    }
}

fn is_number(dt: &DataType) -> bool {
    dt.is_integer() || dt.is_floating()
}

impl LakeTable {
    /// Give the columns of `target` whose types differ from the table's those wider types
    /// (see [`widened_schema`]): the table is rewritten with the new schema in one
    /// overwrite commit; its `txn` resume points stay, as they live in the log. The rewrite
    /// streams through a DataFusion plan. It is an overwrite of every row (`replaceWhere
    /// true`), so a commit that adds files after the rewrite read the table makes it
    /// conflict instead of leaving files of the old types behind; it is then done again.
    /// `Ok(false)` when no column needed it.
    pub async fn widen(&mut self, target: &Schema) -> Result<bool, LakeError> {
        for _ in 0..WIDEN_ATTEMPTS {
            self.refresh().await?;
            let changes = self.type_changes(target);
            if changes.is_empty() {
                return Ok(false);
            }
            let described = changes
                .iter()
                .map(|(name, dt)| format!("{name}: {dt}"))
                .collect::<Vec<_>>()
                .join(", ");
            tracing::info!("widening columns of table {}: {described}", self.url());
            let plan = self.widening_plan(&changes).await?;
            let properties = CommitProperties::default().with_metadata([(
                "pipelab.widened".to_string(),
                serde_json::Value::String(described),
            )]);
            let written = self
                .delta()
                .clone()
                .write(Vec::new())
                .with_input_plan(plan)
                .with_save_mode(SaveMode::Overwrite)
                .with_schema_mode(SchemaMode::Overwrite)
                .with_replace_where(datafusion::prelude::lit(true))
                .with_commit_properties(properties)
                .await;
            match written {
                Ok(table) => {
                    *self.delta_mut() = table;
                    self.reload_schema()?;
                    return Ok(true);
                }
                Err(e) => {
                    match LakeError::delta("widening columns of Delta table", self.url(), e) {
                        err if err.is_commit_conflict() => tracing::info!("{err}; widening again"),
                        err => return Err(err),
                    }
                }
            }
        }
        Err(LakeError::Schema {
            url: self.url().to_string(),
            reason: format!(
                "gave up widening columns after {WIDEN_ATTEMPTS} rewrites lost to concurrent writers"
            ),
        })
    }

    /// The table's columns whose type in `target` differs, with that type.
    fn type_changes(&self, target: &Schema) -> Vec<(String, DataType)> {
        self.schema()
            .fields()
            .iter()
            .filter_map(|f| {
                let wide = target.field_with_name(f.name()).ok()?;
                (wide.data_type() != f.data_type())
                    .then(|| (f.name().clone(), wide.data_type().clone()))
            })
            .collect()
    }

    /// Every row of the table, the changed columns widened, the others as they are.
    async fn widening_plan(
        &self,
        changes: &[(String, DataType)],
    ) -> Result<datafusion::logical_expr::LogicalPlan, LakeError> {
        use datafusion::logical_expr::ScalarUDF;
        use datafusion::prelude::{Expr, SessionContext, cast, ident};
        let df_err = |e| LakeError::datafusion(self.name(), self.url(), e);
        let ctx = SessionContext::new();
        self.delta()
            .update_datafusion_session(&ctx.state())
            .map_err(|e| LakeError::delta("registering object store of", self.url(), e))?;
        let rows = ctx
            .read_table(self.table_provider().await?)
            .map_err(df_err)?;
        let scanned = rows.schema().clone();
        let columns: Vec<Expr> = self
            .schema()
            .fields()
            .iter()
            .map(|f| {
                // Partition columns are scanned dictionary-encoded: back to the table's type.
                let stored = match scanned.field_with_unqualified_name(f.name()) {
                    Ok(s) if s.data_type() != f.data_type() => {
                        cast(ident(f.name()), f.data_type().clone())
                    }
                    _ => ident(f.name()),
                };
                match changes.iter().find(|(name, _)| name == f.name()) {
                    Some((name, dt)) => {
                        let udf = ScalarUDF::new_from_impl(WidenUdf::new(name, dt.clone()));
                        udf.call(vec![stored]).alias(name)
                    }
                    None => stored.alias(f.name()),
                }
            })
            .collect();
        Ok(rows
            .select(columns)
            .map_err(df_err)?
            .into_unoptimized_plan())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Float64Array, Int64Array, StringArray};

    fn one(name: &str, col: ArrayRef) -> RecordBatch {
        RecordBatch::try_from_iter([(name, col)]).unwrap()
    }

    fn schema(dt: DataType) -> Schema {
        Schema::new(vec![Field::new("v", dt, true)])
    }

    #[test]
    fn an_integer_column_becomes_double_when_every_value_stays_the_same() {
        let batch = one("v", Arc::new(Float64Array::from(vec![Some(10.5), None])));
        let wide = widened_schema(&schema(DataType::Int64), &[batch]);
        assert_eq!(wide.field(0).data_type(), &DataType::Float64);
        let old: ArrayRef = Arc::new(Int64Array::from(vec![Some(10), None, Some(-3)]));
        let new = widen_array(&old, &DataType::Float64).unwrap();
        let new = new.as_primitive::<Float64Type>();
        assert_eq!(
            (new.value(0), new.is_null(1), new.value(2)),
            (10.0, true, -3.0)
        );
        let huge: ArrayRef = Arc::new(Int64Array::from(vec![(1 << 53) + 1]));
        assert!(widen_array(&huge, &DataType::Float64).is_err());
    }

    #[test]
    fn integers_beyond_a_double_make_the_column_text() {
        let batch = one("v", Arc::new(Int64Array::from(vec![(1i64 << 60) + 1])));
        let wide = widened_schema(&schema(DataType::Float64), std::slice::from_ref(&batch));
        assert_eq!(wide.field(0).data_type(), &DataType::Utf8);
        let fitted = widen_batch(&batch, &wide).unwrap();
        assert_eq!(
            fitted.column(0).as_string::<i32>().value(0),
            "1152921504606846977"
        );
    }

    #[test]
    fn any_other_clash_makes_text_with_json_for_nested_values() {
        let batch = one("v", Arc::new(StringArray::from(vec!["n/a"])));
        let wide = widened_schema(&schema(DataType::Int64), &[batch]);
        assert_eq!(wide.field(0).data_type(), &DataType::Utf8);
        let nested = DataType::Struct(vec![Field::new("a", DataType::Int64, true)].into());
        let structs: ArrayRef = Arc::new(StructArray::from(vec![(
            Arc::new(Field::new("a", DataType::Int64, true)),
            Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef,
        )]));
        assert_eq!(structs.data_type(), &nested);
        let text = widen_array(&structs, &DataType::Utf8).unwrap();
        assert_eq!(text.as_string::<i32>().value(0), r#"{"a":1}"#);
        assert_eq!(text.as_string::<i32>().value(1), "{}");
        let bools: ArrayRef = Arc::new(arrow::array::BooleanArray::from(vec![true]));
        let text = widen_array(&bools, &DataType::Utf8).unwrap();
        assert_eq!(text.as_string::<i32>().value(0), "true");
    }

    #[test]
    fn struct_fields_widen_one_by_one_and_new_ones_are_kept() {
        let table = DataType::Struct(vec![Field::new("a", DataType::Int64, true)].into());
        let batch = DataType::Struct(
            vec![
                Field::new("a", DataType::Float64, true),
                Field::new("b", DataType::Utf8, true),
            ]
            .into(),
        );
        let DataType::Struct(fields) = widened_type(&table, &batch) else {
            panic!("not a struct");
        };
        assert_eq!(fields[0].data_type(), &DataType::Float64);
        assert_eq!(fields[1].name(), "b");
        let old: ArrayRef = Arc::new(StructArray::from(vec![(
            Arc::new(Field::new("a", DataType::Int64, true)),
            Arc::new(Int64Array::from(vec![7])) as ArrayRef,
        )]));
        let new = widen_array(&old, &DataType::Struct(fields)).unwrap();
        let new = new.as_struct();
        assert_eq!(new.column(0).as_primitive::<Float64Type>().value(0), 7.0);
        assert!(new.column(1).is_null(0));
    }

    #[test]
    fn columns_that_fit_keep_the_table_type() {
        let batch = one("v", Arc::new(Float64Array::from(vec![10.0])));
        let wide = widened_schema(&schema(DataType::Int64), &[batch]);
        assert_eq!(wide.field(0).data_type(), &DataType::Int64);
    }
}
