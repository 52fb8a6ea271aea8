//! A fail point for crash tests: with `PIPELAB_FAILPOINT=lake-before-commit` the
//! process dies (abort, no cleanup, like a SIGKILL) at the moment a Delta write has
//! put its Parquet files and is about to write its commit to `_delta_log/`. Tests use
//! it to prove that such files stay invisible and their records come again on restart.
//! Without the variable nothing is wrapped and this costs nothing.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

pub const ENV: &str = "PIPELAB_FAILPOINT";
pub const BEFORE_COMMIT: &str = "lake-before-commit";

pub fn before_commit_armed() -> bool {
    std::env::var(ENV).is_ok_and(|v| v == BEFORE_COMMIT)
}

/// Wraps a store; dies on the first `_delta_log/` write that follows a data write.
#[derive(Debug)]
pub struct DieBeforeCommit {
    inner: Arc<dyn ObjectStore>,
    wrote_data: AtomicBool,
}

impl DieBeforeCommit {
    pub fn wrap(inner: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
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

#[async_trait]
impl ObjectStore for DieBeforeCommit {
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

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.before_write(to);
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.before_write(to);
        self.inner.rename_opts(from, to, options).await
    }
}
