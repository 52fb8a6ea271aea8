//! `pipelab devstack`: the embedded Kafka broker and S3 endpoint in the foreground.

use clap::Args;
use pipelab_devstack::{DevStack, DevStackConfig};
use std::path::PathBuf;

use crate::error::CliError;
use crate::paths::absolute;

#[derive(Args)]
pub(crate) struct DevstackArgs {
    /// Directory for the broker's log and the S3 endpoint's objects.
    #[arg(long, default_value = "pipelab-devstack")]
    dir: PathBuf,
    #[arg(long, default_value_t = 9092)]
    kafka_port: u16,
    #[arg(long, default_value_t = 9000)]
    s3_port: u16,
    /// Create a topic at start: NAME or NAME:PARTITIONS (repeatable).
    #[arg(long = "topic", value_name = "NAME[:PARTITIONS]")]
    topics: Vec<String>,
}

pub(crate) async fn run(args: DevstackArgs) -> Result<(), CliError> {
    let mut cfg = DevStackConfig::new(absolute(&args.dir)?);
    cfg.kafka_port = args.kafka_port;
    cfg.s3_port = args.s3_port;
    let stopped = crate::signals::interrupted()?;
    let stack = DevStack::start(cfg).await?;
    for spec in &args.topics {
        let (name, partitions) = parse_topic(spec)?;
        stack.create_topic(name, partitions).await?;
        println!("topic {name} ({partitions} partitions) ready");
    }
    println!("Kafka bootstrap:  {}", stack.kafka_bootstrap());
    println!(
        "S3 endpoint:      {} (bucket '{}')",
        stack.s3_endpoint(),
        stack.bucket()
    );
    println!("lake:             {}", stack.lake_url());
    println!();
    println!("# paste into another shell to use them:");
    println!("export PIPELAB_BROKERS={}", stack.kafka_bootstrap());
    println!("{}", stack.export_lines());
    println!("export PIPELAB_LAKE={}", stack.lake_url());
    println!();
    println!("# kcat needs a current librdkafka (see docs/operations.md); then:");
    println!("#   kcat -b {} -L", stack.kafka_bootstrap());
    println!("running until Ctrl-C");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    stopped.await;
    stack.shutdown().await;
    Ok(())
}

fn parse_topic(spec: &str) -> Result<(&str, i32), CliError> {
    match spec.split_once(':') {
        None => Ok((spec, 1)),
        Some((name, n)) => match n.parse::<i32>() {
            Ok(p) if p > 0 && !name.is_empty() => Ok((name, p)),
            _ => Err(CliError::usage(format!(
                "--topic {spec}: expected NAME or NAME:PARTITIONS with PARTITIONS ≥ 1"
            ))),
        },
    }
}
