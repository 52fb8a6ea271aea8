//! What can stop a pipeline ([`PipelineError`]) and what is wrong in a spec ([`SpecError`]).

use thiserror::Error;

/// Everything that can stop a pipeline. Each variant's message names its object
/// (file and line, step and SQL, broker or lake URL).
#[derive(Debug, Error)]
pub enum PipelineError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Transform(#[from] pipelab_transform::TransformError),
    #[error(transparent)]
    Ingest(#[from] pipelab_ingest::IngestError),
    #[error(transparent)]
    Lake(#[from] pipelab_lake::LakeError),
    /// Every attempt's commit lost against other writers of the same table.
    #[error(
        "gave up committing to table '{table}' after {attempts} commits lost to concurrent \
         writers"
    )]
    Contended { table: String, attempts: usize },
    /// Arrow refused to build or fit a batch pipelab made itself: a bug in pipelab.
    #[error("{what} of table '{table}': {source}")]
    Batch {
        what: &'static str,
        table: String,
        #[source]
        source: arrow::error::ArrowError,
    },
    /// Reading a table pipelab wrote (to find what it already holds) failed.
    #[error("reading table '{table}': {source}")]
    Read {
        table: String,
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
    /// A `[[sink.quality]]` rule that does not run on the data (a missing column, a bad
    /// condition).
    #[error("{what} of table '{table}': {message}")]
    Quality {
        table: String,
        what: String,
        message: String,
    },
    /// A thread pipelab runs work on failed or panicked.
    #[error("the {what} thread failed: {source}")]
    Thread {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl PipelineError {
    /// True when the user can fix this in the spec, its SQL or the input; false when
    /// Kafka, the lake's storage or pipelab itself failed.
    pub fn is_user_fixable(&self) -> bool {
        match self {
            PipelineError::Spec(_)
            | PipelineError::Transform(_)
            | PipelineError::Quality { .. } => true,
            PipelineError::Ingest(e) => e.is_user_fixable(),
            PipelineError::Lake(e) => e.is_user_fixable(),
            PipelineError::Contended { .. }
            | PipelineError::Batch { .. }
            | PipelineError::Read { .. }
            | PipelineError::Thread { .. } => false,
        }
    }
}

/// A pipeline spec that cannot be used: the file (and line, where there is one) and why.
#[derive(Debug, Error)]
#[error("{path}: {message}")]
pub struct SpecError {
    pub path: String,
    pub message: String,
}
