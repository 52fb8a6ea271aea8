//! Pipeline steps: each step is DataFusion SQL over the table `input`, which holds
//! the micro-batch (for the first step) or the previous step's result; every earlier
//! step's result is a table of the step's name too, so steps may branch (a lake sink
//! takes one step, a database sink another).
//!
//! This crate talks to neither Kafka nor storage: batches in, batches out.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement};
use futures::lock::Mutex;
use thiserror::Error;

/// One named SQL step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Names the step in errors and dead letters.
    pub name: String,
    /// One DataFusion SQL query over the table `input`.
    pub sql: String,
}

/// Why a step failed. The source is DataFusion's (or its SQL parser's) error.
pub type StepSource = Box<dyn std::error::Error + Send + Sync>;

/// Why a step failed: its SQL cannot run at all, or it failed on the data.
#[derive(Debug, Error)]
pub enum TransformError {
    /// The SQL cannot run on this input at all (syntax, an unknown column or function):
    /// no record is to blame, so the pipeline stops with this message.
    #[error("step '{step}': {source}\n  in SQL: {sql}")]
    Sql {
        /// The failing step's name.
        step: String,
        /// The step's SQL, trimmed.
        sql: String,
        /// DataFusion's (or its SQL parser's) error.
        #[source]
        source: StepSource,
    },
    /// The SQL was planned but failed while running over the data (a cast of some
    /// value, a division by zero): some records are to blame, and isolating them is
    /// worth trying.
    #[error("step '{step}' failed on the data: {source}\n  in SQL: {sql}")]
    Execution {
        /// The failing step's name.
        step: String,
        /// The step's SQL, trimmed.
        sql: String,
        /// DataFusion's error while running the plan.
        #[source]
        source: StepSource,
    },
}

impl TransformError {
    fn sql(step: &Step, source: impl Into<StepSource>) -> Self {
        TransformError::Sql {
            step: step.name.clone(),
            sql: step.sql.trim().to_string(),
            source: source.into(),
        }
    }

    fn execution(step: &Step, source: impl Into<StepSource>) -> Self {
        TransformError::Execution {
            step: step.name.clone(),
            sql: step.sql.trim().to_string(),
            source: source.into(),
        }
    }

    /// True when some records may be to blame (see [`TransformError::Execution`]).
    pub fn is_data_error(&self) -> bool {
        matches!(self, TransformError::Execution { .. })
    }

    /// The step that failed.
    pub fn step(&self) -> &str {
        match self {
            TransformError::Sql { step, .. } | TransformError::Execution { step, .. } => step,
        }
    }

    /// The error without the step and SQL (for a dead letter, which names the step).
    pub fn message(&self) -> String {
        match self {
            TransformError::Sql { source, .. } | TransformError::Execution { source, .. } => {
                source.to_string()
            }
        }
    }
}

/// The steps of a pipeline, checked for syntax when built, and the one DataFusion
/// session they run in for the pipeline's life (a session per batch and step would
/// build its function registry and configuration again every time).
#[derive(Default)]
pub struct Transform {
    steps: Vec<Step>,
    /// Holds only the table `input`, replaced for every step; the lock keeps two
    /// batches from seeing each other's.
    session: Mutex<SessionContext>,
}

impl std::fmt::Debug for Transform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transform")
            .field("steps", &self.steps)
            .finish()
    }
}

impl Transform {
    /// Parse every step now, so a typo fails at start and not on the first batch.
    pub fn new(steps: Vec<Step>) -> Result<Self, TransformError> {
        for step in &steps {
            let statements =
                DFParser::parse_sql(&step.sql).map_err(|e| TransformError::sql(step, e))?;
            match statements.len() {
                1 => {}
                n => {
                    return Err(TransformError::sql(
                        step,
                        format!("expected one SQL query, found {n} statements"),
                    ));
                }
            }
            if !matches!(statements.front(), Some(Statement::Statement(s)) if matches!(**s, datafusion::sql::sqlparser::ast::Statement::Query(_)))
            {
                return Err(TransformError::sql(
                    step,
                    "a step must be a query (SELECT ... FROM input)",
                ));
            }
        }
        Ok(Self {
            steps,
            session: Mutex::new(ordered_session()),
        })
    }

    /// The steps, in the order they run.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Run the steps over one batch. With no steps the batch passes through.
    pub async fn apply(&self, batch: RecordBatch) -> Result<Vec<RecordBatch>, TransformError> {
        let input = vec![batch];
        let mut outputs = self.apply_all(input.clone()).await?;
        Ok(outputs.pop().map_or(input, |o| o.batches))
    }

    /// Run the steps over one batch and keep every step's result, in step order.
    pub async fn apply_all(
        &self,
        input: Vec<RecordBatch>,
    ) -> Result<Vec<StepOutput>, TransformError> {
        let Some(schema) = input.first().map(RecordBatch::schema) else {
            return Ok(Vec::new());
        };
        let raw = StepOutput {
            name: "input".to_string(),
            schema,
            batches: input,
        };
        let session = self.session.lock().await;
        let mut outputs: Vec<StepOutput> = Vec::with_capacity(self.steps.len());
        for step in &self.steps {
            let previous = outputs.last().unwrap_or(&raw);
            let output = run_step(&session, step, previous, &outputs).await;
            // Whatever happened, no batch may stay registered.
            let _ = session.deregister_table("input");
            for earlier in &outputs {
                let _ = session.deregister_table(earlier.name.as_str());
            }
            outputs.push(output?);
        }
        Ok(outputs)
    }
}

/// One step's result: its rows and their schema (known even when there are no rows).
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// The step's name.
    pub name: String,
    /// The result's schema.
    pub schema: SchemaRef,
    /// The result's rows.
    pub batches: Vec<RecordBatch>,
}

/// Rows leave a step in the order the records came (per partition, Kafka's order)
/// unless its SQL orders or groups them: no round-robin repartition scatters the batches
/// of a scan. A database sink's upsert keeps the last row of a key, so order matters.
fn ordered_session() -> SessionContext {
    let config = datafusion::prelude::SessionConfig::new().with_round_robin_repartition(false);
    SessionContext::new_with_config(config)
}

async fn run_step(
    ctx: &SessionContext,
    step: &Step,
    input: &StepOutput,
    earlier: &[StepOutput],
) -> Result<StepOutput, TransformError> {
    // Each step plans anew against this batch's `input`: its schema can grow between
    // batches.
    let tables =
        std::iter::once(("input", input)).chain(earlier.iter().map(|o| (o.name.as_str(), o)));
    for (name, output) in tables {
        let table = MemTable::try_new(output.schema.clone(), vec![output.batches.clone()])
            .map_err(|e| TransformError::sql(step, e))?;
        ctx.register_table(name, Arc::new(table))
            .map_err(|e| TransformError::sql(step, e))?;
    }
    let df = ctx
        .sql(&step.sql)
        .await
        .map_err(|e| TransformError::sql(step, e))?;
    // Planning (name resolution, type coercion, constant folding) fails the same way for
    // any input: an SQL error. Only what fails while running over rows is a data error.
    let plan = df
        .create_physical_plan()
        .await
        .map_err(|e| TransformError::sql(step, e))?;
    let schema = plan.schema();
    let batches = datafusion::physical_plan::collect(plan, ctx.task_ctx())
        .await
        .map_err(|e| TransformError::execution(step, e))?;
    Ok(StepOutput {
        name: step.name.clone(),
        schema,
        batches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("ts", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![
                    "2026-11-20T10:00:00Z",
                    "2026-11-21T10:00:00Z",
                ])),
                Arc::new(Int64Array::from(vec![1, 2])),
            ],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn steps_chain_over_input() {
        let t = Transform::new(vec![
            Step {
                name: "day".into(),
                sql: "SELECT *, substr(ts, 1, 10) AS dt FROM input".into(),
            },
            Step {
                name: "filter".into(),
                sql: "SELECT dt, n FROM input WHERE n > 1".into(),
            },
        ])
        .unwrap();
        let out = t.apply(batch()).await.unwrap();
        let rows: usize = out.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, 1);
        assert_eq!(out[0].schema().field(0).name(), "dt");
    }

    /// One session serves every batch: each is planned against its own `input`, whose
    /// schema may have grown, and an error leaves nothing registered behind.
    #[tokio::test]
    async fn batches_share_the_session_but_not_their_input() {
        let t = Transform::new(vec![Step {
            name: "all".into(),
            sql: "SELECT * FROM input".into(),
        }])
        .unwrap();
        let first = t.apply(batch()).await.unwrap();
        assert_eq!(first[0].num_columns(), 2);
        let narrow = batch().project(&[0]).unwrap();
        let second = t.apply(narrow).await.unwrap();
        assert_eq!(second[0].num_columns(), 1);
        assert!(!t.session.lock().await.table_exist("input").unwrap());
    }

    /// A step may read any earlier step by its name, so two sinks can take two branches.
    #[tokio::test]
    async fn steps_read_earlier_steps_by_name() {
        let t = Transform::new(vec![
            Step {
                name: "days".into(),
                sql: "SELECT substr(ts, 1, 10) AS dt, n FROM input".into(),
            },
            Step {
                name: "big".into(),
                sql: "SELECT n FROM input WHERE n > 1".into(),
            },
            Step {
                name: "counted".into(),
                sql: "SELECT count(*) AS c FROM days".into(),
            },
        ])
        .unwrap();
        let out = t.apply_all(vec![batch()]).await.unwrap();
        let names: Vec<&str> = out.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["days", "big", "counted"]);
        let rows = |i: usize| {
            out[i]
                .batches
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>()
        };
        assert_eq!((rows(0), rows(1)), (2, 1));
        let c = out[2].batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(c.value(0), 2);
        assert!(!t.session.lock().await.table_exist("days").unwrap());
    }

    #[test]
    fn syntax_error_names_the_step_and_sql() {
        let err = Transform::new(vec![Step {
            name: "bad".into(),
            sql: "SELEC * FROM input".into(),
        }])
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("step 'bad'") && msg.contains("SELEC * FROM input"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn unknown_column_is_reported_with_the_sql() {
        let t = Transform::new(vec![Step {
            name: "s".into(),
            sql: "SELECT nope FROM input".into(),
        }])
        .unwrap();
        let err = t.apply(batch()).await.unwrap_err();
        assert!(!err.is_data_error());
        let msg = err.to_string();
        assert!(
            msg.contains("nope") && msg.contains("in SQL: SELECT nope FROM input"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn a_value_that_fails_at_run_time_is_a_data_error() {
        let t = Transform::new(vec![Step {
            name: "cast".into(),
            sql: "SELECT CAST(ts AS INT) AS n FROM input".into(),
        }])
        .unwrap();
        let err = t.apply(batch()).await.unwrap_err();
        assert!(err.is_data_error(), "{err}");
        assert_eq!(err.step(), "cast");
    }
}
