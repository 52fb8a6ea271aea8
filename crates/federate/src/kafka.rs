//! Kafka catalogs: each topic of a Kafka cluster is a table `catalog.default.topic`, as
//! in Trino's Kafka connector. A query reads the topic as it is when the query runs
//! (each partition from its first offset to its high watermark), with no consumer group
//! and nothing committed.
//!
//! A table's columns are Trino's internal columns of a message, then the fields of its
//! JSON value, typed from a sample of the topic (its first and its latest records) the
//! way `pipelab run` types a micro-batch:
//!
//! | column | type | what |
//! |---|---|---|
//! | `_partition_id` | int | the partition |
//! | `_partition_offset` | bigint | the record's offset |
//! | `_timestamp` | timestamp(3) with time zone | the record's timestamp, if it has one |
//! | `_key` | varchar | the key as text (null when null or not UTF-8) |
//! | `_key_corrupt` | boolean | the key is not UTF-8 |
//! | `_headers` | map(varchar, varbinary) | the headers, in record order |
//! | `_message` | varchar | the value as text (null when null or not UTF-8) |
//! | `_message_corrupt` | boolean | the value is not a JSON object, or a field of it does not fit its column |
//!
//! Nothing is lost: a record whose value does not decode has null value columns,
//! `_message_corrupt = true` and its text in `_message`. Filters on `_partition_id` and
//! `_partition_offset` narrow what is read from Kafka.
//!
//! [`KafkaCatalog`] registers a cluster's topics (the catalog and schema providers are in
//! `catalog`); `table` is one topic as a table, `scan` one query's read of it, and
//! `columns` turns records into rows of the table's columns.

mod catalog;
mod columns;
mod scan;
mod table;

pub use catalog::KafkaCatalog;
