//! One module per `pipelab` command: its arguments (clap) and what it does with them.

pub(crate) mod bench;
pub(crate) mod demo;
pub(crate) mod devstack;
pub(crate) mod dlq;
pub(crate) mod generate;
pub(crate) mod lab;
pub(crate) mod lake;
pub(crate) mod produce;
pub(crate) mod query;
pub(crate) mod run;
pub(crate) mod scenario;
pub(crate) mod serve;
pub(crate) mod ship;
