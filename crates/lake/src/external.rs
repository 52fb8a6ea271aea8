//! Managed and external tables, as in Hive. A managed table is a directory of the lake:
//! dropping it deletes its data. An external table lives elsewhere (another directory or
//! bucket) and is only named in the lake's catalog (`_pipelab/external.json`): dropping
//! it forgets the name and leaves the data. Both are listed, opened and queried by name.

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::LakeError;
use crate::location::{LakeLocation, validate_table_name};
use crate::table::LakeTable;

/// Where the external tables are named, relative to the lake root.
pub const EXTERNAL_FILE: &str = "_pipelab/external.json";

/// An external table: its name in this lake and where its Delta table is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalTable {
    /// The name the table is listed, opened and queried by in this lake.
    pub name: String,
    /// The table's URL (`file:///…/table/` or `s3://bucket/…/table/`).
    pub location: String,
}

/// What [`LakeLocation::drop_table`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dropped {
    /// An external table's name was forgotten; its data is where it was.
    External {
        /// The URL the forgotten name pointed to.
        location: String,
    },
    /// A managed table's objects (log first, then data files) were deleted.
    Managed {
        /// Objects deleted, log entries and data files together.
        objects: usize,
    },
}

impl LakeLocation {
    /// The external tables named in this lake.
    pub async fn external_tables(&self) -> Result<Vec<ExternalTable>, LakeError> {
        self.read_catalog_file(EXTERNAL_FILE).await
    }

    /// The URL of the external table `name`, if one is named so.
    pub(crate) async fn external_url(&self, name: &str) -> Result<Option<Url>, LakeError> {
        let found = self
            .external_tables()
            .await?
            .into_iter()
            .find(|t| t.name == name);
        found
            .map(|t| {
                Url::parse(&t.location).map_err(|e| LakeError::InvalidLocation {
                    location: format!("{}/{EXTERNAL_FILE}", self.display()),
                    reason: format!("table {name}: {e}"),
                })
            })
            .transpose()
    }

    /// Name the Delta table at `location` (a directory, file:// or s3:// URL, read with
    /// this lake's storage options) `name` in this lake. The name must be free and a
    /// Delta table must be there.
    pub async fn register_external(
        &self,
        name: &str,
        location: &str,
    ) -> Result<ExternalTable, LakeError> {
        validate_table_name(name)?;
        let taken = |reason: String| LakeError::InvalidTableName {
            name: name.to_string(),
            reason,
        };
        if self.managed_table_exists(name).await? {
            return Err(taken(format!(
                "a table of {} has that name",
                self.display()
            )));
        }
        let mut tables = self.external_tables().await?;
        if let Some(t) = tables.iter().find(|t| t.name == name) {
            return Err(taken(format!("it already names {}", t.location)));
        }
        let url = LakeLocation::parse(location, self.storage_options().clone())?
            .root_url()
            .clone();
        LakeTable::open_url(self, name, url.clone()).await?;
        let table = ExternalTable {
            name: name.to_string(),
            location: url.to_string(),
        };
        tables.push(table.clone());
        self.write_catalog_file(EXTERNAL_FILE, &tables).await?;
        Ok(table)
    }

    /// Drop the table `name`: an external one is forgotten (its data stays); a managed
    /// one is deleted, log first, only with `delete_data` (else an error says so).
    pub async fn drop_table(&self, name: &str, delete_data: bool) -> Result<Dropped, LakeError> {
        validate_table_name(name)?;
        let mut tables = self.external_tables().await?;
        if let Some(at) = tables.iter().position(|t| t.name == name) {
            let gone = tables.remove(at);
            self.write_catalog_file(EXTERNAL_FILE, &tables).await?;
            return Ok(Dropped::External {
                location: gone.location,
            });
        }
        if !self.managed_table_exists(name).await? {
            return Err(LakeError::TableNotFound {
                url: self.table_url(name).to_string(),
            });
        }
        if !delete_data {
            return Err(LakeError::ManagedDrop {
                url: self.table_url(name).to_string(),
            });
        }
        // The log goes first: interrupted, what is left is data no log references (not a
        // table), never a log pointing at deleted files.
        let log = self.delete_objects(&format!("{name}/_delta_log")).await?;
        let data = self.delete_objects(name).await?;
        if let Some(dir) = self.local_dir().map(|root| root.join(name)) {
            // A local lake keeps empty directories after its files are gone.
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(Dropped::Managed {
            objects: log + data,
        })
    }

    async fn managed_table_exists(&self, name: &str) -> Result<bool, LakeError> {
        let store = self.object_store()?;
        let log = ObjectPath::from(name).join("_delta_log");
        match store.list(Some(&log)).try_next().await {
            Ok(found) => Ok(found.is_some()),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(LakeError::Storage {
                op: "listing",
                location: self.table_url(name).to_string(),
                source,
            }),
        }
    }

    async fn delete_objects(&self, prefix: &str) -> Result<usize, LakeError> {
        let store = self.object_store()?;
        let failed = |source| LakeError::Storage {
            op: "deleting the objects of",
            location: format!("{}{prefix}", self.root_url()),
            source,
        };
        let objects: Vec<_> = store
            .list(Some(&ObjectPath::from(prefix)))
            .try_collect()
            .await
            .map_err(failed)?;
        for object in &objects {
            match store.delete(&object.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(failed(e)),
            }
        }
        Ok(objects.len())
    }
}
