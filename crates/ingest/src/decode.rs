//! JSON records → Arrow, with the schema inferred from the data and evolved as new
//! fields (top-level or nested) appear.
//!
//! No value changes silently: once a field has a type (the lake table's column of the
//! same name, or else the first batch that had a non-null value for it), every later
//! value is checked against it before decoding. A value that does not fit exactly —
//! `10.5` for an integer column, `"4.7"` for a number, an object for a string — makes its
//! record a [`DeadLetter`]; it is never truncated or coerced. With [`TypePolicy::Widen`]
//! the field's type grows instead. A record that is not a JSON object, or has no payload,
//! is a dead letter either way. Nothing stops the batch and nothing disappears.
//!
//! Flat records (scalar fields only) are checked and decoded in one pass
//! (the `flat` module); others are checked, then decoded by arrow's JSON decoder.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use arrow::json::reader::{ReaderBuilder, infer_json_schema_from_iterator};
use arrow::record_batch::RecordBatch;
use serde_json::Value;

use crate::error::IngestError;
use crate::flat::{FlatDecoder, Pushed};
use crate::kafka::RawRecord;
use crate::names::{
    CaseMatch, Key, NameRules, add_names, case_match, json_kind, parse_record, same_name, settle,
};

/// A record that could not be stored, kept with everything needed to replay it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub topic: String,
    pub record: RawRecord,
    /// The pipeline stage that refused it: `decode`, a step's name, or `sink`.
    pub stage: String,
    pub error: String,
}

impl DeadLetter {
    pub fn new(topic: &str, record: &RawRecord, stage: &str, error: String) -> Self {
        Self {
            topic: topic.to_string(),
            record: record.clone(),
            stage: stage.to_string(),
            error,
        }
    }
}

/// The result of decoding one micro-batch.
#[derive(Debug)]
pub struct Decoded {
    /// `None` when no record of the batch was valid.
    pub batch: Option<RecordBatch>,
    /// For each row of `batch`, the index of its record in the input slice.
    pub rows: Vec<usize>,
    pub dead_letters: Vec<DeadLetter>,
}

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

/// Decodes JSON micro-batches, remembering the schema seen so far: a field keeps its
/// type across batches (it is the lake table's column type).
#[derive(Debug, Default)]
pub struct JsonDecoder {
    policy: TypePolicy,
    names: NameRules,
    known: Vec<Arc<Field>>,
    /// The lake table's columns (a restarted pipeline): a field appearing in the data
    /// takes its table column's type when that is one JSON decodes to directly (bool,
    /// integer, double, text, list, struct). Columns of other types (timestamps a step
    /// converts text to, say) keep the type inferred from the data; the sink checks them.
    /// Every column's name counts for [`NameRules`].
    table: Vec<Arc<Field>>,
}

impl JsonDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder for a pipeline whose table already exists with `schema`.
    pub fn for_table(schema: &Schema) -> Self {
        Self {
            table: schema.fields().iter().cloned().collect(),
            ..Self::default()
        }
    }

    /// Set what becomes of values that do not fit their field (see [`TypePolicy`]).
    pub fn with_policy(mut self, policy: TypePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Set the rules for repeated keys and names that differ only by case (see
    /// [`crate::names`]).
    pub fn with_names(mut self, names: NameRules) -> Self {
        self.names = names;
        self
    }

    fn widening(&self) -> bool {
        self.policy == TypePolicy::Widen
    }

    /// The names [`NameRules`] compare a record's with: the fields typed so far and the
    /// table's columns, nested sub-fields included.
    fn name_fields(&self) -> Fields {
        let mut fields = self.known.clone();
        for column in &self.table {
            match fields.iter_mut().find(|f| f.name() == column.name()) {
                Some(f) => {
                    let merged = merge_type(f.data_type(), column.data_type(), self.names.fold());
                    *f = Arc::new(f.as_ref().clone().with_data_type(merged));
                }
                None => fields.push(column.clone()),
            }
        }
        Fields::from(fields)
    }

    /// A payload parsed as a JSON object under the name rules, against `names` (from
    /// [`Self::name_fields`]): its names folded where the rules say so, and whether it
    /// has a field with a value that no column has yet.
    fn parse(&self, payload: &[u8], names: &Fields) -> Result<(Value, bool), String> {
        let mut value = parse_record(payload, self.names)?;
        let new_field = settle(&mut value, names, self.names)?;
        Ok((value, new_field))
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(self.known.clone()))
    }

    pub fn decode(&mut self, topic: &str, records: &[RawRecord]) -> Result<Decoded, IngestError> {
        if !self.known.is_empty()
            && let Some(decoded) = self.decode_known(topic, records, Misfit::DeadLetter)?
        {
            return Ok(decoded);
        }
        if let Some(decoded) = self.decode_sampled(topic, records)? {
            return Ok(decoded);
        }
        // Fields without a type yet (the first batch, or new ones): type them from the
        // batch, one record at a time, then decode from the bytes all the same.
        self.evolve(records);
        if self.widening() {
            self.widen(records);
        }
        if !self.known.is_empty()
            && let Some(decoded) = self.decode_known(topic, records, Misfit::DeadLetter)?
        {
            return Ok(decoded);
        }
        self.decode_trees(topic, records)
    }

    /// Types the batch's new fields from its first [`SAMPLE`] records only (inference
    /// parses each record into a tree: most of a first batch's cost), then decodes the
    /// whole batch against them, accepting the result only when every record fits with
    /// no new field. Then inference over the whole batch would have found the same
    /// types (the sample is a prefix, so fields come in the same order), and so the
    /// same rows and dead letters; otherwise the batch is typed from every record.
    fn decode_sampled(
        &mut self,
        topic: &str,
        records: &[RawRecord],
    ) -> Result<Option<Decoded>, IngestError> {
        // Only for the first batch of a run (later ones bring few new fields), and not
        // when widening, which grows types from every record anyway.
        if !self.known.is_empty() || self.widening() || records.len() <= SAMPLE {
            return Ok(None);
        }
        self.evolve(&records[..SAMPLE]);
        if !self.known.is_empty()
            && let Some(decoded) = self.decode_known(topic, records, Misfit::Refuse)?
        {
            return Ok(Some(decoded));
        }
        self.known.clear();
        Ok(None)
    }

    /// The fast path, for a batch whose fields all have a type already (every batch but
    /// the first few of a stream): each record's bytes are checked against the schema
    /// by a pass that builds nothing, and the ones that fit are decoded straight from
    /// their bytes by arrow's JSON decoder. A record that does not fit is looked at
    /// again as a tree, for the same dead letter as on the other path. `None` when a
    /// record brings a new field: the batch takes the path that evolves the schema.
    fn decode_known(
        &self,
        topic: &str,
        records: &[RawRecord],
        misfit: Misfit,
    ) -> Result<Option<Decoded>, IngestError> {
        let schema = self.schema();
        let mut appender = self.appender(&schema, records.len())?;
        let mut rows = Vec::with_capacity(records.len());
        let mut dead_letters = Vec::new();
        // What the name rules compare with, made when a record first needs it.
        let mut names: Option<Fields> = None;
        for (i, record) in records.iter().enumerate() {
            let reject = |e: String| DeadLetter::new(topic, record, "decode", e);
            let Some(payload) = &record.payload else {
                dead_letters.push(reject(NO_PAYLOAD.into()));
                continue;
            };
            let Some(look) = appender.push(payload, schema.fields(), self.policy)? else {
                return Ok(None); // not one whole object after all: be thorough
            };
            match look {
                Look::Fits => rows.push(i),
                Look::NewField => return Ok(None),
                Look::Other => {
                    match self.parse(payload, names.get_or_insert_with(|| self.name_fields())) {
                        Err(e) => dead_letters.push(reject(e)),
                        // Widening: the field's type must grow first.
                        Ok(_) if self.widening() || misfit == Misfit::Refuse => return Ok(None),
                        Ok((v, new_field)) => match fits_record(&v, &schema, self.policy) {
                            Err(e) => dead_letters.push(reject(e)),
                            Ok(()) if new_field => return Ok(None),
                            // Fits once its names are settled (a name folded, a repeated
                            // key's last value kept): decoded from the tree.
                            Ok(()) => {
                                if !appender.push_value(&v)? {
                                    return Ok(None);
                                }
                                rows.push(i);
                            }
                        },
                    }
                }
            }
        }
        let batch = appender.finish()?;
        if batch.as_ref().map_or(0, RecordBatch::num_rows) != rows.len() {
            return Ok(None);
        }
        Ok(Some(Decoded {
            batch,
            rows,
            dead_letters,
        }))
    }

    /// The one-pass decoder for flat schemas, else the check plus arrow's JSON decoder
    /// (which also does widening's numbers-as-text).
    fn appender(&self, schema: &SchemaRef, records: usize) -> Result<Appender, IngestError> {
        if !self.widening()
            && let Some(flat) = FlatDecoder::new(schema.clone(), records, self.names)
        {
            return Ok(Appender::Flat(flat));
        }
        let decoder = ReaderBuilder::new(schema.clone())
            .with_batch_size(records.max(1))
            // Widening: numbers and booleans in a text field are kept as their JSON text.
            .with_coerce_primitive(self.widening())
            .build_decoder()?;
        Ok(Appender::Json(decoder))
    }

    /// The tree path, for a batch the fast path refused after [`Self::evolve`] typed
    /// its fields (a field inference could not type, say): each record parsed into a tree.
    fn decode_trees(&mut self, topic: &str, records: &[RawRecord]) -> Result<Decoded, IngestError> {
        let mut dead_letters = Vec::new();
        let mut valid: Vec<(usize, Value)> = Vec::with_capacity(records.len());
        let names = self.name_fields();
        for (i, record) in records.iter().enumerate() {
            let parsed = match &record.payload {
                None => Err(NO_PAYLOAD.to_string()),
                Some(payload) => self.parse(payload, &names),
            };
            match parsed {
                Ok((v, _)) => valid.push((i, v)),
                Err(e) => dead_letters.push(DeadLetter::new(topic, record, "decode", e)),
            }
        }
        let schema = self.schema();
        let mut rows = Vec::with_capacity(valid.len());
        let mut good: Vec<&Value> = Vec::with_capacity(valid.len());
        for (i, value) in &mut valid {
            if self.widening() {
                stringify_record(value, &schema);
            }
            match fits_record(value, &schema, self.policy) {
                Ok(()) => {
                    rows.push(*i);
                    good.push(value);
                }
                Err(e) => {
                    dead_letters.push(DeadLetter::new(topic, &records[*i], "decode", e));
                }
            }
        }
        if good.is_empty() {
            return Ok(Decoded {
                batch: None,
                rows,
                dead_letters,
            });
        }
        let batch = decode_values(&schema, &good)?;
        Ok(Decoded {
            batch: Some(batch),
            rows,
            dead_letters,
        })
    }

    /// Add the fields (and nested sub-fields) this batch has that the known schema lacks.
    /// A field that is null everywhere has no type yet and waits for a batch that gives
    /// it one: the rows before simply lack it (null once the column exists).
    ///
    /// The records are read under the name rules: those that break them type nothing
    /// (they are dead letters), and folded names type the column they are written to. A
    /// new field that differs only by case from one typed earlier in the batch (or a
    /// column) is left out, as its records will be dead letters, or folded into it.
    fn evolve(&mut self, records: &[RawRecord]) {
        let fold = self.names.fold();
        // Each record is compared with the names the records before it brought.
        let this: &Self = self;
        let objects = || {
            let mut names = this.name_fields();
            records
                .iter()
                .filter_map(|r| r.payload.as_deref())
                .filter_map(move |p| {
                    let (value, _) = this.parse(p, &names).ok()?;
                    add_names(&mut names, &value);
                    Some(value)
                })
        };
        for field in infer_fields(objects, fold) {
            if field.data_type() == &DataType::Null {
                continue;
            }
            let Some(name) = self.column_name(field.name()) else {
                continue;
            };
            match self.known.iter_mut().find(|k| k.name() == &name) {
                Some(known) => {
                    let merged = merge_type(known.data_type(), field.data_type(), fold);
                    if &merged != known.data_type() {
                        *known = Arc::new(known.as_ref().clone().with_data_type(merged));
                    }
                }
                None => {
                    let dt = merge_type(&DataType::Null, field.data_type(), fold);
                    // The table's column type wins (values that do not fit it are dead
                    // letters), plus nested sub-fields the table does not have yet.
                    let dt = match self.table.iter().find(|t| t.name() == &name) {
                        Some(col) if json_native(col.data_type()) => {
                            merge_type(col.data_type(), &dt, fold)
                        }
                        _ => dt,
                    };
                    self.known.push(Arc::new(Field::new(name, dt, true)));
                }
            }
        }
    }

    /// The column an inferred field's values go to: its own name, or under
    /// [`crate::FieldNames::Fold`] the one typed field or table column it matches
    /// ignoring case. `None` when it differs only by case from one and is not folded.
    fn column_name(&self, name: &str) -> Option<String> {
        let columns = self.name_fields();
        if columns.iter().any(|c| c.name() == name) {
            return Some(name.to_string());
        }
        match case_match(name, &columns) {
            CaseMatch::None => Some(name.to_string()),
            CaseMatch::One(column) if self.names.fold() => Some(column.name().clone()),
            _ => None,
        }
    }
}

impl JsonDecoder {
    /// [`TypePolicy::Widen`]: give each field a type that holds every value of the batch.
    /// Widening can make values that fitted before not fit (a big integer once the field
    /// is a double), so it goes on until no field changes; each field only ever gets
    /// wider (integer, double, text), so this ends.
    fn widen(&mut self, records: &[RawRecord]) {
        loop {
            let fields = Fields::from(self.known.clone());
            let mut changed = false;
            let names = self.name_fields();
            for payload in records.iter().filter_map(|r| r.payload.as_deref()) {
                if look(payload, &fields, self.policy) != Look::Other {
                    continue;
                }
                let Ok((Value::Object(map), _)) = self.parse(payload, &names) else {
                    continue;
                };
                for field in &mut self.known {
                    let Some(value) = map.get(field.name()) else {
                        continue;
                    };
                    let wider = widen_type(field.data_type(), value);
                    if &wider != field.data_type() {
                        tracing::info!(
                            "field `{}` widened from {} to {wider} (on_type_mismatch = widen)",
                            field.name(),
                            field.data_type()
                        );
                        *field = Arc::new(Field::new(field.name(), wider, true));
                        changed = true;
                    }
                }
            }
            if !changed {
                return;
            }
        }
    }
}

/// The narrowest type holding the values of `dt` and `value` (see [`TypePolicy::Widen`]).
fn widen_type(dt: &DataType, value: &Value) -> DataType {
    if fits(value, dt, "", TypePolicy::Widen).is_ok() {
        return dt.clone();
    }
    match (dt, value) {
        (DataType::Int64, Value::Number(n)) if n.is_f64() => DataType::Float64,
        (DataType::Struct(fields), Value::Object(map)) => DataType::Struct(
            fields
                .iter()
                .map(|f| match map.get(f.name()) {
                    Some(v) => Arc::new(Field::new(f.name(), widen_type(f.data_type(), v), true)),
                    None => f.clone(),
                })
                .collect(),
        ),
        (DataType::List(item), Value::Array(items)) => {
            let wider = items
                .iter()
                .fold(item.data_type().clone(), |dt, v| widen_type(&dt, v));
            DataType::List(Arc::new(Field::new(item.name(), wider, true)))
        }
        _ => DataType::Utf8,
    }
}

/// Widening: values that are not strings in text fields become their JSON text.
fn stringify_record(value: &mut Value, schema: &Schema) {
    let Value::Object(map) = value else {
        return;
    };
    for field in schema.fields() {
        if let Some(v) = map.get_mut(field.name()) {
            stringify(v, field.data_type());
        }
    }
}

fn stringify(value: &mut Value, dt: &DataType) {
    match (dt, value) {
        (_, Value::Null) | (DataType::Utf8, Value::String(_)) => {}
        (DataType::Utf8, other) => *other = Value::String(other.to_string()),
        (DataType::Struct(fields), Value::Object(map)) => {
            for f in fields.iter() {
                if let Some(v) = map.get_mut(f.name()) {
                    stringify(v, f.data_type());
                }
            }
        }
        (DataType::List(item), Value::Array(items)) => {
            for v in items {
                stringify(v, item.data_type());
            }
        }
        _ => {}
    }
}

/// Where the fast path puts the records that fit.
enum Appender {
    /// Flat schemas: each record checked and appended in one pass.
    Flat(FlatDecoder),
    /// Others: each record checked by [`look`], then decoded by arrow's JSON decoder.
    Json(arrow::json::reader::Decoder),
}

impl Appender {
    /// What the record is; `None` when the batch must leave the fast path.
    fn push(
        &mut self,
        payload: &[u8],
        fields: &Fields,
        policy: TypePolicy,
    ) -> Result<Option<Look>, IngestError> {
        match self {
            Appender::Flat(flat) => Ok(Some(match flat.push(payload) {
                Pushed::Row => Look::Fits,
                Pushed::NewField => Look::NewField,
                Pushed::Refused => Look::Other,
            })),
            Appender::Json(decoder) => {
                let look = look(payload, fields, policy);
                if look == Look::Fits && decoder.decode(payload)? != payload.len() {
                    return Ok(None);
                }
                Ok(Some(look))
            }
        }
    }

    /// Append a record already parsed and checked; `false` when this appender cannot
    /// take a tree (the one-pass decoder reads bytes only).
    fn push_value(&mut self, value: &Value) -> Result<bool, IngestError> {
        match self {
            Appender::Flat(_) => Ok(false),
            Appender::Json(decoder) => {
                decoder.serialize(std::slice::from_ref(value))?;
                Ok(true)
            }
        }
    }

    fn finish(self) -> Result<Option<RecordBatch>, IngestError> {
        match self {
            Appender::Flat(flat) if flat.rows() == 0 => Ok(None),
            Appender::Flat(flat) => Ok(Some(flat.finish()?)),
            Appender::Json(mut decoder) => Ok(decoder.flush()?),
        }
    }
}

/// The type a field has after a batch with `new` values: `known`, plus nested sub-fields
/// it lacked. Any other difference keeps `known` (the values that do not fit it are
/// dead-lettered). With `known` Null, `new` with its Null-typed sub-fields left out (they
/// have no type yet). A new sub-field that differs only by case from one the struct has
/// is left out (its records are dead letters) or, with `fold`, merged into it.
fn merge_type(known: &DataType, new: &DataType, fold: bool) -> DataType {
    match (known, new) {
        (DataType::Struct(k), DataType::Struct(n)) => {
            let mut fields: Vec<Arc<Field>> = k.iter().cloned().collect();
            for nf in n.iter() {
                if nf.data_type() == &DataType::Null {
                    continue;
                }
                let exact = fields.iter().position(|f| f.name() == nf.name());
                let twin = || fields.iter().position(|f| same_name(f.name(), nf.name()));
                match exact.or_else(|| twin().filter(|_| fold)) {
                    Some(i) => {
                        let merged = merge_type(fields[i].data_type(), nf.data_type(), fold);
                        fields[i] = Arc::new(fields[i].as_ref().clone().with_data_type(merged));
                    }
                    None if twin().is_some() => {}
                    None => fields.push(Arc::new(Field::new(
                        nf.name(),
                        merge_type(&DataType::Null, nf.data_type(), fold),
                        true,
                    ))),
                }
            }
            DataType::Struct(Fields::from(fields))
        }
        (DataType::List(k), DataType::List(n)) => {
            let item = merge_type(k.data_type(), n.data_type(), fold);
            DataType::List(Arc::new(k.as_ref().clone().with_data_type(item)))
        }
        (DataType::Null, DataType::Struct(_)) => {
            merge_type(&DataType::Struct(Fields::empty()), new, fold)
        }
        (DataType::Null, DataType::List(n)) => DataType::List(Arc::new(
            n.as_ref()
                .clone()
                .with_data_type(merge_type(&DataType::Null, n.data_type(), fold)),
        )),
        (DataType::Null, n) => n.clone(),
        _ => known.clone(),
    }
}

/// How many records of a batch type its new fields (see [`JsonDecoder::decode_sampled`]).
const SAMPLE: usize = 1024;

/// What [`JsonDecoder::decode_known`] does with a JSON object that does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Misfit {
    /// A dead letter: the schema is settled.
    DeadLetter,
    /// Give up the batch: the schema came from a sample and may be too narrow.
    Refuse,
}

const NO_PAYLOAD: &str = "the record has no payload (null value)";

/// What a quick look at a record's bytes found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// One JSON object whose every value fits its field's type.
    Fits,
    /// Fits, but has a field (or nested sub-field) with a value and no type yet.
    NewField,
    /// Not JSON, not an object, or a value that does not fit: see [`fits_record`].
    Other,
}

/// Walk a record's JSON against the schema without building anything: the same checks
/// as [`fits`], as serde visits the values.
fn look(payload: &[u8], fields: &Fields, policy: TypePolicy) -> Look {
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
const EXACT_IN_DOUBLE: u64 = 1 << 53;

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
                if !matches!(case_match(name, fields), CaseMatch::None) {
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

/// Types JSON values decode to directly, the ones a table column can impose on input.
fn json_native(dt: &DataType) -> bool {
    match dt {
        DataType::Boolean | DataType::Int64 | DataType::Float64 | DataType::Utf8 => true,
        DataType::List(item) => json_native(item.data_type()),
        DataType::Struct(fields) => fields.iter().all(|f| json_native(f.data_type())),
        _ => false,
    }
}

/// Check every field of an object against the schema; the error names the field path,
/// the value and the column type.
fn fits_record(value: &Value, schema: &Schema, policy: TypePolicy) -> Result<(), String> {
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

fn fits(value: &Value, dt: &DataType, path: &str, policy: TypePolicy) -> Result<(), String> {
    let ok = match (value, dt) {
        (Value::Null, _) => true,
        // Widening keeps any value in a text field as its JSON text.
        (_, DataType::Utf8) if policy == TypePolicy::Widen => true,
        (Value::Bool(_), DataType::Boolean) => true,
        (Value::Number(n), DataType::Int64) => n.is_i64(),
        // Integers beyond 2^53 would be rounded by a double.
        (Value::Number(n), DataType::Float64) => {
            n.as_i64().is_none_or(|i| i.unsigned_abs() <= 1 << 53)
                && n.as_u64().is_none_or(|u| u <= 1 << 53)
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

/// The fields of a batch's objects with their inferred types. When the records disagree
/// in a way inference cannot merge (an object here, a number there), each field takes the
/// type of the first record that has it; the records that do not fit it become dead
/// letters. `objects` parses the batch anew on each call: no tree of the whole batch is
/// held.
fn infer_fields<I: Iterator<Item = Value>>(objects: impl Fn() -> I, fold: bool) -> Vec<Arc<Field>> {
    if let Ok(schema) =
        infer_json_schema_from_iterator(objects().map(Ok::<_, arrow::error::ArrowError>))
    {
        return schema.fields().iter().cloned().collect();
    }
    let mut fields: Vec<Arc<Field>> = Vec::new();
    for value in objects() {
        let Ok(schema) = infer_json_schema_from_iterator(std::iter::once(Ok::<
            _,
            arrow::error::ArrowError,
        >(value))) else {
            continue;
        };
        for field in schema.fields() {
            match fields.iter_mut().find(|f| f.name() == field.name()) {
                None => fields.push(field.clone()),
                // A field null so far takes the first real type seen; a struct gains the
                // sub-fields later records bring.
                Some(f) => {
                    let merged = merge_type(f.data_type(), field.data_type(), fold);
                    *f = Arc::new(f.as_ref().clone().with_data_type(merged));
                }
            }
        }
    }
    fields
}

fn decode_values(schema: &SchemaRef, values: &[&Value]) -> Result<RecordBatch, IngestError> {
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(values.len().max(1))
        .build_decoder()?;
    decoder.serialize(values)?;
    Ok(decoder
        .flush()?
        .unwrap_or_else(|| RecordBatch::new_empty(schema.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int64Type};

    fn rec(offset: i64, s: &str) -> RawRecord {
        RawRecord::new(0, offset, s.as_bytes())
    }

    fn decode(d: &mut JsonDecoder, lines: &[&str]) -> Decoded {
        let records: Vec<RawRecord> = lines
            .iter()
            .enumerate()
            .map(|(i, s)| rec(i as i64, s))
            .collect();
        d.decode("t", &records).unwrap()
    }

    /// Records of every kind the decoder meets, for a schema {id: int, price: double,
    /// name: string, ok: bool, tags: [string], n: {a: int}}.
    const MIXED: &[&str] = &[
        r#"{"id":1,"price":2.5,"name":"a","ok":true,"tags":["x"],"n":{"a":1}}"#,
        r#"{"id":2,"price":3,"name":"b\"q","ok":false,"tags":[],"n":null}"#,
        r#"{"id":3.5}"#,
        r#"{"price":"4.7"}"#,
        r#"{"name":{"x":1}}"#,
        r#"{"tags":[1]}"#,
        r#"{"n":{"a":"s"}}"#,
        r#"{"id":9007199254740993,"price":9007199254740993}"#,
        r#"{"id":18446744073709551615}"#,
        r#"{"id":4,"nothing":null,"n":{"zero":null}}"#,
        r#"{"id":5} {"id":6}"#,
        r#"[1,2]"#,
        r#"null"#,
        r#"{"id":"#,
        r#"{"\u0069d":7}"#,
        r#"{"id":8,"id":"x"}"#,
        "",
        // The name rules: a repeated key, a name that differs only by case from a column
        // (top-level, nested, in a list), nulls that count as absent.
        r#"{"id":10,"id":10}"#,
        r#"{"x":null,"x":null}"#,
        r#"{"ID":11}"#,
        r#"{"n":{"A":12}}"#,
        r#"{"ID":null,"id":13,"n":{"A":null}}"#,
        r#"{"id":14,"n":{"a":1,"a":2}}"#,
    ];

    fn typed() -> JsonDecoder {
        let mut d = JsonDecoder::new();
        let first = decode(
            &mut d,
            &[r#"{"id":0,"price":1.5,"name":"z","ok":true,"tags":["t"],"n":{"a":0}}"#],
        );
        assert!(first.dead_letters.is_empty());
        d
    }

    /// The fast path (bytes checked and decoded without a tree) stores the same rows
    /// and refuses the same records, with the same errors, as the path that parses
    /// each record into a tree.
    #[test]
    fn the_fast_path_decodes_and_refuses_exactly_as_the_tree_path() {
        assert_eq!(fast_equals_tree(typed, MIXED), [0, 1, 9, 14, 21]);
    }

    /// Decode `lines` on the fast path and on the tree path with decoders from `typed`,
    /// check both give the same rows, batch and dead letters; the rows stored.
    fn fast_equals_tree(typed: impl Fn() -> JsonDecoder, lines: &[&str]) -> Vec<usize> {
        let records: Vec<RawRecord> = lines
            .iter()
            .enumerate()
            .map(|(i, s)| rec(i as i64, s))
            .collect();
        let mut fast = typed()
            .decode_known("t", &records, Misfit::DeadLetter)
            .unwrap()
            .unwrap();
        let mut tree = typed().decode_trees("t", &records).unwrap();
        for letters in [&mut fast.dead_letters, &mut tree.dead_letters] {
            letters.sort_by_key(|d| d.record.offset);
        }
        assert_eq!(fast.rows, tree.rows);
        assert_eq!(fast.batch, tree.batch);
        assert_eq!(fast.dead_letters, tree.dead_letters);
        fast.rows
    }

    /// Records of every kind for a flat schema {id: int, price: double, name: string,
    /// ok: bool}, which the one-pass decoder handles.
    const FLAT: &[&str] = &[
        r#"{"id":1,"price":2.5,"name":"a","ok":true}"#,
        r#"{"ok":false,"name":"b\"q\u00e9","price":3,"id":2}"#,
        r#"{"id":3.5}"#,
        r#"{"price":"4.7"}"#,
        r#"{"name":{"x":1}}"#,
        r#"{"name":[1]}"#,
        r#"{"ok":1}"#,
        r#"{"name":true}"#,
        r#"{"id":9007199254740993,"price":9007199254740993}"#,
        r#"{"price":-9007199254740992}"#,
        r#"{"id":18446744073709551615}"#,
        r#"{"id":-9223372036854775808,"price":1e308}"#,
        r#"{"price":1e400}"#,
        r#"{"id":4,"nothing":null}"#,
        r#"{"id":5} {"id":6}"#,
        r#"[1,2]"#,
        r#"null"#,
        r#"{"id":"#,
        r#"{"\u0069d":7}"#,
        r#"{"id":8,"id":"x"}"#,
        "",
        "{}",
        r#"{"id":null,"name":null,"ok":null,"price":null}"#,
        "  {\"id\":9}\n",
        r#"{"id":10,"id":10}"#,
        r#"{"x":null,"x":null}"#,
        r#"{"ID":11}"#,
        r#"{"Name":"c","id":12}"#,
        r#"{"ID":null,"id":13}"#,
    ];

    #[test]
    fn the_one_pass_decoder_decodes_and_refuses_exactly_as_the_tree_path() {
        let typed = || {
            let mut d = JsonDecoder::new();
            decode(&mut d, &[r#"{"id":0,"price":1.5,"name":"z","ok":true}"#]);
            assert!(matches!(
                d.appender(&d.schema(), 1).unwrap(),
                Appender::Flat(_)
            ));
            d
        };
        assert_eq!(
            fast_equals_tree(typed, FLAT),
            [0, 1, 9, 11, 13, 18, 21, 22, 23, 28]
        );
    }

    /// The generator's clickstream events are flat: they take the one-pass decoder.
    #[test]
    fn clickstream_events_take_the_one_pass_decoder() {
        use crate::generate::{Clickstream, ClickstreamConfig};
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let records: Vec<RawRecord> = Clickstream::new(ClickstreamConfig::new(2000, today))
            .enumerate()
            .map(|(i, e)| RawRecord::new(0, i as i64, serde_json::to_vec(&e).unwrap()))
            .collect();
        let mut d = JsonDecoder::new();
        let first = d.decode("t", &records[..1000]).unwrap();
        assert_eq!(first.rows.len(), 1000);
        assert!(
            matches!(d.appender(&d.schema(), 1).unwrap(), Appender::Flat(_)),
            "{:?}",
            d.schema()
        );
        let fast = d
            .decode_known("t", &records[1000..], Misfit::DeadLetter)
            .unwrap()
            .unwrap();
        assert_eq!(fast.rows.len(), 1000, "{:?}", fast.dead_letters);
    }

    /// A first batch typed from its first records gives what typing it from every
    /// record gives, whatever the later records bring; the sample is kept only when
    /// every record fits it.
    #[test]
    fn a_first_batch_typed_from_a_sample_decodes_as_one_typed_from_every_record() {
        let uniform = |i: usize| format!(r#"{{"id":{i},"price":1.5,"n":{{"a":1}},"tags":["x"]}}"#);
        let late: &[(&str, bool)] = &[
            (r#"{"id":1,"price":2}"#, true),
            (
                r#"{"id":null,"price":null,"n":null,"tags":[],"none":null}"#,
                true,
            ),
            ("not json", true),
            ("[1]", true),
            ("", true),
            (r#"{"id":1.5}"#, false),
            (r#"{"id":"7"}"#, false),
            (r#"{"extra":true}"#, false),
            (r#"{"n":{"a":2,"b":3}}"#, false),
            (r#"{"tags":[1]}"#, false),
            (r#"{"id":18446744073709551615}"#, false),
            (r#"{"ID":1}"#, true),
            (r#"{"id":1,"id":2}"#, true),
            (r#"{"Late":1,"late":2}"#, false),
            (r#"{"ID":1,"late":2}"#, true),
        ];
        for (line, sample_kept) in late {
            let mut lines: Vec<String> = (0..SAMPLE + 500).map(uniform).collect();
            lines.insert(SAMPLE + 100, line.to_string());
            let records: Vec<RawRecord> = lines
                .iter()
                .enumerate()
                .map(|(i, s)| rec(i as i64, s))
                .collect();
            let mut every = JsonDecoder::new();
            every.evolve(&records);
            let expected = match every
                .decode_known("t", &records, Misfit::DeadLetter)
                .unwrap()
            {
                Some(decoded) => decoded,
                None => every.decode_trees("t", &records).unwrap(),
            };
            let mut sampled = JsonDecoder::new();
            let got = sampled.decode("t", &records).unwrap();
            assert_eq!(got.rows, expected.rows, "{line}");
            assert_eq!(got.batch, expected.batch, "{line}");
            assert_eq!(got.dead_letters, expected.dead_letters, "{line}");
            let kept = JsonDecoder::new()
                .decode_sampled("t", &records)
                .unwrap()
                .is_some();
            assert_eq!(kept, *sample_kept, "{line}");
        }
    }

    /// A later record with a new field (top-level or nested) leaves the fast path: the
    /// schema grows and nothing is dropped.
    #[test]
    fn a_new_field_leaves_the_fast_path_and_evolves_the_schema() {
        let mut d = typed();
        let record = [rec(0, r#"{"id":1,"n":{"a":1,"b":"new"},"extra":true}"#)];
        assert!(
            d.decode_known("t", &record, Misfit::DeadLetter)
                .unwrap()
                .is_none()
        );
        let out = d.decode("t", &record).unwrap();
        let schema = out.batch.unwrap().schema();
        assert!(schema.field_with_name("extra").is_ok());
        assert_eq!(
            schema.field_with_name("n").unwrap().data_type(),
            &DataType::Struct(Fields::from(vec![
                Field::new("a", DataType::Int64, true),
                Field::new("b", DataType::Utf8, true),
            ]))
        );
    }

    #[test]
    fn bad_records_become_dead_letters_and_the_rest_decode() {
        let mut d = JsonDecoder::new();
        let mut records = vec![
            rec(0, r#"{"a":1,"b":"x"}"#),
            rec(1, "not json"),
            rec(2, "[1]"),
            rec(3, r#"{"a":2}"#),
            rec(4, ""),
        ];
        records.push(RawRecord {
            payload: None,
            ..rec(5, "")
        });
        let out = d.decode("t", &records).unwrap();
        let batch = out.batch.unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(out.rows, [0, 3]);
        let errors: Vec<(i64, &str)> = out
            .dead_letters
            .iter()
            .map(|d| (d.record.offset, d.error.as_str()))
            .collect();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].1.contains("invalid JSON"), "{errors:?}");
        assert!(errors[1].1.contains("array"), "{errors:?}");
        assert!(errors[2].1.contains("invalid JSON"), "{errors:?}");
        assert!(errors[3].1.contains("no payload"), "{errors:?}");
        assert_eq!(
            out.dead_letters[1].record.payload.as_deref(),
            Some(&b"[1]"[..])
        );
        assert_eq!(out.dead_letters[3].record.payload, None);
    }

    #[test]
    fn an_integer_column_never_takes_a_fraction() {
        let mut d = JsonDecoder::new();
        decode(&mut d, &[r#"{"price":10}"#]);
        let out = decode(
            &mut d,
            &[r#"{"price":11}"#, r#"{"price":10.5}"#, r#"{"price":"4"}"#],
        );
        let batch = out.batch.unwrap();
        assert_eq!(batch.schema().field(0).data_type(), &DataType::Int64);
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(0), 11);
        assert_eq!(out.dead_letters.len(), 2);
        assert!(
            out.dead_letters[0].error.contains("`price`")
                && out.dead_letters[0].error.contains("10.5")
                && out.dead_letters[0].error.contains("Int64"),
            "{}",
            out.dead_letters[0].error
        );
        // A numeric string is not a number.
        assert!(out.dead_letters[1].error.contains("a string"));
    }

    #[test]
    fn new_nested_sub_fields_are_added_not_dropped() {
        let mut d = JsonDecoder::new();
        decode(&mut d, &[r#"{"n":{"a":1}}"#]);
        let out = decode(&mut d, &[r#"{"n":{"a":2,"b":3}}"#, r#"{"n":{"a":"x"}}"#]);
        let batch = out.batch.unwrap();
        let DataType::Struct(fields) = batch.schema().field(0).data_type().clone() else {
            panic!("n is not a struct");
        };
        let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let n = batch.column(0).as_struct();
        assert_eq!(n.column(1).as_primitive::<Int64Type>().value(0), 3);
        assert_eq!(out.dead_letters.len(), 1);
        assert!(
            out.dead_letters[0].error.contains("`n.a`"),
            "{}",
            out.dead_letters[0].error
        );
    }

    #[test]
    fn a_table_column_is_authoritative_after_a_restart() {
        let table = Schema::new(vec![
            Field::new("price", DataType::Int64, true),
            Field::new("amount", DataType::Float64, true),
            // Converted by a step from text: the data keeps its own type.
            Field::new(
                "ts",
                DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
                true,
            ),
            Field::new("dt", DataType::Utf8, true),
        ]);
        let mut d = JsonDecoder::for_table(&table);
        // A first batch whose only price is text does not make the column text.
        let out = decode(&mut d, &[r#"{"price":"4.7"}"#]);
        assert!(out.batch.is_none());
        assert!(
            out.dead_letters[0].error.contains("a string"),
            "{:?}",
            out.dead_letters
        );
        let out = decode(
            &mut d,
            &[
                r#"{"price":10.5,"amount":3,"ts":"2026-11-23T10:00:00Z"}"#,
                r#"{"price":7,"amount":4,"ts":"2026-11-23T11:00:00Z"}"#,
            ],
        );
        let batch = out.batch.unwrap();
        let schema = batch.schema();
        assert_eq!(
            schema.field_with_name("price").unwrap().data_type(),
            &DataType::Int64
        );
        assert_eq!(
            schema.field_with_name("amount").unwrap().data_type(),
            &DataType::Float64
        );
        assert_eq!(
            schema.field_with_name("ts").unwrap().data_type(),
            &DataType::Utf8
        );
        // A table column the data does not have is not added to the input.
        assert!(schema.field_with_name("dt").is_err());
        assert_eq!(batch.num_rows(), 1);
        let amount = batch.column_by_name("amount").unwrap();
        assert_eq!(amount.as_primitive::<Float64Type>().value(0), 4.0);
        assert_eq!(out.dead_letters.len(), 1);
        assert_eq!(out.dead_letters[0].record.offset, 0);
    }

    #[test]
    fn clashing_types_in_one_batch_keep_the_first_and_dead_letter_the_rest() {
        let mut d = JsonDecoder::new();
        let out = decode(&mut d, &[r#"{"a":1}"#, r#"{"a":{"x":1}}"#, r#"{"a":3}"#]);
        let batch = out.batch.unwrap();
        assert_eq!(batch.schema().field(0).data_type(), &DataType::Int64);
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(out.dead_letters.len(), 1);
        assert_eq!(out.dead_letters[0].record.offset, 1);
    }

    /// A first batch inference cannot merge (an object where a number was) still gives a
    /// struct every sub-field its records bring.
    #[test]
    fn a_clash_in_the_first_batch_drops_no_sub_field() {
        let mut d = JsonDecoder::new();
        let out = decode(
            &mut d,
            &[
                r#"{"n":{"a":1}}"#,
                r#"{"n":{"a":{"x":1}}}"#,
                r#"{"n":{"a":2,"b":true}}"#,
            ],
        );
        assert_eq!(out.rows, [0, 2]);
        let batch = out.batch.unwrap();
        let n = batch.column(0).as_struct();
        assert!(n.column_by_name("b").unwrap().as_boolean().value(1));
    }

    #[test]
    fn an_all_null_field_waits_for_a_type() {
        let mut d = JsonDecoder::new();
        let out = decode(&mut d, &[r#"{"a":null,"b":1}"#]);
        assert!(out.batch.unwrap().schema().field_with_name("a").is_err());
        let out = decode(&mut d, &[r#"{"a":2.5,"b":1}"#]);
        let batch = out.batch.unwrap();
        let a = batch.column_by_name("a").unwrap();
        assert_eq!(a.as_primitive::<Float64Type>().value(0), 2.5);
        assert!(!a.is_null(0));
    }

    fn widening() -> JsonDecoder {
        JsonDecoder::new().with_policy(TypePolicy::Widen)
    }

    #[test]
    fn widening_turns_an_integer_field_into_a_double_and_keeps_every_record() {
        let mut d = widening();
        decode(&mut d, &[r#"{"price":10}"#]);
        let out = decode(&mut d, &[r#"{"price":11}"#, r#"{"price":10.5}"#]);
        assert!(out.dead_letters.is_empty(), "{:?}", out.dead_letters);
        let batch = out.batch.unwrap();
        let price = batch.column(0).as_primitive::<Float64Type>();
        assert_eq!((price.value(0), price.value(1)), (11.0, 10.5));
    }

    #[test]
    fn widening_makes_other_clashes_text_holding_json() {
        let mut d = widening();
        decode(&mut d, &[r#"{"v":1,"n":{"a":1}}"#]);
        let out = decode(
            &mut d,
            &[
                r#"{"v":9007199254740993,"n":{"a":2}}"#,
                r#"{"v":2.5,"n":{"a":"x","b":true}}"#,
                r#"{"v":{"deep":[1,2]},"n":{"a":[1]}}"#,
                r#"{"v":"text","n":null}"#,
                r#"not json"#,
            ],
        );
        assert_eq!(out.dead_letters.len(), 1, "{:?}", out.dead_letters);
        assert!(out.dead_letters[0].error.contains("invalid JSON"));
        let batch = out.batch.unwrap();
        let v = batch.column_by_name("v").unwrap().as_string::<i32>();
        let values: Vec<&str> = (0..4).map(|i| v.value(i)).collect();
        assert_eq!(
            values,
            ["9007199254740993", "2.5", r#"{"deep":[1,2]}"#, "text"]
        );
        let n = batch.column_by_name("n").unwrap().as_struct();
        let a = n.column_by_name("a").unwrap().as_string::<i32>();
        assert_eq!((a.value(0), a.value(1), a.value(2)), ("2", "x", "[1]"));
        assert!(n.column_by_name("b").unwrap().as_boolean().value(1));
    }

    #[test]
    fn widening_grows_a_table_column_after_a_restart() {
        let table = Schema::new(vec![Field::new("price", DataType::Int64, true)]);
        let mut d = JsonDecoder::for_table(&table).with_policy(TypePolicy::Widen);
        let out = decode(&mut d, &[r#"{"price":"4.7"}"#, r#"{"price":3}"#]);
        assert!(out.dead_letters.is_empty());
        let batch = out.batch.unwrap();
        let price = batch.column(0).as_string::<i32>();
        assert_eq!((price.value(0), price.value(1)), ("4.7", "3"));
    }

    fn rules(fold: bool, last: bool) -> NameRules {
        use crate::names::{DuplicateKeys, FieldNames};
        NameRules {
            field_names: if fold {
                FieldNames::Fold
            } else {
                FieldNames::Exact
            },
            duplicate_keys: if last {
                DuplicateKeys::Last
            } else {
                DuplicateKeys::DeadLetter
            },
        }
    }

    fn errors(out: &Decoded) -> Vec<&str> {
        out.dead_letters.iter().map(|d| d.error.as_str()).collect()
    }

    fn ints(batch: &RecordBatch, column: &str) -> Vec<Option<i64>> {
        let array = batch
            .column_by_name(column)
            .unwrap()
            .as_primitive::<Int64Type>();
        (0..array.len())
            .map(|i| array.is_valid(i).then(|| array.value(i)))
            .collect()
    }

    fn names_of(batch: &RecordBatch) -> Vec<String> {
        batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    #[test]
    fn two_fields_of_one_record_that_differ_only_by_case_make_it_a_dead_letter() {
        for fold in [false, true] {
            let mut d = JsonDecoder::new().with_names(rules(fold, false));
            let out = decode(&mut d, &[r#"{"ID":7,"id":8}"#, r#"{"id":9}"#]);
            assert_eq!(out.rows, [1], "fold {fold}");
            assert!(
                errors(&out)[0].contains("`ID` and `id` differ only by case"),
                "{out:?}"
            );
            assert_eq!(ints(out.batch.as_ref().unwrap(), "id"), [Some(9)]);
            let out = decode(&mut d, &[r#"{"id":10}"#, r#"{"n":{"B":1,"b":2}}"#]);
            assert_eq!(out.rows, [0]);
            assert!(errors(&out)[0].contains("`n.B` and `n.b`"), "{out:?}");
        }
    }

    #[test]
    fn a_field_that_differs_from_a_table_column_only_by_case_is_refused_or_folded() {
        let table = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]);
        let lines = [r#"{"id":10,"Name":"upper"}"#, r#"{"id":11,"name":"lower"}"#];
        let mut d = JsonDecoder::for_table(&table);
        let out = decode(&mut d, &lines);
        assert_eq!(out.rows, [1]);
        assert!(
            errors(&out)[0].contains("`Name` differs only by case from the column `name`"),
            "{out:?}"
        );
        let mut d = JsonDecoder::for_table(&table).with_names(rules(true, false));
        let out = decode(&mut d, &lines);
        assert_eq!(out.rows, [0, 1], "{out:?}");
        let batch = out.batch.unwrap();
        assert_eq!(names_of(&batch), ["id", "name"]);
        let names = batch.column_by_name("name").unwrap().as_string::<i32>();
        assert_eq!((names.value(0), names.value(1)), ("upper", "lower"));
        // A later batch on the fast path folds as well.
        let out = decode(&mut d, &[r#"{"NAME":"again","iD":12}"#]);
        assert_eq!(ints(out.batch.as_ref().unwrap(), "id"), [Some(12)]);
    }

    #[test]
    fn a_nested_sub_field_that_differs_only_by_case_is_refused_or_folded() {
        for fold in [false, true] {
            let mut d = JsonDecoder::new().with_names(rules(fold, false));
            decode(&mut d, &[r#"{"n":{"a":1},"tags":[{"k":1}]}"#]);
            let out = decode(
                &mut d,
                &[
                    r#"{"n":{"A":2}}"#,
                    r#"{"tags":[{"k":2},{"K":3}]}"#,
                    r#"{"n":{"a":4}}"#,
                ],
            );
            let batch = out.batch.clone().unwrap();
            let n = batch.column_by_name("n").unwrap().as_struct();
            assert_eq!(n.fields().len(), 1, "{:?}", n.fields());
            let a = n.column_by_name("a").unwrap().as_primitive::<Int64Type>();
            if fold {
                assert_eq!(out.rows, [0, 1, 2], "{:?}", out.dead_letters);
                assert_eq!((a.value(0), a.value(2)), (2, 4));
            } else {
                assert_eq!(out.rows, [2]);
                let e = errors(&out);
                assert!(e[0].contains("`n.A`") && e[0].contains("`n.a`"), "{e:?}");
                assert!(e[1].contains("`tags[1].K`"), "{e:?}");
                assert_eq!(a.value(0), 4);
            }
        }
    }

    #[test]
    fn new_fields_of_one_first_batch_that_differ_only_by_case_keep_the_first_name() {
        // Written so that the first name is not the one that sorts first.
        let lines = [
            r#"{"id":7}"#,
            r#"{"ID":8}"#,
            r#"{"x":1,"n":{"a":1}}"#,
            r#"{"n":{"A":2}}"#,
        ];
        let mut d = JsonDecoder::new();
        let out = decode(&mut d, &lines);
        assert_eq!(out.rows, [0, 2]);
        let e = errors(&out);
        assert!(
            e[0].contains("`ID` differs only by case from the column `id`"),
            "{e:?}"
        );
        assert!(
            e[1].contains("`n.A` differs only by case from the column `n.a`"),
            "{e:?}"
        );
        let mut columns = names_of(out.batch.as_ref().unwrap());
        columns.sort();
        assert_eq!(columns, ["id", "n", "x"]);
        // Next batch: the first name is the column's.
        let out = decode(&mut d, &[r#"{"id":9}"#, r#"{"Id":10}"#]);
        assert_eq!(out.rows, [0]);

        let mut d = JsonDecoder::new().with_names(rules(true, false));
        let out = decode(&mut d, &lines);
        assert_eq!(out.rows, [0, 1, 2, 3], "{:?}", out.dead_letters);
        let batch = out.batch.unwrap();
        let mut columns = names_of(&batch);
        columns.sort();
        assert_eq!(columns, ["id", "n", "x"]);
        assert_eq!(ints(&batch, "id"), [Some(7), Some(8), None, None]);
        let n = batch.column_by_name("n").unwrap().as_struct();
        let a = n.column_by_name("a").unwrap().as_primitive::<Int64Type>();
        assert_eq!((a.value(2), a.value(3)), (1, 2));
    }

    #[test]
    fn a_repeated_key_at_any_depth_is_a_dead_letter_unless_the_last_is_kept() {
        let lines = [
            r#"{"id":1,"id":2}"#,
            r#"{"id":5,"n":{"a":1,"a":2}}"#,
            r#"{"id":3,"n":{"a":4}}"#,
        ];
        let mut d = JsonDecoder::new();
        let out = decode(&mut d, &lines);
        assert_eq!(out.rows, [2]);
        let e = errors(&out);
        assert!(e[0].starts_with("duplicate key `id`"), "{e:?}");
        assert!(e[1].starts_with("duplicate key `n.a`"), "{e:?}");
        // The same on the fast path of a typed decoder.
        let out = decode(&mut d, &lines);
        assert_eq!(out.rows, [2]);

        let mut d = JsonDecoder::new().with_names(rules(false, true));
        for _ in 0..2 {
            let out = decode(&mut d, &lines);
            assert_eq!(out.rows, [0, 1, 2], "{:?}", out.dead_letters);
            let batch = out.batch.unwrap();
            assert_eq!(ints(&batch, "id"), [Some(2), Some(5), Some(3)]);
            let a = batch
                .column_by_name("n")
                .unwrap()
                .as_struct()
                .column(0)
                .clone();
            let a = a.as_primitive::<Int64Type>();
            assert_eq!((a.value(1), a.value(2)), (2, 4));
        }
        // A flat schema's one-pass decoder keeps the last value too.
        let mut d = JsonDecoder::new().with_names(rules(false, true));
        decode(&mut d, &[r#"{"id":0,"s":"a"}"#]);
        let out = decode(&mut d, &[r#"{"s":"x","id":1,"s":"y"}"#]);
        let batch = out.batch.unwrap();
        let s = batch.column_by_name("s").unwrap().as_string::<i32>();
        assert_eq!(s.value(0), "y");
        assert_eq!(s.value_data(), b"y");
    }
}
