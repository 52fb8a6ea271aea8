//! Where each partition stands in the lake: the Delta `txn` action per (pipeline, topic,
//! partition) whose version is the next offset to read, as kafka-delta-ingest keeps it.
//! The runner resumes from it and the writer checks it before every commit. With
//! database sinks, each keeps its own offsets: a partition resumes from the earliest.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use pipelab_dbsink::DatabaseSink;
use pipelab_ingest::OffsetStore;
use pipelab_ingest::StoreError;
use pipelab_lake::{LakeError, LakeLocation, LakeTable};

use crate::error::PipelineError;
use crate::spec::PipelineSpec;

/// The Delta `txn` app id that holds a partition's next offset.
pub(crate) fn app_id(pipeline: &str, topic: &str, partition: i32) -> String {
    format!("pipelab/{pipeline}/{topic}/{partition}")
}

/// Where the partitions stand in the lake: the tables' `txn` versions, read anew on
/// every call (another member may have committed since). Called on the consumer thread,
/// which is not a runtime worker, so it may block on the runtime.
pub(crate) struct LakeOffsets {
    runtime: tokio::runtime::Handle,
    lake: LakeLocation,
    table: String,
    dead_letter_table: String,
    pipeline: String,
    topic: String,
    /// The database sinks, on connections of their own (the writer has its own).
    databases: Vec<tokio::sync::Mutex<DatabaseSink>>,
    /// What each assignment found, for the run report.
    resumed: Mutex<BTreeMap<i32, i64>>,
}

impl LakeOffsets {
    pub(crate) fn new(
        spec: &PipelineSpec,
        lake: &LakeLocation,
        databases: Vec<DatabaseSink>,
    ) -> Self {
        Self {
            runtime: tokio::runtime::Handle::current(),
            lake: lake.clone(),
            table: spec.sink.table.clone(),
            dead_letter_table: spec.dead_letter_table(),
            pipeline: spec.name.clone(),
            topic: spec.source.topic.clone(),
            databases: databases.into_iter().map(tokio::sync::Mutex::new).collect(),
            resumed: Mutex::new(BTreeMap::new()),
        }
    }

    pub(crate) fn resumed(&self) -> BTreeMap<i32, i64> {
        self.resumed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The table's `txn` versions for these partitions; `None` when there is no table.
    fn read(
        &self,
        table: &str,
        partitions: &[i32],
    ) -> Result<Option<BTreeMap<i32, i64>>, PipelineError> {
        let app_ids: BTreeMap<i32, String> = partitions
            .iter()
            .map(|&p| (p, app_id(&self.pipeline, &self.topic, p)))
            .collect();
        self.runtime.block_on(async {
            match open_existing(&self.lake, table).await? {
                Some(mut t) => txn_offsets(&mut t, &app_ids).await.map(Some),
                None => Ok(None),
            }
        })
    }
}

impl LakeOffsets {
    /// `lake` lowered to where the database sinks stand, partition by partition.
    fn with_databases(
        &self,
        lake: BTreeMap<i32, i64>,
    ) -> Result<BTreeMap<i32, i64>, PipelineError> {
        if self.databases.is_empty() {
            return Ok(lake);
        }
        let positions = self.runtime.block_on(async {
            let mut positions = Vec::with_capacity(self.databases.len());
            for sink in &self.databases {
                positions.push(sink.lock().await.positions().await?);
            }
            Ok::<_, PipelineError>(positions)
        })?;
        Ok(earliest(&lake, &positions))
    }
}

impl OffsetStore for LakeOffsets {
    fn resume(&self, partitions: &[i32]) -> Result<HashMap<i32, i64>, StoreError> {
        let found = self.read(&self.table, partitions)?.unwrap_or_default();
        let found = self.with_databases(found)?;
        self.resumed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(found.iter().map(|(&p, &o)| (p, o)));
        Ok(found.into_iter().collect())
    }

    /// Once the table exists, every batch commits its offsets there (with no rows if all
    /// its records were dead letters). Before, only the dead-letter table has any.
    fn handled(&self, partitions: &[i32]) -> Result<HashMap<i32, i64>, StoreError> {
        let found = match self.read(&self.table, partitions)? {
            Some(found) => found,
            None => self
                .read(&self.dead_letter_table, partitions)?
                .unwrap_or_default(),
        };
        let found = self.with_databases(found)?;
        Ok(found.into_iter().collect())
    }
}

pub(crate) async fn open_existing(
    lake: &LakeLocation,
    name: &str,
) -> Result<Option<LakeTable>, PipelineError> {
    match LakeTable::open(lake, name).await {
        Ok(t) => Ok(Some(t)),
        Err(LakeError::TableNotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Next offset per partition, from the table's `txn` actions (the table is refreshed
/// to its newest version first).
pub(crate) async fn txn_offsets(
    table: &mut LakeTable,
    app_ids: &BTreeMap<i32, String>,
) -> Result<BTreeMap<i32, i64>, PipelineError> {
    let ids: Vec<String> = app_ids.values().cloned().collect();
    let versions = table.txn_versions(&ids).await?;
    Ok(app_ids
        .iter()
        .filter_map(|(&p, id)| versions.get(id).map(|&v| (p, v)))
        .collect())
}

/// Per partition, the earliest place a sink stands (absent where any sink holds
/// nothing of the partition: it is read from the beginning).
pub(crate) fn earliest(
    lake: &BTreeMap<i32, i64>,
    databases: &[BTreeMap<i32, i64>],
) -> BTreeMap<i32, i64> {
    lake.iter()
        .filter_map(|(&p, &at)| {
            databases
                .iter()
                .map(|d| d.get(&p).copied())
                .try_fold(at, |least, other| other.map(|o| least.min(o)))
                .map(|least| (p, least))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_resumes_from_the_sink_furthest_behind() {
        let lake = BTreeMap::from([(0, 40), (1, 10), (2, 7)]);
        let db = BTreeMap::from([(0, 30), (1, 12)]);
        // Partition 2: the database holds none of it, so it is read from the beginning.
        assert_eq!(earliest(&lake, &[db]), BTreeMap::from([(0, 30), (1, 10)]));
        assert_eq!(earliest(&lake, &[]), lake);
    }
}
