//! Views over a lake's tables, kept in the lake itself (`_pipelab/views.json` under its
//! root, a directory no table listing counts), so that every session over the lake sees
//! the views any session created.

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::LakeError;
use crate::location::LakeLocation;

/// Where the views are kept, relative to the lake root.
pub const VIEWS_FILE: &str = "_pipelab/views.json";

/// One view: its name and the statement that created it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewDef {
    /// The name queries use for the view; unique within the lake.
    pub name: String,
    /// The `CREATE VIEW ... AS ...` statement, as the SQL parser printed it.
    pub definition: String,
}

impl LakeLocation {
    /// The lake's views, in the order they were created.
    pub async fn views(&self) -> Result<Vec<ViewDef>, LakeError> {
        self.read_catalog_file(VIEWS_FILE).await
    }

    /// Keep `view`, replacing a view of the same name.
    pub async fn save_view(&self, view: ViewDef) -> Result<(), LakeError> {
        let mut views = self.views().await?;
        match views.iter_mut().find(|v| v.name == view.name) {
            Some(existing) => *existing = view,
            None => views.push(view),
        }
        self.write_catalog_file(VIEWS_FILE, &views).await
    }

    /// Forget the view `name`; false when there was none.
    pub async fn drop_view(&self, name: &str) -> Result<bool, LakeError> {
        let mut views = self.views().await?;
        let before = views.len();
        views.retain(|v| v.name != name);
        if views.len() == before {
            return Ok(false);
        }
        self.write_catalog_file(VIEWS_FILE, &views).await?;
        Ok(true)
    }

    /// A JSON list kept under the lake root (`_pipelab/…`); empty when the file is absent.
    pub(crate) async fn read_catalog_file<T: DeserializeOwned>(
        &self,
        file: &str,
    ) -> Result<Vec<T>, LakeError> {
        let store = self.object_store()?;
        let bytes = match store.get(&ObjectPath::from(file)).await {
            Ok(found) => found
                .bytes()
                .await
                .map_err(|e| self.catalog_file_error(file, "reading", e))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(self.catalog_file_error(file, "reading", e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| LakeError::InvalidLocation {
            location: format!("{}/{file}", self.display()),
            reason: format!("not a pipelab catalog file: {e}"),
        })
    }

    /// Two sessions changing the same file at the same moment: the later write wins (one
    /// file, replaced whole).
    pub(crate) async fn write_catalog_file<T: Serialize>(
        &self,
        file: &str,
        items: &[T],
    ) -> Result<(), LakeError> {
        let json = serde_json::to_vec_pretty(items).map_err(|e| LakeError::InvalidLocation {
            location: self.display(),
            reason: format!("cannot encode {file}: {e}"),
        })?;
        self.object_store()?
            .put(&ObjectPath::from(file), PutPayload::from(json))
            .await
            .map_err(|e| self.catalog_file_error(file, "writing", e))?;
        Ok(())
    }

    fn catalog_file_error(
        &self,
        file: &str,
        op: &'static str,
        source: object_store::Error,
    ) -> LakeError {
        LakeError::Storage {
            op,
            location: format!("{}/{file}", self.display()),
            source,
        }
    }
}
