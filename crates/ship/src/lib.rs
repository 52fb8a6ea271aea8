//! `pipelab ship`: the log-shipping agent of the interview notes (Flume's agents,
//! Pinterest's Singer). It tails files named by paths or globs, follows them through
//! rotation (a rename: the old file is read to its end, the new one from its start; a
//! truncation: read again from the start), picks up files that appear, masks what must
//! not leave the host, and produces each line as one record to a Kafka topic, keyed by
//! host and file, with the file, its identity and the line's byte offset in headers.
//!
//! Positions are checkpointed after the broker acknowledged the lines before them: a
//! restart goes on from there. After a crash the lines since the last checkpoint are
//! sent again (at least once); each carries its identity (host, file identity, offset),
//! by which a sink can keep one copy.
//!
//! [`tail`] follows the files, [`mask`] rewrites lines, [`checkpoint`] keeps positions,
//! [`agent`] ties them to the producer.

pub mod agent;
pub mod checkpoint;
pub mod mask;
pub mod tail;

pub use agent::{ShipOptions, ShipReport, run};
pub use mask::Masker;

/// Why shipping stopped.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    /// A pattern that is not a glob.
    #[error("{pattern:?} is not a path or glob: {message}")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What the glob parser said.
        message: String,
    },
    /// A `--mask` that names no rule, or a regex that does not parse.
    #[error("--mask {given:?}: {message}")]
    Mask {
        /// The rule as given.
        given: String,
        /// What is wrong with it.
        message: String,
    },
    /// A file or the checkpoint could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The broker did not take the lines.
    #[error(transparent)]
    Kafka(#[from] pipelab_ingest::IngestError),
}

impl ShipError {
    /// Whether the user can fix it (a pattern, a mask) rather than the environment.
    pub fn is_user_fixable(&self) -> bool {
        match self {
            ShipError::Pattern { .. } | ShipError::Mask { .. } => true,
            ShipError::Io { .. } => false,
            ShipError::Kafka(e) => e.is_user_fixable(),
        }
    }
}
