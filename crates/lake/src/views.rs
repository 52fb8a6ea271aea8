//! Views over a lake's tables, kept in the lake itself (`_pipelab/views.json` under its
//! root, a directory no table listing counts), so that every session over the lake sees
//! the views any session created.

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::LakeError;
use crate::location::LakeLocation;

/// Where the views are kept, relative to the lake root.
pub const VIEWS_FILE: &str = "_pipelab/views.json";

/// One view: its name and the statement that created it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewDef {
    pub name: String,
    /// The `CREATE VIEW ... AS ...` statement, as the SQL parser printed it.
    pub definition: String,
}

impl LakeLocation {
    /// The lake's views, in the order they were created.
    pub async fn views(&self) -> Result<Vec<ViewDef>, LakeError> {
        let store = self.object_store()?;
        let bytes = match store.get(&views_path()).await {
            Ok(found) => found
                .bytes()
                .await
                .map_err(|e| self.views_error("reading", e))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(self.views_error("reading", e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| LakeError::InvalidLocation {
            location: format!("{}/{VIEWS_FILE}", self.display()),
            reason: format!("not a views file: {e}"),
        })
    }

    /// Keep `view`, replacing a view of the same name.
    pub async fn save_view(&self, view: ViewDef) -> Result<(), LakeError> {
        let mut views = self.views().await?;
        match views.iter_mut().find(|v| v.name == view.name) {
            Some(existing) => *existing = view,
            None => views.push(view),
        }
        self.write_views(&views).await
    }

    /// Forget the view `name`; false when there was none.
    pub async fn drop_view(&self, name: &str) -> Result<bool, LakeError> {
        let mut views = self.views().await?;
        let before = views.len();
        views.retain(|v| v.name != name);
        if views.len() == before {
            return Ok(false);
        }
        self.write_views(&views).await?;
        Ok(true)
    }

    /// Two sessions changing views at the same moment: the later write wins (one file,
    /// replaced whole).
    async fn write_views(&self, views: &[ViewDef]) -> Result<(), LakeError> {
        let json = serde_json::to_vec_pretty(views).map_err(|e| LakeError::InvalidLocation {
            location: self.display(),
            reason: format!("cannot encode views: {e}"),
        })?;
        self.object_store()?
            .put(&views_path(), PutPayload::from(json))
            .await
            .map_err(|e| self.views_error("writing", e))?;
        Ok(())
    }

    fn views_error(&self, op: &'static str, source: object_store::Error) -> LakeError {
        LakeError::Storage {
            op,
            location: format!("{}/{VIEWS_FILE}", self.display()),
            source,
        }
    }
}

fn views_path() -> ObjectPath {
    ObjectPath::from(VIEWS_FILE)
}
