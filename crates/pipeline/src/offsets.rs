//! Where each partition stands in the lake: the Delta `txn` action per (pipeline, topic,
//! partition) whose version is the next offset to read, as kafka-delta-ingest keeps it.
//! The runner resumes from it and the writer checks it before every commit.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

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
    /// What each assignment found, for the run report.
    resumed: Mutex<BTreeMap<i32, i64>>,
}

impl LakeOffsets {
    pub(crate) fn new(spec: &PipelineSpec, lake: &LakeLocation) -> Self {
        Self {
            runtime: tokio::runtime::Handle::current(),
            lake: lake.clone(),
            table: spec.sink.table.clone(),
            dead_letter_table: spec.dead_letter_table(),
            pipeline: spec.name.clone(),
            topic: spec.source.topic.clone(),
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

impl OffsetStore for LakeOffsets {
    fn resume(&self, partitions: &[i32]) -> Result<HashMap<i32, i64>, StoreError> {
        let found = self.read(&self.table, partitions)?.unwrap_or_default();
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
