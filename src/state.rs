//! The one model of where the gate stands, built from engine events. Every output — log lines,
//! status.json, the termination message, the human report — is a view of it.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::time::Instant;

use crate::checks::Facts;
use crate::config::{CheckSpec, OnFail};
use crate::engine::{Event, EventKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
                check.state = Phase::Failed;
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
            EventKind::Cancelled { reason } => {
                check.state = Phase::Cancelled;
                check.reason = Some(reason.clone());
                check.finished_ms = Some(at);
                Some(Change::Cancelled)
            }
        }
    }

    pub fn finish(&mut self, outcome: Outcome) {
        // Degraded means "the gate passed without it", so only a passed gate degrades: a
        // degrade check that failed, or could not run, leaves the server without it.
        if outcome == Outcome::Passed {
            for check in &mut self.checks {
                if check.on_fail == OnFail::Degrade
                    && matches!(check.state, Phase::Failed | Phase::Skipped)
                {
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

impl CheckState {
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

fn rfc3339<S: serde::Serializer>(at: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::report::rfc3339(*at))
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
    fn only_a_passed_gate_degrades_and_a_failed_one_keeps_what_happened() {
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
            [Phase::Failed, Phase::Skipped, Phase::Failed]
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
}
