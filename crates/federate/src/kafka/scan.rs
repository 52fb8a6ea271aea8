//! One query's read of a topic: the partitions and offsets its filters allow, read on a
//! blocking thread into batches of the columns it wants.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::streaming::PartitionStream;
use pipelab_ingest::{IngestError, PartitionRange, TopicReader};

use super::columns::BatchMaker;

/// What filters on `_partition_id` and `_partition_offset` allow to be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Bounds {
    partition: Option<i64>,
    /// Offsets from (inclusive) and to (exclusive).
    from: Option<i64>,
    to: Option<i64>,
    /// Filters that no record passes (two different partitions).
    none: bool,
}

impl Bounds {
    /// The bounds one filter sets: `column op literal` or `literal op column`.
    pub(super) fn of(filter: &Expr) -> Option<Self> {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = filter else {
            return None;
        };
        let (column, op, value) = match (left.as_ref(), right.as_ref()) {
            (Expr::Column(c), Expr::Literal(v, _)) => (c, *op, v),
            (Expr::Literal(v, _), Expr::Column(c)) => (c, op.swap()?, v),
            _ => return None,
        };
        let value = match value {
            ScalarValue::Int8(Some(v)) => i64::from(*v),
            ScalarValue::Int16(Some(v)) => i64::from(*v),
            ScalarValue::Int32(Some(v)) => i64::from(*v),
            ScalarValue::Int64(Some(v)) => *v,
            _ => return None,
        };
        let mut bounds = Bounds::default();
        match (column.name.as_str(), op) {
            ("_partition_id", Operator::Eq) => bounds.partition = Some(value),
            ("_partition_offset", Operator::Eq) => {
                bounds.from = Some(value);
                bounds.to = Some(value.saturating_add(1));
            }
            ("_partition_offset", Operator::Gt) => bounds.from = Some(value.saturating_add(1)),
            ("_partition_offset", Operator::GtEq) => bounds.from = Some(value),
            ("_partition_offset", Operator::Lt) => bounds.to = Some(value),
            ("_partition_offset", Operator::LtEq) => bounds.to = Some(value.saturating_add(1)),
            _ => return None,
        }
        Some(bounds)
    }

    /// The bounds of both filters: a record passes both.
    pub(super) fn and(self, other: Self) -> Self {
        let partition = match (self.partition, other.partition) {
            (Some(a), Some(b)) if a != b => return Self { none: true, ..self },
            (a, b) => a.or(b),
        };
        Self {
            partition,
            from: self.from.max(other.from),
            to: match (self.to, other.to) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            none: self.none || other.none,
        }
    }

    /// The part of a partition's range these bounds keep.
    fn apply(&self, range: PartitionRange) -> Option<PartitionRange> {
        if self.none
            || self
                .partition
                .is_some_and(|p| p != i64::from(range.partition))
        {
            return None;
        }
        Some(PartitionRange {
            partition: range.partition,
            from: range.from.max(self.from.unwrap_or(i64::MIN)),
            to: range.to.min(self.to.unwrap_or(i64::MAX)),
        })
    }
}

/// The read of one query: every partition of the topic, within the bounds.
#[derive(Debug)]
pub(super) struct TopicStream {
    /// The cluster's brokers.
    pub(super) brokers: String,
    /// The topic read.
    pub(super) topic: String,
    /// The table's schema: internal columns, then value fields.
    pub(super) table: SchemaRef,
    /// The table's columns the query wants, in `projected`'s order.
    pub(super) columns: Vec<usize>,
    /// The schema of the batches sent.
    pub(super) projected: SchemaRef,
    /// What the query's filters allow to be read.
    pub(super) bounds: Bounds,
}

impl PartitionStream for TopicStream {
    fn schema(&self) -> &SchemaRef {
        &self.projected
    }

    fn execute(&self, ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let mut builder = RecordBatchReceiverStreamBuilder::new(Arc::clone(&self.projected), 2);
        let tx = builder.tx();
        let chunk = ctx.session_config().batch_size();
        let brokers = self.brokers.clone();
        let topic = self.topic.clone();
        let bounds = self.bounds.clone();
        let mut batches = BatchMaker::new(&self.table, &self.columns, &self.projected);
        builder.spawn_blocking(move || {
            let reader = TopicReader::connect(&brokers).map_err(external)?;
            let partitions = reader
                .partitions(&topic)
                .map_err(external)?
                .ok_or_else(|| DataFusionError::Execution(format!("topic {topic:?} is gone")))?;
            let ranges: Vec<PartitionRange> = reader
                .snapshot(&topic, &partitions)
                .map_err(external)?
                .into_iter()
                .filter_map(|r| bounds.apply(r))
                .collect();
            reader
                .read(&topic, &ranges, chunk, |records| {
                    let batch = batches.make(&topic, &records);
                    let failed = batch.is_err();
                    // A closed channel: the query ended (LIMIT, cancel).
                    tx.blocking_send(batch).is_ok() && !failed
                })
                .map_err(external)
        });
        builder.build()
    }
}

fn external(e: IngestError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    #[test]
    fn offset_and_partition_filters_bound_the_read() {
        let bounds = [
            col("_partition_offset").gt_eq(lit(10i64)),
            col("_partition_offset").lt(lit(20i64)),
            lit(1i32).eq(col("_partition_id")),
        ]
        .iter()
        .map(|f| Bounds::of(f).expect("a bound"))
        .fold(Bounds::default(), Bounds::and);
        let range = |partition| PartitionRange {
            partition,
            from: 0,
            to: 100,
        };
        assert_eq!(
            bounds.apply(range(1)),
            Some(PartitionRange {
                partition: 1,
                from: 10,
                to: 20
            })
        );
        assert_eq!(bounds.apply(range(0)), None);
        assert!(Bounds::of(&col("country").eq(lit("DE"))).is_none());
        let two = Bounds::of(&col("_partition_id").eq(lit(1i64)))
            .unwrap()
            .and(Bounds::of(&col("_partition_id").eq(lit(2i64))).unwrap());
        assert_eq!(two.apply(range(1)), None);
    }
}
