//! The query session of `query` and `serve`.

use std::collections::HashMap;
use std::path::PathBuf;

use pipelab_federate::QueryEngine;
use pipelab_lake::LakeLocation;

use crate::error::CliError;

/// The session of `query` and `serve`: a catalogs file's catalogs, or one lake (as of a
/// version or time, for `query --as-of`).
pub(crate) async fn open_engine(
    lake: &str,
    catalogs: Option<&PathBuf>,
    as_of: Option<pipelab_lake::AsOf>,
) -> Result<QueryEngine, CliError> {
    let lake = LakeLocation::parse(lake, HashMap::new())?;
    Ok(match (as_of, catalogs) {
        (None, Some(file)) => {
            let catalogs = pipelab_federate::catalogs::Catalogs::load(file)
                .map_err(pipelab_federate::FederateError::from)?;
            QueryEngine::open_catalogs(&catalogs).await?
        }
        (Some(_), Some(_)) => {
            return Err(CliError::usage(
                "--as-of reads one lake at an older version; it does not combine with --catalogs",
            ));
        }
        (None, None) => QueryEngine::open(&lake).await?,
        (Some(at), None) => {
            let (engine, absent) = QueryEngine::open_as_of(&lake, at).await?;
            if !absent.is_empty() {
                eprintln!("as of {at}, not yet created: {}", absent.join(", "));
            }
            engine
        }
    })
}
