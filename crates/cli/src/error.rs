//! How a command fails: the error with its chain of causes, and who can fix it, which
//! decides the exit code (2: the user, in arguments, config, SQL or input; 1: the
//! environment, such as a service that went down, the disk, or pipelab itself).

use std::error::Error;
use std::path::Path;
use std::process::ExitCode;

type BoxError = Box<dyn Error + Send + Sync>;

/// Who can fix a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blame {
    /// Arguments, a spec, SQL, credentials or input: exit code 2.
    User,
    /// A service, the network, the disk or pipelab itself: exit code 1.
    Environment,
    /// The command ran and found the data damaged (`pipelab lake verify`): exit code 3.
    Data,
    /// Ctrl-C stopped a command that runs to an end of its own: exit code 130, as a
    /// shell reports a process ended by SIGINT.
    Interrupted,
}

impl Blame {
    /// The user's to fix, or else the environment's.
    pub(crate) fn of(user_fixable: bool) -> Self {
        if user_fixable {
            Blame::User
        } else {
            Blame::Environment
        }
    }

    pub(crate) fn exit_code(self) -> ExitCode {
        match self {
            Blame::User => ExitCode::from(2),
            Blame::Environment => ExitCode::from(1),
            Blame::Data => ExitCode::from(3),
            Blame::Interrupted => ExitCode::from(130),
        }
    }
}

/// Why a command failed.
#[derive(Debug)]
pub(crate) struct CliError {
    error: BoxError,
    blame: Blame,
}

impl CliError {
    /// What the user asked for cannot be done as asked.
    pub(crate) fn usage(message: impl Into<BoxError>) -> Self {
        CliError {
            error: message.into(),
            blame: Blame::User,
        }
    }

    /// The environment or pipelab itself failed.
    pub(crate) fn environment(error: impl Into<BoxError>) -> Self {
        CliError {
            error: error.into(),
            blame: Blame::Environment,
        }
    }

    /// The command found damaged data (and has printed what).
    pub(crate) fn damaged(message: impl Into<BoxError>) -> Self {
        CliError {
            error: message.into(),
            blame: Blame::Data,
        }
    }

    /// Ctrl-C stopped the command before its end.
    pub(crate) fn interrupted(message: impl Into<BoxError>) -> Self {
        CliError {
            error: message.into(),
            blame: Blame::Interrupted,
        }
    }

    /// A file or directory the user named could not be used: theirs to fix when it is
    /// missing, not allowed or in the way; the environment's otherwise (a full disk).
    pub(crate) fn path(path: &Path, source: std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        let blame = Blame::of(matches!(
            source.kind(),
            NotFound | PermissionDenied | AlreadyExists | NotADirectory | IsADirectory
        ));
        CliError {
            error: Box::new(PathError {
                path: path.display().to_string(),
                source,
            }),
            blame,
        }
    }

    pub(crate) fn blame(&self) -> Blame {
        self.blame
    }

    /// The message, then each cause its message does not already include.
    pub(crate) fn report(&self) -> String {
        let top: &(dyn Error + 'static) = self.error.as_ref();
        let mut text = top.to_string();
        for cause in std::iter::successors(top.source(), |&e| e.source()) {
            let line = cause.to_string();
            if !text.contains(&line) {
                text.push_str("\n  caused by: ");
                text.push_str(&line);
            }
        }
        text
    }
}

/// A file or directory that could not be read, written or made.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub(crate) struct PathError {
    path: String,
    #[source]
    source: std::io::Error,
}

/// Errors that know whether the user can fix them.
pub(crate) trait Blamed: Error + Send + Sync + 'static {
    fn blame(&self) -> Blame;
}

impl<E: Blamed> From<E> for CliError {
    fn from(error: E) -> Self {
        let blame = error.blame();
        CliError {
            error: Box::new(error),
            blame,
        }
    }
}

macro_rules! blamed_by {
    ($($error:ty),* $(,)?) => {
        $(impl Blamed for $error {
            fn blame(&self) -> Blame {
                Blame::of(self.is_user_fixable())
            }
        })*
    };
}

blamed_by!(
    pipelab_pipeline::PipelineError,
    pipelab_federate::FederateError,
    pipelab_lake::LakeError,
    pipelab_devstack::DevstackError,
    pipelab_ingest::IngestError,
    pipelab_lab::LabError,
    pipelab_bench::BenchError,
);

impl Blamed for pipelab_pipeline::SpecError {
    fn blame(&self) -> Blame {
        Blame::User
    }
}

impl Blamed for pipelab_lab::LayoutError {
    fn blame(&self) -> Blame {
        Blame::User
    }
}

/// Failures with no path or object named: writing to standard output, a task that
/// panicked, arrow refusing a batch pipelab built.
macro_rules! environment {
    ($($error:ty),* $(,)?) => {
        $(impl Blamed for $error {
            fn blame(&self) -> Blame {
                Blame::Environment
            }
        })*
    };
}

environment!(
    std::io::Error,
    tokio::task::JoinError,
    serde_json::Error,
    arrow::error::ArrowError,
);
