//! A landing object's bytes → records: one per line (JSON lines, text lines) or per CSV
//! row. A record's offset is its line number in the object (from 1), so a dead letter
//! says where to look; its key is the object's key, and its headers name the object and
//! its ETag.
//!
//! A CSV row becomes a JSON object for the JSON decoder. CSV has no types, so a column's
//! type is read off the whole object, as DuckDB's sniffer does: integer, number or
//! boolean when every value of the column is written as one (and reads back the same:
//! `007` stays text), text otherwise; an empty field is null.

use crate::record::RawRecord;

/// A record header a source sets on a record it already knows cannot be stored, with
/// the reason: the decoder makes it a dead letter without reading it.
pub const REFUSED_HEADER: &str = "pipelab-refused";

/// How a landing object's bytes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectFormat {
    /// One JSON object per line (blank lines skipped).
    JsonLines,
    /// CSV with a header row.
    Csv,
    /// One text line per record (blank lines skipped).
    Lines,
}

/// The object the records come from.
#[derive(Debug, Clone)]
pub struct ObjectRef<'a> {
    /// The object's key under the landing location.
    pub key: &'a str,
    /// Its ETag (the version read).
    pub etag: &'a str,
    /// Last modified, milliseconds since the epoch (the records' timestamp).
    pub modified_ms: i64,
    /// The partition number the run gave the object.
    pub partition: i32,
}

/// The records of one object, in line order.
pub fn object_records(format: ObjectFormat, object: &ObjectRef, bytes: &[u8]) -> Vec<RawRecord> {
    match format {
        ObjectFormat::JsonLines | ObjectFormat::Lines => lines(bytes)
            .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
            .map(|(n, line)| record(object, n, line.to_vec(), None))
            .collect(),
        ObjectFormat::Csv => csv_records(object, bytes),
    }
}

/// Lines with their numbers (from 1), without the line end (`\n` or `\r\n`).
fn lines(bytes: &[u8]) -> impl Iterator<Item = (i64, &[u8])> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let empty = body.is_empty() && bytes.is_empty();
    body.split(|&b| b == b'\n')
        .filter(move |_| !empty)
        .enumerate()
        .map(|(i, line)| (i as i64 + 1, line.strip_suffix(b"\r").unwrap_or(line)))
}

fn record(object: &ObjectRef, line: i64, payload: Vec<u8>, refused: Option<String>) -> RawRecord {
    let mut r = RawRecord::new(object.partition, line, payload);
    r.key = Some(object.key.as_bytes().to_vec());
    r.timestamp_ms = Some(object.modified_ms);
    r.headers = vec![
        ("object".to_string(), Some(object.key.as_bytes().to_vec())),
        ("etag".to_string(), Some(object.etag.as_bytes().to_vec())),
    ];
    if let Some(why) = refused {
        r.headers
            .push((REFUSED_HEADER.to_string(), Some(why.into_bytes())));
    }
    r
}

/// A CSV value's type, as far as it can be told from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Integer,
    Number,
    Boolean,
    Text,
}

fn kind_of(value: &str) -> Kind {
    if value == "true" || value == "false" {
        return Kind::Boolean;
    }
    let digits = value.strip_prefix('-').unwrap_or(value);
    let (int, rest) = digits.split_at(
        digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len()),
    );
    // A leading zero (`007`) would not read back the same: text.
    if int.is_empty() || (int.len() > 1 && int.starts_with('0')) {
        return Kind::Text;
    }
    if rest.is_empty() && value.parse::<i64>().is_ok() {
        return Kind::Integer;
    }
    let (fraction, exponent) = match rest.find(['e', 'E']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let fraction_ok = fraction.is_empty()
        || fraction
            .strip_prefix('.')
            .is_some_and(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    let exponent_ok = exponent.is_empty() || {
        let e = &exponent[1..];
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    };
    // A double holds 15 significant digits exactly; more would change the value.
    let significant = int.len() + fraction.len().saturating_sub(1);
    if fraction_ok
        && exponent_ok
        && significant <= 15
        && value.parse::<f64>().is_ok_and(f64::is_finite)
    {
        Kind::Number
    } else {
        Kind::Text
    }
}

/// The column's type: the widest of its values' (integers widen to numbers; any other
/// mix is text).
fn column_kind(values: impl Iterator<Item = Kind>) -> Option<Kind> {
    values.reduce(|a, b| match (a.min(b), a.max(b)) {
        (x, y) if x == y => x,
        (Kind::Integer, Kind::Number) => Kind::Number,
        _ => Kind::Text,
    })
}

struct Row {
    line: i64,
    raw: Vec<u8>,
    fields: Result<Vec<String>, String>,
}

fn csv_records(object: &ObjectRef, bytes: &[u8]) -> Vec<RawRecord> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut rows = Vec::new();
    let mut row = csv::ByteRecord::new();
    let mut starts = Vec::new();
    loop {
        let start = reader.position().clone();
        match reader.read_byte_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {
                starts.push(start.byte() as usize);
                let fields = row
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        String::from_utf8(f.to_vec())
                            .map_err(|_| format!("field {} is not UTF-8 text", i + 1))
                    })
                    .collect();
                rows.push(Row {
                    line: start.line() as i64,
                    raw: Vec::new(),
                    fields,
                });
            }
            Err(e) => {
                // The csv crate reads on after an error; keep the row as refused.
                starts.push(start.byte() as usize);
                rows.push(Row {
                    line: start.line() as i64,
                    raw: Vec::new(),
                    fields: Err(format!("not CSV: {e}")),
                });
            }
        }
    }
    for (i, row) in rows.iter_mut().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(bytes.len());
        let raw = &bytes[starts[i].min(end)..end];
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        row.raw = raw.strip_suffix(b"\r").unwrap_or(raw).to_vec();
    }
    let mut rows = rows.into_iter();
    let Some(header) = rows.next() else {
        return Vec::new();
    };
    let names = match header_names(header.fields) {
        Ok(names) => names,
        Err(why) => {
            let why = format!("the header (line {}) {why}", header.line);
            return rows
                .map(|r| record(object, r.line, r.raw, Some(why.clone())))
                .collect();
        }
    };
    let rows: Vec<Row> = rows.collect();
    let kinds: Vec<Option<Kind>> = (0..names.len())
        .map(|c| {
            column_kind(rows.iter().filter_map(|r| match &r.fields {
                Ok(f) if f.len() == names.len() && !f[c].is_empty() => Some(kind_of(&f[c])),
                _ => None,
            }))
        })
        .collect();
    rows.into_iter()
        .map(|r| match r.fields {
            Ok(f) if f.len() == names.len() => {
                let json = json_object(&names, &kinds, &f);
                record(object, r.line, json.into_bytes(), None)
            }
            Ok(f) => {
                let why = format!(
                    "line {} has {} fields, the header has {}",
                    r.line,
                    f.len(),
                    names.len()
                );
                record(object, r.line, r.raw, Some(why))
            }
            Err(why) => record(
                object,
                r.line,
                r.raw,
                Some(format!("line {}: {why}", r.line)),
            ),
        })
        .collect()
}

fn header_names(fields: Result<Vec<String>, String>) -> Result<Vec<String>, String> {
    let names = fields?;
    for (i, name) in names.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(format!("names no column {}", i + 1));
        }
        if names[..i].contains(name) {
            return Err(format!("names the column {name} twice"));
        }
    }
    Ok(names)
}

/// The row as a JSON object, each value written as its column's type.
fn json_object(names: &[String], kinds: &[Option<Kind>], fields: &[String]) -> String {
    let mut json = String::from("{");
    for (i, ((name, kind), value)) in names.iter().zip(kinds).zip(fields).enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&serde_json::Value::from(name.as_str()).to_string());
        json.push(':');
        match kind {
            _ if value.is_empty() => json.push_str("null"),
            Some(Kind::Integer | Kind::Number | Kind::Boolean) => json.push_str(value),
            _ => json.push_str(&serde_json::Value::from(value.as_str()).to_string()),
        }
    }
    json.push('}');
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object() -> ObjectRef<'static> {
        ObjectRef {
            key: "eu/2026-12-01.csv",
            etag: "abc",
            modified_ms: 1,
            partition: 7,
        }
    }

    fn text(r: &RawRecord) -> String {
        String::from_utf8(r.payload.clone().unwrap()).unwrap()
    }

    fn refused(r: &RawRecord) -> Option<String> {
        r.headers
            .iter()
            .find(|(k, _)| k == REFUSED_HEADER)
            .map(|(_, v)| String::from_utf8(v.clone().unwrap()).unwrap())
    }

    #[test]
    fn json_lines_are_numbered_from_one_and_blank_lines_skipped() {
        let records = object_records(
            ObjectFormat::JsonLines,
            &object(),
            b"{\"a\":1}\r\n\n  \n{\"a\":2}\n",
        );
        let lines: Vec<(i64, String)> = records.iter().map(|r| (r.offset, text(r))).collect();
        assert_eq!(lines, [(1, "{\"a\":1}".into()), (4, "{\"a\":2}".into())]);
        assert!(records.iter().all(|r| r.partition == 7));
        assert_eq!(records[0].key.as_deref(), Some(&b"eu/2026-12-01.csv"[..]));
        assert!(object_records(ObjectFormat::Lines, &object(), b"").is_empty());
    }

    #[test]
    fn csv_columns_take_the_type_every_value_has() {
        let csv =
            b"id,zip,price,ok,city\n1,007,2.5,true,Oslo\n2,12345,3,false,\"Bergen, N\"\n3,,1e3,,\n";
        let records = object_records(ObjectFormat::Csv, &object(), csv);
        let rows: Vec<String> = records.iter().map(text).collect();
        assert_eq!(
            rows,
            [
                r#"{"id":1,"zip":"007","price":2.5,"ok":true,"city":"Oslo"}"#,
                r#"{"id":2,"zip":"12345","price":3,"ok":false,"city":"Bergen, N"}"#,
                r#"{"id":3,"zip":null,"price":1e3,"ok":null,"city":null}"#,
            ]
        );
        assert_eq!(records[0].offset, 2, "line numbers count the header");
    }

    #[test]
    fn a_csv_row_of_another_width_is_refused_with_its_raw_line() {
        let csv = b"a,b\n1,2\n3,4,5\n\xff,6\n";
        let records = object_records(ObjectFormat::Csv, &object(), csv);
        assert_eq!(records.len(), 3);
        assert_eq!(refused(&records[0]), None);
        assert_eq!(text(&records[1]), "3,4,5");
        assert_eq!(
            refused(&records[1]).unwrap(),
            "line 3 has 3 fields, the header has 2"
        );
        assert!(refused(&records[2]).unwrap().contains("not UTF-8"));
        // A header that names a column twice refuses every row.
        let records = object_records(ObjectFormat::Csv, &object(), b"a,a\n1,2\n");
        assert!(
            refused(&records[0])
                .unwrap()
                .contains("names the column a twice")
        );
    }

    #[test]
    fn only_text_that_reads_back_the_same_gets_a_number_type() {
        assert_eq!(kind_of("0"), Kind::Integer);
        assert_eq!(kind_of("-12"), Kind::Integer);
        assert_eq!(kind_of("99999999999999999999"), Kind::Text);
        assert_eq!(kind_of("0.5"), Kind::Number);
        assert_eq!(kind_of("1E-3"), Kind::Number);
        for text in [
            "007", ".5", "1.", "1e", "NaN", "inf", "1,5", "+1", "True", "0x1",
        ] {
            assert_eq!(kind_of(text), Kind::Text, "{text}");
        }
    }
}
