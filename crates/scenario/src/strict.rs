//! A strict relational load, the other side of schema-on-read: JSON documents checked
//! one by one against a table declared up front (`CREATE TABLE …`), as an ETL into a
//! relational database does. A document is refused, with its line and the column and
//! reason, when it is not an object, has a field the table lacks, lacks a NOT NULL
//! column, or has a value its column's type does not hold exactly; nothing is coerced
//! or truncated. The accepted rows are inserted; the refused ones are kept beside them.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use arrow::array::{RecordBatch, UInt64Array};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::json::ReaderBuilder;
use datafusion::prelude::SessionContext;
use serde_json::Value;

/// A document the table refused: where, which column, why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Refused {
    /// Its line in the file, from 1.
    pub(crate) line: u64,
    /// The column it did not fit; empty when the document as a whole did not.
    pub(crate) column: String,
    /// What kind of misfit: `not JSON`, `not an object`, `no such column`, `missing`
    /// (a NOT NULL column) or `wrong type`.
    pub(crate) reason: &'static str,
    /// The particulars: the parser's message, or the value and the column's type.
    pub(crate) detail: String,
    /// The line as it was.
    pub(crate) document: String,
}

/// What a strict load made of a file.
pub(crate) struct Checked {
    /// The accepted documents, decoded to the table's schema.
    pub(crate) batches: Vec<RecordBatch>,
    pub(crate) accepted: u64,
    pub(crate) refused: Vec<Refused>,
}

/// The table a `CREATE TABLE` statement declares: its name and columns, as DataFusion
/// reads the types (`BIGINT`, `DOUBLE`, `VARCHAR`, `DATE`, `DECIMAL(10,2)`, …).
pub(crate) async fn declared_table(ddl: &str) -> Result<(String, SchemaRef), String> {
    let ctx = SessionContext::new();
    ctx.sql(ddl).await.map_err(|e| e.to_string())?;
    let names = ctx
        .catalog("datafusion")
        .and_then(|c| c.schema("public"))
        .map(|s| s.table_names())
        .unwrap_or_default();
    let [name] = names.as_slice() else {
        return Err("the schema file must hold one CREATE TABLE statement".into());
    };
    let table = ctx
        .table_provider(name.as_str())
        .await
        .map_err(|e| e.to_string())?;
    Ok((name.clone(), table.schema()))
}

/// Check every non-empty line of `text` against `schema`; decode the accepted ones.
pub(crate) fn check_documents(text: &str, schema: &SchemaRef) -> Result<Checked, String> {
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match check_document(line, schema) {
            Ok(()) => accepted.push(line),
            Err((column, reason, detail)) => refused.push(Refused {
                line: i as u64 + 1,
                column,
                reason,
                detail,
                document: line.to_string(),
            }),
        }
    }
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_strict_mode(true)
        .build_decoder()
        .map_err(|e| e.to_string())?;
    let mut batches = Vec::new();
    for line in &accepted {
        decoder.decode(line.as_bytes()).map_err(|e| e.to_string())?;
        decoder.decode(b"\n").map_err(|e| e.to_string())?;
        if let Some(batch) = decoder.flush().map_err(|e| e.to_string())? {
            batches.push(batch);
        }
    }
    let batches = match batches.is_empty() {
        true => Vec::new(),
        false => vec![arrow::compute::concat_batches(schema, &batches).map_err(|e| e.to_string())?],
    };
    Ok(Checked {
        batches,
        accepted: accepted.len() as u64,
        refused,
    })
}

/// Why one document does not fit: the column (empty for the document), the kind of
/// misfit and its particulars.
fn check_document(line: &str, schema: &Schema) -> Result<(), (String, &'static str, String)> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| (String::new(), "not JSON", e.to_string()))?;
    let Value::Object(fields) = value else {
        return Err((
            String::new(),
            "not an object",
            "a JSON value, not an object".into(),
        ));
    };
    if let Some(extra) = fields.keys().find(|k| schema.field_with_name(k).is_err()) {
        let detail = format!("the table has no column {extra}");
        return Err((extra.clone(), "no such column", detail));
    }
    for column in schema.fields() {
        let value = fields.get(column.name()).unwrap_or(&Value::Null);
        let name = column.name().clone();
        if value.is_null() {
            if !column.is_nullable() {
                return Err((name, "missing", "a NOT NULL column, and no value".into()));
            }
            continue;
        }
        if !holds(column.data_type(), value) {
            let detail = format!("{value} is not a {}", column.data_type());
            return Err((name, "wrong type", detail));
        }
    }
    Ok(())
}

/// Does a column of type `dt` hold `value`: a string for text, dates, times and decimals
/// (parsed), an integer for integer columns (in range), a number for floats and decimals
/// (rounded to the decimal's scale, as a database rounds it), true or false for
/// booleans; never an array or an object.
fn holds(dt: &DataType, value: &Value) -> bool {
    let one: ArrayRef = match value {
        Value::Bool(b) => Arc::new(BooleanArray::from(vec![*b])),
        Value::String(s) => Arc::new(StringArray::from(vec![s.as_str()])),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Arc::new(Int64Array::from(vec![i])),
            (None, Some(u)) => Arc::new(UInt64Array::from(vec![u])),
            (None, None) => Arc::new(Float64Array::from(vec![n.as_f64().unwrap_or(f64::NAN)])),
        },
        Value::Null | Value::Array(_) | Value::Object(_) => return false,
    };
    let allowed = match one.data_type() {
        DataType::Boolean => matches!(dt, DataType::Boolean),
        DataType::Utf8 => {
            matches!(
                dt,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) || dt.is_temporal()
                || matches!(dt, DataType::Decimal128(..))
        }
        // A fraction never goes into an integer column: casting would truncate it.
        DataType::Float64 => dt.is_floating() || matches!(dt, DataType::Decimal128(..)),
        _ => dt.is_integer() || dt.is_floating() || matches!(dt, DataType::Decimal128(..)),
    };
    // The cast fails, rather than giving NULL, when the value is out of the type's range
    // or does not parse.
    let strict = CastOptions {
        safe: false,
        ..Default::default()
    };
    allowed
        && cast_with_options(&one, dt, &strict)
            .map(|cast| cast.null_count() == 0)
            .unwrap_or(false)
}

/// The refused documents as rows of `{table}_refused`.
pub(crate) fn refused_rows(refused: &[Refused]) -> Result<(SchemaRef, RecordBatch), String> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("line", DataType::Int64, false),
        Field::new("field", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, false),
        Field::new("document", DataType::Utf8, false),
    ]));
    let text = |f: fn(&Refused) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(refused.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(
            refused.iter().map(|r| r.line as i64),
        )),
        text(|r| &r.column),
        text(|r| r.reason),
        text(|r| &r.detail),
        text(|r| &r.document),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?;
    Ok((schema, batch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_kind_of_misfit_is_refused_with_its_line_and_column() {
        let (name, schema) = declared_table(
            "CREATE TABLE products (doc_id BIGINT NOT NULL, title VARCHAR NOT NULL, \
             price DECIMAL(10,2), stock INT, added DATE)",
        )
        .await
        .unwrap();
        assert_eq!(name, "products");
        let text = [
            r#"{"doc_id": 1, "title": "lamp", "price": 19.99, "stock": 3, "added": "2026-11-01"}"#,
            r#"{"doc_id": 2, "title": "desk", "price": "120.50"}"#,
            r#"{"doc_id": 3, "title": "chair", "stock": 2.5}"#,
            r#"{"doc_id": 4, "title": "sofa", "colour": "red"}"#,
            r#"{"doc_id": 5, "price": 10}"#,
            r#"{"doc_id": 6, "title": "rug", "stock": 3000000000}"#,
            r#"{"doc_id": 7, "title": "bed", "added": "last week"}"#,
            r#"[1, 2]"#,
            r#"{"doc_id": 9, "title": "#,
            "",
            r#"{"doc_id": "10", "title": "shelf"}"#,
        ]
        .join("\n");
        let checked = check_documents(&text, &schema).unwrap();
        assert_eq!(checked.accepted, 2);
        assert_eq!(checked.batches[0].num_rows(), 2);
        let found: Vec<(u64, &str, &str)> = checked
            .refused
            .iter()
            .map(|r| (r.line, r.column.as_str(), r.reason))
            .collect();
        assert_eq!(
            found,
            [
                (3, "stock", "wrong type"),
                (4, "colour", "no such column"),
                (5, "title", "missing"),
                (6, "stock", "wrong type"),
                (7, "added", "wrong type"),
                (8, "", "not an object"),
                (9, "", "not JSON"),
                (11, "doc_id", "wrong type"),
            ]
        );
        let (_, batch) = refused_rows(&checked.refused).unwrap();
        assert_eq!(batch.num_rows(), 8);
    }
}
