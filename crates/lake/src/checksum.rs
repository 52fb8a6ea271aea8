//! Content checksums of the data files pipelab writes.
//!
//! Delta records each file's size and statistics but no checksum of its bytes, so a byte
//! flipped inside a page goes unseen until a reader trips over it (or worse, does not).
//! pipelab's appends write their Parquet files through [`ChecksumStore`], which hashes
//! every byte on its way to storage, and put the SHA-256 in the file's `add` action as the
//! tag [`CHECKSUM_TAG`] (tags are free-form in the Delta protocol; other readers ignore
//! them). `pipelab lake verify` reads each file back and compares.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, MultipartUpload, ObjectStore, PutMultipartOptions, PutOptions, PutPayload,
    PutResult, RenameOptions, Result, UploadPart,
};
use sha2::{Digest, Sha256};

/// The `add` action tag holding the file's SHA-256, as lowercase hex.
pub(crate) const CHECKSUM_TAG: &str = "pipelab.sha256";

/// Lowercase hex of a finished digest.
fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of everything `bytes` yields, as [`CHECKSUM_TAG`] holds it.
pub(crate) async fn sha256_of(
    mut bytes: BoxStream<'static, Result<Bytes>>,
) -> Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    while let Some(chunk) = bytes.next().await {
        let chunk = chunk?;
        len += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((hex(&hasher.finalize()), len))
}

type Sums = Arc<Mutex<HashMap<Path, String>>>;

/// Wraps the store a write goes through; remembers the SHA-256 of every object put.
#[derive(Debug)]
pub(crate) struct ChecksumStore {
    inner: Arc<dyn ObjectStore>,
    sums: Sums,
}

impl ChecksumStore {
    /// `inner`, wrapped so that the SHA-256 of every object put through it is recorded.
    pub(crate) fn wrap(inner: Arc<dyn ObjectStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            sums: Sums::default(),
        })
    }

    /// The checksum of the object written at `path`, if it was written through this store.
    pub(crate) fn checksum(&self, path: &Path) -> Option<String> {
        self.sums.lock().ok()?.get(path).cloned()
    }
}

fn record(sums: &Sums, path: &Path, hasher: Sha256) {
    if let Ok(mut sums) = sums.lock() {
        sums.insert(path.clone(), hex(&hasher.finalize()));
    }
}

impl fmt::Display for ChecksumStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChecksumStore({})", self.inner)
    }
}

/// A multipart upload that hashes its parts in the order they are handed over, which is
/// the order of the object's bytes.
struct HashingUpload {
    inner: Box<dyn MultipartUpload>,
    path: Path,
    hasher: Option<Sha256>,
    sums: Sums,
}

impl fmt::Debug for HashingUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HashingUpload({})", self.path)
    }
}

#[async_trait]
impl MultipartUpload for HashingUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        if let Some(hasher) = self.hasher.as_mut() {
            for chunk in data.iter() {
                hasher.update(chunk);
            }
        }
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let done = self.inner.complete().await?;
        if let Some(hasher) = self.hasher.take() {
            record(&self.sums, &self.path, hasher);
        }
        Ok(done)
    }

    async fn abort(&mut self) -> Result<()> {
        self.hasher = None;
        self.inner.abort().await
    }
}

crate::store_wrapper::wrapping_object_store!(ChecksumStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let mut hasher = Sha256::new();
        for chunk in payload.iter() {
            hasher.update(chunk);
        }
        let done = self.inner.put_opts(location, payload, opts).await?;
        record(&self.sums, location, hasher);
        Ok(done)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(HashingUpload {
            inner,
            path: location.clone(),
            hasher: Some(Sha256::new()),
            sums: self.sums.clone(),
        }))
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
});

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, WriteMultipart};

    #[tokio::test]
    async fn put_and_multipart_give_the_sha256_of_the_bytes() -> Result<()> {
        let store = ChecksumStore::wrap(Arc::new(InMemory::new()));
        let small = Path::from("a/small.parquet");
        store.put(&small, Bytes::from_static(b"abc").into()).await?;
        // FIPS 180-2's test vector for "abc".
        assert_eq!(
            store.checksum(&small).as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );

        let large = Path::from("a/large.parquet");
        let data: Vec<u8> = (0..20_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut upload = WriteMultipart::new_with_chunk_size(
            store.put_multipart_opts(&large, Default::default()).await?,
            5 * 1024 * 1024,
        );
        for piece in data.chunks(3_000_001) {
            upload.write(piece);
        }
        upload.finish().await?;
        let expected = hex(&Sha256::digest(&data));
        assert_eq!(store.checksum(&large), Some(expected.clone()));

        let (read_back, len) = sha256_of(store.get(&large).await?.into_stream()).await?;
        assert_eq!((read_back, len), (expected, data.len() as u64));
        Ok(())
    }
}
