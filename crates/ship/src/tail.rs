//! Following files through rotation. A file is known by its identity (device and inode),
//! not its name: after a rename the old file is read to its end under its new name (its
//! last line too, ended or not), and the file that took the name is read from its start;
//! a file that shrank, or whose first bytes changed (truncated, then written past where
//! it was read to), is read again from its start.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::ShipError;

/// One line of a file, without its line end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The path the file had when the line was read.
    pub path: String,
    /// The file's identity: `DEVICE:INODE`.
    pub file_id: String,
    /// The byte offset of the line's start in the file.
    pub offset: u64,
    /// The line's bytes.
    pub bytes: Vec<u8>,
}

/// Where a file was read to, as the checkpoint keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The path it had.
    pub path: String,
    /// Where its next line starts.
    pub offset: u64,
    /// Its first bytes as they were read (up to 256): when they differ, it was rewritten.
    pub head: Vec<u8>,
}

/// A file being followed.
#[derive(Debug)]
struct Followed {
    path: PathBuf,
    file: File,
    /// Where the next line starts: everything before it was returned.
    offset: u64,
    /// The file's first bytes as they were read (up to [`HEAD`]): when they change, the
    /// file was rewritten from its start.
    head: Vec<u8>,
}

/// How many of a file's first bytes tell it was rewritten.
const HEAD: usize = 256;

/// The files the patterns match, followed from their positions.
#[derive(Debug)]
pub struct Tailer {
    patterns: Vec<String>,
    open: BTreeMap<String, Followed>,
    /// Where to start a file seen for the first time, by identity (the checkpoint's).
    start_at: BTreeMap<String, Position>,
}

impl Tailer {
    /// Follow what `patterns` (paths or globs) match, starting each file at its position
    /// in `start_at` (by identity), else at its start.
    pub fn new(
        patterns: Vec<String>,
        start_at: BTreeMap<String, Position>,
    ) -> Result<Self, ShipError> {
        for pattern in &patterns {
            glob::Pattern::new(pattern).map_err(|e| ShipError::Pattern {
                pattern: pattern.clone(),
                message: e.to_string(),
            })?;
        }
        Ok(Self {
            patterns,
            open: BTreeMap::new(),
            start_at,
        })
    }

    /// One pass: every file the patterns match now and every file followed before (also
    /// when renamed away), read to its end; the complete lines found.
    pub fn poll(&mut self) -> Result<Vec<Line>, ShipError> {
        let matched = self.match_files()?;
        self.find_renamed()?;
        let mut lines = Vec::new();
        let ids: Vec<String> = self.open.keys().cloned().collect();
        for id in ids {
            let renamed_away = !matched.contains(&id);
            let followed = self.open.get_mut(&id).expect("listed above");
            read_lines(&id, followed, renamed_away, &mut lines)?;
            // A file no pattern matches any more has been read to its end: it is done.
            if renamed_away {
                self.open.remove(&id);
            }
        }
        Ok(lines)
    }

    /// Each followed file's position, by identity.
    pub fn positions(&self) -> BTreeMap<String, Position> {
        self.open
            .iter()
            .map(|(id, f)| {
                let position = Position {
                    path: f.path.display().to_string(),
                    offset: f.offset,
                    head: f.head.clone(),
                };
                (id.clone(), position)
            })
            .collect()
    }

    /// Open what the patterns match and is not followed yet; the identities matched.
    fn match_files(&mut self) -> Result<Vec<String>, ShipError> {
        let mut matched = Vec::new();
        for pattern in &self.patterns {
            let paths = glob::glob(pattern).map_err(|e| ShipError::Pattern {
                pattern: pattern.clone(),
                message: e.to_string(),
            })?;
            for path in paths.flatten() {
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue; // Gone between the listing and now.
                };
                if !meta.is_file() {
                    continue;
                }
                let id = format!("{}:{}", meta.dev(), meta.ino());
                match self.open.get_mut(&id) {
                    Some(followed) => followed.path = path.clone(),
                    None => {
                        let file = File::open(&path).map_err(|e| io(&path, e))?;
                        let (offset, head) = self
                            .start_at
                            .remove(&id)
                            .map_or((0, Vec::new()), |p| (p.offset, p.head));
                        let followed = Followed {
                            path,
                            file,
                            offset,
                            head,
                        };
                        self.open.insert(id.clone(), followed);
                    }
                }
                matched.push(id);
            }
        }
        Ok(matched)
    }
}

impl Tailer {
    /// Files of the checkpoint no pattern matches: renamed while the agent was down. Each
    /// is looked for by identity beside where it was, and read to its end; one not there
    /// was deleted, and what it had after its position is gone (said on stderr).
    fn find_renamed(&mut self) -> Result<(), ShipError> {
        for (
            id,
            Position {
                path: was,
                offset,
                head,
            },
        ) in std::mem::take(&mut self.start_at)
        {
            let dir = Path::new(&was).parent().unwrap_or(Path::new("."));
            let found = std::fs::read_dir(dir).ok().and_then(|entries| {
                entries.flatten().map(|e| e.path()).find(|path| {
                    std::fs::metadata(path)
                        .is_ok_and(|m| m.is_file() && format!("{}:{}", m.dev(), m.ino()) == id)
                })
            });
            let Some(path) = found else {
                eprintln!(
                    "pipelab ship: {was} ({id}) is gone; its lines after byte {offset} were not shipped"
                );
                continue;
            };
            let file = File::open(&path).map_err(|e| io(&path, e))?;
            let followed = Followed {
                path,
                file,
                offset,
                head,
            };
            self.open.insert(id, followed);
        }
        Ok(())
    }
}

/// Read `followed` from its offset to its end, pushing its complete lines; a last line
/// without its end counts only when the file was renamed away (nothing more will come).
fn read_lines(
    id: &str,
    followed: &mut Followed,
    renamed_away: bool,
    lines: &mut Vec<Line>,
) -> Result<(), ShipError> {
    let path = followed.path.clone();
    let len = followed.file.metadata().map_err(|e| io(&path, e))?.len();
    let head = first_bytes(&mut followed.file, followed.head.len()).map_err(|e| io(&path, e))?;
    if len < followed.offset || head != followed.head {
        // Truncated (and maybe written again): what is there now is new.
        followed.offset = 0;
        followed.head.clear();
    }
    followed
        .file
        .seek(SeekFrom::Start(followed.offset))
        .map_err(|e| io(&path, e))?;
    let mut data = Vec::new();
    followed
        .file
        .read_to_end(&mut data)
        .map_err(|e| io(&path, e))?;
    let mut start = 0;
    while let Some(end) = data[start..].iter().position(|&b| b == b'\n') {
        push(lines, followed, id, &data[start..start + end]);
        followed.offset += (end + 1) as u64;
        start += end + 1;
    }
    if renamed_away && start < data.len() {
        push(lines, followed, id, &data[start..]);
        followed.offset += (data.len() - start) as u64;
    }
    // Remember the first bytes of what was read, which cannot change unless rewritten.
    let known = (followed.offset as usize).min(HEAD);
    if followed.head.len() < known {
        followed.head = first_bytes(&mut followed.file, known).map_err(|e| io(&path, e))?;
    }
    Ok(())
}

/// Up to `n` bytes from the file's start.
fn first_bytes(file: &mut File, n: usize) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    file.seek(SeekFrom::Start(0))?;
    file.by_ref().take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

fn push(lines: &mut Vec<Line>, followed: &Followed, id: &str, bytes: &[u8]) {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    lines.push(Line {
        path: followed.path.display().to_string(),
        file_id: id.to_string(),
        offset: followed.offset,
        bytes: bytes.to_vec(),
    });
}

fn io(path: &Path, source: std::io::Error) -> ShipError {
    ShipError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn texts(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| String::from_utf8(l.bytes.clone()).unwrap())
            .collect()
    }

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn rotation_truncation_and_new_files_lose_and_repeat_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        let pattern = dir.path().join("*.log").display().to_string();
        append(&log, "one\ntwo\nthr");
        let mut tailer = Tailer::new(vec![pattern], BTreeMap::new()).unwrap();
        assert_eq!(texts(&tailer.poll().unwrap()), ["one", "two"]);
        // The rest of a line, then a rename: the old file is read to its end under its
        // new name, the new file from its start.
        append(&log, "ee\nfour");
        std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
        append(&log, "new one\n");
        let mut got = texts(&tailer.poll().unwrap());
        got.sort();
        assert_eq!(got, ["four", "new one", "three"]);
        // Truncated: read again from the start.
        std::fs::write(&log, "").unwrap();
        append(&log, "after truncation\n");
        assert_eq!(texts(&tailer.poll().unwrap()), ["after truncation"]);
        // A file that appears.
        append(&dir.path().join("other.log"), "hello\n");
        assert_eq!(texts(&tailer.poll().unwrap()), ["hello"]);
        assert!(tailer.poll().unwrap().is_empty());
        // Offsets are where each line starts.
        let positions = tailer.positions();
        assert_eq!(positions.len(), 2, "{positions:?}");
    }

    #[test]
    fn a_restart_goes_on_from_the_checkpointed_positions() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a.log");
        append(&log, "one\ntwo\n");
        let pattern = log.display().to_string();
        let mut first = Tailer::new(vec![pattern.clone()], BTreeMap::new()).unwrap();
        let lines = first.poll().unwrap();
        assert_eq!(lines[1].offset, 4);
        let start_at = first.positions();
        append(&log, "three\n");
        let mut second = Tailer::new(vec![pattern], start_at).unwrap();
        assert_eq!(texts(&second.poll().unwrap()), ["three"]);
    }
}
