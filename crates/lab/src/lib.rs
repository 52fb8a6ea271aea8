//! The partition lab: the same data written in several layouts (partitionings), the
//! same queries run against each, and what each layout costs and saves: files, bytes,
//! files and bytes scanned per query (DataFusion's scan metrics), partitions pruned and
//! time per query, as a table, a Markdown report and a chart.

pub mod chart;
pub mod data;
pub mod layout;
pub mod queries;
pub mod report;
pub mod run;

use std::path::{Path, PathBuf};

pub use data::Source;
pub use layout::{Layout, LayoutError, parse_layouts};
pub use run::{LabOptions, LabResults, run};

/// Errors of the lab; each names what failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("queries: {0}")]
    Queries(String),
    #[error("lab data from {origin}: {reason}")]
    Source { origin: String, reason: String },
    #[error("{0} already exists: the lab writes its tables afresh; name a new --out")]
    OutExists(PathBuf),
    #[error("query {query:?}: {source}")]
    Query {
        query: String,
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
    /// A layout gave another answer than the first one: a bug in pruning or writing.
    #[error("query {query:?} gave different answers on layouts {layouts}")]
    AnswersDiffer { query: String, layouts: String },
    #[error(transparent)]
    Lake(#[from] pipelab_lake::LakeError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("drawing the chart {path}: {reason}")]
    Chart { path: String, reason: String },
}

impl LabError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        LabError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// True when the user can fix this in what they gave the lab.
    pub fn is_user_fixable(&self) -> bool {
        match self {
            LabError::Layout(_)
            | LabError::Queries(_)
            | LabError::Source { .. }
            | LabError::OutExists(_) => true,
            LabError::Query { source, .. } => !pipelab_lake::storage_failed(source.as_ref()),
            LabError::Lake(e) => e.is_user_fixable(),
            LabError::AnswersDiffer { .. } | LabError::Io { .. } | LabError::Chart { .. } => false,
        }
    }
}
