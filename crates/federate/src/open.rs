//! Opening a [`QueryEngine`]: over a lake's tables (now or as they were), or over the
//! catalogs of a catalogs file; with the lake's kept views, and the query log.

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use pipelab_lake::{AsOf, LakeLocation};

use crate::catalogs::Catalogs;
use crate::error::FederateError;
use crate::query_engine::QueryEngine;
use crate::query_log::QueryLog;
use crate::{session, views};

impl QueryEngine {
    /// Register every Delta table found at the lake location.
    pub async fn open(lake: &LakeLocation) -> Result<Self, FederateError> {
        let ctx = session::lake();
        let tables = pipelab_lake::register_lake(&ctx, lake).await?;
        Self::with_views(ctx, tables, lake.display(), Some(lake.clone())).await
    }

    /// Register every Delta table as it was at `at` (time travel). Also returns the
    /// tables that did not exist yet then, which are left out.
    pub async fn open_as_of(
        lake: &LakeLocation,
        at: AsOf,
    ) -> Result<(Self, Vec<String>), FederateError> {
        let ctx = session::lake();
        let (tables, absent) = pipelab_lake::register_lake_as_of(&ctx, lake, at).await?;
        let display = format!("{} as of {at}", lake.display());
        let engine = Self::with_views(ctx, tables, display, Some(lake.clone())).await?;
        Ok((engine, absent))
    }

    /// Register every catalog of a catalogs file, as `catalog.schema.table`; unqualified
    /// names are looked up in the default catalog's schema `default`, whose lake (if it is
    /// one) keeps the views.
    pub async fn open_catalogs(catalogs: &Catalogs) -> Result<Self, FederateError> {
        let ctx = session::federated(catalogs.default_catalog.as_str());
        let tables = catalogs.register(&ctx).await?;
        let display = format!(
            "the catalogs {}",
            catalogs
                .catalogs
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
        let lake = catalogs.default_lake()?;
        let mut engine = Self::with_views(ctx, tables, display, lake).await?;
        if let Some(config) = &catalogs.query_log {
            engine.query_log = Some(Arc::new(
                QueryLog::connect(config.clone()).await.map_err(Box::new)?,
            ));
        }
        Ok(engine)
    }

    /// The engine over `ctx`, with the lake's kept views created in it (see
    /// [`views::create_kept`]).
    async fn with_views(
        ctx: SessionContext,
        tables: Vec<String>,
        lake: String,
        location: Option<LakeLocation>,
    ) -> Result<Self, FederateError> {
        let broken_views = views::create_kept(&ctx, location.as_ref()).await?;
        Ok(Self {
            ctx,
            tables,
            lake,
            location,
            broken_views,
            query_log: None,
        })
    }
}
