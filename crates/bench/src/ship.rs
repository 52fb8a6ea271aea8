//! `pipelab bench ship`: lines/s of `pipelab ship` tailing log files into the embedded
//! broker, beside `kcat -P` producing the same lines, with the same keys and four
//! headers, into the same broker in the same run (Fluent Bit and Vector do not install
//! from this machine's package registries); the goal is at least 0.9× kcat's rate
//! (`bench-results/ship.json`). Headers cost the embedded broker most of its time: kcat
//! without them is five times as fast.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use clap::Args;
use pipelab_devstack::{DevStack, DevStackConfig};
use pipelab_ship::{Masker, ShipOptions};
use serde::Serialize;

use crate::BenchError;
use crate::results::{median, write_results};

/// `pipelab bench ship`'s options.
#[derive(Args)]
pub struct ShipArgs {
    /// Lines in all, spread over the files.
    #[arg(long, default_value_t = 200_000)]
    lines: usize,
    /// Log files (one host's).
    #[arg(long, default_value_t = 8)]
    files: usize,
    /// Rounds of each; the median counts.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Python with confluent-kafka, whose librdkafka kcat is run with (Debian's kcat is
    /// linked to a librdkafka whose handshake the embedded broker refuses).
    #[arg(long, env = "PIPELAB_PYTHON", default_value = "python3")]
    python: String,
    /// Where the results file goes.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
}

#[derive(Serialize)]
struct ShipResults {
    benchmark: &'static str,
    date: String,
    lines: usize,
    bytes: u64,
    files: usize,
    /// Median lines/s of `pipelab ship --until-idle` (keyed, with host/file/offset headers).
    ship_lines_per_s: f64,
    /// Median lines/s of `kcat -P -l` over the same lines in one file, with the same keys
    /// and four headers.
    kcat_lines_per_s: f64,
    /// ship / kcat: the goal is at least 0.9.
    ratio: f64,
}

/// Both producers, `rounds` times each into fresh topics; prints the ratio.
pub async fn run(args: ShipArgs) -> Result<(), BenchError> {
    if args.lines == 0 || args.files == 0 || args.rounds == 0 {
        return Err(BenchError::usage(
            "--lines, --files and --rounds must be positive",
        ));
    }
    if Command::new("kcat").arg("-V").output().is_err() {
        return Err(BenchError::usage(
            "kcat is not installed (apt-get install kcat)",
        ));
    }
    let work = tempfile::tempdir()?;
    let librdkafka = current_librdkafka(&args.python, work.path())?;
    let logs = work.path().join("logs");
    let bytes = write_logs(&logs, args.lines, args.files)?;
    let all = work.path().join("all.log");
    concatenate(&logs, args.files, &all)?;
    let stack = DevStack::start(DevStackConfig::new(work.path().join("stack"))).await?;
    let brokers = stack.kafka_bootstrap();
    let (mut ship_rates, mut kcat_rates) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        let (ship_topic, kcat_topic) = (format!("ship{round}"), format!("kcat{round}"));
        stack.create_topic(&ship_topic, 4).await?;
        stack.create_topic(&kcat_topic, 4).await?;
        let opts = ShipOptions {
            brokers: brokers.clone(),
            topic: ship_topic,
            host: "bench-host".into(),
            patterns: vec![logs.join("*.log").display().to_string()],
            masker: Masker::parse(&[]).map_err(BenchError::failed)?,
            checkpoint: work.path().join(format!("positions{round}.json")),
            until_idle: true,
            poll: Duration::from_millis(100),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let started = Instant::now();
        let report = tokio::task::spawn_blocking(move || pipelab_ship::agent::run(&opts))
            .await?
            .map_err(BenchError::failed)?;
        ship_rates.push(report.lines as f64 / started.elapsed().as_secs_f64());
        if report.lines != args.lines as u64 {
            return Err(BenchError::failed(format!(
                "ship sent {} lines of {}",
                report.lines, args.lines
            )));
        }
        let started = Instant::now();
        let out = Command::new("kcat")
            .env("LD_LIBRARY_PATH", &librdkafka)
            .args(["-P", "-b", &brokers, "-t", &kcat_topic, "-K", "\t"])
            // The same key and four headers on every line, as ship sends (kcat's headers
            // are the same for every line; ship's offset header differs).
            .args([
                "-H",
                "host=bench-host",
                "-H",
                "file=app.log",
                "-H",
                "file_id=64768:1",
            ])
            .args(["-H", "offset=0", "-l"])
            .arg(&all)
            .output()?;
        if !out.status.success() {
            return Err(BenchError::failed(format!(
                "kcat -P: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        kcat_rates.push(args.lines as f64 / started.elapsed().as_secs_f64());
    }
    let (ship, kcat) = (median(ship_rates), median(kcat_rates));
    println!(
        "ship {ship:>9.0} lines/s   kcat -P {kcat:>9.0} lines/s   {:.2}× (goal ≥ 0.90)",
        ship / kcat
    );
    let results = ShipResults {
        benchmark: "ship",
        date: chrono::Utc::now().to_rfc3339(),
        lines: args.lines,
        bytes,
        files: args.files,
        ship_lines_per_s: ship,
        kcat_lines_per_s: kcat,
        ratio: ship / kcat,
    };
    write_results(&args.out, "ship.json", &results)
}

/// Access-log lines spread over `files` files; the bytes written.
fn write_logs(dir: &Path, lines: usize, files: usize) -> Result<u64, BenchError> {
    std::fs::create_dir_all(dir)?;
    let mut bytes = 0;
    for f in 0..files {
        let mut out =
            std::io::BufWriter::new(std::fs::File::create(dir.join(format!("app{f}.log")))?);
        for i in (f..lines).step_by(files) {
            let line = format!(
                "10.0.{}.{} - - [07/Dec/2026:10:{:02}:{:02} +0000] \"GET /products/{} HTTP/1.1\" 200 {} \"-\" \"Mozilla/5.0\"\n",
                i % 250,
                i % 200,
                (i / 60) % 60,
                i % 60,
                i % 997,
                500 + i % 4000
            );
            bytes += line.len() as u64;
            out.write_all(line.as_bytes())?;
        }
        out.flush()?;
    }
    Ok(bytes)
}

/// A folder holding confluent-kafka's librdkafka as `librdkafka.so.1`, for kcat's
/// `LD_LIBRARY_PATH`.
fn current_librdkafka(python: &str, work: &Path) -> Result<PathBuf, BenchError> {
    let find = "import confluent_kafka, glob, os\n\
        print(glob.glob(os.path.dirname(confluent_kafka.__file__) + '.libs/librdkafka*')[0])";
    let out = Command::new(python).args(["-c", find]).output()?;
    if !out.status.success() {
        return Err(BenchError::usage(format!(
            "{python} has no confluent-kafka with its librdkafka (pip install confluent-kafka): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let lib = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let dir = work.join("librdkafka");
    std::fs::create_dir_all(&dir)?;
    std::os::unix::fs::symlink(&lib, dir.join("librdkafka.so.1"))?;
    Ok(dir)
}

/// The files' lines in one file, for `kcat -l` (which takes one), each keyed as ship
/// keys it.
fn concatenate(dir: &Path, files: usize, to: &Path) -> Result<(), BenchError> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(to)?);
    for f in 0..files {
        let text = std::fs::read_to_string(dir.join(format!("app{f}.log")))?;
        for line in text.lines() {
            // `-K '\t'`: the key before the tab, as ship keys by host and file.
            writeln!(out, "bench-host:app{f}.log\t{line}")?;
        }
    }
    out.flush()?;
    Ok(())
}
