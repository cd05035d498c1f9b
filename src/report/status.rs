//! `state_dir/status.json`: the gate's state for the guard and for people, always whole.

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use crate::checks::io_phrase;
use crate::redact::Redactor;
use crate::shared_dir::write_atomically;
use crate::state::GateState;

/// News (a check passed, a new reason) is written within this: fast enough to follow a gate by
/// eye, slow enough that a 1,000-check graph does not rewrite the file thousands of times.
const NEWS_GAP: Duration = Duration::from_millis(100);
/// Routine changes (attempt counts, bytes so far) wait longer: rewriting the file on every
/// retry would cost more CPU than the retries themselves.
const ROUTINE_GAP: Duration = Duration::from_secs(2);

pub struct StatusWriter {
    path: PathBuf,
    redactor: Redactor,
    /// The gap owed before the next write, when one is pending.
    pending: Option<Duration>,
    /// Starts at creation: a gate that decides within the first gap writes the file once.
    last_write: Instant,
    warned: bool,
    /// Why the latest write failed, if it did.
    failure: Option<String>,
}

impl StatusWriter {
    pub fn new(path: PathBuf, redactor: Redactor) -> Self {
        StatusWriter {
            path,
            redactor,
            pending: None,
            last_write: Instant::now(),
            warned: false,
            failure: None,
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
        let mut value = match serde_json::to_value(state) {
            Ok(value) => value,
            Err(e) => return self.failed(e.to_string()),
        };
        self.redactor.clean_json(&mut value);
        let written = serde_json::to_string_pretty(&value)
            .map_err(|e| e.to_string())
            .and_then(|json| {
                write_atomically(&self.path, json.as_bytes()).map_err(|e| io_phrase(&e))
            });
        match written {
            Ok(()) => self.failure = None,
            Err(e) => self.failed(e),
        }
    }

    /// Why the latest write failed (`cannot write PATH: …`), if it did: the file then says
    /// something older than the gate knows.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    fn failed(&mut self, why: String) {
        let failure = format!("cannot write {}: {why}", self.path.display());
        // A full disk fails every write: once in the log is enough.
        if !self.warned {
            self.warned = true;
            tracing::warn!("{failure}");
        }
        self.failure = Some(failure);
    }
}
