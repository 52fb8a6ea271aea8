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
use arrow::json::reader::ReaderBuilder;
use arrow::record_batch::RecordBatch;
use serde_json::Value;

use crate::dead_letter::DeadLetter;
use crate::error::IngestError;
use crate::fit::{Look, TypePolicy, fits_record, look};
use crate::flat::{FlatDecoder, Pushed};
use crate::infer::{infer_fields, json_native, merge_type};
use crate::names::{CaseMatch, NameRules, add_names, field_match, parse_record, settle};
use crate::record::RawRecord;
use crate::widen::{stringify_record, widen_type};

/// The result of decoding one micro-batch.
#[derive(Debug)]
pub struct Decoded {
    /// `None` when no record of the batch was valid.
    pub batch: Option<RecordBatch>,
    /// For each row of `batch`, the index of its record in the input slice.
    pub rows: Vec<usize>,
    /// The records that could not be decoded, with why; they have no row in `batch`.
    pub dead_letters: Vec<DeadLetter>,
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
    /// A decoder for a new table: no types yet, default type policy and name rules.
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

    /// The fields typed so far, in the order they first appeared.
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(self.known.clone()))
    }

    /// Decode one micro-batch of `topic`, typing its new fields first; records that cannot
    /// be decoded (see the module's documentation) come back as dead letters.
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
        match field_match(name, &columns) {
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
mod tests;
