//! `pipelab produce`: the lines of a file (or stdin) to a Kafka topic.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use crate::error::CliError;
use crate::kafka_out::produce_and_report;

#[derive(Args)]
pub(crate) struct ProduceArgs {
    #[arg(long, default_value = "127.0.0.1:9092", env = "PIPELAB_BROKERS")]
    brokers: String,
    #[arg(long)]
    topic: String,
    /// A file of records, one per line; `-` for stdin.
    #[arg(default_value = "-")]
    file: PathBuf,
}

pub(crate) async fn run(args: ProduceArgs) -> Result<(), CliError> {
    use std::io::BufRead;
    let reader: Box<dyn BufRead + Send> = if args.file.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(&args.file).map_err(|e| CliError::path(&args.file, e))?;
        Box::new(std::io::BufReader::new(f))
    };
    // Lines are bytes, sent as they are (not only UTF-8); each record's key is its line
    // number. A read error ends the input and is reported with its line.
    let read_error: Arc<std::sync::Mutex<Option<(usize, std::io::Error)>>> = Arc::default();
    let seen_error = read_error.clone();
    let records = reader
        .split(b'\n')
        .enumerate()
        .map_while(move |(i, line)| match line {
            Ok(line) => Some(((i + 1).to_string(), line)),
            Err(e) => {
                if let Ok(mut slot) = seen_error.lock() {
                    *slot = Some((i + 1, e));
                }
                None
            }
        });
    produce_and_report(
        args.brokers,
        args.topic,
        records,
        "records (key: line number)",
    )
    .await?;
    let failed = read_error.lock().ok().and_then(|mut e| e.take());
    match failed {
        Some((line, source)) => Err(CliError::environment(ReadStopped {
            file: args.file.display().to_string(),
            line,
            source,
        })),
        None => Ok(()),
    }
}

/// Reading the records to produce failed part way (the lines before were sent).
#[derive(Debug, thiserror::Error)]
#[error("{file}: reading stopped at line {line}: {source}; the lines before it were sent")]
struct ReadStopped {
    file: String,
    line: usize,
    #[source]
    source: std::io::Error,
}
