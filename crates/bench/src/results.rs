//! Where a benchmark's results go: one JSON file under the results directory.

use std::path::Path;

use serde::Serialize;

use crate::BenchError;

/// Write `results` as pretty JSON to `dir/name` and say where.
pub(crate) fn write_results(
    dir: &Path,
    name: &str,
    results: &impl Serialize,
) -> Result<(), BenchError> {
    std::fs::create_dir_all(dir)?;
    let file = dir.join(name);
    std::fs::write(&file, serde_json::to_string_pretty(results)? + "\n")?;
    println!("results written to {}", file.display());
    Ok(())
}

/// The middle of the values (the upper one of an even count); rounds of a benchmark
/// report it so that one disturbed round does not move the result.
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
