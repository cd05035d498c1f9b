//! Runs the checks: each as soon as everything in its `after:` has finished, independent ones
//! at once, each with retries, its own timeout, a per-attempt timeout and a stall watchdog.
//!
//! "Finished" depends on what the check runs after. A `require` or `degrade` check must pass:
//! if it fails, what runs after it is skipped. A `warn` check never holds anything back: what
//! runs after it starts once it has passed, failed or been skipped — failed being its
//! `timeout` passing (or a failure not worth retrying), or, when it has no `timeout`, its first
//! failed attempt; it keeps retrying meanwhile, until the gate is decided.
//!
//! The engine only emits [`Event`]s; it knows nothing of logs, files or reports.

mod backoff;

use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
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
    /// Its own verdict: its timeout passed, a failure not worth retrying, or (`check`) its one
    /// attempt failed.
    Failed {
        attempts: u32,
        reason: String,
        facts: Option<Facts>,
    },
    /// Never started: something it runs after failed.
    Skipped {
        blocked_by: String,
    },
    /// Stopped unfinished, or never started, because the gate was decided without it; `gate`
    /// says how. Where that leaves the check (cancelled, or failed with what it last saw) is
    /// the state's to say.
    Stopped {
        reason: String,
        gate: Verdict,
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
    let (settled_tx, mut settled) = unbounded_channel();
    let mut gate = Scheduler::new(&plan, checks, Sink { tx: events }, settled_tx);
    let roots: Vec<usize> = (0..gate.waiting_on.len())
        .filter(|&i| plan.selected[i] && gate.waiting_on[i] == 0)
        .collect();
    for i in roots {
        gate.start(i);
    }
    if gate.undecided == 0 && plan.mode == Mode::Gate {
        return gate.stop(Verdict::Passed, "the gate passed");
    }
    gate.drive(&mut settled).await
}

/// Who runs, who waits for whom, and when the gate is decided.
struct Scheduler<'p, 'a> {
    plan: &'p Plan<'a>,
    sink: Sink,
    checks: Vec<Option<Check>>,
    /// How many of its selected dependencies have not yet let it start.
    waiting_on: Vec<usize>,
    done: Vec<bool>,
    running: Vec<bool>,
    /// Its dependents have been let go (a warn check can let go before it is done).
    released: Vec<bool>,
    /// Where a warn check without a timeout says that an attempt of it failed.
    settled: UnboundedSender<usize>,
    tasks: JoinSet<(usize, bool)>,
    /// The gate waits for every check whose result it acts on: a required one, and a degrade
    /// one, whose failure the server must hear of before it starts. Only warnings are left
    /// running when the gate passes.
    undecided: usize,
    any_required_failed: bool,
}

impl<'p, 'a> Scheduler<'p, 'a> {
    fn new(
        plan: &'p Plan<'a>,
        checks: Vec<Check>,
        sink: Sink,
        settled: UnboundedSender<usize>,
    ) -> Self {
        let n = plan.specs.len();
        let waiting_on = (0..n)
            .map(|i| {
                plan.graph.deps[i]
                    .iter()
                    .filter(|&&d| plan.selected[d])
                    .count()
            })
            .collect();
        let undecided = (0..n)
            .filter(|&i| plan.selected[i] && plan.specs[i].on_fail != OnFail::Warn)
            .count();
        Scheduler {
            plan,
            sink,
            checks: checks.into_iter().map(Some).collect(),
            waiting_on,
            done: vec![false; n],
            running: vec![false; n],
            released: vec![false; n],
            settled,
            tasks: JoinSet::new(),
            undecided,
            any_required_failed: false,
        }
    }

    fn on_fail(&self, i: usize) -> OnFail {
        self.plan.specs[i].on_fail
    }

    fn start(&mut self, i: usize) {
        // A gate a required check has failed starts nothing more; it is about to stop.
        if self.plan.mode == Mode::Gate && self.any_required_failed {
            return;
        }
        let Some(check) = self.checks[i].take() else {
            return;
        };
        self.running[i] = true;
        let spec = &self.plan.specs[i];
        // With a timeout, a warn check's verdict comes in time; without one, only its first
        // failed attempt bounds how long what runs after it waits.
        let settles_early = spec.on_fail == OnFail::Warn && spec.timeout.is_none();
        let driver = Driver {
            index: i,
            spec: spec.clone(),
            mode: self.plan.mode,
            sink: self.sink.clone(),
            redactor: self.plan.redactor.clone(),
            settled: settles_early.then(|| self.settled.clone()),
        };
        self.tasks
            .spawn(async move { (i, driver.drive(check).await) });
    }

    /// Lets what runs after `i` start, once nothing else holds it back.
    fn release(&mut self, i: usize) {
        if std::mem::replace(&mut self.released[i], true) {
            return;
        }
        for &d in &self.plan.graph.dependents[i] {
            if self.plan.selected[d] && !self.done[d] {
                self.waiting_on[d] -= 1;
                if self.waiting_on[d] == 0 {
                    self.start(d);
                }
            }
        }
    }

    async fn drive(mut self, settled: &mut UnboundedReceiver<usize>) -> Verdict {
        while !self.tasks.is_empty() {
            let joined = tokio::select! {
                joined = self.tasks.join_next() => joined,
                Some(i) = settled.recv() => {
                    self.release(i);
                    continue;
                }
                _ = sleep_until(self.plan.deadline) => {
                    let reason = format!("deadline {} passed", human_duration(self.plan.deadline_len));
                    return self.stop(Verdict::DeadlineExceeded, &reason);
                }
            };
            let Some(joined) = joined else { break };
            match joined {
                Ok((i, passed)) => self.finished(i, passed),
                // Only an abort or a panic lands here; with panic=abort there is no panic.
                Err(_) => continue,
            }
            if self.plan.mode == Mode::Gate {
                if self.any_required_failed {
                    return self.stop(Verdict::Failed, "a required check failed");
                }
                if self.undecided == 0 {
                    return self.stop(Verdict::Passed, "the gate passed");
                }
            }
        }
        if self.any_required_failed || self.undecided > 0 {
            Verdict::Failed
        } else {
            Verdict::Passed
        }
    }

    fn finished(&mut self, i: usize, passed: bool) {
        self.done[i] = true;
        self.running[i] = false;
        if self.on_fail(i) != OnFail::Warn {
            self.undecided -= 1;
        }
        if passed || self.on_fail(i) == OnFail::Warn {
            self.release(i);
            return;
        }
        self.any_required_failed |= self.on_fail(i) == OnFail::Require;
        let skipped = self.skip_dependents(i);
        for &d in &skipped {
            self.any_required_failed |= self.on_fail(d) == OnFail::Require;
            if self.on_fail(d) != OnFail::Warn {
                self.undecided -= 1;
            }
        }
        // A skipped warn check has finished all the same: what runs after it is let go. Only
        // now, with every check the failure reaches marked, and the gate's state known.
        for d in skipped {
            if self.on_fail(d) == OnFail::Warn {
                self.release(d);
            }
        }
    }

    /// Marks everything downstream of a failed check as skipped, and says which; the walk
    /// stops at a warn check, since an `after` on one only orders.
    fn skip_dependents(&mut self, failed: usize) -> Vec<usize> {
        let mut skipped = Vec::new();
        let mut stack = vec![failed];
        while let Some(i) = stack.pop() {
            for &d in &self.plan.graph.dependents[i] {
                if self.plan.selected[d] && !self.done[d] {
                    self.done[d] = true;
                    skipped.push(d);
                    self.sink.emit(
                        d,
                        EventKind::Skipped {
                            blocked_by: self.plan.specs[i].name.clone(),
                        },
                    );
                    if self.on_fail(d) != OnFail::Warn {
                        stack.push(d);
                    }
                }
            }
        }
        skipped
    }

    /// The gate is decided: everything unfinished is stopped and told why.
    fn stop(mut self, gate: Verdict, why: &str) -> Verdict {
        // A check that finished just now has already said so; it is not stopped as well.
        while let Some(finished) = self.tasks.try_join_next() {
            if let Ok((i, _)) = finished {
                self.done[i] = true;
            }
        }
        self.tasks.abort_all();
        for i in 0..self.plan.specs.len() {
            if !self.plan.selected[i] || self.done[i] {
                continue;
            }
            let reason = match (self.running[i], gate) {
                (true, Verdict::DeadlineExceeded) => why.to_string(),
                (true, _) => format!("stopped: {why}"),
                (false, _) => format!("not started: {why} first"),
            };
            self.sink.emit(i, EventKind::Stopped { reason, gate });
        }
        gate
    }
}

/// One check's life: attempts, waits between them, its own timeout, stalls.
struct Driver {
    index: usize,
    spec: CheckSpec,
    mode: Mode,
    sink: Sink,
    redactor: Redactor,
    /// Told once when an attempt fails, for a warn check whose dependents wait only for that.
    settled: Option<UnboundedSender<usize>>,
}

impl Driver {
    fn emit(&self, kind: EventKind) {
        self.sink.emit(self.index, kind);
    }

    /// An attempt failed or stalled: for a warn check without a timeout, that is the verdict
    /// what runs after it waits for.
    fn attempt_failed(&mut self) {
        if let Some(settled) = self.settled.take() {
            let _ = settled.send(self.index);
        }
    }

    async fn drive(mut self, mut check: Check) -> bool {
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
                    self.attempt_failed();
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
                    self.attempt_failed();
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
                            crate::text::io_phrase(&e)
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
