//! What the scans of an executed query read: files, partitions and bytes, from the
//! plan's file scans and DataFusion's scan metrics.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;

/// Run a DataFrame to the end, with what its scans read.
pub async fn collect_with_stats(
    df: datafusion::dataframe::DataFrame,
) -> datafusion::error::Result<(Vec<RecordBatch>, ScanStats)> {
    let task = Arc::new(df.task_ctx());
    let physical = df.create_physical_plan().await?;
    let batches = datafusion::physical_plan::collect(physical.clone(), task).await?;
    Ok((batches, ScanStats::of(&physical)))
}

/// What the scans of one executed query read: the Parquet files they opened (after
/// partition and file pruning) and the bytes DataFusion's Parquet reader fetched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Files the scans were planned over.
    pub files: usize,
    /// Directories (partitions) those files are in.
    pub partitions: usize,
    /// Those files' sizes, summed.
    pub file_bytes: u64,
    /// Bytes read from them (`bytes_scanned`: footers, pages of the columns needed).
    pub bytes_scanned: u64,
}

impl ScanStats {
    /// Summed over every file scan in an executed plan. A file DataFusion splits into
    /// byte ranges over several partitions is counted once.
    pub fn of(plan: &Arc<dyn ExecutionPlan>) -> Self {
        let mut stats = Self::default();
        let mut files = std::collections::HashMap::new();
        stats.add(plan, &mut files);
        stats.files = files.len();
        stats.file_bytes = files.values().sum();
        stats.partitions = files
            .keys()
            .map(|path| path.rsplit_once('/').map_or("", |(dir, _)| dir))
            .collect::<std::collections::HashSet<_>>()
            .len();
        stats
    }

    /// Adds the bytes read; collects each file's URL and size into `files`.
    fn add(
        &mut self,
        plan: &Arc<dyn ExecutionPlan>,
        files: &mut std::collections::HashMap<String, u64>,
    ) {
        if let Some(exec) = plan.downcast_ref::<DataSourceExec>()
            && let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>()
        {
            for file in config.file_groups.iter().flat_map(|g| g.iter()) {
                let url = format!(
                    "{}{}",
                    config.object_store_url.as_str(),
                    file.object_meta.location
                );
                files.insert(url, file.object_meta.size);
            }
            if let Some(metrics) = plan.metrics()
                && let Some(bytes) = metrics.sum_by_name("bytes_scanned")
            {
                self.bytes_scanned += bytes.as_usize() as u64;
            }
        }
        for child in plan.children() {
            self.add(child, files);
        }
    }
}

impl std::fmt::Display for ScanStats {
    /// `scanned 3 file(s) of 1234567 bytes, read 310112 bytes`: exact counts, for scripts.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scanned {} file(s) of {} bytes, read {} bytes",
            self.files, self.file_bytes, self.bytes_scanned
        )
    }
}
