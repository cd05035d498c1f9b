//! The one model of where the gate stands, built from engine events. Every output — log lines,
//! status.json, the termination message, the human report — is a view of it.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::checks::Facts;
use crate::checks::gpu::inventory::Inventory;
use crate::config::{CheckSpec, OnFail};
use crate::engine::{Event, EventKind, Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Pending,
    Running,
    Passed,
    Failed,
    /// Failed, with `on_fail: degrade`: the gate passed and the server runs in safe mode.
    Degraded,
    Skipped,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Running,
    Passed,
    Failed,
    DeadlineExceeded,
    Interrupted,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckState {
    pub name: String,
    pub kind: &'static str,
    pub target: String,
    pub on_fail: OnFail,
    pub after: Vec<String>,
    pub state: Phase,
    pub attempts: u32,
    pub stalls: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Why it ended, when it ended other than by passing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub polling: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<f64>,
    /// Passed only because of `force`: the mismatches it was forced past. Never silent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced: Option<String>,
    /// What a gpu check last saw, GPU by GPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<Facts>,
    /// Its latest failed and stalled attempts, for a timeline: at most [`EVENTS_KEPT`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<AttemptEvent>,
    /// Earlier events no longer kept.
    #[serde(skip_serializing_if = "is_zero")]
    pub events_dropped: u32,
    /// How many checks had finished before this one did: the first failure is the one that
    /// stopped the gate, and reports put it where it is read first.
    #[serde(skip)]
    pub finished_nth: Option<usize>,
}

/// A check that retries every 100 ms for ten minutes makes thousands of attempts: a timeline
/// needs the latest few, and status.json must stay small enough to rewrite.
pub const EVENTS_KEPT: usize = 16;

/// An attempt that ended without passing, and when.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AttemptEvent {
    pub at_ms: f64,
    pub event: AttemptEnd,
    pub attempt: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptEnd {
    Failed,
    /// It stopped beating, was cancelled and started again.
    Stalled,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Serialize)]
pub struct GateState {
    #[serde(skip)]
    pub started: Instant,
    #[serde(serialize_with = "rfc3339")]
    pub started_at: SystemTime,
    pub outcome: Outcome,
    pub deadline_ms: u128,
    pub elapsed_ms: f64,
    pub checks: Vec<CheckState>,
    /// Why the gate failed after its checks had decided: a file it could not write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Config index → position in `checks` (a `--only` run keeps a subset).
    #[serde(skip)]
    slots: Vec<Option<usize>>,
    /// How many checks have finished so far.
    #[serde(skip)]
    finished: usize,
}

/// What a log line should say about an event, if anything: repeats of the same error are not
/// news.
pub enum Change {
    Started,
    Waiting,
    Stalled,
    Polling,
    Passed,
    Failed,
    Skipped,
    Cancelled,
}

impl GateState {
    pub fn new(specs: &[CheckSpec], selected: &[bool], deadline: Duration) -> Self {
        let mut next = 0;
        let slots = selected
            .iter()
            .map(|&keep| {
                keep.then(|| {
                    next += 1;
                    next - 1
                })
            })
            .collect();
        GateState {
            slots,
            finished: 0,
            started: Instant::now(),
            started_at: SystemTime::now(),
            outcome: Outcome::Running,
            deadline_ms: deadline.as_millis(),
            elapsed_ms: 0.0,
            error: None,
            checks: specs
                .iter()
                .zip(selected)
                .filter(|(_, keep)| **keep)
                .map(|(s, _)| CheckState {
                    name: s.name.clone(),
                    kind: s.kind.name(),
                    target: s.target(),
                    on_fail: s.on_fail,
                    after: s.after.iter().map(|(a, _)| a.clone()).collect(),
                    state: Phase::Pending,
                    attempts: 0,
                    stalls: 0,
                    last_error: None,
                    progress: None,
                    reason: None,
                    detail: None,
                    polling: false,
                    started_ms: None,
                    finished_ms: None,
                    forced: None,
                    gpu: None,
                    events: Vec::new(),
                    events_dropped: 0,
                    finished_nth: None,
                })
                .collect(),
        }
    }

    /// Milliseconds since the start, to the microsecond.
    fn ms(&self, at: Instant) -> f64 {
        let micros = at.saturating_duration_since(self.started).as_micros();
        micros as f64 / 1000.0
    }

    /// Applies an event; returns the check it changed and what changed, if it is news.
    pub fn apply(&mut self, event: &Event) -> Option<(&CheckState, Change)> {
        let at = self.ms(event.at);
        self.elapsed_ms = at;
        let slot = (*self.slots.get(event.check)?)?;
        let check = &mut self.checks[slot];
        let change = Self::change(check, event, at)?;
        if check.finished_nth.is_none() && check.state.is_final() {
            check.finished_nth = Some(self.finished);
            self.finished += 1;
        }
        Some((&self.checks[slot], change))
    }

    fn change(check: &mut CheckState, event: &Event, at: f64) -> Option<Change> {
        match &event.kind {
            EventKind::Started => {
                check.state = Phase::Running;
                check.started_ms = Some(at);
                Some(Change::Started)
            }
            EventKind::AttemptFailed {
                attempt,
                reason,
                progress,
                facts,
            } => {
                check.attempts = *attempt;
                check.record_attempt_end(at, AttemptEnd::Failed);
                if facts.is_some() {
                    check.gpu.clone_from(facts);
                }
                check.progress.clone_from(progress);
                let news = check.last_error.as_deref() != Some(reason.as_str());
                check.last_error = Some(reason.clone());
                news.then_some(Change::Waiting)
            }
            EventKind::Stalled { attempt, .. } => {
                check.attempts = *attempt;
                check.record_attempt_end(at, AttemptEnd::Stalled);
                check.stalls += 1;
                Some(Change::Stalled)
            }
            EventKind::Polling { .. } => {
                check.polling = true;
                Some(Change::Polling)
            }
            EventKind::Passed {
                attempts,
                detail,
                facts,
                forced,
            } => {
                check.state = Phase::Passed;
                check.forced.clone_from(forced);
                if facts.is_some() {
                    check.gpu.clone_from(facts);
                }
                check.attempts = *attempts;
                check.progress = None;
                check.detail = Some(detail.clone());
                check.finished_ms = Some(at);
                Some(Change::Passed)
            }
            EventKind::Failed {
                attempts,
                reason,
                facts,
            } => {
                check.state = check.failed_phase();
                if facts.is_some() {
                    check.gpu.clone_from(facts);
                }
                check.attempts = check.attempts.max(*attempts);
                if check.last_error.as_deref() == Some(reason.as_str()) {
                    check.reason = None;
                } else {
                    check.reason = Some(reason.clone());
                }
                check.finished_ms = Some(at);
                Some(Change::Failed)
            }
            EventKind::Skipped { blocked_by } => {
                check.state = Phase::Skipped;
                check.reason = Some(format!(
                    "not run: it runs after {blocked_by}, which did not pass"
                ));
                check.finished_ms = Some(at);
                Some(Change::Skipped)
            }
            // A check that finished as the gate was decided keeps what it said.
            EventKind::Stopped { .. } if check.state.is_final() => None,
            EventKind::Stopped { reason, gate } => {
                let running = check.state == Phase::Running;
                check.finished_ms = Some(at);
                match gate {
                    // The gate waited for it: that is a failure, not a cancellation.
                    Verdict::DeadlineExceeded if running => {
                        check.state = Phase::Failed;
                        check.reason = Some(reason.clone());
                        Some(Change::Failed)
                    }
                    // A failure already seen is not lost to the one that stopped the gate:
                    // each can be fixed before the next start.
                    Verdict::Failed if running && check.last_error.is_some() => {
                        check.state = check.failed_phase();
                        check.reason = None;
                        Some(Change::Failed)
                    }
                    _ => {
                        check.state = Phase::Cancelled;
                        check.reason = Some(reason.clone());
                        Some(Change::Cancelled)
                    }
                }
            }
        }
    }

    pub fn finish(&mut self, outcome: Outcome) {
        // A degrade check that could not run leaves the server without it once the gate
        // passes; in a failed gate it is simply one that did not run.
        if outcome == Outcome::Passed {
            for check in &mut self.checks {
                if check.on_fail == OnFail::Degrade && check.state == Phase::Skipped {
                    check.state = Phase::Degraded;
                }
            }
        }
        // A signal stops the checks mid-way; none of them may read as still running.
        if outcome == Outcome::Interrupted {
            let at = self.ms(Instant::now());
            for check in &mut self.checks {
                let reason = match check.state {
                    Phase::Running => "stopped: the gate was interrupted",
                    Phase::Pending => "not started: the gate was interrupted first",
                    _ => continue,
                };
                check.state = Phase::Cancelled;
                check.reason = Some(reason.into());
                check.finished_ms = Some(at);
                check.finished_nth = Some(self.finished);
                self.finished += 1;
            }
        }
        self.outcome = outcome;
        self.elapsed_ms = self.ms(Instant::now());
    }

    /// The gate could not leave its result behind: a gate that passed fails, and the first
    /// such error is kept.
    pub fn fail_with(&mut self, error: String) {
        if self.outcome == Outcome::Passed {
            self.outcome = Outcome::Failed;
        }
        self.error.get_or_insert(error);
    }
}

impl Phase {
    /// Nothing the engine says later changes it.
    fn is_final(self) -> bool {
        !matches!(self, Phase::Pending | Phase::Running)
    }
}

impl CheckState {
    fn record_attempt_end(&mut self, at_ms: f64, event: AttemptEnd) {
        if self.events.len() == EVENTS_KEPT {
            self.events.remove(0);
            self.events_dropped += 1;
        }
        self.events.push(AttemptEvent {
            at_ms,
            event,
            attempt: self.attempts,
        });
    }

    /// A failure of a degrade check degrades it, whatever else happens to the gate: it never
    /// blocks it (only the deadline, waiting for it, does).
    fn failed_phase(&self) -> Phase {
        match self.on_fail {
            OnFail::Degrade => Phase::Degraded,
            OnFail::Require | OnFail::Warn => Phase::Failed,
        }
    }

    /// Why it did not pass, in one line: the ending reason and the last error seen before it.
    pub fn why(&self) -> String {
        match (&self.reason, &self.last_error) {
            (Some(r), Some(e)) if matches!(self.state, Phase::Failed | Phase::Degraded) => {
                format!("{r}; last error: {e}")
            }
            (Some(r), _) => r.clone(),
            (None, Some(e)) => e.clone(),
            (None, None) => "no attempt finished".into(),
        }
    }
}

/// status.json read back: what a reader of it acts on, field for field as [`GateState`] and
/// [`CheckState`] write it, in the same types (a test round-trips the two, so a field renamed on
/// one side cannot go unread on the other).
#[derive(Debug, Default)]
pub struct StatusRecord {
    /// When the gate started, as written (RFC 3339); `None` when absent or of another shape.
    pub started_at: Option<String>,
    /// `None` when absent or not one the gate writes.
    pub outcome: Option<Outcome>,
    pub error: Option<String>,
    pub elapsed_ms: f64,
    pub deadline_ms: u64,
    pub checks: Vec<CheckRecord>,
    /// Entries that did not read as a check: left out, so one odd entry costs only itself.
    pub unreadable: usize,
}

#[derive(Debug, Deserialize)]
pub struct CheckRecord {
    pub name: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub target: String,
    pub state: Phase,
    pub on_fail: OnFail,
    #[serde(default)]
    pub after: Vec<String>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub stalls: u32,
    #[serde(default)]
    pub events: Vec<AttemptEvent>,
    #[serde(default)]
    pub events_dropped: u32,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub progress: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub started_ms: Option<f64>,
    #[serde(default)]
    pub finished_ms: Option<f64>,
    #[serde(default)]
    pub forced: Option<String>,
    /// What a gpu check saw; a value of another shape reads as nothing seen.
    #[serde(default, deserialize_with = "inventory_if_one")]
    pub gpu: Option<Inventory>,
}

fn inventory_if_one<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Inventory>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(Inventory::deserialize(value).ok())
}

impl StatusRecord {
    /// The record in `bytes`, whatever they are: `None` when they are not the gate's JSON.
    pub fn parse(bytes: &[u8]) -> Option<StatusRecord> {
        #[derive(Deserialize)]
        struct Entries {
            checks: Vec<serde_json::Value>,
            #[serde(default)]
            started_at: serde_json::Value,
            #[serde(default)]
            outcome: serde_json::Value,
            #[serde(default)]
            error: serde_json::Value,
            #[serde(default)]
            elapsed_ms: serde_json::Value,
            #[serde(default)]
            deadline_ms: serde_json::Value,
        }
        let entries: Entries = serde_json::from_slice(bytes).ok()?;
        // A top-level field of another shape costs only itself, as an odd entry does.
        let mut record = StatusRecord {
            started_at: String::deserialize(entries.started_at).ok(),
            outcome: Outcome::deserialize(entries.outcome).ok(),
            error: String::deserialize(entries.error).ok(),
            elapsed_ms: entries.elapsed_ms.as_f64().unwrap_or_default(),
            deadline_ms: entries.deadline_ms.as_u64().unwrap_or_default(),
            ..StatusRecord::default()
        };
        for entry in entries.checks {
            match CheckRecord::deserialize(entry) {
                Ok(check) => record.checks.push(check),
                Err(_) => record.unreadable += 1,
            }
        }
        Some(record)
    }
}

fn rfc3339<S: serde::Serializer>(at: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::text::rfc3339(*at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(check: usize, kind: EventKind) -> Event {
        Event {
            check,
            at: Instant::now(),
            kind,
        }
    }

    fn failed() -> EventKind {
        EventKind::Failed {
            attempts: 1,
            reason: "no".into(),
            facts: None,
        }
    }

    fn skipped() -> EventKind {
        EventKind::Skipped {
            blocked_by: "model".into(),
        }
    }

    #[test]
    fn status_json_reads_back_as_the_writer_wrote_it() {
        let config = crate::config::load_with(
            "checks:\n  model: {kind: secret, env: M}\n  cache: {kind: secret, env: C, on_fail: warn, after: [model]}\n",
            &[],
        )
        .unwrap();
        let mut state = GateState::new(&config.checks, &[true; 2], Duration::from_secs(1));
        state.apply(&event(0, EventKind::Started));
        state.apply(&event(
            0,
            EventKind::AttemptFailed {
                attempt: 1,
                reason: "unset".into(),
                progress: None,
                facts: None,
            },
        ));
        state.apply(&event(
            0,
            EventKind::Stalled {
                attempt: 2,
                quiet: Duration::from_secs(1),
            },
        ));
        state.apply(&event(
            0,
            EventKind::Passed {
                attempts: 1,
                detail: "ok".into(),
                facts: None,
                forced: Some("sha256 differs".into()),
            },
        ));
        state.apply(&event(1, EventKind::Started));
        state.apply(&event(
            1,
            EventKind::AttemptFailed {
                attempt: 2,
                reason: "refused".into(),
                progress: Some("1 of 2".into()),
                facts: None,
            },
        ));
        state.apply(&event(
            1,
            EventKind::Stalled {
                attempt: 3,
                quiet: Duration::from_secs(1),
            },
        ));
        state.apply(&event(1, failed()));
        state.finish(Outcome::Passed);
        state.fail_with("cannot write it".into());
        let written = serde_json::to_vec(&state).unwrap();
        let record = StatusRecord::parse(&written).expect("the writer's JSON reads back");
        let read: Vec<(&str, Phase, OnFail, Option<&str>)> = record
            .checks
            .iter()
            .map(|c| (c.name.as_str(), c.state, c.on_fail, c.forced.as_deref()))
            .collect();
        assert_eq!(
            read,
            [
                (
                    "model",
                    Phase::Passed,
                    OnFail::Require,
                    Some("sha256 differs")
                ),
                ("cache", Phase::Failed, OnFail::Warn, None),
            ]
        );
        assert_eq!(record.unreadable, 0);
        assert_eq!(record.outcome, Some(Outcome::Failed));
        assert_eq!(record.error.as_deref(), Some("cannot write it"));
        let started = record
            .started_at
            .as_deref()
            .and_then(crate::text::parse_rfc3339);
        let written_at = state
            .started_at
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let read_at = started
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        assert_eq!(read_at.as_millis(), written_at.as_millis());
        assert_eq!(record.deadline_ms, 1000);
        let model = &record.checks[0];
        assert_eq!(model.detail.as_deref(), Some("ok"));
        assert_eq!(
            (model.kind.as_str(), model.target.as_str()),
            ("secret", "env M")
        );
        assert_eq!((model.attempts, model.stalls), (1, 1));
        assert!(model.started_ms.is_some() && model.finished_ms.is_some());
        let events: Vec<(AttemptEnd, u32)> =
            model.events.iter().map(|e| (e.event, e.attempt)).collect();
        assert_eq!(events, [(AttemptEnd::Failed, 1), (AttemptEnd::Stalled, 2)]);
        let cache = &record.checks[1];
        assert_eq!(cache.after, ["model"]);
        assert_eq!((cache.attempts, cache.stalls), (3, 1));
        assert_eq!(cache.started_ms, state.checks[1].started_ms);
        assert_eq!(cache.finished_ms, state.checks[1].finished_ms);
        assert!(cache.started_ms.is_some() && cache.finished_ms.is_some());
        assert_eq!(cache.progress.as_deref(), Some("1 of 2"));
        assert_eq!(
            cache
                .reason
                .as_ref()
                .or(cache.last_error.as_ref())
                .map(String::as_str),
            Some("no")
        );
    }

    #[test]
    fn a_check_keeps_only_its_latest_attempts() {
        let config =
            crate::config::load_with("checks:\n  m: {kind: secret, env: M}\n", &[]).unwrap();
        let mut state = GateState::new(&config.checks, &[true], Duration::from_secs(1));
        for attempt in 1..=100 {
            state.apply(&event(
                0,
                EventKind::AttemptFailed {
                    attempt,
                    reason: "unset".into(),
                    progress: None,
                    facts: None,
                },
            ));
        }
        let check = &state.checks[0];
        assert_eq!(check.events.len(), EVENTS_KEPT);
        assert_eq!(check.events_dropped as usize, 100 - EVENTS_KEPT);
        assert_eq!(check.events.last().map(|e| e.attempt), Some(100));
        assert_eq!(check.events[0].attempt as usize, 100 - EVENTS_KEPT + 1);
    }

    #[test]
    fn one_odd_entry_in_status_json_costs_only_itself() {
        let record = StatusRecord::parse(
            br#"{"checks": [
                {"name": "model", "state": "passed", "on_fail": "require", "gpu": [1, 2]},
                {"name": "odd", "state": "exploded", "on_fail": "require"},
                {"name": "cache", "state": "degraded", "on_fail": "degrade"}
            ]}"#,
        )
        .expect("the gate's JSON");
        let names: Vec<&str> = record.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["model", "cache"]);
        assert_eq!(record.unreadable, 1);
        assert!(
            record.checks[0].gpu.is_none(),
            "a gpu value of another shape"
        );
        assert!(StatusRecord::parse(b"not json").is_none());
    }

    #[test]
    fn a_failed_degrade_check_is_degraded_and_a_skipped_one_only_when_the_gate_passed() {
        let config = crate::config::load_with(
            "checks:\n  model: {kind: secret, env: M}\n  gpu: {kind: secret, env: G, on_fail: degrade, after: [model]}\n  cache: {kind: secret, env: C, on_fail: degrade}\n",
            &[],
        )
        .unwrap();
        let phases = |events: Vec<Event>, outcome| {
            let mut state = GateState::new(&config.checks, &[true; 3], Duration::from_secs(1));
            for e in &events {
                state.apply(e);
            }
            state.finish(outcome);
            state.checks.iter().map(|c| c.state).collect::<Vec<_>>()
        };
        assert_eq!(
            phases(
                vec![event(0, failed()), event(1, skipped()), event(2, failed())],
                Outcome::Failed
            ),
            [Phase::Failed, Phase::Skipped, Phase::Degraded]
        );
        let passed = EventKind::Passed {
            attempts: 1,
            detail: "ok".into(),
            facts: None,
            forced: None,
        };
        assert_eq!(
            phases(
                vec![event(0, passed), event(1, failed()), event(2, skipped())],
                Outcome::Passed
            ),
            [Phase::Passed, Phase::Degraded, Phase::Degraded]
        );
    }

    #[test]
    fn a_stopped_gate_keeps_every_failure_it_had_seen() {
        let config = crate::config::load_with(
            "checks:\n  a: {kind: secret, env: A}\n  b: {kind: secret, env: B}\n  c: {kind: secret, env: C, on_fail: degrade}\n  d: {kind: secret, env: D}\n  e: {kind: secret, env: E}\n",
            &[],
        )
        .unwrap();
        let stopped = |gate| EventKind::Stopped {
            reason: "stopped: it ended".into(),
            gate,
        };
        let tried = || EventKind::AttemptFailed {
            attempt: 1,
            reason: "refused".into(),
            progress: None,
            facts: None,
        };
        let phases = |gate: Verdict| {
            let mut state = GateState::new(&config.checks, &[true; 5], Duration::from_secs(1));
            let events = [
                // a failed and stopped the gate; b, c had failed attempts; d had none yet;
                // e never started.
                event(0, EventKind::Started),
                event(1, EventKind::Started),
                event(2, EventKind::Started),
                event(3, EventKind::Started),
                event(1, tried()),
                event(2, tried()),
                event(0, failed()),
                event(0, stopped(gate)),
                event(1, stopped(gate)),
                event(2, stopped(gate)),
                event(3, stopped(gate)),
                event(4, stopped(gate)),
            ];
            for e in &events {
                state.apply(e);
            }
            state.checks.iter().map(|c| c.state).collect::<Vec<_>>()
        };
        assert_eq!(
            phases(Verdict::Failed),
            [
                Phase::Failed,
                Phase::Failed,
                Phase::Degraded,
                Phase::Cancelled,
                Phase::Cancelled
            ]
        );
        // The gate waited for whatever still ran at the deadline, degrade checks too.
        assert_eq!(
            phases(Verdict::DeadlineExceeded),
            [
                Phase::Failed,
                Phase::Failed,
                Phase::Failed,
                Phase::Failed,
                Phase::Cancelled
            ]
        );
    }
}
