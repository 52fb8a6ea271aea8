//! The run's landing prefix (`landing/` beside the lake's tables, in its bucket or
//! folder): a load step drops a file there as one object, as a regional bucket drops it,
//! for a landing pipeline to read.

use std::path::Path;

use object_store::{ObjectStoreExt, PutPayload};

use crate::definition::LoadStep;
use crate::explain::Arrow;
use crate::runner::{Failure, Run};

impl Run<'_> {
    /// The landing prefix as a landing source's `location` takes it.
    pub(crate) fn landing_url(&self) -> String {
        if self.lake_url.contains("://") {
            format!("{}/landing/", self.lake_url.trim_end_matches('/'))
        } else {
            Path::new(&self.lake_url)
                .join("landing")
                .display()
                .to_string()
        }
    }

    /// Put the step's file under the landing prefix as the object `table` names.
    pub(crate) async fn load_landing(
        &mut self,
        step: &LoadStep,
        path: &Path,
    ) -> Result<String, Failure> {
        let body =
            std::fs::read(path).map_err(|e| Failure::user(format!("{}: {e}", path.display())))?;
        let key = step.table.trim_matches('/');
        let location = object_store::path::Path::parse(format!("landing/{key}"))
            .ok()
            .filter(|_| !key.is_empty())
            .ok_or_else(|| {
                Failure::user(format!(
                    "`table` = {:?}: not an object key (`us/2026-12-01.jsonl`, say)",
                    step.table
                ))
            })?;
        let store = self.lake.object_store().map_err(Failure::environment)?;
        let bytes = body.len();
        store
            .put(&location, PutPayload::from(body))
            .await
            .map_err(Failure::environment)?;
        self.arrows.push(Arrow::new(
            &step.file,
            format!("{bytes} bytes"),
            format!("landing object {key}"),
        ));
        Ok(format!(
            "{bytes} bytes as object {key} under {}",
            self.landing_url()
        ))
    }
}
