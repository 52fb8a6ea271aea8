//! What can stop a pipeline ([`PipelineError`]) and what is wrong in a spec ([`SpecError`]).

use thiserror::Error;

/// Everything that can stop a pipeline. Each variant's message names its object
/// (file and line, step and SQL, broker or lake URL).
#[derive(Debug, Error)]
pub enum PipelineError {
    /// The spec cannot be used (see [`SpecError`]).
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A `[[steps]]` SQL step failed; the message names the step and its SQL.
    #[error(transparent)]
    Transform(#[from] pipelab_transform::TransformError),
    /// Reading Kafka or decoding its records failed; the message names the broker, topic or record.
    #[error(transparent)]
    Ingest(#[from] pipelab_ingest::IngestError),
    /// The landing source could not list or read its location, or an object is too
    /// large for the memory budget; the message names the location and object.
    #[error(transparent)]
    Landing(#[from] pipelab_ingest::LandingError),
    /// A lake table could not be located, opened, created or committed to.
    #[error(transparent)]
    Lake(#[from] pipelab_lake::LakeError),
    /// A database sink failed: its database went away or refused a statement (exit 1),
    /// or its table does not fit the rows (exit 2). The message names the sink.
    #[error(transparent)]
    Sink(#[from] pipelab_dbsink::SinkError),
    /// Every attempt's commit lost against other writers of the same table.
    #[error(
        "gave up committing to table '{table}' after {attempts} commits lost to concurrent \
         writers"
    )]
    Contended {
        /// The table the commits went to (the sink table or its dead-letter table).
        table: String,
        /// How many commits were tried.
        attempts: usize,
    },
    /// Arrow refused to build or fit a batch pipelab made itself: a bug in pipelab.
    #[error("{what} of table '{table}': {source}")]
    Batch {
        /// What pipelab was doing, e.g. `building the dead letters`.
        what: &'static str,
        /// The table the batch was for.
        table: String,
        /// Arrow's error.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// Reading a table pipelab wrote (to find what it already holds) failed.
    #[error("reading table '{table}': {source}")]
    Read {
        /// The table being read (the dead-letter table, to skip what it already holds).
        table: String,
        /// DataFusion's error.
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
    /// A `[[sink.quality]]` rule that does not run on the data (a missing column, a bad
    /// condition).
    #[error("{what} of table '{table}': {message}")]
    Quality {
        /// The sink table whose commit the rule measures.
        table: String,
        /// What failed: registering the batch, or `quality rule "<rule>"`.
        what: String,
        /// DataFusion's error message.
        message: String,
    },
    /// A thread pipelab runs work on failed or panicked.
    #[error("the {what} thread failed: {source}")]
    Thread {
        /// Which thread: `Kafka consumer` or `Kafka connect`.
        what: &'static str,
        /// Why: the task's join error or the panic's message.
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
            PipelineError::Landing(e) => e.is_user_fixable(),
            PipelineError::Lake(e) => e.is_user_fixable(),
            PipelineError::Sink(e) => e.is_user_fixable(),
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
    /// The spec file's path as given (`pipeline '<name>'` for a spec built in code).
    pub path: String,
    /// What is wrong, naming the line where there is one.
    pub message: String,
}
