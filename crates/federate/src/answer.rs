//! A query's answer as text, and how two answers' values compare: what the scenarios (an
//! answer against its expected file) and the federation benchmark (pipelab's answer
//! against DuckDB's) check with; an `EXPLAIN`'s plans as text, as `pipelab query` and the
//! scenarios print them.

use std::cmp::Ordering;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

/// Every row of `batches` as its values' text (Arrow's display form), NULL as `null`.
pub fn rows_as_text(batches: &[RecordBatch], null: &str) -> Result<Vec<Vec<String>>, ArrowError> {
    let options = FormatOptions::default().with_null(null);
    let mut rows = Vec::new();
    for batch in batches {
        let columns = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            rows.push(columns.iter().map(|c| c.value(row).to_string()).collect());
        }
    }
    Ok(rows)
}

/// An `EXPLAIN` result: DataFusion's `plan_type` and `plan` text columns.
pub fn is_plan(batches: &[RecordBatch]) -> bool {
    batches.first().is_some_and(|b| {
        let schema = b.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        names == ["plan_type", "plan"]
            && b.columns()
                .iter()
                .all(|c| c.as_string_opt::<i32>().is_some())
    })
}

/// Each plan of an [`is_plan`] result under its type, as the indented tree DataFusion
/// renders (in a table cell a plan is one very wide line).
pub fn plans_as_text(batches: &[RecordBatch]) -> String {
    let mut text = String::new();
    for batch in batches {
        let kinds = batch.column(0).as_string::<i32>();
        let plans = batch.column(1).as_string::<i32>();
        for row in 0..batch.num_rows() {
            text.push_str(kinds.value(row));
            text.push_str(":\n");
            for line in plans.value(row).lines() {
                text.push_str("  ");
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}

/// Two values in text: numbers by value, equal within a relative 1e-9 (engines add sums
/// in other orders; a decimal and a double of the same sum), anything else as text.
pub fn compare_values(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) if (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0) => Ordering::Equal,
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value() {
        assert_eq!(compare_values("2.50", "2.5"), Ordering::Equal);
        assert_eq!(
            compare_values("100000000.0000000001", "100000000"),
            Ordering::Equal
        );
        assert_eq!(compare_values("9", "10"), Ordering::Less);
        assert_eq!(compare_values("b", "a"), Ordering::Greater);
    }
}
