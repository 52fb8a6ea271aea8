//! How a spec's records are decoded: JSON objects (`format = "json"`, the default), or
//! text lines with the key and chosen headers beside them (`format = "lines"`, what
//! `pipelab ship` sends).

use arrow::datatypes::Schema;
use pipelab_ingest::{Decoded, IngestError, JsonDecoder, LinesDecoder, RawRecord};

use crate::spec::{Format, PipelineSpec};

/// The decoder of a spec's records.
pub(crate) enum RecordDecoder {
    Json(JsonDecoder),
    Lines(LinesDecoder),
}

impl RecordDecoder {
    /// The spec's decoder; a restarted JSON pipeline decodes fields into the types the
    /// table already has.
    pub(crate) fn for_spec(spec: &PipelineSpec, table: Option<&Schema>) -> Self {
        match spec.source.format {
            Format::Json => {
                let json = table
                    .map_or_else(JsonDecoder::new, JsonDecoder::for_table)
                    .with_policy(spec.sink.on_type_mismatch.into())
                    .with_names(spec.source.name_rules());
                Self::Json(json)
            }
            Format::Lines => Self::Lines(LinesDecoder::new(spec.source.headers.clone())),
        }
    }

    pub(crate) fn decode(
        &mut self,
        topic: &str,
        records: &[RawRecord],
    ) -> Result<Decoded, IngestError> {
        match self {
            Self::Json(d) => d.decode(topic, records),
            Self::Lines(d) => d.decode(topic, records),
        }
    }
}
