//! `state_dir/status.json`: the gate's state for the guard and for people, always whole.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use crate::redact::Redactor;
use crate::state::GateState;

/// Fast enough to follow a gate by eye; slow enough that a 1,000-check graph does not
/// rewrite the file thousands of times.
const MIN_GAP: Duration = Duration::from_millis(100);

/// Writes `bytes` to `path` through a temporary file and a rename, so a reader never sees half.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

pub struct StatusWriter {
    path: PathBuf,
    redactor: Redactor,
    dirty: bool,
    last_write: Option<Instant>,
    warned: bool,
}

impl StatusWriter {
    pub fn new(path: PathBuf, redactor: Redactor) -> Self {
        StatusWriter {
            path,
            redactor,
            dirty: false,
            last_write: None,
            warned: false,
        }
    }

    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// When the next write is due, if one is pending.
    pub fn due(&self) -> Option<Instant> {
        self.dirty
            .then(|| self.last_write.map_or_else(Instant::now, |at| at + MIN_GAP))
    }

    pub fn write(&mut self, state: &GateState) {
        self.dirty = false;
        self.last_write = Some(Instant::now());
        let json = match serde_json::to_string_pretty(state) {
            Ok(json) => self.redactor.clean(&json),
            Err(_) => return,
        };
        if let Err(e) = write_atomically(&self.path, json.as_bytes())
            && !self.warned
        {
            self.warned = true;
            tracing::warn!("cannot write {}: {e}", self.path.display());
        }
    }
}
