//! Positions kept between runs: for each file followed, by identity, the offset where
//! its next line starts, the path it had and its first bytes (to tell it was rewritten).
//! Written whole to a new file that then replaces the old one, so a crash leaves either
//! the old positions or the new.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ShipError;
use crate::tail::Position;

/// One file's position as written: its first bytes in hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Written {
    path: String,
    offset: u64,
    #[serde(default)]
    head: String,
}

/// The positions in `path`, by file identity, with the path each file had; none when
/// there is no such file yet.
pub fn load(path: &Path) -> Result<BTreeMap<String, Position>, ShipError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io(path, e)),
    };
    let positions: BTreeMap<String, Written> = serde_json::from_str(&text).map_err(|e| {
        io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )
    })?;
    Ok(positions
        .into_iter()
        .map(|(id, w)| {
            let head = (0..w.head.len() / 2)
                .filter_map(|i| u8::from_str_radix(&w.head[2 * i..2 * i + 2], 16).ok())
                .collect();
            let position = Position {
                path: w.path,
                offset: w.offset,
                head,
            };
            (id, position)
        })
        .collect())
}

/// Replace the positions in `path` with `positions`, by identity.
pub fn save(path: &Path, positions: &BTreeMap<String, Position>) -> Result<(), ShipError> {
    let positions: BTreeMap<&String, Written> = positions
        .iter()
        .map(|(id, p)| {
            let written = Written {
                path: p.path.clone(),
                offset: p.offset,
                head: p.head.iter().map(|b| format!("{b:02x}")).collect(),
            };
            (id, written)
        })
        .collect();
    let text =
        serde_json::to_string_pretty(&positions).map_err(|e| io(path, std::io::Error::other(e)))?;
    let fresh = path.with_extension("tmp");
    std::fs::write(&fresh, text).map_err(|e| io(&fresh, e))?;
    std::fs::rename(&fresh, path).map_err(|e| io(path, e))
}

fn io(path: &Path, source: std::io::Error) -> ShipError {
    ShipError::Io {
        path: path.display().to_string(),
        source,
    }
}
