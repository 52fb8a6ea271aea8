//! Checking a table's files against its Delta log: every file the current version lists
//! must be there with the size the log records, a readable Parquet footer whose row
//! count is the log's and, where its commit recorded one (pipelab's appends do, see
//! [`crate::checksum`]), the same SHA-256 of its bytes; with `deep`, every page must
//! decode; and no data file may sit in the table's directory that no commit ever added
//! (a write that never committed).

use std::collections::HashMap;
use std::sync::Arc;

use deltalake::ObjectStore;
use deltalake::kernel::Action;
use deltalake::logstore::get_actions;
// parquet 59 deprecates its object_store reader in favour of implementing
// `AsyncFileReader` by hand; deltalake-core 1.1 still reads through it, and so does this.
#[allow(deprecated)]
use deltalake::parquet::arrow::async_reader::{
    ParquetObjectReader, ParquetRecordBatchStreamBuilder,
};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde::Serialize;

use crate::catalog::Row;
use crate::checksum::CHECKSUM_TAG;
use crate::error::LakeError;
use crate::table::LakeTable;

/// Files checked at once.
const CONCURRENT_CHECKS: usize = 8;

/// One problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `missing`, `size`, `footer`, `rows`, `checksum`, `data` or `stray`.
    pub problem: &'static str,
    /// The file, relative to the table.
    pub file: String,
    /// What is wrong, in words (e.g. the sizes, row counts or checksums that differ).
    pub detail: String,
}

impl Row for Finding {
    fn fields() -> Vec<arrow::datatypes::Field> {
        use arrow::datatypes::{DataType, Field};
        vec![
            Field::new("problem", DataType::Utf8, true),
            Field::new("file", DataType::Utf8, true),
            Field::new("detail", DataType::Utf8, true),
        ]
    }
}

/// What `verify` looked at, and what it found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// The version whose files were checked.
    pub version: u64,
    /// Data files the version lists, all of which were checked.
    pub files_checked: u64,
    /// Their total size as the log records it, in bytes.
    pub bytes_checked: u64,
    /// Files whose commit recorded no checksum (written by compaction, a column widening
    /// or another writer): checked for everything but their bytes.
    pub files_without_checksum: u64,
    /// Problems found: at most one per listed file, in log order, then stray files by path.
    pub findings: Vec<Finding>,
}

/// One file of the current version, as the log describes it.
struct Listed {
    path: Path,
    size: u64,
    rows: Option<u64>,
    /// The SHA-256 its `add` action's tags hold.
    checksum: Option<String>,
}

impl LakeTable {
    /// Check the current version's files, and the directory for files no commit added.
    /// `deep` also decodes every page of every file (reads the whole table).
    pub async fn verify(&self, deep: bool) -> Result<VerifyReport, LakeError> {
        let snapshot = self
            .delta()
            .snapshot()
            .map_err(|e| LakeError::delta("reading Delta table", self.url(), e))?;
        let added = self.files_ever_added().await?;
        let listed: Vec<Listed> = snapshot
            .log_data()
            .into_iter()
            .map(|f| {
                let path = f.object_store_path();
                Listed {
                    checksum: added.get(&path).cloned().flatten(),
                    size: f.size().max(0) as u64,
                    rows: f.num_records().map(|n| n as u64),
                    path,
                }
            })
            .collect();
        let store = self.delta().log_store().object_store(None);
        let mut findings: Vec<Finding> = futures::stream::iter(&listed)
            .map(|file| check_file(store.clone(), file, deep))
            .buffered(CONCURRENT_CHECKS)
            .filter_map(|found| async move { found })
            .collect()
            .await;
        findings.extend(self.stray_files(&store, &added).await?);
        Ok(VerifyReport {
            version: self.version().max(0) as u64,
            files_checked: listed.len() as u64,
            bytes_checked: listed.iter().map(|f| f.size).sum(),
            files_without_checksum: listed.iter().filter(|f| f.checksum.is_none()).count() as u64,
            findings,
        })
    }

    /// Parquet files in the table's directory that no commit in the log ever added.
    async fn stray_files(
        &self,
        store: &Arc<dyn ObjectStore>,
        added: &HashMap<Path, Option<String>>,
    ) -> Result<Vec<Finding>, LakeError> {
        let storage_err = |source| LakeError::Storage {
            op: "listing",
            location: self.url().to_string(),
            source,
        };
        let objects: Vec<_> = store.list(None).try_collect().await.map_err(storage_err)?;
        let mut stray: Vec<Finding> = objects
            .into_iter()
            .filter(|o| is_data_file(&o.location) && !added.contains_key(&o.location))
            .map(|o| Finding {
                problem: "stray",
                file: o.location.to_string(),
                detail: format!(
                    "{} bytes that no commit added (a write that never committed); \
                     `pipelab lake vacuum` deletes such files",
                    o.size
                ),
            })
            .collect();
        stray.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(stray)
    }

    /// Every data file path an `add` action of any retained commit names, with the
    /// checksum the newest such action recorded.
    async fn files_ever_added(&self) -> Result<HashMap<Path, Option<String>>, LakeError> {
        let latest = self.version().max(0) as u64;
        let log_store = self.delta().log_store();
        let entries: Vec<Option<bytes::Bytes>> = futures::stream::iter(0..=latest)
            .map(|v| {
                let log_store = log_store.clone();
                async move { log_store.read_commit_entry(v).await }
            })
            .buffered(CONCURRENT_CHECKS)
            .try_collect()
            .await
            .map_err(|e| LakeError::delta("reading commits of", self.url(), e))?;
        let mut added = HashMap::new();
        for (version, entry) in (0..=latest).zip(entries) {
            let Some(bytes) = entry else { continue };
            let actions = get_actions(version, &bytes)
                .map_err(|e| LakeError::delta("parsing commit of", self.url(), e))?;
            for action in actions {
                if let Action::Add(add) = action {
                    let checksum = add
                        .tags
                        .as_ref()
                        .and_then(|tags| tags.get(CHECKSUM_TAG).cloned().flatten());
                    added.insert(
                        Path::from_url_path(&add.path).unwrap_or_else(|_| Path::from(add.path)),
                        checksum,
                    );
                }
            }
        }
        // Commits folded into a checkpoint and cleaned up: their files are in the snapshot,
        // with the tags the checkpoint kept.
        if let Ok(snapshot) = self.delta().snapshot() {
            for file in snapshot.log_data() {
                #[allow(deprecated)] // the one public way to a file's tags
                let tags = file.add_action().tags;
                let checksum = tags.and_then(|mut tags| tags.remove(CHECKSUM_TAG).flatten());
                added.entry(file.object_store_path()).or_insert(checksum);
            }
        }
        Ok(added)
    }
}

/// A Parquet file outside `_delta_log/` and hidden (`_`, `.`) directories.
fn is_data_file(path: &Path) -> bool {
    let hidden = path
        .parts()
        .any(|p| p.as_ref().starts_with('_') || p.as_ref().starts_with('.'));
    !hidden && path.extension() == Some("parquet")
}

/// The first problem of one listed file, if any.
async fn check_file(store: Arc<dyn ObjectStore>, file: &Listed, deep: bool) -> Option<Finding> {
    let finding = |problem, detail: String| {
        Some(Finding {
            problem,
            file: file.path.to_string(),
            detail,
        })
    };
    let meta = match store.head(&file.path).await {
        Ok(meta) => meta,
        Err(object_store::Error::NotFound { .. }) => {
            return finding("missing", "listed by the log but not in storage".into());
        }
        Err(e) => return finding("missing", format!("cannot read its metadata: {e}")),
    };
    if meta.size != file.size {
        return finding(
            "size",
            format!("{} bytes in storage, {} in the log", meta.size, file.size),
        );
    }
    #[allow(deprecated)]
    let reader =
        ParquetObjectReader::new(store.clone(), file.path.clone()).with_file_size(meta.size);
    let builder = match ParquetRecordBatchStreamBuilder::new(reader).await {
        Ok(builder) => builder,
        Err(e) => return finding("footer", format!("unreadable Parquet footer: {e}")),
    };
    let footer_rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
    if let Some(rows) = file.rows.filter(|&rows| rows != footer_rows) {
        return finding(
            "rows",
            format!("{footer_rows} rows in the footer, {rows} in the log's statistics"),
        );
    }
    if let Some(expected) = &file.checksum {
        let actual = match store.get(&file.path).await {
            Ok(got) => crate::checksum::sha256_of(got.into_stream()).await,
            Err(e) => Err(e),
        };
        match actual {
            Ok((actual, _)) if &actual == expected => {}
            Ok((actual, _)) => {
                return finding(
                    "checksum",
                    format!(
                        "its bytes changed since they were written: SHA-256 {actual}, \
                         its commit recorded {expected}"
                    ),
                );
            }
            Err(e) => return finding("checksum", format!("cannot read its bytes: {e}")),
        }
    }
    if deep {
        let mut decoded = 0u64;
        let mut stream = match builder.build() {
            Ok(stream) => stream,
            Err(e) => return finding("data", format!("cannot read its data: {e}")),
        };
        while let Some(batch) = stream.next().await {
            match batch {
                Ok(batch) => decoded += batch.num_rows() as u64,
                Err(e) => return finding("data", format!("a page does not decode: {e}")),
            }
        }
        if decoded != footer_rows {
            return finding(
                "data",
                format!("{decoded} rows decode, the footer says {footer_rows}"),
            );
        }
    }
    None
}
