//! One Kafka topic as a table: its columns typed from a sample of its records, and the
//! filters that narrow what a scan of it reads.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use pipelab_ingest::{IngestError, JsonDecoder, PartitionRange, TopicReader};

use super::columns::internal_fields;
use super::scan::{Bounds, TopicStream};

/// Records read to type a topic's value fields: this many from the start of each
/// partition and as many of its latest (fields added later are in those).
const SAMPLE_PER_END: i64 = 500;

/// One topic as a table.
#[derive(Debug)]
pub(super) struct TopicTable {
    brokers: String,
    topic: String,
    /// Internal columns, then value fields.
    schema: SchemaRef,
}

impl TopicTable {
    /// The topic's table, its value fields typed from a sample; `None` when there is no
    /// such topic.
    pub(super) fn sample(brokers: &str, topic: &str) -> Result<Option<Self>, IngestError> {
        let reader = TopicReader::connect(brokers)?;
        let Some(partitions) = reader.partitions(topic)? else {
            return Ok(None);
        };
        let (mut heads, mut tails) = (Vec::new(), Vec::new());
        for range in reader.snapshot(topic, &partitions)? {
            let head_end = range.to.min(range.from + SAMPLE_PER_END);
            heads.push(PartitionRange {
                to: head_end,
                ..range
            });
            tails.push(PartitionRange {
                from: (range.to - SAMPLE_PER_END).max(head_end),
                ..range
            });
        }
        let mut decoder = JsonDecoder::new();
        // Every partition's head in one read, then every tail: each read waits for the
        // broker's fetches once, not once per partition.
        for ranges in [heads, tails] {
            reader.read(topic, &ranges, SAMPLE_PER_END as usize, |records| {
                // Records that do not decode only leave the sample's types as they are.
                let _ = decoder.decode(topic, &records);
                true
            })?;
        }
        let mut fields = internal_fields();
        for field in decoder.schema().fields() {
            if fields.iter().any(|f| f.name() == field.name()) {
                tracing::warn!(
                    topic,
                    field = %field.name(),
                    "value field left out: its name is an internal column's (it is in _message)"
                );
                continue;
            }
            fields.push(field.as_ref().clone().with_nullable(true));
        }
        Ok(Some(Self {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
            schema: Arc::new(Schema::new(fields)),
        }))
    }
}

#[async_trait]
impl TableProvider for TopicTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Bounds narrow the read; DataFusion still applies every filter.
        Ok(filters
            .iter()
            .map(|f| {
                if Bounds::of(f).is_some() {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let columns: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let projected = Arc::new(self.schema.project(&columns)?);
        let bounds = filters
            .iter()
            .filter_map(Bounds::of)
            .fold(Bounds::default(), Bounds::and);
        let stream = TopicStream {
            brokers: self.brokers.clone(),
            topic: self.topic.clone(),
            table: Arc::clone(&self.schema),
            columns,
            projected: Arc::clone(&projected),
            bounds,
        };
        Ok(Arc::new(StreamingTableExec::try_new(
            projected,
            vec![Arc::new(stream) as Arc<dyn PartitionStream>],
            None,
            Vec::new(),
            false,
            limit,
        )?))
    }
}
