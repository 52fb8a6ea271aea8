//! Does a JSON value fit an Arrow type: the one rule both decoders apply, as a quick look
//! at a record's bytes (serde visits the values, nothing is built) and as a check of a
//! parsed tree that names the field, the value and the type when it does not.

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
        widen: policy == TypePolicy::Widen,
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
    /// [`TypePolicy::Widen`]: numbers and booleans fit a text field (as their JSON text).
    widen: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for Fit<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// Integers a double holds exactly.
pub(crate) const EXACT_IN_DOUBLE: u64 = 1 << 53;

impl<'de> serde::de::Visitor<'de> for Fit<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "a JSON value of type {}", self.dt)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.fits(!self.top)
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.fits(self.dt == &DataType::Boolean || self.as_text())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.fits(match self.dt {
            DataType::Int64 => true,
            DataType::Float64 => v.unsigned_abs() <= EXACT_IN_DOUBLE,
            _ => self.as_text(),
        })
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.fits(match self.dt {
            DataType::Int64 => i64::try_from(v).is_ok(),
            DataType::Float64 => v <= EXACT_IN_DOUBLE,
            _ => self.as_text(),
        })
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.fits(self.dt == &DataType::Float64 || self.as_text())
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.fits(self.dt == &DataType::Utf8)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let DataType::List(item) = self.dt else {
            return self.fits(false);
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
        let DataType::Struct(fields) = self.dt else {
            return self.fits(false);
        };
        // Keys seen in this object: a repeated one, or a name that differs only by case
        // from a field's, is left to the tree path (see `crate::names`).
        let mut seen = Seen::new(fields.len());
        let mut unknown: Vec<Key<'de>> = Vec::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let name = key.as_str();
            if let Some(i) = fields.iter().position(|f| f.name() == name) {
                if seen.mark(i) {
                    return self.fits(false);
                }
                map.next_value_seed(Fit {
                    dt: fields[i].data_type(),
                    top: false,
                    ..self
                })?;
                continue;
            }
            if unknown.iter().any(|k| k.as_str() == name) {
                return self.fits(false);
            }
            if map.next_value::<Option<serde::de::IgnoredAny>>()?.is_some() {
                if !matches!(field_match(name, fields), CaseMatch::None) {
                    return self.fits(false);
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
    /// A scalar that is not a string fits a text field only when widening.
    fn as_text(self) -> bool {
        self.widen && self.dt == &DataType::Utf8
    }

    fn fits<E: serde::de::Error>(self, ok: bool) -> Result<(), E> {
        if ok {
            Ok(())
        } else {
            Err(E::custom("does not fit"))
        }
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

pub(crate) fn fits(
    value: &Value,
    dt: &DataType,
    path: &str,
    policy: TypePolicy,
) -> Result<(), String> {
    let ok = match (value, dt) {
        (Value::Null, _) => true,
        // Widening keeps any value in a text field as its JSON text.
        (_, DataType::Utf8) if policy == TypePolicy::Widen => true,
        (Value::Bool(_), DataType::Boolean) => true,
        (Value::Number(n), DataType::Int64) => n.is_i64(),
        // Integers beyond 2^53 would be rounded by a double.
        (Value::Number(n), DataType::Float64) => {
            n.as_i64()
                .is_none_or(|i| i.unsigned_abs() <= EXACT_IN_DOUBLE)
                && n.as_u64().is_none_or(|u| u <= EXACT_IN_DOUBLE)
        }
        (Value::String(_), DataType::Utf8) => true,
        (Value::Array(items), DataType::List(item)) => {
            for (i, v) in items.iter().enumerate() {
                fits(v, item.data_type(), &format!("{path}[{i}]"), policy)?;
            }
            true
        }
        (Value::Object(map), DataType::Struct(fields)) => {
            for f in fields.iter() {
                if let Some(v) = map.get(f.name()) {
                    fits(v, f.data_type(), &format!("{path}.{}", f.name()), policy)?;
                }
            }
            true
        }
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let mut shown = value.to_string();
    if shown.len() > 80 {
        let cut = (0..=80)
            .rev()
            .find(|&i| shown.is_char_boundary(i))
            .unwrap_or(0);
        shown.truncate(cut);
        shown.push('…');
    }
    Err(format!(
        "field `{path}`: {} {shown} does not fit the column type {dt}",
        json_kind(value)
    ))
}
