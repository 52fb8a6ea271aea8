//! The rows as SQL: columns cast to types the statement builders know, the last row of
//! each key kept (an upsert statement may not touch one row twice), and INSERT
//! statements of a bounded size built by datafusion-table-providers' Arrow-to-SQL
//! builders (sea-query quotes every value).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{cast, concat_batches, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::row::{RowConverter, SortField};
use datafusion::common::TableReference;
use datafusion_table_providers_common::sql::arrow_sql_gen::statement::InsertBuilder;
use datafusion_table_providers_common::util::column_reference::ColumnReference;
use datafusion_table_providers_common::util::on_conflict::OnConflict;

use crate::Engine;

/// Rows per INSERT statement: well under MySQL's 16 MiB packet for rows of a few KiB.
const ROWS_PER_STATEMENT: usize = 1000;

/// The batches with all-null and dictionary columns cast to plain types; an error names
/// a column no database can hold.
pub(crate) fn storable(batches: &[RecordBatch]) -> Result<Vec<RecordBatch>, String> {
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        let mut fields = Vec::with_capacity(batch.num_columns());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let plain = match field.data_type() {
                DataType::Null => DataType::Utf8,
                DataType::Dictionary(_, value) => value.as_ref().clone(),
                other => other.clone(),
            };
            let column = if &plain == field.data_type() {
                column.clone()
            } else {
                cast(column, &plain).map_err(|e| format!("column {}: {e}", field.name()))?
            };
            fields.push(Field::new(field.name(), plain, true));
            columns.push(column);
        }
        let schema = Arc::new(Schema::new(fields));
        if let Some(problem) = crate::shape::unstorable(&schema) {
            return Err(problem);
        }
        out.push(RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// One batch holding, per key, the last row that has it, in the order those rows came;
/// without a key, the batches as they are.
pub(crate) fn last_per_key(
    batches: &[RecordBatch],
    key: &[String],
) -> Result<Vec<RecordBatch>, String> {
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    if key.is_empty() {
        return Ok(batches.to_vec());
    }
    let all = concat_batches(&first.schema(), batches).map_err(|e| e.to_string())?;
    let columns: Vec<ArrayRef> = key
        .iter()
        .map(|k| {
            all.column_by_name(k)
                .cloned()
                .ok_or_else(|| format!("the key column {k} is not among the rows' columns"))
        })
        .collect::<Result<_, _>>()?;
    let fields = columns
        .iter()
        .map(|c| SortField::new(c.data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields).map_err(|e| e.to_string())?;
    let keys = converter
        .convert_columns(&columns)
        .map_err(|e| e.to_string())?;
    let mut last: HashMap<&[u8], u32> = HashMap::with_capacity(all.num_rows());
    for (i, row) in keys.iter().enumerate() {
        last.insert(row.data(), i as u32);
    }
    let mut kept: Vec<u32> = last.into_values().collect();
    kept.sort_unstable();
    let indices = UInt32Array::from(kept);
    Ok(vec![
        take_record_batch(&all, &indices).map_err(|e| e.to_string())?,
    ])
}

/// INSERT statements for the rows, `ROWS_PER_STATEMENT` rows each; with a key, each an
/// upsert that replaces the row of the same key.
pub(crate) fn insert_statements(
    engine: Engine,
    table: &str,
    batches: &[RecordBatch],
    key: &[String],
) -> Result<Vec<String>, String> {
    let table = TableReference::bare(table);
    let mut statements = Vec::new();
    for batch in batches {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = ROWS_PER_STATEMENT.min(batch.num_rows() - offset);
            let chunk = vec![batch.slice(offset, len)];
            offset += len;
            let on_conflict = (!key.is_empty()).then(|| {
                OnConflict::Upsert(ColumnReference::new(key.to_vec()))
                    .build_sea_query_on_conflict(&chunk[0].schema())
            });
            let builder = InsertBuilder::new(&table, &chunk);
            let sql = match engine {
                Engine::Postgres => builder.build_postgres(on_conflict),
                Engine::MySql => builder.build_mysql(on_conflict),
                Engine::Sqlite => builder.build_sqlite(on_conflict),
            };
            statements.push(sql.map_err(|e| e.to_string())?);
        }
    }
    Ok(statements)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    /// Rows of `id` and `name`.
    pub(crate) fn batch(ids: Vec<i64>, names: Vec<&str>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(names)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn the_last_row_of_each_key_wins() {
        let out = last_per_key(
            &[
                batch(vec![1, 2], vec!["a", "b"]),
                batch(vec![1, 3], vec!["c", "d"]),
            ],
            &["id".to_string()],
        )
        .unwrap();
        let ids: Vec<i64> = out[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .values()
            .to_vec();
        assert_eq!(ids, vec![2, 1, 3]);
        let names = out[0]
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(names.value(1), "c");
    }

    #[test]
    fn values_are_quoted_and_upserts_name_the_key() {
        let rows = [batch(vec![1], vec!["O'Brien"])];
        let sql = insert_statements(Engine::Postgres, "users", &rows, &["id".to_string()]).unwrap();
        assert_eq!(sql.len(), 1);
        assert!(
            sql[0].contains("'O''Brien'") || sql[0].contains("E'O\\'Brien'"),
            "{}",
            sql[0]
        );
        assert!(
            sql[0].contains("ON CONFLICT (\"id\") DO UPDATE"),
            "{}",
            sql[0]
        );
        let sql = insert_statements(Engine::MySql, "users", &rows, &["id".to_string()]).unwrap();
        assert!(sql[0].contains("ON DUPLICATE KEY UPDATE"), "{}", sql[0]);
    }

    #[test]
    fn large_batches_become_several_statements() {
        let ids: Vec<i64> = (0..2500).collect();
        let names = vec!["x"; 2500];
        let sql = insert_statements(Engine::Sqlite, "t", &[batch(ids, names)], &[]).unwrap();
        assert_eq!(sql.len(), 3);
    }
}
