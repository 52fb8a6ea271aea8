//! Lake tables as Delta Lake tables (through the `deltalake` crate) on a local directory or
//! S3-compatible storage.
//!
//! A lake is a root location whose direct children are Delta tables: Parquet files in
//! Hive-style partition directories (`dt=2026-11-23/part-….parquet`) plus `_delta_log/`.
//! Appends are single atomic Delta commits that carry, next to the new files, one `txn`
//! action per (pipeline, topic, partition) with the next Kafka offset: the Delta log is the
//! source of truth for exactly-once resume points (as in kafka-delta-ingest).
//!
//! # Atomic commits on S3
//!
//! deltalake 1.1 with deltalake-aws 1.0 commits through its `DefaultLogStore`, which writes
//! `_delta_log/<version>.json` with `PutMode::Create`; object_store 0.13 turns that into a
//! PUT with `If-None-Match: *` (its default `aws_conditional_put=etag`). So two writers can
//! never both create the same version, with no lock provider and no
//! `AWS_S3_ALLOW_UNSAFE_RENAME`. deltalake-aws 1.0 dropped the DynamoDB lock
//! (`AWS_S3_LOCKING_PROVIDER=dynamodb` only logs an error) and `AWS_S3_ALLOW_UNSAFE_RENAME`
//! merely wraps the store without changing how commits are written. The store must support
//! conditional PUT (AWS S3, MinIO, R2, s3s); setting `aws_conditional_put=disabled` makes
//! every commit fail.

mod append;
mod as_of;
pub mod catalog;
mod checksum;
mod conform;
mod error;
pub mod external;
mod failpoint;
mod layout;
mod location;
pub mod maintain;
mod partition_spec;
mod partition_values;
pub mod partitioning;
mod properties;
mod pruning;
mod query;
mod store_wrapper;
mod table;
pub mod verify;
pub mod views;
mod widen;
mod write;

pub use append::CommitStats;
pub use as_of::AsOf;
pub use conform::{Misfit, conform};
pub use error::{LakeError, storage_failed, storage_refused};
pub use failpoint::ENV as FAILPOINT_ENV;
pub use layout::{Codec, FileLayout, Statistics};
pub use location::{LakeLocation, register_handlers};
pub use partitioning::{PartitionSpecError, Partitioning};
pub use query::{
    register_lake, register_lake_as_of, register_table, register_table_as, register_table_at,
};
pub use table::{LakeTable, TableSpec};
pub use widen::{widen_batch, widened_schema};

/// Re-exported so callers use the exact deltalake this crate is built with.
pub use deltalake;
