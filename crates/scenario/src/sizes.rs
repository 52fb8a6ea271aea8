//! A scenario on generated data: `--size` and `--seed` replace the data files its
//! `[generate]` names with files of the same kind made by [`crate::generate`], in the
//! run's folder. Their answers cannot be known in advance, so they are saved and printed,
//! not compared with `expected/` (which describes the hand-made files).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::definition::{Scenario, Sizes};
use crate::error::ScenarioError;
use crate::generate::{Format, Kind, write_kind};

/// The seed when only `--size` is given.
pub const DEFAULT_SEED: u64 = 42;

/// How much data to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// A few dozen rows: quick, still every case of the story.
    Small,
    /// The scenario's usual size.
    Default,
    /// Hundreds of times more: for timings, not for reading.
    Large,
}

impl Size {
    /// The size of a name (`small`, `default`, `large`).
    pub fn parse(name: &str) -> Result<Size, String> {
        match name {
            "small" => Ok(Size::Small),
            "default" => Ok(Size::Default),
            "large" => Ok(Size::Large),
            other => Err(format!("no size {other:?}: small, default or large")),
        }
    }

    fn rows(self, sizes: &Sizes) -> u64 {
        match self {
            Size::Small => sizes.small,
            Size::Default => sizes.default,
            Size::Large => sizes.large,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Default => "default",
            Size::Large => "large",
        }
    }
}

/// Data generated for one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratedData {
    /// How much.
    pub size: Size,
    /// From which seed.
    pub seed: u64,
    /// Rows a kind, instead of the size's (`pipelab demo --events`).
    pub rows: Option<u64>,
}

/// Write each file of the scenario's `[generate]` under `dir/data-generated/`; the files,
/// by the name the steps give them, and a line that says what was made.
pub(crate) fn generate_files(
    scenario: &Scenario,
    data: GeneratedData,
    dir: &Path,
) -> Result<(BTreeMap<String, PathBuf>, String), ScenarioError> {
    let plan = scenario
        .generate
        .as_ref()
        .ok_or_else(|| ScenarioError::Definition {
            path: scenario.folder.join(crate::definition::DEFINITION_FILE),
            message: "no [generate] section: this scenario runs on its own data only (leave out \
                  --size and --seed)"
                .into(),
        })?;
    let rows = data.rows.unwrap_or_else(|| data.size.rows(&plan.rows));
    let mut files = BTreeMap::new();
    for (file, kind) in &plan.files {
        let kind = Kind::parse(kind).map_err(|message| ScenarioError::Definition {
            path: scenario.folder.join(crate::definition::DEFINITION_FILE),
            message,
        })?;
        let path = dir.join("data-generated").join(file);
        let io = |source| ScenarioError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io)?);
        write_kind(kind, rows, data.seed, Format::of_path(&path), &mut out).map_err(io)?;
        std::io::Write::flush(&mut out).map_err(io)?;
        files.insert(file.clone(), path);
    }
    let what = match data.rows {
        Some(_) => String::new(),
        None => format!(", size {}", data.size.name()),
    };
    let said = format!(
        "generated data: {rows} rows a kind (seed {}{what}) in {}\n  its answers are saved \
         in answers/, not compared with expected/ (which describe the scenario's own data)",
        data.seed,
        dir.join("data-generated").display()
    );
    Ok((files, said))
}
