//! Field names as a Delta table sees them. JSON's keys are case-sensitive and may repeat;
//! Delta's column names ignore case (as in Spark and Hive), so `ID` beside `id` makes a
//! schema no Delta writer accepts, and `{"id":1,"id":2}` has no answer every reader
//! agrees on. Two rules decide such a record before its values are checked, wherever a
//! JSON record is decoded:
//!
//! - **Repeated keys**: a key an object repeats (at any depth) refuses the record, naming
//!   the key ([`DuplicateKeys::DeadLetter`]), unless [`DuplicateKeys::Last`] keeps the
//!   last value, as most JSON parsers do.
//! - **Names that differ only by case**: a field whose name differs only by case from
//!   another field of its object, or from a column (top-level or a nested sub-field),
//!   refuses the record, naming both ([`FieldNames::Exact`]). [`FieldNames::Fold`] writes
//!   it to the one column it matches instead; two fields of one object that differ only
//!   by case still refuse it.
//!
//! A key whose value is null counts as absent here, as everywhere in the decoder (a null
//! field adds no column), except that a repeated key is ambiguous whatever its values.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Fields};
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// What becomes of a field whose name differs only by case from a column's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FieldNames {
    /// Its record is a dead letter (the default): a field is written only to the column
    /// of exactly its name.
    #[default]
    Exact,
    /// It is written to the one column whose name it matches ignoring case.
    Fold,
}

/// What becomes of a record whose object repeats a key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DuplicateKeys {
    /// It is a dead letter naming the key (the default).
    #[default]
    DeadLetter,
    /// The last value is kept.
    Last,
}

/// The rules for a decoder's field names (see the module's documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NameRules {
    /// What becomes of a field whose name differs only by case from a column's.
    pub field_names: FieldNames,
    /// What becomes of a record whose object repeats a key.
    pub duplicate_keys: DuplicateKeys,
}

impl NameRules {
    pub(crate) fn fold(self) -> bool {
        self.field_names == FieldNames::Fold
    }

    pub(crate) fn keep_last(self) -> bool {
        self.duplicate_keys == DuplicateKeys::Last
    }
}

/// Names equal when case is ignored, as Delta compares them (Unicode lowercase).
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

/// What a name that is not a column's matches among the columns when case is ignored.
pub(crate) enum CaseMatch<T> {
    /// No column: a new field.
    None,
    /// Exactly one column.
    One(T),
    /// Several columns (a table made elsewhere may have both `a` and `A`).
    Several,
}

/// The one rule both decoders and the tree check use: which of the `columns` (each
/// given with its name) `name` matches when case is ignored.
pub(crate) fn case_match<'n, T>(
    name: &str,
    columns: impl IntoIterator<Item = (T, &'n str)>,
) -> CaseMatch<T> {
    let mut matches = columns.into_iter().filter(|(_, n)| same_name(n, name));
    match (matches.next(), matches.next()) {
        (None, _) => CaseMatch::None,
        (Some((column, _)), None) => CaseMatch::One(column),
        (Some(_), Some(_)) => CaseMatch::Several,
    }
}

/// [`case_match`] among a struct's fields.
pub(crate) fn field_match<'f>(name: &str, fields: &'f Fields) -> CaseMatch<&'f Field> {
    case_match(name, fields.iter().map(|f| (f.as_ref(), f.name().as_str())))
}

/// Where a value sits in its record, for messages: `n.a`, `tags[2].x`.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Item(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, key) => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Item(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// An object key, borrowed from the payload unless it has escapes.
pub(crate) enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_string()))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A payload parsed as one JSON object whose keys keep [`NameRules`] within the record
/// (no repeated key unless kept last; no two fields of an object that differ only by
/// case), or why it is not one. Errors of the rules name the key and its place.
pub(crate) fn parse_record(payload: &[u8], rules: NameRules) -> Result<Value, String> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    let seed = Checked {
        path: &Path::Root,
        rules,
    };
    let parsed = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match parsed {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(other) => Err(format!(
            "expected a JSON object, found {}",
            json_kind(&other)
        )),
        // Data errors are the rules' own (the parse builds any value).
        Err(e) if e.classify() == serde_json::error::Category::Data => Err(e.to_string()),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Builds a value as serde_json's own does, checking each object's keys.
#[derive(Clone, Copy)]
struct Checked<'p> {
    path: &'p Path<'p>,
    rules: NameRules,
}

impl<'de> DeserializeSeed<'de> for Checked<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checked<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let path = Path::Item(self.path, items.len());
            let item = Checked {
                path: &path,
                ..self
            };
            match seq.next_element_seed(item)? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let path = Path::Key(self.path, &key);
            if map.contains_key(&key) && !self.rules.keep_last() {
                return Err(serde::de::Error::custom(format!(
                    "duplicate key `{path}` (readers disagree on which value wins; \
                     duplicate_keys = \"last\" keeps the last)"
                )));
            }
            let value = access.next_value_seed(Checked {
                path: &path,
                ..self
            })?;
            map.insert(key, value);
        }
        if let Some((a, b)) = case_twins(&map) {
            return Err(serde::de::Error::custom(format!(
                "field names `{}` and `{}` differ only by case (Delta column names ignore \
                 case)",
                Path::Key(self.path, a),
                Path::Key(self.path, b)
            )));
        }
        Ok(Value::Object(map))
    }
}

/// Two keys of an object with values that differ only by case, if there are any.
fn case_twins(map: &Map<String, Value>) -> Option<(&str, &str)> {
    // Distinct keys in lowercase ASCII (most records') cannot differ only by case.
    let may_fold = |k: &String| k.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii());
    if !map.keys().any(may_fold) {
        return None;
    }
    let mut seen: HashMap<String, &str> = HashMap::with_capacity(map.len());
    for (key, value) in map {
        if value.is_null() {
            continue;
        }
        if let Some(earlier) = seen.insert(key.to_lowercase(), key) {
            return Some((earlier, key));
        }
    }
    None
}

/// Applies [`FieldNames`] to a record parsed by [`parse_record`], against the columns
/// (a struct's sub-fields for a nested object): a field that differs only by case from
/// one is renamed to it (`Fold`) or refuses the record (`Exact`). `Ok(true)` when the
/// record has a field with a value that no column matches: a new field.
pub(crate) fn settle(
    record: &mut Value,
    columns: &Fields,
    rules: NameRules,
) -> Result<bool, String> {
    match record {
        Value::Object(map) => settle_object(map, columns, &Path::Root, rules),
        _ => Ok(false),
    }
}

fn settle_object(
    map: &mut Map<String, Value>,
    columns: &Fields,
    path: &Path,
    rules: NameRules,
) -> Result<bool, String> {
    let mut new_field = false;
    let mut renames = Vec::new();
    for (key, value) in map.iter_mut() {
        if value.is_null() {
            continue;
        }
        let column = match columns.iter().find(|f| f.name() == key) {
            Some(column) => column,
            None => match field_match(key, columns) {
                CaseMatch::None => {
                    new_field = true;
                    continue;
                }
                CaseMatch::One(column) if rules.fold() => {
                    renames.push((key.clone(), column.name().clone()));
                    column
                }
                CaseMatch::One(column) => {
                    return Err(format!(
                        "field `{}` differs only by case from the column `{}` (Delta column \
                         names ignore case; field_names = \"fold\" writes it there)",
                        Path::Key(path, key),
                        Path::Key(path, column.name())
                    ));
                }
                CaseMatch::Several => {
                    return Err(format!(
                        "field `{}` matches more than one column when case is ignored",
                        Path::Key(path, key)
                    ));
                }
            },
        };
        new_field |= settle_value(value, column.data_type(), &Path::Key(path, key), rules)?;
    }
    for (from, to) in renames {
        if let Some(value) = map.remove(&from) {
            map.insert(to, value);
        }
    }
    Ok(new_field)
}

fn settle_value(
    value: &mut Value,
    dt: &DataType,
    path: &Path,
    rules: NameRules,
) -> Result<bool, String> {
    match (value, dt) {
        (Value::Object(map), DataType::Struct(fields)) => settle_object(map, fields, path, rules),
        (Value::Array(items), DataType::List(item)) => {
            let mut new_field = false;
            for (i, v) in items.iter_mut().enumerate() {
                new_field |= settle_value(v, item.data_type(), &Path::Item(path, i), rules)?;
            }
            Ok(new_field)
        }
        // A value of another kind than its column: the type check names it.
        _ => Ok(false),
    }
}

/// `names` with the fields of a record that settled against them added where they lack
/// them (nested sub-fields included; a scalar's type is Null, as only names count), so
/// that the later records of a batch are compared with the names the earlier ones
/// brought: the name that comes first wins.
pub(crate) fn add_names(names: &mut Fields, record: &Value) {
    if let Value::Object(map) = record {
        *names = with_names(names, map);
    }
}

fn with_names(fields: &Fields, map: &Map<String, Value>) -> Fields {
    let mut out: Vec<FieldRef> = fields.iter().cloned().collect();
    for (key, value) in map {
        if value.is_null() {
            continue;
        }
        match out.iter().position(|f| f.name() == key) {
            Some(i) => {
                let grown = grow(out[i].data_type(), value);
                if &grown != out[i].data_type() {
                    out[i] = Arc::new(out[i].as_ref().clone().with_data_type(grown));
                }
            }
            None => out.push(Arc::new(Field::new(
                key,
                grow(&DataType::Null, value),
                true,
            ))),
        }
    }
    Fields::from(out)
}

fn grow(dt: &DataType, value: &Value) -> DataType {
    match (dt, value) {
        (DataType::Struct(fields), Value::Object(map)) => DataType::Struct(with_names(fields, map)),
        (DataType::Null, Value::Object(map)) => DataType::Struct(with_names(&Fields::empty(), map)),
        (DataType::List(item), Value::Array(items)) => {
            let grown = items
                .iter()
                .fold(item.data_type().clone(), |dt, v| grow(&dt, v));
            DataType::List(Arc::new(item.as_ref().clone().with_data_type(grown)))
        }
        (DataType::Null, Value::Array(items)) => {
            let grown = items.iter().fold(DataType::Null, |dt, v| grow(&dt, v));
            DataType::List(Arc::new(Field::new("item", grown, true)))
        }
        _ => dt.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: NameRules = NameRules {
        field_names: FieldNames::Exact,
        duplicate_keys: DuplicateKeys::DeadLetter,
    };
    const LENIENT: NameRules = NameRules {
        field_names: FieldNames::Fold,
        duplicate_keys: DuplicateKeys::Last,
    };

    fn columns() -> Fields {
        Fields::from(vec![
            Field::new("id", DataType::Int64, true),
            Field::new(
                "n",
                DataType::Struct(Fields::from(vec![Field::new("a", DataType::Int64, true)])),
                true,
            ),
            Field::new(
                "items",
                DataType::List(Arc::new(Field::new(
                    "item",
                    DataType::Struct(Fields::from(vec![Field::new("sku", DataType::Utf8, true)])),
                    true,
                ))),
                true,
            ),
        ])
    }

    fn parse_settle(payload: &str, rules: NameRules) -> Result<(Value, bool), String> {
        let mut v = parse_record(payload.as_bytes(), rules)?;
        let new_field = settle(&mut v, &columns(), rules)?;
        Ok((v, new_field))
    }

    #[test]
    fn repeated_keys_are_named_with_their_place_unless_the_last_is_kept() {
        let e = parse_record(br#"{"id":1,"id":2}"#, STRICT).unwrap_err();
        assert!(
            e.starts_with("duplicate key `id`") && e.contains("column"),
            "{e}"
        );
        let e = parse_record(br#"{"n":{"a":1,"x":[{"b":1,"b":null}]}}"#, STRICT).unwrap_err();
        assert!(e.starts_with("duplicate key `n.x[0].b`"), "{e}");
        let v = parse_record(br#"{"id":1,"n":{"a":1,"a":2},"id":3}"#, LENIENT).unwrap();
        assert_eq!(v, serde_json::json!({"id":3,"n":{"a":2}}));
    }

    #[test]
    fn two_fields_of_one_object_that_differ_only_by_case_refuse_it_under_either_rule() {
        for rules in [STRICT, LENIENT] {
            let e = parse_record(br#"{"ID":7,"id":8}"#, rules).unwrap_err();
            assert!(e.contains("`ID` and `id` differ only by case"), "{e}");
            let e = parse_record(r#"{"n":{"Ä":1,"ä":2}}"#.as_bytes(), rules).unwrap_err();
            assert!(e.contains("`n.Ä` and `n.ä`"), "{e}");
            // A null is no value: nothing collides.
            assert!(parse_record(br#"{"ID":null,"id":8}"#, rules).is_ok());
        }
    }

    #[test]
    fn a_field_that_differs_from_a_column_only_by_case_is_refused_or_folded() {
        let e = parse_settle(r#"{"ID":7}"#, STRICT).unwrap_err();
        assert!(
            e.contains("`ID` differs only by case from the column `id`"),
            "{e}"
        );
        let e = parse_settle(r#"{"n":{"A":7}}"#, STRICT).unwrap_err();
        assert!(e.contains("`n.A`") && e.contains("`n.a`"), "{e}");
        let e = parse_settle(r#"{"items":[{"sku":"x"},{"SKU":"y"}]}"#, STRICT).unwrap_err();
        assert!(e.contains("`items[1].SKU`"), "{e}");
        let (v, new_field) =
            parse_settle(r#"{"ID":7,"N":{"A":1},"items":[{"Sku":"y"}]}"#, LENIENT).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id":7,"n":{"a":1},"items":[{"sku":"y"}]})
        );
        assert!(!new_field);
        let (_, new_field) = parse_settle(r#"{"id":7,"n":{"b":1}}"#, STRICT).unwrap();
        assert!(new_field);
        let (_, new_field) = parse_settle(r#"{"Id":null,"other":null}"#, STRICT).unwrap();
        assert!(!new_field);
    }

    #[test]
    fn invalid_json_and_other_values_keep_their_messages() {
        assert!(
            parse_record(b"{\"id\":", STRICT)
                .unwrap_err()
                .starts_with("invalid JSON")
        );
        let e = parse_record(b"[1]", STRICT).unwrap_err();
        assert_eq!(e, "expected a JSON object, found an array");
        let e = parse_record(br#"{"id":1} {"id":2}"#, STRICT).unwrap_err();
        assert!(e.starts_with("invalid JSON: trailing characters"), "{e}");
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert!(
            parse_record(deep.as_bytes(), STRICT)
                .unwrap_err()
                .contains("recursion")
        );
    }
}
