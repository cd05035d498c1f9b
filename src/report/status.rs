//! `state_dir/status.json`: the gate's state for the guard and for people, always whole.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use crate::redact::Redactor;
use crate::state::GateState;

/// News (a check passed, a new reason) is written within this: fast enough to follow a gate by
/// eye, slow enough that a 1,000-check graph does not rewrite the file thousands of times.
const NEWS_GAP: Duration = Duration::from_millis(100);
/// Routine changes (attempt counts, bytes so far) wait longer: rewriting the file on every
/// retry would cost more CPU than the retries themselves.
const ROUTINE_GAP: Duration = Duration::from_secs(2);

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
    /// The gap owed before the next write, when one is pending.
    pending: Option<Duration>,
    /// Starts at creation: a gate that decides within the first gap writes the file once.
    last_write: Instant,
    warned: bool,
}

impl StatusWriter {
    pub fn new(path: PathBuf, redactor: Redactor) -> Self {
        StatusWriter {
            path,
            redactor,
            pending: None,
            last_write: Instant::now(),
            warned: false,
        }
    }

    /// Notes that the state changed; `news` when it is worth showing soon.
    pub fn changed(&mut self, news: bool) {
        let gap = if news { NEWS_GAP } else { ROUTINE_GAP };
        self.pending = Some(self.pending.map_or(gap, |owed| owed.min(gap)));
    }

    /// When the next write is due, if one is pending.
    pub fn due(&self) -> Option<Instant> {
        Some(self.last_write + self.pending?)
    }

    pub fn write(&mut self, state: &GateState) {
        self.pending = None;
        self.last_write = Instant::now();
        let Ok(mut value) = serde_json::to_value(state) else {
            return;
        };
        self.redactor.clean_json(&mut value);
        let Ok(json) = serde_json::to_string_pretty(&value) else {
            return;
        };
        if let Err(e) = write_atomically(&self.path, json.as_bytes())
            && !self.warned
        {
            self.warned = true;
            tracing::warn!("cannot write {}: {e}", self.path.display());
        }
    }
}
