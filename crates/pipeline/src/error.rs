use thiserror::Error;

use crate::spec::SpecError;

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
    #[error("{0}")]
    Internal(String),
}
