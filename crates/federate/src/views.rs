//! Views kept in the lake: made again in every new session, and kept (or dropped) when
//! a statement makes (or drops) one.

use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::prelude::SessionContext;
use pipelab_lake::LakeLocation;
use pipelab_lake::views::ViewDef;

use crate::error::FederateError;

/// Create the lake's kept views in `ctx`, in the order they were made (a view may use an
/// earlier one). One that no longer plans is left out, not fatal: those are returned,
/// with why.
pub(crate) async fn create_kept(
    ctx: &SessionContext,
    location: Option<&LakeLocation>,
) -> Result<Vec<(String, String)>, FederateError> {
    let mut broken_views = Vec::new();
    let views = match location {
        Some(location) => location.views().await?,
        None => Vec::new(),
    };
    for view in views {
        if let Err(e) = ctx.sql(&view.definition).await {
            tracing::warn!(view = %view.name, "view left out: {e}");
            broken_views.push((view.name, e.to_string()));
        }
    }
    Ok(broken_views)
}

/// Keep a view made or dropped in the lake at `location`, for every later session.
pub(crate) async fn keep(
    change: Option<ViewChange>,
    location: Option<&LakeLocation>,
) -> Result<(), FederateError> {
    match (change, location) {
        (Some(ViewChange::Create(view)), Some(location)) => location.save_view(view).await?,
        (Some(ViewChange::Drop(name)), Some(location)) => {
            location.drop_view(&name).await?;
        }
        // No lake to keep it in: the view lives in this session only.
        _ => {}
    }
    Ok(())
}

/// A view statement whose effect is kept in the lake.
pub(crate) enum ViewChange {
    /// `CREATE VIEW`: the view to save.
    Create(ViewDef),
    /// `DROP VIEW`: the name of the view to drop.
    Drop(String),
}

/// What `plan` changes in the lake's kept views: `CREATE VIEW` (not `TEMPORARY`) and
/// `DROP VIEW`; `None` for any other plan.
pub(crate) fn kept_view_change(plan: &LogicalPlan) -> Option<ViewChange> {
    match plan {
        LogicalPlan::Ddl(DdlStatement::CreateView(create)) if !create.temporary => {
            let definition = create.definition.clone()?;
            Some(ViewChange::Create(ViewDef {
                name: create.name.table().to_string(),
                definition,
            }))
        }
        LogicalPlan::Ddl(DdlStatement::DropView(drop)) => {
            Some(ViewChange::Drop(drop.name.table().to_string()))
        }
        _ => None,
    }
}
