//! End-to-end tests of the `pipelab` binary against the embedded stack and its peers.
//! One test binary, because every test binary links DataFusion and delta-rs again
//! (minutes each on a 2-core machine). Grouped by stage; `common` holds what they share
//! (the binary, the stack, the spec builder, the peers, the assertions).

// Helpers of a test crate are not an API: `pub` in `common` means "for the test files".
#![allow(unreachable_pub)]

mod common;

/// Events through Kafka into the lake: exactly once, dead letters, quality.
mod pipeline {
    mod end_to_end;
    mod fan_out;
    mod hostile_input;
    mod ingest_guarantees;
    mod landing;
    mod live_view;
    mod quality;
    mod ship;
}

/// The lake as its own catalog, time travel, partitioning and the partition lab.
mod lake {
    mod lab;
    mod lake_catalog;
    mod partitioning;
}

/// Federated SQL: catalogs files, the databases, Kafka topics, the Trino protocol.
mod federate {
    mod catalogs;
    mod databases;
    mod kafka_catalog;
    mod serve;
}

/// The interview scenarios, run through `pipelab scenario`.
mod scenarios {
    mod clickstream;
    mod generated;
    mod katas;
    mod lake_integrity;
    mod landing_trigger;
    mod nosql;
    mod query_audit;
    mod skyline;
}

/// The embedded stack as other tools see it, the compose file, the documents' commands.
mod tooling {
    mod compose;
    mod devstack_peers;
    mod docs;
}
