//! Why a benchmark could not run, or why its result is void.

/// A benchmark's failure, and whether the user can fix it (an option, a URL) or the
/// environment failed (a peer, a service, a disk, or two answers that differ).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// An option or a URL the user gave cannot be used.
    #[error("{0}")]
    Usage(String),
    /// A peer, a service or the benchmark's own check failed.
    #[error("{0}")]
    Failed(String),
    /// The pipeline under measurement failed.
    #[error(transparent)]
    Pipeline(#[from] pipelab_pipeline::PipelineError),
    /// A generated spec did not parse.
    #[error(transparent)]
    Spec(#[from] pipelab_pipeline::SpecError),
    /// The query engine failed.
    #[error(transparent)]
    Federate(#[from] pipelab_federate::FederateError),
    /// Writing the benchmark's lake table failed.
    #[error(transparent)]
    Lake(#[from] pipelab_lake::LakeError),
    /// The embedded stack did not start.
    #[error(transparent)]
    Devstack(#[from] pipelab_devstack::DevstackError),
    /// A database sink under measurement failed.
    #[error(transparent)]
    Sink(#[from] pipelab_dbsink::SinkError),
    /// Producing the benchmark's records failed.
    #[error(transparent)]
    Ingest(#[from] pipelab_ingest::IngestError),
    /// A file of the benchmark could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A peer's result or the results file was not valid JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A task of the benchmark panicked.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    /// An answer could not be turned into text.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

impl BenchError {
    /// What the user asked for cannot be done as asked.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        BenchError::Usage(message.into())
    }

    /// A peer, a service or a check failed.
    pub(crate) fn failed(message: impl ToString) -> Self {
        BenchError::Failed(message.to_string())
    }

    /// Whether the user can fix it (exit code 2) rather than the environment (1).
    pub fn is_user_fixable(&self) -> bool {
        match self {
            BenchError::Usage(_) | BenchError::Spec(_) => true,
            BenchError::Pipeline(e) => e.is_user_fixable(),
            BenchError::Sink(e) => e.is_user_fixable(),
            BenchError::Federate(e) => e.is_user_fixable(),
            BenchError::Lake(e) => e.is_user_fixable(),
            BenchError::Devstack(e) => e.is_user_fixable(),
            BenchError::Ingest(e) => e.is_user_fixable(),
            BenchError::Failed(_)
            | BenchError::Io(_)
            | BenchError::Json(_)
            | BenchError::Task(_)
            | BenchError::Arrow(_) => false,
        }
    }
}
