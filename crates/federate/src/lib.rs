//! Federated SQL: a DataFusion session with the lake's Delta tables registered by
//! name, or with the catalogs of a catalogs file ([`catalogs`]) as `catalog.schema.table`:
//! lakes, files and databases ([`databases`]), with what a query may run in a database
//! decided by [`pushdown`].
//!
//! The session is a [`QueryEngine`]; the modules behind it are private, and what other
//! crates use of them is re-exported here.

pub mod answer;
pub mod catalogs;
mod client;
pub mod databases;
mod dynamic_where;
mod engine;
mod error;
pub mod json;
pub mod kafka;
mod listing;
mod load;
mod open;
pub mod pushdown;
mod query_engine;
pub mod query_log;
mod register;
mod scan_stats;
mod semi_join_build;
mod session;
pub mod source_metrics;
mod views;

pub use client::{Access, ClientSession, ClientStatement};
pub use engine::Engine;
pub use error::FederateError;
pub use query_engine::QueryEngine;
pub use register::RegisterError;
pub use scan_stats::{ScanStats, collect_with_stats};
