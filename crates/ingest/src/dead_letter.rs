//! A record that could not be stored, and why.

use crate::record::RawRecord;

/// A record that could not be stored, kept with everything needed to replay it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The topic the record was read from.
    pub topic: String,
    /// The record as read, to replay it byte for byte.
    pub record: RawRecord,
    /// The pipeline stage that refused it: `decode`, a step's name, or `sink`.
    pub stage: String,
    /// Why it was refused: the message of the decode, step or sink error.
    pub error: String,
}

impl DeadLetter {
    /// A dead letter for `record` of `topic`, refused at `stage` with `error`.
    pub fn new(topic: &str, record: &RawRecord, stage: &str, error: String) -> Self {
        Self {
            topic: topic.to_string(),
            record: record.clone(),
            stage: stage.to_string(),
            error,
        }
    }
}
