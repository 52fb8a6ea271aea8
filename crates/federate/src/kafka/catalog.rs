//! A Kafka catalog's settings, and the catalog and schema providers that list its topics
//! and open each as a table when a query names it.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::prelude::SessionContext;
use pipelab_ingest::{IngestError, TopicReader};

use super::table::TopicTable;
use crate::register::{DEFAULT_SCHEMA, RegisterError};

/// How long a topic's columns are kept before a query samples it again: a long-running
/// `pipelab serve` sees fields added to a topic.
const COLUMNS_KEPT: Duration = Duration::from_secs(30);

/// A Kafka catalog's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaCatalog {
    /// The brokers to connect to (`host:port`, comma-separated).
    pub brokers: String,
    /// Only these topics, when given.
    pub topics: Option<Vec<String>>,
}

impl KafkaCatalog {
    /// Connect, list the topics and register them in `ctx` as catalog `name`, schema
    /// `default`. A topic's columns are sampled when a query first names it. Returns the
    /// tables as `catalog.default.topic`.
    pub async fn register(
        &self,
        ctx: &SessionContext,
        name: &str,
    ) -> Result<Vec<String>, RegisterError> {
        let brokers = self.brokers.clone();
        let error = |message: String| RegisterError::Database {
            catalog: name.to_string(),
            address: self.brokers.clone(),
            message,
            user_fixable: false,
        };
        let found = blocking(move || TopicReader::connect(&brokers)?.topics())
            .await
            .map_err(|e| error(e.to_string()))?;
        let mut topics: Vec<String> = found.into_iter().map(|(topic, _)| topic).collect();
        if let Some(wanted) = &self.topics {
            if let Some(missing) = wanted.iter().find(|t| !topics.contains(t)) {
                return Err(RegisterError::Database {
                    catalog: name.to_string(),
                    address: self.brokers.clone(),
                    message: format!(
                        "no topic {missing:?}; the topics are: {}",
                        topics.join(", ")
                    ),
                    user_fixable: true,
                });
            }
            topics.clone_from(wanted);
        }
        let registered = topics
            .iter()
            .map(|t| format!("{name}.{DEFAULT_SCHEMA}.{t}"))
            .collect();
        let schema = TopicSchema {
            brokers: self.brokers.clone(),
            only: self.topics.clone(),
            listed: topics,
            opened: Mutex::default(),
        };
        ctx.register_catalog(name, Arc::new(KafkaCatalogProvider(Arc::new(schema))));
        Ok(registered)
    }
}

/// Run blocking Kafka calls off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, IngestError> + Send + 'static,
) -> Result<T, IngestError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| IngestError::Thread {
            what: "Kafka catalog",
            source: std::io::Error::other(e.to_string()),
        })?
}

/// The catalog: one schema, `default`, of the cluster's topics.
#[derive(Debug)]
struct KafkaCatalogProvider(Arc<TopicSchema>);

impl CatalogProvider for KafkaCatalogProvider {
    fn schema_names(&self) -> Vec<String> {
        vec![DEFAULT_SCHEMA.to_string()]
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        (name == DEFAULT_SCHEMA).then(|| Arc::clone(&self.0) as Arc<dyn SchemaProvider>)
    }
}

/// The topics of one cluster, as tables.
struct TopicSchema {
    brokers: String,
    only: Option<Vec<String>>,
    /// The topics when the catalog was registered (what `SHOW TABLES` lists); a topic
    /// made since is still found by name.
    listed: Vec<String>,
    opened: Mutex<HashMap<String, (Instant, Arc<TopicTable>)>>,
}

impl fmt::Debug for TopicSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopicSchema")
            .field("brokers", &self.brokers)
            .field("topics", &self.listed)
            .finish()
    }
}

#[async_trait]
impl SchemaProvider for TopicSchema {
    fn table_names(&self) -> Vec<String> {
        self.listed.clone()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if self
            .only
            .as_ref()
            .is_some_and(|only| !only.iter().any(|t| t == name))
        {
            return Ok(None);
        }
        if let Some((at, table)) = self.opened.lock().ok().and_then(|o| o.get(name).cloned())
            && at.elapsed() < COLUMNS_KEPT
        {
            return Ok(Some(table as Arc<dyn TableProvider>));
        }
        let brokers = self.brokers.clone();
        let topic = name.to_string();
        let table = blocking(move || TopicTable::sample(&brokers, &topic))
            .await
            .map_err(|e| DataFusionError::Plan(format!("Kafka topic {name:?}: {e}")))?;
        let Some(table) = table else {
            return Ok(None);
        };
        let table = Arc::new(table);
        if let Ok(mut opened) = self.opened.lock() {
            opened.insert(name.to_string(), (Instant::now(), Arc::clone(&table)));
        }
        Ok(Some(table as Arc<dyn TableProvider>))
    }

    /// Without sampling the topic (`information_schema.tables` asks this of every table).
    async fn table_type(&self, name: &str) -> DfResult<Option<TableType>> {
        Ok(self.table_exist(name).then_some(TableType::Base))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.listed.iter().any(|t| t == name)
    }
}
