//! A query's answer as text, and how two answers' values compare: what the scenarios (an
//! answer against its expected file) and the federation benchmark (pipelab's answer
//! against DuckDB's) check with.

use std::cmp::Ordering;

use datafusion::arrow::array::RecordBatch;
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
