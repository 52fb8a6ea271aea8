//! A fail point for crash tests: with `PIPELAB_FAILPOINT=lake-before-commit` the
//! process dies (abort, no cleanup, like a SIGKILL) at the moment a Delta write has
//! put its Parquet files and is about to write its commit to `_delta_log/`. Tests use
//! it to prove that such files stay invisible and their records come again on restart.
//! Without the variable nothing is wrapped and this costs nothing.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use object_store::path::Path;
use object_store::{
    CopyOptions, MultipartUpload, ObjectStore, PutMultipartOptions, PutOptions, PutPayload,
    PutResult, RenameOptions, Result,
};

/// The environment variable that arms a fail point (its value names which); the one name
/// for every crate's fail points.
pub const ENV: &str = "PIPELAB_FAILPOINT";
/// The value of [`ENV`] that arms [`DieBeforeCommit`].
pub(crate) const BEFORE_COMMIT: &str = "lake-before-commit";

/// Whether [`ENV`] asks for the process to die before a commit.
pub(crate) fn before_commit_armed() -> bool {
    std::env::var(ENV).is_ok_and(|v| v == BEFORE_COMMIT)
}

/// Wraps a store; dies on the first `_delta_log/` write that follows a data write.
#[derive(Debug)]
pub(crate) struct DieBeforeCommit {
    inner: Arc<dyn ObjectStore>,
    wrote_data: AtomicBool,
}

impl DieBeforeCommit {
    /// `inner`, wrapped so that the process dies before a commit that follows data files.
    pub(crate) fn wrap(inner: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        Arc::new(Self {
            inner,
            wrote_data: AtomicBool::new(false),
        })
    }

    fn before_write(&self, location: &Path) {
        let path = location.as_ref();
        if path.contains("_delta_log") {
            if self.wrote_data.load(Ordering::SeqCst) {
                eprintln!(
                    "fail point {BEFORE_COMMIT}: data files written, dying before the commit {path}"
                );
                std::process::abort();
            }
        } else if path.ends_with(".parquet") {
            self.wrote_data.store(true, Ordering::SeqCst);
        }
    }
}

impl fmt::Display for DieBeforeCommit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DieBeforeCommit({})", self.inner)
    }
}

crate::store_wrapper::wrapping_object_store!(DieBeforeCommit {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.before_write(location);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.before_write(location);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.before_write(to);
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.before_write(to);
        self.inner.rename_opts(from, to, options).await
    }
});
