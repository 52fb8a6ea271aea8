//! Printing query results: aligned tables for people, CSV and JSON for scripts.

use std::io::Write;

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use clap::ValueEnum;
use pipelab_federate::answer::{is_plan, plans_as_text};

use crate::error::CliError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Format {
    #[default]
    Table,
    Csv,
    Json,
}

/// A result the chosen format cannot show.
#[derive(Debug, thiserror::Error)]
#[error("cannot print the result as {format:?} (try another --format): {source}")]
pub(crate) struct Unprintable {
    format: Format,
    #[source]
    source: ArrowError,
}

/// Print `batches`. A reader that went away (`pipelab query … | head`) ends the printing
/// quietly, as for other Unix tools: it is not an error of the query.
pub(crate) fn print(
    batches: &[RecordBatch],
    format: Format,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let mut watched = PipeWatch {
        inner: out,
        closed: false,
    };
    match print_to(batches, format, &mut watched) {
        Err(_) if watched.closed => Ok(()),
        printed => printed,
    }
}

/// A writer that remembers whether its reader closed the pipe: the CSV and JSON writers
/// turn that error into text, so its kind is seen here.
struct PipeWatch<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> Write for PipeWatch<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.watch(|w| w.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.watch(Write::flush)
    }
}

impl<W: Write> PipeWatch<W> {
    fn watch<T>(&mut self, op: impl FnOnce(&mut W) -> std::io::Result<T>) -> std::io::Result<T> {
        let result = op(&mut self.inner);
        if matches!(&result, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe) {
            self.closed = true;
        }
        result
    }
}

fn print_to(batches: &[RecordBatch], format: Format, out: &mut impl Write) -> Result<(), CliError> {
    let err = |source: ArrowError| match source {
        ArrowError::IoError(_, e) => CliError::from(e),
        source => CliError::usage(Unprintable { format, source }),
    };
    match format {
        Format::Table if is_plan(batches) => print_plans(batches, out)?,
        Format::Table => {
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let table = arrow::util::pretty::pretty_format_batches(batches).map_err(err)?;
            writeln!(out, "{table}")?;
            writeln!(out, "({rows} row{})", if rows == 1 { "" } else { "s" })?;
        }
        Format::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            for b in batches {
                writer
                    .write(&nested_as_json(b).map_err(err)?)
                    .map_err(err)?;
            }
        }
        Format::Json => {
            let mut writer = arrow::json::LineDelimitedWriter::new(&mut *out);
            for b in batches {
                writer.write(b).map_err(err)?;
            }
            writer.finish().map_err(err)?;
        }
    }
    Ok(())
}

/// Each plan under its type (see [`plans_as_text`]).
fn print_plans(batches: &[RecordBatch], out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(plans_as_text(batches).as_bytes())
}

/// CSV has no nested values: struct, list and map columns become their JSON text
/// (`{"a":1}`, `[1,2]`), as Trino's CLI writes them; other columns are left as they are.
fn nested_as_json(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    use arrow::array::{ArrayRef, StringBuilder};
    use arrow::datatypes::{DataType, Field, Schema};
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| f.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let options = arrow::json::writer::EncoderOptions::default();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if !field.data_type().is_nested() {
            fields.push(field.clone());
            columns.push(column.clone());
            continue;
        }
        let mut encoder = arrow::json::writer::make_encoder(field, column.as_ref(), &options)?;
        let mut text = StringBuilder::with_capacity(column.len(), column.len() * 16);
        let mut buf = Vec::new();
        for row in 0..column.len() {
            if encoder.is_null(row) {
                text.append_null();
                continue;
            }
            buf.clear();
            encoder.encode(row, &mut buf);
            text.append_value(String::from_utf8_lossy(&buf));
        }
        fields.push(Field::new(field.name(), DataType::Utf8, field.is_nullable()).into());
        columns.push(std::sync::Arc::new(text.finish()));
    }
    RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)
}

/// 1234567 → "1,234,567" (the lab's reports and the benchmarks use the same).
pub(crate) use pipelab_lab::report::thousands;

/// Bytes as B, KiB, MiB, GiB or TiB with one decimal (the lab's reports use the same).
pub(crate) use pipelab_lab::report::size as bytes;

pub(crate) fn rate(n: u64, secs: f64) -> String {
    if secs <= 0.0 {
        return "-".into();
    }
    format!("{}/s", thousands((n as f64 / secs) as u64))
}

/// Write to standard output; a reader that went away (`| head`) ends the output, not
/// the command.
pub(crate) fn emit(text: &str) -> Result<(), CliError> {
    UntilClosed(std::io::stdout().lock()).write_all(text.as_bytes())?;
    Ok(())
}

/// Standard output that takes whatever is written once its reader has gone (a closed
/// pipe): the command runs to its end either way, and its exit code says how it went.
pub(crate) struct UntilClosed<W>(pub(crate) W);

impl<W: Write> Write for UntilClosed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.write(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(buf.len()),
            other => other,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }
}
