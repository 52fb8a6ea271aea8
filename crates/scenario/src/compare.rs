//! An answer against its expected file: a CSV with a header line, written by hand or by
//! another engine. Values compare as text, numbers as numbers (`2.50` is `2.5`), and an
//! empty field is NULL (both print as nothing); rows in order when the query sorts them,
//! as a multiset otherwise. `{today}` in an expected file is the run's date (UTC), for
//! answers about events the run itself made.

use std::path::Path;

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::csv::ReaderBuilder;
use arrow::csv::reader::Format;
use arrow::datatypes::{DataType, Field, Schema};
use pipelab_federate::answer::{compare_values, rows_as_text};

/// An answer as text: its column names and its rows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Table {
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<String>>,
}

impl Table {
    /// The batches' values as text (NULL as the empty string, as CSV writes it).
    pub(crate) fn of_batches(
        columns: Vec<String>,
        batches: &[RecordBatch],
    ) -> Result<Self, arrow::error::ArrowError> {
        Ok(Table {
            columns,
            rows: rows_as_text(batches, "")?,
        })
    }

    /// Rows of JSON values (a Trino client's answer) as text: strings as they are,
    /// other values as their JSON, NULL as the empty string.
    pub(crate) fn of_json(columns: Vec<String>, rows: &[Vec<serde_json::Value>]) -> Self {
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Table {
            columns,
            rows: rows.iter().map(|r| r.iter().map(text).collect()).collect(),
        }
    }

    /// The table drawn as arrow draws an answer.
    pub(crate) fn printed(&self) -> Result<String, arrow::error::ArrowError> {
        let columns: Vec<(String, ArrayRef)> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let values = self.rows.iter().map(|r| r.get(i).map(String::as_str));
                (
                    name.clone(),
                    Arc::new(StringArray::from_iter(values)) as ArrayRef,
                )
            })
            .collect();
        if columns.is_empty() {
            return Ok(String::new());
        }
        let batch = RecordBatch::try_from_iter(columns)?;
        Ok(arrow::util::pretty::pretty_format_batches(&[batch])?.to_string())
    }

    /// A CSV file with a header line, every field read as text by arrow's CSV reader.
    pub(crate) fn of_csv(path: &Path) -> Result<Self, String> {
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let today = chrono::Utc::now().date_naive().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| at(&e))?
            .replace("{today}", &today);
        let open = || Ok::<_, String>(std::io::Cursor::new(text.as_bytes()));
        let format = Format::default().with_header(true);
        let (inferred, _) = format.infer_schema(open()?, Some(1)).map_err(|e| at(&e))?;
        let columns: Vec<String> = inferred.fields().iter().map(|f| f.name().clone()).collect();
        let text = Schema::new(
            columns
                .iter()
                .map(|c| Field::new(c, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        );
        let reader = ReaderBuilder::new(Arc::new(text))
            .with_format(format)
            .build(open()?)
            .map_err(|e| at(&e))?;
        let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| at(&e))?;
        Table::of_batches(columns, &batches).map_err(|e| at(&e))
    }
}

/// Where `actual` differs from `expected`, in words; `None` when they agree.
pub(crate) fn difference(expected: &Table, actual: &Table, ordered: bool) -> Option<String> {
    let names = |t: &Table| {
        t.columns
            .iter()
            .map(|c| c.to_lowercase())
            .collect::<Vec<_>>()
    };
    if names(expected) != names(actual) {
        return Some(format!(
            "columns are [{}], expected [{}]",
            actual.columns.join(", "),
            expected.columns.join(", ")
        ));
    }
    let (mut want, mut got) = (expected.rows.clone(), actual.rows.clone());
    if !ordered {
        want.sort_by(|a, b| compare_rows(a, b));
        got.sort_by(|a, b| compare_rows(a, b));
    }
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        if compare_rows(w, g).is_ne() {
            return Some(format!(
                "row {} is [{}], expected [{}]",
                i + 1,
                g.join(", "),
                w.join(", ")
            ));
        }
    }
    (want.len() != got.len()).then(|| format!("{} rows, expected {}", got.len(), want.len()))
}

fn compare_rows(a: &[String], b: &[String]) -> std::cmp::Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| compare_values(x, y))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(columns: &[&str], rows: &[&[&str]]) -> Table {
        Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.to_string()).collect())
                .collect(),
        }
    }

    #[test]
    fn numbers_compare_by_value_and_rows_as_a_multiset() {
        let expected = table(&["g", "n"], &[&["a", "2.50"], &["b", "1"]]);
        let actual = table(&["G", "n"], &[&["b", "1.0"], &["a", "2.5"]]);
        assert_eq!(difference(&expected, &actual, false), None);
        assert!(difference(&expected, &actual, true).is_some());
    }

    #[test]
    fn a_difference_names_the_row_or_the_count() {
        let expected = table(&["u"], &[&["user_001"], &["user_002"]]);
        let wrong = table(&["u"], &[&["user_001"], &["user_005"]]);
        let short = table(&["u"], &[&["user_001"]]);
        assert_eq!(
            difference(&expected, &wrong, false).unwrap(),
            "row 2 is [user_005], expected [user_002]"
        );
        assert_eq!(
            difference(&expected, &short, false).unwrap(),
            "1 rows, expected 2"
        );
        let renamed = table(&["user"], &[&["user_001"], &["user_002"]]);
        assert!(
            difference(&expected, &renamed, false)
                .unwrap()
                .starts_with("columns are [user]")
        );
    }
}
