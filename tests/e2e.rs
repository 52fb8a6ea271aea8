//! End-to-end tests of the `pipelab` binary against the embedded stack and its peers.
//! One test binary, because every test binary links DataFusion and delta-rs again
//! (minutes each on a 2-core machine).

mod catalogs;
mod common;
mod compose;
mod devstack_peers;
mod docs;
mod end_to_end;
mod federation;
mod hostile_input;
mod ingest_guarantees;
mod kafka_catalog;
mod lab;
mod lake_catalog;
mod partitioning;
mod quality;
mod serve;
