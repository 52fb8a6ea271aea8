//! The table's shape: created from the rows' Arrow schema when missing (the key as its
//! primary key), else checked column by column against the rows before anything is
//! written, so a mismatch stops the run with the column and both types named.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion_table_providers_common::sql::arrow_sql_gen::statement::{
    CreateTableBuilder, map_data_type_to_column_type,
};
use datafusion_table_providers_postgres::arrow_sql_gen::statement_ext::CreateTableBuilderPostgresExt;
use sea_query::{ColumnType, MysqlQueryBuilder, SqliteQueryBuilder, StringLen};

use crate::Engine;

/// The statements that create `table` for rows of `schema`, `key` its primary key.
pub(crate) fn create_table(
    engine: Engine,
    table: &str,
    schema: &SchemaRef,
    key: &[String],
) -> Vec<String> {
    let builder = CreateTableBuilder::new(Arc::clone(schema), table).primary_keys(key.to_vec());
    match engine {
        Engine::Postgres => builder.build_postgres(),
        Engine::MySql => vec![builder.build(MysqlQueryBuilder, &|f: &Arc<Field>| {
            // MySQL cannot index a TEXT column without a length: a text key is a VARCHAR.
            if key.contains(f.name()) && is_text(f.data_type()) {
                return ColumnType::String(StringLen::N(255));
            }
            generic_type(f)
        })],
        Engine::Sqlite => {
            vec![builder.build(SqliteQueryBuilder, &|f: &Arc<Field>| generic_type(f))]
        }
    }
}

/// Nested values are stored as JSON where the engine has no arrays or records.
fn generic_type(f: &Arc<Field>) -> ColumnType {
    if f.data_type().is_nested() {
        return ColumnType::JsonBinary;
    }
    map_data_type_to_column_type(f.data_type())
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Why a column of the rows cannot be stored at all (before any table is involved):
/// the statement builders know no such type.
pub(crate) fn unstorable(schema: &Schema) -> Option<String> {
    schema.fields().iter().find_map(|f| {
        let fine = !matches!(
            f.data_type(),
            DataType::Map(..)
                | DataType::Union(..)
                | DataType::Dictionary(..)
                | DataType::Null
                | DataType::RunEndEncoded(..)
                | DataType::ListView(_)
                | DataType::LargeListView(_)
        );
        (!fine).then(|| {
            format!(
                "column {} has type {} that no database column holds",
                f.name(),
                f.data_type()
            )
        })
    })
}

/// What a table column holds, as far as the check needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Integer,
    Number,
    Text,
    Boolean,
    Time,
    Binary,
    /// JSON, arrays, records, a type the check does not know: not checked.
    Other,
}

fn family_of_column(declared: &str) -> Family {
    let t = declared.to_ascii_lowercase();
    let has = |s: &str| t.contains(s);
    if t == "tinyint(1)" || has("bool") {
        Family::Boolean
    } else if has("int") || has("serial") {
        Family::Integer
    } else if has("double") || has("real") || has("float") || has("numeric") || has("decimal") {
        Family::Number
    } else if has("char")
        || has("text")
        || has("clob")
        || t == "string"
        || has("enum")
        || has("uuid")
    {
        Family::Text
    } else if has("time") || has("date") {
        Family::Time
    } else if has("blob") || has("bytea") || has("binary") {
        Family::Binary
    } else {
        Family::Other
    }
}

/// Whether a column of `declared` type takes values of `t` without losing any.
fn fits(t: &DataType, declared: &str) -> bool {
    let column = family_of_column(declared);
    if column == Family::Other {
        return true;
    }
    match t {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            matches!(column, Family::Integer | Family::Number)
        }
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            matches!(column, Family::Integer | Family::Number)
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => column == Family::Number,
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => column == Family::Number,
        DataType::Boolean => matches!(column, Family::Boolean | Family::Integer),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => column == Family::Text,
        DataType::Timestamp(..)
        | DataType::Date32
        | DataType::Date64
        | DataType::Time32(_)
        | DataType::Time64(_) => {
            matches!(column, Family::Time | Family::Text)
        }
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => column == Family::Binary,
        _ => matches!(column, Family::Text | Family::Other),
    }
}

/// The first column of the rows the existing table cannot take: absent, or of a type
/// that would lose values.
pub(crate) fn mismatch(schema: &Schema, columns: &[(String, String)]) -> Option<String> {
    for field in schema.fields() {
        let Some((_, declared)) = columns.iter().find(|(name, _)| name == field.name()) else {
            let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
            return Some(format!(
                "the rows have a column {} ({}) that the table lacks (it has: {})",
                field.name(),
                field.data_type(),
                names.join(", ")
            ));
        };
        if !fits(field.data_type(), declared) {
            return Some(format!(
                "column {} is {declared} in the table, but the rows hold {} values",
                field.name(),
                field.data_type()
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(fields: Vec<(&str, DataType)>) -> Schema {
        Schema::new(
            fields
                .into_iter()
                .map(|(n, t)| Field::new(n, t, true))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn a_column_the_table_lacks_or_of_another_kind_is_named() {
        let rows = schema(vec![
            ("user_id", DataType::Int64),
            ("email", DataType::Utf8),
        ]);
        let table = |t: &str| {
            vec![
                ("user_id".to_string(), t.to_string()),
                ("email".to_string(), "varchar(255)".to_string()),
            ]
        };
        assert_eq!(mismatch(&rows, &table("bigint")), None);
        assert_eq!(mismatch(&rows, &table("INTEGER")), None);
        let msg = mismatch(&rows, &table("text")).unwrap();
        assert!(
            msg.contains("user_id is text") && msg.contains("Int64"),
            "{msg}"
        );
        let msg = mismatch(&rows, &[("user_id".into(), "bigint".into())]).unwrap();
        assert!(msg.contains("email") && msg.contains("lacks"), "{msg}");
    }

    #[test]
    fn mysql_text_keys_become_varchar() {
        let rows: SchemaRef = Arc::new(schema(vec![
            ("user_id", DataType::Utf8),
            ("n", DataType::Int64),
        ]));
        let sql = create_table(Engine::MySql, "t", &rows, &["user_id".to_string()]).join(";");
        assert!(
            sql.contains("varchar(255)") && sql.contains("PRIMARY KEY"),
            "{sql}"
        );
    }

    #[test]
    fn types_no_database_holds_are_named() {
        let rows = schema(vec![("x", DataType::Null)]);
        assert!(unstorable(&rows).unwrap().contains("column x"));
    }
}
