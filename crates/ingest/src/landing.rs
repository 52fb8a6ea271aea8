//! The landing source (the notes' "buckets dump into one landing bucket; a Lambda
//! triggers the processing"): it watches a prefix of an object store (a directory, the
//! embedded S3 endpoint or any S3 URL) and hands each new object's records to the
//! pipeline in micro-batches, an object never split between two.
//!
//! An object is known by its key and ETag, its *stream name*: the pipeline records
//! that name with the object's rows in the same Delta commit, and this source asks it
//! which of the objects it lists are stored already. So a restart neither skips nor
//! repeats an object, and an object rewritten under the same key (a new ETag) is read
//! again. Keys with a segment starting with `.` or `_` are skipped (temporary files,
//! `_SUCCESS` markers): write an object under such a name and rename it when complete.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::TryStreamExt;
use futures::future::BoxFuture;
use object_store::{GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt};
use tokio::sync::mpsc;

use crate::batch::{MicroBatch, Position};
use crate::error::{LandingError, StoreError};
use crate::object_records::{ObjectFormat, ObjectRef, object_records};
use crate::options::StopReason;

/// Answers which of these stream names the pipeline's sinks hold already.
pub type StoredFn = Arc<
    dyn Fn(Vec<String>) -> BoxFuture<'static, Result<HashSet<String>, StoreError>> + Send + Sync,
>;

/// What the landing source reads and when it cuts a batch.
#[derive(Clone)]
pub struct LandingOptions {
    /// The store, rooted at the landing prefix.
    pub store: Arc<dyn ObjectStore>,
    /// The location as the spec names it (for messages).
    pub location: String,
    /// How objects are read.
    pub format: ObjectFormat,
    /// How long to wait between two listings that found nothing new.
    pub poll: Duration,
    /// Stop once a listing finds nothing new.
    pub until_idle: bool,
    /// Stop after handing over this many records (at an object's end).
    pub max_records: Option<u64>,
    /// A batch is cut after the object that brings it to this many records…
    pub batch_rows: usize,
    /// …or this many bytes.
    pub batch_bytes: usize,
    /// An object larger than this cannot be read (it is read whole).
    pub max_object_bytes: usize,
}

/// What the landing source did, for the run's report.
#[derive(Debug, Default)]
pub struct LandingCounters {
    /// Objects read and handed over.
    pub objects_read: AtomicU64,
    /// Objects listed that the sinks held already.
    pub objects_already_stored: AtomicU64,
    /// Bytes of the objects read.
    pub bytes_read: AtomicU64,
}

/// The stream name of an object: its key and its ETag.
pub fn object_stream(key: &str, etag: &str) -> String {
    format!("{key}@{etag}")
}

/// A landing source, ready to run.
pub struct LandingSource {
    opts: LandingOptions,
    stored: StoredFn,
    counters: Arc<LandingCounters>,
}

impl LandingSource {
    /// A source over `opts` that asks `stored` which objects its sinks hold.
    pub fn new(opts: LandingOptions, stored: StoredFn) -> Self {
        Self {
            opts,
            stored,
            counters: Arc::default(),
        }
    }

    /// Its counters, updated while it runs.
    pub fn counters(&self) -> Arc<LandingCounters> {
        self.counters.clone()
    }

    /// List, read and hand over batches until idle (with `until_idle`), the record
    /// limit, `stop`, or the receiver going away.
    pub async fn run(
        self,
        tx: mpsc::Sender<MicroBatch>,
        stop: Arc<AtomicBool>,
    ) -> Result<StopReason, LandingError> {
        let mut reader = Reader {
            source: self,
            seen: HashMap::new(),
            next_partition: 0,
            handed_over: 0,
        };
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(StopReason::Stopped);
            }
            let fresh = reader.fresh_objects().await?;
            if fresh.is_empty() {
                if reader.source.opts.until_idle {
                    return Ok(StopReason::Drained);
                }
                tokio::time::sleep(reader.source.opts.poll).await;
                continue;
            }
            if let Some(reason) = reader.hand_over(fresh, &tx, &stop).await? {
                return Ok(reason);
            }
        }
    }
}

struct Reader {
    source: LandingSource,
    /// Key → listing fingerprint of every object handed over or found stored in this
    /// run (see [`Listed::fingerprint`]).
    seen: HashMap<String, String>,
    next_partition: i32,
    handed_over: u64,
}

/// A listed object.
struct Listed {
    meta: ObjectMeta,
    key: String,
    /// What the listing says of this version: its ETag, or where the store lists none
    /// (the embedded endpoint), its modification time and size.
    fingerprint: String,
    /// The version's ETag, as a read of it returns it: the object's identity.
    etag: String,
    /// The ETag as the store spells it, for reading only that version; `None` for a
    /// store that has none (the identity is then the fingerprint).
    if_match: Option<String>,
}

impl Listed {
    fn stream(&self) -> String {
        object_stream(&self.key, &self.etag)
    }
}

impl Reader {
    fn location(&self) -> String {
        self.source.opts.location.clone()
    }

    fn store_error(&self, what: String) -> impl FnOnce(object_store::Error) -> LandingError {
        let location = self.location();
        move |source| LandingError::Store {
            location,
            what,
            source,
        }
    }

    /// The objects under the prefix not seen in this run and not held by the sinks, in
    /// the order they landed.
    async fn fresh_objects(&mut self) -> Result<Vec<Listed>, LandingError> {
        let metas: Vec<ObjectMeta> = self
            .source
            .opts
            .store
            .list(None)
            .try_collect()
            .await
            .map_err(self.store_error("listing".into()))?;
        let mut listed = Vec::new();
        for meta in metas {
            let key = meta.location.to_string();
            let fingerprint = fingerprint(&meta);
            if hidden(&key) || self.seen.get(&key) == Some(&fingerprint) {
                continue;
            }
            let Some(if_match) = self.identity(&meta).await? else {
                continue;
            };
            let etag = if_match
                .as_deref()
                .map_or_else(|| fingerprint.clone(), unquoted);
            listed.push(Listed {
                meta,
                key,
                fingerprint,
                etag,
                if_match,
            });
        }
        if listed.is_empty() {
            return Ok(listed);
        }
        listed.sort_by(|a, b| (a.meta.last_modified, &a.key).cmp(&(b.meta.last_modified, &b.key)));
        let names = listed.iter().map(Listed::stream).collect();
        let stored = (self.source.stored)(names)
            .await
            .map_err(|source| LandingError::Ledger {
                location: self.location(),
                source,
            })?;
        let (done, fresh): (Vec<Listed>, Vec<Listed>) = listed
            .into_iter()
            .partition(|o| stored.contains(&o.stream()));
        self.source
            .counters
            .objects_already_stored
            .fetch_add(done.len() as u64, Ordering::Relaxed);
        self.seen
            .extend(done.into_iter().map(|o| (o.key, o.fingerprint)));
        Ok(fresh)
    }

    /// The ETag of the listed version: the listing's, else a HEAD's (`Some(None)` when
    /// the store has none); `None` when the object is gone.
    async fn identity(&self, meta: &ObjectMeta) -> Result<Option<Option<String>>, LandingError> {
        if meta.e_tag.is_some() {
            return Ok(Some(meta.e_tag.clone()));
        }
        let what = format!("reading the ETag of object {}", meta.location);
        match self.source.opts.store.head(&meta.location).await {
            Ok(head) => Ok(Some(head.e_tag)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.store_error(what)(e)),
        }
    }

    /// Read the objects into batches and hand them over; `Some` when the run is to stop.
    async fn hand_over(
        &mut self,
        objects: Vec<Listed>,
        tx: &mpsc::Sender<MicroBatch>,
        stop: &AtomicBool,
    ) -> Result<Option<StopReason>, LandingError> {
        let opts = self.source.opts.clone();
        let mut batch = MicroBatch::default();
        for object in objects {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if object.meta.size > opts.max_object_bytes as u64 {
                return Err(LandingError::ObjectTooLarge {
                    location: self.location(),
                    key: object.key,
                    size: object.meta.size,
                    limit: opts.max_object_bytes,
                });
            }
            let Some(bytes) = self.read(&object).await? else {
                continue;
            };
            let p = self.next_partition;
            self.next_partition += 1;
            let records = object_records(
                opts.format,
                &ObjectRef {
                    key: &object.key,
                    etag: &object.etag,
                    modified_ms: object.meta.last_modified.timestamp_millis(),
                    partition: p,
                },
                &bytes,
            );
            self.handed_over += records.len() as u64;
            for r in records {
                batch.push(r, Position::Beginning);
            }
            batch.streams.insert(p, object.stream());
            self.seen.insert(object.key, object.fingerprint);
            let full = batch.records.len() >= opts.batch_rows || batch.bytes >= opts.batch_bytes;
            if full && tx.send(std::mem::take(&mut batch)).await.is_err() {
                return Ok(Some(StopReason::Stopped));
            }
            if opts.max_records.is_some_and(|max| self.handed_over >= max) {
                break;
            }
        }
        if !batch.is_empty() && tx.send(batch).await.is_err() {
            return Ok(Some(StopReason::Stopped));
        }
        if opts.max_records.is_some_and(|max| self.handed_over >= max) {
            return Ok(Some(StopReason::Limit));
        }
        Ok(None)
    }

    /// The bytes of the version the object's ETag names; `None` when the object is gone
    /// or was rewritten since it was listed (the next listing finds the new version).
    async fn read(&self, object: &Listed) -> Result<Option<bytes::Bytes>, LandingError> {
        let what = format!("reading object {}", object.key);
        let options = GetOptions {
            // Only the version named: rows must never be recorded under another ETag.
            if_match: object.if_match.clone(),
            ..GetOptions::default()
        };
        let got = match self
            .source
            .opts
            .store
            .get_opts(&object.meta.location, options)
            .await
        {
            Ok(got) => got,
            Err(
                object_store::Error::NotFound { .. } | object_store::Error::Precondition { .. },
            ) => {
                return Ok(None);
            }
            Err(e) => return Err(self.store_error(what)(e)),
        };
        let bytes = got.bytes().await.map_err(self.store_error(what))?;
        let counters = &self.source.counters;
        counters.objects_read.fetch_add(1, Ordering::Relaxed);
        counters
            .bytes_read
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(Some(bytes))
    }
}

/// What a listing says of an object's version: its ETag, else its modification time and
/// size.
fn fingerprint(meta: &ObjectMeta) -> String {
    match &meta.e_tag {
        Some(tag) => unquoted(tag),
        None => format!(
            "{}-{}",
            meta.last_modified.timestamp_nanos_opt().unwrap_or_default(),
            meta.size
        ),
    }
}

fn unquoted(tag: &str) -> String {
    tag.trim_matches('"').to_string()
}

/// A key with a segment starting with `.` or `_`: not (yet) an object to read.
fn hidden(key: &str) -> bool {
    key.split('/')
        .any(|segment| segment.starts_with('.') || segment.starts_with('_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_and_markers_are_not_read() {
        assert!(hidden("us/.part-1.jsonl"));
        assert!(hidden("us/_SUCCESS"));
        assert!(hidden("_tmp/us/1.jsonl"));
        assert!(!hidden("us/2026-12-01/1.jsonl"));
    }
}
