//! Lake tables against real storage: a local directory and an S3 endpoint. One test
//! binary, because every test binary links DataFusion and delta-rs again (minutes each
//! on a 2-core machine).

mod local;
mod s3;
