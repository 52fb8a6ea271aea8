//! Lake tables as DataFusion tables.

use datafusion::common::TableReference;
use datafusion::prelude::SessionContext;

use crate::as_of::AsOf;
use crate::error::LakeError;
use crate::location::LakeLocation;
use crate::table::LakeTable;

/// Register every Delta table of the lake into `ctx` under its name, through deltalake's
/// table provider (which prunes partitions and files from WHERE clauses). Returns the
/// registered names, sorted.
///
/// Each provider reads the table version current at registration; call this again to see
/// later commits (existing registrations of the same names are replaced). The table's object
/// store (local or S3, with the lake's storage options) is registered in the session's
/// runtime here, so plans that need it before any scan also work.
pub async fn register_lake(
    ctx: &SessionContext,
    loc: &LakeLocation,
) -> Result<Vec<String>, LakeError> {
    let names = loc.list_tables().await?;
    for name in &names {
        let table = LakeTable::open(loc, name).await?;
        register_table(ctx, &table).await?;
    }
    Ok(names)
}

/// Like [`register_lake`], with every table as it was at `at`. Returns the registered
/// names and, apart, those of tables that did not exist yet then (not registered).
pub async fn register_lake_as_of(
    ctx: &SessionContext,
    loc: &LakeLocation,
    at: AsOf,
) -> Result<(Vec<String>, Vec<String>), LakeError> {
    let (mut registered, mut absent) = (Vec::new(), Vec::new());
    for name in loc.list_tables().await? {
        match LakeTable::open_as_of(loc, &name, at).await? {
            Some(table) => {
                register_table(ctx, &table).await?;
                registered.push(name);
            }
            None => absent.push(name),
        }
    }
    Ok((registered, absent))
}

/// Register one opened table into `ctx` under its name, replacing a previous registration.
pub async fn register_table(ctx: &SessionContext, table: &LakeTable) -> Result<(), LakeError> {
    register_table_as(ctx, table, table.name()).await
}

/// Register one opened table into `ctx` under `name`, replacing a previous registration.
pub async fn register_table_as(
    ctx: &SessionContext,
    table: &LakeTable,
    name: &str,
) -> Result<(), LakeError> {
    // bare(): the name is used as-is, not parsed as SQL (no case folding, no dots).
    register_table_at(ctx, table, TableReference::bare(name)).await
}

/// Register one opened table into `ctx` at `reference` (`catalog.schema.table` with a
/// catalog of the session), replacing a previous registration.
pub async fn register_table_at(
    ctx: &SessionContext,
    table: &LakeTable,
    reference: TableReference,
) -> Result<(), LakeError> {
    let df_err = |e| LakeError::datafusion(table.name(), table.url(), e);
    // Lets the session reach this table's store (S3 with the lake's options, or local) even
    // before the first scan. It never replaces a store already registered for that URL.
    table
        .delta()
        .update_datafusion_session(&ctx.state())
        .map_err(|e| LakeError::delta("registering object store of", table.url(), e))?;
    let provider = table.table_provider().await?;
    ctx.deregister_table(reference.clone()).map_err(df_err)?;
    ctx.register_table(reference, provider).map_err(df_err)?;
    Ok(())
}
