//! Does a JSON value fit an Arrow type: one rule, [`fits_type`], that the decoding paths
//! ask — the quick look at a record's bytes (serde visits the values, nothing is built)
//! and the check of a parsed tree that names the field, the value and the type when it
//! does not. The flat decoder ([`crate::flat`]), the hot path, applies the same rule
//! specialised to its four column types, and a test holds it to this one.

use arrow::datatypes::{DataType, Fields, Schema};
use serde_json::Value;

use crate::names::{CaseMatch, Key, field_match, json_kind};

/// What becomes of a value that does not fit its field's type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TypePolicy {
    /// Its record is a dead letter (the default): the field keeps its type.
    #[default]
    DeadLetter,
    /// The field takes a type that holds both: an integer field becomes a double when
    /// every value stays the same (|v| ≤ 2^53), any other clash makes it text, where
    /// values that are not strings are kept as their JSON text (`10.5`, `true`,
    /// `{"a":1}`). No record is refused for its types.
    Widen,
}

/// Integers a double holds exactly.
pub(crate) const EXACT_IN_DOUBLE: u64 = 1 << 53;

/// A JSON value as the fit rule sees it: its kind, and an integer's value (an `Int64`
/// holds those up to `i64::MAX`, a double those up to 2^53 exactly).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Json {
    Null,
    Bool,
    /// An integer read as `i64`.
    Int(i64),
    /// An integer read as `u64` (serde_json reads non-negative integers so, and those past
    /// `i64::MAX` only so).
    UInt(u64),
    Float,
    Text,
    Array,
    Object,
}

impl Json {
    /// The value as the rule sees it.
    pub(crate) fn of(value: &Value) -> Json {
        match value {
            Value::Null => Json::Null,
            Value::Bool(_) => Json::Bool,
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Json::Int(i),
                (None, Some(u)) => Json::UInt(u),
                (None, None) => Json::Float,
            },
            Value::String(_) => Json::Text,
            Value::Array(_) => Json::Array,
            Value::Object(_) => Json::Object,
        }
    }
}

/// The rule: does a JSON value fit a column of type `dt`. An array or object fits a list
/// or struct column when its items do, which the caller checks item by item.
#[inline]
pub(crate) fn fits_type(value: Json, dt: &DataType, policy: TypePolicy) -> bool {
    match (value, dt) {
        (Json::Null, _) | (Json::Text, DataType::Utf8) => true,
        // Widening keeps any other value in a text field as its JSON text.
        (_, DataType::Utf8) => policy == TypePolicy::Widen,
        (Json::Bool, DataType::Boolean) | (Json::Int(_), DataType::Int64) => true,
        (Json::UInt(v), DataType::Int64) => i64::try_from(v).is_ok(),
        // Integers beyond 2^53 would be rounded by a double.
        (Json::Int(v), DataType::Float64) => v.unsigned_abs() <= EXACT_IN_DOUBLE,
        (Json::UInt(v), DataType::Float64) => v <= EXACT_IN_DOUBLE,
        (Json::Float, DataType::Float64) => true,
        (Json::Array, DataType::List(_)) | (Json::Object, DataType::Struct(_)) => true,
        _ => false,
    }
}

/// What a quick look at a record's bytes found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look {
    /// One JSON object whose every value fits its field's type.
    Fits,
    /// Fits, but has a field (or nested sub-field) with a value and no type yet.
    NewField,
    /// Not JSON, not an object, or a value that does not fit: see [`fits_record`].
    Other,
}

/// Walk a record's JSON against the schema without building anything: the same checks
/// as [`fits`], as serde visits the values.
pub(crate) fn look(payload: &[u8], fields: &Fields, policy: TypePolicy) -> Look {
    let new_field = std::cell::Cell::new(false);
    let struct_type = DataType::Struct(fields.clone());
    let seed = Fit {
        dt: &struct_type,
        new_field: &new_field,
        top: true,
        policy,
    };
    let mut de = serde_json::Deserializer::from_slice(payload);
    match serde::de::DeserializeSeed::deserialize(seed, &mut de).and_then(|()| de.end()) {
        Ok(()) if new_field.get() => Look::NewField,
        Ok(()) => Look::Fits,
        Err(_) => Look::Other,
    }
}

/// Checks one JSON value against a type while serde reads it.
#[derive(Clone, Copy)]
struct Fit<'a> {
    dt: &'a DataType,
    new_field: &'a std::cell::Cell<bool>,
    /// The record itself, which must be an object.
    top: bool,
    policy: TypePolicy,
}

impl<'de> serde::de::DeserializeSeed<'de> for Fit<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Fit<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "a JSON value of type {}", self.dt)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        // A record is an object, never null.
        if self.top {
            self.refuse()
        } else {
            self.fits(Json::Null)
        }
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.fits(Json::Bool)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.fits(Json::Int(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.fits(Json::UInt(v))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.fits(Json::Float)
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.fits(Json::Text)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // An array in a text field fits when widening, but arrow's decoder cannot keep it
        // as text: it is left to the tree path, which stores its JSON text.
        let DataType::List(item) = self.dt else {
            return self.refuse();
        };
        let item = Fit {
            dt: item.data_type(),
            top: false,
            ..self
        };
        while seq.next_element_seed(item)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // An object in a text field: as for arrays above.
        let DataType::Struct(fields) = self.dt else {
            return self.refuse();
        };
        // Keys seen in this object: a repeated one, or a name that differs only by case
        // from a field's, is left to the tree path (see `crate::names`).
        let mut seen = Seen::new(fields.len());
        let mut unknown: Vec<Key<'de>> = Vec::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let name = key.as_str();
            if let Some(i) = fields.iter().position(|f| f.name() == name) {
                if seen.mark(i) {
                    return self.refuse();
                }
                map.next_value_seed(Fit {
                    dt: fields[i].data_type(),
                    top: false,
                    ..self
                })?;
                continue;
            }
            if unknown.iter().any(|k| k.as_str() == name) {
                return self.refuse();
            }
            if map.next_value::<Option<serde::de::IgnoredAny>>()?.is_some() {
                if !matches!(field_match(name, fields), CaseMatch::None) {
                    return self.refuse();
                }
                self.new_field.set(true);
            }
            unknown.push(key);
        }
        Ok(())
    }
}

/// Which fields of an object a look has met: bits for up to 64 fields (no allocation per
/// object on the hot path), else one flag each.
enum Seen {
    Bits(u64),
    Flags(Vec<bool>),
}

impl Seen {
    fn new(fields: usize) -> Self {
        if fields <= 64 {
            Seen::Bits(0)
        } else {
            Seen::Flags(vec![false; fields])
        }
    }

    /// Mark field `i`; true when it was met already (a repeated key).
    fn mark(&mut self, i: usize) -> bool {
        match self {
            Seen::Bits(bits) => {
                let was = *bits & (1 << i) != 0;
                *bits |= 1 << i;
                was
            }
            Seen::Flags(flags) => std::mem::replace(&mut flags[i], true),
        }
    }
}

impl Fit<'_> {
    fn fits<E: serde::de::Error>(self, value: Json) -> Result<(), E> {
        if fits_type(value, self.dt, self.policy) {
            Ok(())
        } else {
            self.refuse()
        }
    }

    fn refuse<E: serde::de::Error>(self) -> Result<(), E> {
        Err(E::custom("does not fit"))
    }
}

/// Check every field of an object against the schema; the error names the field path,
/// the value and the column type.
pub(crate) fn fits_record(
    value: &Value,
    schema: &Schema,
    policy: TypePolicy,
) -> Result<(), String> {
    let Value::Object(map) = value else {
        return Err("expected a JSON object".into());
    };
    for field in schema.fields() {
        if let Some(v) = map.get(field.name()) {
            fits(v, field.data_type(), field.name(), policy)?;
        }
    }
    Ok(())
}

/// Check one value (and its items) against a type; `path` names it in the error.
pub(crate) fn fits(
    value: &Value,
    dt: &DataType,
    path: &str,
    policy: TypePolicy,
) -> Result<(), String> {
    if !fits_type(Json::of(value), dt, policy) {
        return Err(does_not_fit(value, dt, path));
    }
    match (value, dt) {
        (Value::Array(items), DataType::List(item)) => {
            for (i, v) in items.iter().enumerate() {
                fits(v, item.data_type(), &format!("{path}[{i}]"), policy)?;
            }
        }
        (Value::Object(map), DataType::Struct(fields)) => {
            for f in fields.iter() {
                if let Some(v) = map.get(f.name()) {
                    fits(v, f.data_type(), &format!("{path}.{}", f.name()), policy)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The error of a value that does not fit: the field's path, the value (cut at 80 bytes)
/// and the column's type.
fn does_not_fit(value: &Value, dt: &DataType, path: &str) -> String {
    let mut shown = value.to_string();
    if shown.len() > 80 {
        let cut = (0..=80)
            .rev()
            .find(|&i| shown.is_char_boundary(i))
            .unwrap_or(0);
        shown.truncate(cut);
        shown.push('…');
    }
    format!(
        "field `{path}`: {} {shown} does not fit the column type {dt}",
        json_kind(value)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use TypePolicy::{DeadLetter, Widen};

    #[test]
    fn the_rule_at_its_edges() {
        let exact = 1i64 << 53;
        assert!(fits_type(Json::Int(-exact), &DataType::Float64, DeadLetter));
        assert!(!fits_type(
            Json::Int(-exact - 1),
            &DataType::Float64,
            DeadLetter
        ));
        assert!(fits_type(
            Json::UInt(1 << 53),
            &DataType::Float64,
            DeadLetter
        ));
        assert!(!fits_type(
            Json::UInt((1 << 53) + 1),
            &DataType::Float64,
            DeadLetter
        ));
        assert!(fits_type(
            Json::UInt(i64::MAX as u64),
            &DataType::Int64,
            DeadLetter
        ));
        assert!(!fits_type(
            Json::UInt(u64::MAX),
            &DataType::Int64,
            DeadLetter
        ));
        assert!(!fits_type(Json::Float, &DataType::Int64, DeadLetter));
        assert!(fits_type(Json::Null, &DataType::Boolean, DeadLetter));
        // Text takes other values only when widening.
        for other in [
            Json::Bool,
            Json::Int(1),
            Json::Float,
            Json::Array,
            Json::Object,
        ] {
            assert!(!fits_type(other, &DataType::Utf8, DeadLetter));
            assert!(fits_type(other, &DataType::Utf8, Widen));
        }
        assert!(!fits_type(Json::Text, &DataType::Int64, Widen));
    }

    #[test]
    fn the_look_and_the_tree_agree() {
        let schema = Schema::new(vec![
            arrow::datatypes::Field::new("n", DataType::Float64, true),
            arrow::datatypes::Field::new("s", DataType::Utf8, true),
        ]);
        for (record, policy, fits) in [
            (r#"{"n":9007199254740992}"#, DeadLetter, true),
            (r#"{"n":9007199254740993}"#, DeadLetter, false),
            (r#"{"n":-9007199254740993}"#, DeadLetter, false),
            (r#"{"s":10.5}"#, DeadLetter, false),
            (r#"{"s":10.5}"#, Widen, true),
            (r#"{"n":"x"}"#, Widen, false),
        ] {
            let value: Value = serde_json::from_str(record).unwrap();
            assert_eq!(
                fits_record(&value, &schema, policy).is_ok(),
                fits,
                "{record}"
            );
            let looked = look(record.as_bytes(), schema.fields(), policy);
            assert_eq!(looked == Look::Fits, fits, "{record}");
        }
    }
}
