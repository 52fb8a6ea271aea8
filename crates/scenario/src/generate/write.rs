//! Generated data as JSON lines or CSV with a header line.

use std::io::Write;

use serde_json::Value;

use super::Generated;

/// How generated data is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// A header line, then one line per row; NULL is an empty field.
    Csv,
}

impl Format {
    /// The format a file's extension names (`.csv`, else JSON lines).
    pub fn of_path(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => Format::Csv,
            _ => Format::Jsonl,
        }
    }
}

/// Write `data` to `out` as `format`.
pub fn write(data: &Generated, format: Format, out: &mut dyn Write) -> std::io::Result<()> {
    match (data, format) {
        (Generated::Lines(lines), Format::Jsonl) => {
            for line in lines {
                writeln!(out, "{line}")?;
            }
            Ok(())
        }
        (Generated::Lines(_), Format::Csv) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "this kind's records have no fixed columns: use --format jsonl",
        )),
        (Generated::Rows { columns, rows }, Format::Jsonl) => {
            for row in rows {
                let fields: Vec<String> = columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| format!("{}: {v}", Value::from(*c)))
                    .collect();
                writeln!(out, "{{{}}}", fields.join(", "))?;
            }
            Ok(())
        }
        (Generated::Rows { columns, rows }, Format::Csv) => {
            let mut csv = csv::Writer::from_writer(out);
            csv.write_record(columns)?;
            for row in rows {
                csv.write_record(row.iter().map(text))?;
            }
            csv.flush()
        }
    }
}

/// A value as a CSV field.
fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
