//! Runs the checks: each as soon as everything in its `after:` has passed, independent ones at
//! once, each with retries, its own timeout, a per-attempt timeout and a stall watchdog.
//!
//! The engine only emits [`Event`]s; it knows nothing of logs, files or reports.

mod backoff;

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout};

use crate::checks::{Check, Facts, Failure};
use crate::config::{CheckSpec, OnFail, units::human_duration};
use crate::graph::Graph;
use crate::heartbeat::Heartbeat;
use crate::redact::Redactor;
use backoff::Backoff;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Started,
    AttemptFailed {
        attempt: u32,
        reason: String,
        progress: Option<String>,
        facts: Option<Facts>,
    },
    /// The attempt stopped beating; it was cancelled and is started again.
    Stalled {
        attempt: u32,
        quiet: Duration,
    },
    /// inotify could not be used; the check polls with its backoff instead.
    Polling {
        reason: String,
    },
    Passed {
        attempts: u32,
        detail: String,
        facts: Option<Facts>,
        /// Passed only because of `force`: the mismatches it was forced past.
        forced: Option<String>,
    },
    Failed {
        attempts: u32,
        reason: String,
        facts: Option<Facts>,
    },
    /// Never started: something it runs after failed.
    Skipped {
        blocked_by: String,
    },
    /// Stopped unfinished: the gate was decided without it, or the deadline passed first.
    Cancelled {
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub struct Event {
    pub check: usize,
    pub at: Instant,
    pub kind: EventKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Retry until every required check passes; stop at the first required failure.
    Gate,
    /// One attempt per check, every check run: the `check` command.
    Once,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    DeadlineExceeded,
}

pub struct Plan<'a> {
    pub specs: &'a [CheckSpec],
    pub graph: &'a Graph,
    /// Checks to run; the others are treated as absent (`--only`).
    pub selected: Vec<bool>,
    pub deadline: Instant,
    pub deadline_len: Duration,
    pub mode: Mode,
    pub redactor: Redactor,
}

#[derive(Clone)]
struct Sink {
    tx: UnboundedSender<Event>,
}

impl Sink {
    fn emit(&self, check: usize, kind: EventKind) {
        // The receiver only goes away when the process is stopping anyway.
        let _ = self.tx.send(Event {
            check,
            at: Instant::now(),
            kind,
        });
    }
}

pub async fn run(plan: Plan<'_>, checks: Vec<Check>, events: UnboundedSender<Event>) -> Verdict {
    let sink = Sink { tx: events };
    let n = plan.specs.len();
    let mut checks: Vec<Option<Check>> = checks.into_iter().map(Some).collect();
    let mut waiting_on: Vec<usize> = (0..n)
        .map(|i| {
            plan.graph.deps[i]
                .iter()
                .filter(|&&d| plan.selected[d])
                .count()
        })
        .collect();
    let mut done = vec![false; n];
    let mut running = vec![false; n];
    let is_required = |i: usize| plan.specs[i].on_fail == OnFail::Require;
    // The gate waits for every check whose result it acts on: a required one, and a degrade
    // one, whose failure the server must hear of before it starts. Only warnings are left
    // running when the gate passes.
    let must_decide = |i: usize| plan.specs[i].on_fail != OnFail::Warn;
    let mut undecided = (0..n)
        .filter(|&i| plan.selected[i] && must_decide(i))
        .count();
    let mut any_required_failed = false;
    let mut tasks = JoinSet::new();

    let mut start = |i: usize, tasks: &mut JoinSet<(usize, bool)>, running: &mut Vec<bool>| {
        if let Some(check) = checks[i].take() {
            running[i] = true;
            let driver = Driver {
                index: i,
                spec: plan.specs[i].clone(),
                mode: plan.mode,
                sink: sink.clone(),
                redactor: plan.redactor.clone(),
            };
            tasks.spawn(async move { (i, driver.drive(check).await) });
        }
    };
    let roots: Vec<usize> = (0..n)
        .filter(|&i| plan.selected[i] && waiting_on[i] == 0)
        .collect();
    for i in roots {
        start(i, &mut tasks, &mut running);
    }
    if undecided == 0 && plan.mode == Mode::Gate {
        cancel_rest(&plan, &done, &running, &sink, "the gate passed");
        return Verdict::Passed;
    }

    while !tasks.is_empty() {
        let joined = tokio::select! {
            joined = tasks.join_next() => joined,
            _ = sleep_until(plan.deadline) => {
                // A check that finished just now has already said so; it must not also fail.
                while let Some(finished) = tasks.try_join_next() {
                    if let Ok((i, _)) = finished {
                        done[i] = true;
                    }
                }
                tasks.abort_all();
                let reason = format!("deadline {} passed", human_duration(plan.deadline_len));
                for i in 0..n {
                    if running[i] && !done[i] {
                        sink.emit(i, EventKind::Failed { attempts: 0, reason: reason.clone(), facts: None });
                        done[i] = true;
                    }
                }
                cancel_rest(&plan, &done, &running, &sink, &reason);
                return Verdict::DeadlineExceeded;
            }
        };
        let Some(joined) = joined else { break };
        let (i, passed) = match joined {
            Ok(result) => result,
            // Only an abort or a panic lands here; with panic=abort there is no panic.
            Err(_) => continue,
        };
        done[i] = true;
        running[i] = false;
        if must_decide(i) {
            undecided -= 1;
        }
        if passed {
            for &d in &plan.graph.dependents[i] {
                if plan.selected[d] {
                    waiting_on[d] -= 1;
                    if waiting_on[d] == 0 {
                        start(d, &mut tasks, &mut running);
                    }
                }
            }
        } else {
            any_required_failed |= is_required(i);
            for skipped in skip_dependents(&plan, i, &mut done, &sink) {
                any_required_failed |= is_required(skipped);
                if must_decide(skipped) {
                    undecided -= 1;
                }
            }
        }
        if plan.mode == Mode::Gate {
            if any_required_failed {
                tasks.abort_all();
                cancel_rest(&plan, &done, &running, &sink, "a required check failed");
                return Verdict::Failed;
            }
            if undecided == 0 {
                tasks.abort_all();
                cancel_rest(&plan, &done, &running, &sink, "the gate passed");
                return Verdict::Passed;
            }
        }
    }
    if any_required_failed || undecided > 0 {
        Verdict::Failed
    } else {
        Verdict::Passed
    }
}

/// Marks everything downstream of a failed check as skipped, and says which.
fn skip_dependents(plan: &Plan<'_>, failed: usize, done: &mut [bool], sink: &Sink) -> Vec<usize> {
    let mut skipped = Vec::new();
    let mut stack = vec![failed];
    while let Some(i) = stack.pop() {
        for &d in &plan.graph.dependents[i] {
            if plan.selected[d] && !done[d] {
                done[d] = true;
                skipped.push(d);
                sink.emit(
                    d,
                    EventKind::Skipped {
                        blocked_by: plan.specs[i].name.clone(),
                    },
                );
                stack.push(d);
            }
        }
    }
    skipped
}

fn cancel_rest(plan: &Plan<'_>, done: &[bool], running: &[bool], sink: &Sink, reason: &str) {
    for i in 0..plan.specs.len() {
        if plan.selected[i] && !done[i] {
            let reason = if running[i] {
                format!("stopped: {reason}")
            } else {
                format!("not started: {reason} first")
            };
            sink.emit(i, EventKind::Cancelled { reason });
        }
    }
}

/// One check's life: attempts, waits between them, its own timeout, stalls.
struct Driver {
    index: usize,
    spec: CheckSpec,
    mode: Mode,
    sink: Sink,
    redactor: Redactor,
}

impl Driver {
    fn emit(&self, kind: EventKind) {
        self.sink.emit(self.index, kind);
    }

    async fn drive(self, mut check: Check) -> bool {
        self.emit(EventKind::Started);
        let started = Instant::now();
        // The gate deadline is the engine's; this is the check's own budget.
        let until = self.spec.timeout.map(|t| started + t);
        let expired = || async move {
            match until {
                Some(at) => sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let mut prepared = false;
        let mut backoff = Backoff::new(self.spec.max_interval);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let heartbeat = Heartbeat::default();
            heartbeat.beat();
            let outcome = tokio::select! {
                result = timeout(self.spec.attempt_timeout, check.attempt(&heartbeat)) => Some(
                    result.unwrap_or_else(|_| Err(Failure::retry(format!(
                        "attempt timed out after {}",
                        human_duration(self.spec.attempt_timeout)
                    ))))
                ),
                _ = heartbeat.stalled(self.spec.stall_after) => None,
                _ = expired() => return self.time_out(attempts),
            };
            match outcome {
                None => {
                    self.emit(EventKind::Stalled {
                        attempt: attempts,
                        quiet: self.spec.stall_after,
                    });
                    continue;
                }
                Some(Ok(detail)) => {
                    let facts = check.facts();
                    let forced = check.forced().map(|f| self.redactor.clean(&f));
                    self.emit(EventKind::Passed {
                        attempts,
                        detail,
                        facts,
                        forced,
                    });
                    return true;
                }
                Some(Err(failure)) => {
                    let reason = self.redactor.clean(&failure.reason);
                    let facts = check.facts();
                    if !failure.retry || self.mode == Mode::Once {
                        self.emit(EventKind::Failed {
                            attempts,
                            reason,
                            facts,
                        });
                        return false;
                    }
                    self.emit(EventKind::AttemptFailed {
                        attempt: attempts,
                        reason,
                        progress: failure.progress,
                        facts,
                    });
                }
            }
            // The watch is armed only once a check is found waiting (a ready one needs no
            // inotify instance), then the check is tried once more at once: a change between
            // the failed attempt and the arming is seen by that attempt.
            if !prepared {
                prepared = true;
                if let Err(e) = check.prepare() {
                    self.emit(EventKind::Polling {
                        reason: format!(
                            "inotify unavailable ({}), polling instead",
                            crate::checks::io_phrase(&e)
                        ),
                    });
                }
                if check.watch().is_some() {
                    continue;
                }
            }
            let delay = backoff.next_delay();
            tokio::select! {
                _ = check.changed(&heartbeat, delay) => {}
                _ = expired() => return self.time_out(attempts),
            }
        }
    }

    fn time_out(&self, attempts: u32) -> bool {
        let limit = self.spec.timeout.unwrap_or_default();
        self.emit(EventKind::Failed {
            attempts,
            reason: format!("timeout {} passed", human_duration(limit)),
            facts: None,
        });
        false
    }
}
