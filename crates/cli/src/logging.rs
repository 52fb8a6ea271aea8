//! Logs on stderr, filtered as the user asks (`--log`, `PIPELAB_LOG`).

/// Install the subscriber for `filter`; the message when the filter does not parse.
pub(crate) fn init(filter: &str) -> Result<(), String> {
    let mut directives = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| format!("--log (or PIPELAB_LOG) {filter:?}: {e}"))?;
    // deltalake logs at ERROR the commit conflicts and failures it returns to pipelab,
    // which retries or reports each one itself, and at WARN every binary column it keeps
    // no statistics for (a dead-letter table's payload, by design): unless the filter
    // names deltalake, a user sees a failure once, from pipelab, and no normal event.
    if !filter.contains("deltalake") {
        for quiet in [
            "deltalake_core::kernel::transaction=off",
            "deltalake_core::writer::stats=error",
        ] {
            if let Ok(quiet) = quiet.parse() {
                directives = directives.add_directive(quiet);
            }
        }
    }
    // The embedded broker logs at ERROR every error code it answers with, such as a
    // topic that exists already, which its clients take as success: the errors that
    // matter reach pipelab as Kafka errors, and pipelab reports them.
    if !filter.contains("tansu")
        && let Ok(quiet) = "tansu_storage=off".parse()
    {
        directives = directives.add_directive(quiet);
    }
    tracing_subscriber::fmt()
        .with_env_filter(directives)
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}
