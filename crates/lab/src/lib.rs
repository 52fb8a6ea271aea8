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
    /// A `--layouts` entry cannot be understood, or a layout is named twice.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The queries cannot be prepared: an unknown placeholder, or one whose value the
    /// data lacks.
    #[error("queries: {0}")]
    Queries(String),
    /// The lab's data cannot be read or made: an unreadable file, no time column, no rows.
    #[error("lab data from {origin}: {reason}")]
    Source {
        /// Where the data came from: a path or URL, or the generated clickstream.
        origin: String,
        /// What went wrong reading or making it.
        reason: String,
    },
    /// The `lake/` directory under `--out` already exists; the lab does not write into it.
    #[error("{0} already exists: the lab writes its tables afresh; name a new --out")]
    OutExists(PathBuf),
    /// A query failed to plan or run on a layout's table.
    #[error("query {query:?}: {source}")]
    Query {
        /// The query's name.
        query: String,
        /// DataFusion's error.
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
    /// A layout gave another answer than the first one: a bug in pruning or writing.
    #[error("query {query:?} gave different answers on layouts {layouts}")]
    AnswersDiffer {
        /// The name of the query whose answers differ.
        query: String,
        /// The two layouts that disagree, as `first and other`.
        layouts: String,
    },
    /// A lake operation failed: opening, creating, writing or registering a table.
    #[error(transparent)]
    Lake(#[from] pipelab_lake::LakeError),
    /// Reading or writing a file or directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Drawing or saving the chart failed.
    #[error("drawing the chart {path}: {reason}")]
    Chart {
        /// The chart file (SVG or PNG) being drawn.
        path: String,
        /// What failed: loading the shipped font, drawing, or encoding the PNG.
        reason: String,
    },
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
