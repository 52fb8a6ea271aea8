//! Checking a table's files against its Delta log: every file the current version lists
//! must be there with the size the log records and a readable Parquet footer whose row
//! count is the log's; with `deep`, every page must decode; and no data file may sit in
//! the table's directory that no commit ever added (a write that never committed).

use std::collections::HashSet;
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
use crate::error::LakeError;
use crate::table::LakeTable;

/// Files checked at once.
const CONCURRENT_CHECKS: usize = 8;

/// One problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `missing`, `size`, `footer`, `rows`, `data` or `stray`.
    pub problem: &'static str,
    /// The file, relative to the table.
    pub file: String,
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
    pub version: u64,
    pub files_checked: u64,
    pub bytes_checked: u64,
    pub findings: Vec<Finding>,
}

/// One file of the current version, as the log describes it.
struct Listed {
    path: Path,
    size: u64,
    rows: Option<u64>,
}

impl LakeTable {
    /// Check the current version's files, and the directory for files no commit added.
    /// `deep` also decodes every page of every file (reads the whole table).
    pub async fn verify(&self, deep: bool) -> Result<VerifyReport, LakeError> {
        let snapshot = self
            .delta()
            .snapshot()
            .map_err(|e| LakeError::delta("reading Delta table", self.url(), e))?;
        let listed: Vec<Listed> = snapshot
            .log_data()
            .into_iter()
            .map(|f| Listed {
                path: f.object_store_path(),
                size: f.size().max(0) as u64,
                rows: f.num_records().map(|n| n as u64),
            })
            .collect();
        let store = self.delta().log_store().object_store(None);
        let mut findings: Vec<Finding> = futures::stream::iter(&listed)
            .map(|file| check_file(store.clone(), file, deep))
            .buffered(CONCURRENT_CHECKS)
            .filter_map(|found| async move { found })
            .collect()
            .await;
        findings.extend(self.stray_files(&store).await?);
        Ok(VerifyReport {
            version: self.version().max(0) as u64,
            files_checked: listed.len() as u64,
            bytes_checked: listed.iter().map(|f| f.size).sum(),
            findings,
        })
    }

    /// Parquet files in the table's directory that no commit in the log ever added.
    async fn stray_files(&self, store: &Arc<dyn ObjectStore>) -> Result<Vec<Finding>, LakeError> {
        let added = self.paths_ever_added().await?;
        let storage_err = |source| LakeError::Storage {
            op: "listing",
            location: self.url().to_string(),
            source,
        };
        let objects: Vec<_> = store.list(None).try_collect().await.map_err(storage_err)?;
        let mut stray: Vec<Finding> = objects
            .into_iter()
            .filter(|o| is_data_file(&o.location) && !added.contains(&o.location))
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

    /// Every data file path an `add` action of any retained commit names.
    async fn paths_ever_added(&self) -> Result<HashSet<Path>, LakeError> {
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
        let mut added = HashSet::new();
        for (version, entry) in (0..=latest).zip(entries) {
            let Some(bytes) = entry else { continue };
            let actions = get_actions(version, &bytes)
                .map_err(|e| LakeError::delta("parsing commit of", self.url(), e))?;
            for action in actions {
                if let Action::Add(add) = action {
                    added.insert(
                        Path::from_url_path(&add.path).unwrap_or_else(|_| Path::from(add.path)),
                    );
                }
            }
        }
        // Commits folded into a checkpoint and cleaned up: their files are in the snapshot.
        if let Ok(snapshot) = self.delta().snapshot() {
            added.extend(
                snapshot
                    .log_data()
                    .into_iter()
                    .map(|f| f.object_store_path()),
            );
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
    let reader = ParquetObjectReader::new(store, file.path.clone()).with_file_size(meta.size);
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
