//! Producing records to Kafka for `gen` and `produce`, and the line that reports it.

use crate::error::CliError;
use crate::output;

/// Produce `records` (key, payload) to `topic` and print how many the broker took. The
/// records are generated or read on a blocking thread: librdkafka's queue blocks.
pub(crate) async fn produce_and_report<I>(
    brokers: String,
    topic: String,
    records: I,
    what: &str,
) -> Result<(), CliError>
where
    I: Iterator<Item = (String, Vec<u8>)> + Send + 'static,
{
    let stats = tokio::task::spawn_blocking(move || {
        pipelab_ingest::produce::produce_all(&brokers, &topic, records, |_| {})
    })
    .await??;
    println!(
        "produced {} {what} ({})",
        output::thousands(stats.acked),
        output::bytes(stats.bytes)
    );
    Ok(())
}
