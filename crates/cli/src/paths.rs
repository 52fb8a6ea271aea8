//! The directories commands work in: made absolute, and started empty safely.

use std::path::{Path, PathBuf};

use crate::error::CliError;

/// A path as the user meant it from the current directory, for messages and for
/// services that run elsewhere.
pub(crate) fn absolute(p: &Path) -> Result<PathBuf, CliError> {
    std::path::absolute(p).map_err(|e| CliError::path(p, e))
}

/// Start a command's working directory empty, but only ever delete one a pipelab
/// command made (it holds a marker file naming the command).
pub(crate) fn fresh_dir(dir: &Path, command: &str, option: &str) -> Result<(), CliError> {
    let marker_name = format!(".{}", command.replace(' ', "-"));
    if dir.exists() {
        let ours = dir.join(&marker_name).exists();
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !ours && !empty {
            return Err(CliError::usage(format!(
                "{} exists and was not made by `{command}`; choose another {option}",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(dir).map_err(|e| CliError::path(dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| CliError::path(dir, e))?;
    let marker = dir.join(marker_name);
    std::fs::write(&marker, format!("made by {command}\n"))
        .map_err(|e| CliError::path(&marker, e))?;
    Ok(())
}
