//! A record that could not be stored, and why.

use crate::record::RawRecord;

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
