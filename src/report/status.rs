//! `state_dir/status.json`: the gate's state for the guard and for people, always whole.

use std::time::Duration;

use tokio::time::Instant;

use crate::redact::Redactor;
use crate::state::GateState;
use crate::statedir::{STATUS, StateDir};

/// News (a check passed, a new reason) is written within this: fast enough to follow a gate by
/// eye, slow enough that a 1,000-check graph does not rewrite the file thousands of times.
const NEWS_GAP: Duration = Duration::from_millis(100);
/// Routine changes (attempt counts, bytes so far) wait longer: rewriting the file on every
/// retry would cost more CPU than the retries themselves.
const ROUTINE_GAP: Duration = Duration::from_secs(2);

/// Writes through the locked state_dir's own descriptor, as every file of the gate is written.
pub struct StatusWriter<'a> {
    dir: &'a StateDir,
    redactor: Redactor,
    /// The gap owed before the next write, when one is pending.
    pending: Option<Duration>,
    /// Starts at creation: a gate that decides within the first gap writes the file once.
    last_write: Instant,
    warned: bool,
    /// Why the latest write failed, if it did.
    failure: Option<String>,
}

impl<'a> StatusWriter<'a> {
    pub fn new(dir: &'a StateDir, redactor: Redactor) -> Self {
        StatusWriter {
            dir,
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
        let json = serde_json::to_value(state).and_then(|mut value| {
            self.redactor.clean_json(&mut value);
            serde_json::to_string_pretty(&value)
        });
        let written = match json {
            Ok(json) => self
                .dir
                .write(STATUS, json.as_bytes())
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!(
                "cannot write {}: {e}",
                self.dir.entry(STATUS).display()
            )),
        };
        match written {
            Ok(()) => self.failure = None,
            Err(failure) => self.failed(failure),
        }
    }

    /// Why the latest write failed (`cannot write PATH: …`), if it did: the file then says
    /// something older than the gate knows.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    fn failed(&mut self, failure: String) {
        // A full disk fails every write: once in the log is enough.
        if !self.warned {
            self.warned = true;
            tracing::warn!("{failure}");
        }
        self.failure = Some(failure);
    }
}
