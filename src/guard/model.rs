//! The one readiness model. Every line `/readyz` shows — the gate's checks, the watched checks,
//! the pulse, the sentinel, the shutdown — is held here, each turned by the same [`Streak`]; the
//! phase (Starting → Ready ⇄ Unready → Draining), the lines, when the next sentinel round runs
//! and when the model counts as dead are all read from this one structure.
//!
//! Pure: no clock and no I/O. The caller says what was seen and when; the guard's loop turns the
//! answers into effects.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::lines::{Caveat, Line, QueryView, RoundMark, StreakView};
use super::streak::{Class, Failure, Need, Streak};
use crate::config::SentinelSpec;
use crate::config::units::human_duration;

/// The line that fails until the gate has passed (in `run`).
pub const GATE: &str = "gate";
/// The line for the pulse: each query's server reachable and answering.
pub const PULSE: &str = "pulse";
/// The line for the sentinel's verdict.
pub const SENTINEL: &str = "sentinel";
/// The line that fails while draining, as the apiserver's `shutdown` check does.
pub const SHUTDOWN: &str = "shutdown";

/// Rounds while the sentinel is not passing (a model loading, or one that failed): often enough
/// that a model that is back is ready within a second or two, seldom enough that a hung one is
/// not sent a pile of queries.
pub const RECHECK: Duration = Duration::from_secs(1);
/// A confirmation is held to this many times the median of the latest passing answers (the
/// median, so that one slow pass — a round that straddled a pause — does not stretch it)…
const CONFIRM_FACTOR: u32 = 4;
/// …but never to less than this, whatever the answers were.
const CONFIRM_FLOOR: Duration = Duration::from_millis(400);
/// How many passing answers' durations a confirmation deadline is drawn from.
const RECENT: usize = 8;
/// Rounds a status page charts: a minute at the default interval.
pub const ROUNDS_KEPT: usize = 60;
/// Confirmations start at least this far apart: a failure that lasts 30 ms (a worker
/// restarting) is seen once or twice, not `failure_threshold` times, so what turns a line is a
/// failure that lasts, not a burst of requests. A hang's confirmations wait out their deadline
/// anyway, so it costs them nothing.
pub const CONFIRM_SPACING: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Ready,
    Unready,
    Draining,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Unready => "unready",
            Phase::Draining => "draining",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: Phase,
    pub to: Phase,
    pub reason: String,
}

/// What a look at the model server saw; what it means is the model's to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Pass,
    /// The connection was refused: the server went away if it had answered before, else it is
    /// not listening yet.
    Refused(String),
    /// An answer the config calls fatal.
    Fatal(String),
    /// The server's own "not ready" (a `loading_status`): it is loading until it has passed
    /// since it started, and says it cannot serve after.
    Loading(String),
    /// No answer in time: counted, and while the server has not passed since it started, a
    /// model still loading (one loaded on its first request answers it late).
    Timeout(String),
    /// Anything else that failed: it may be a blip.
    Failed(String),
    /// The server sleeps: nothing was asked of it.
    Sleeping(String),
}

impl Seen {
    /// Why it failed; `None` for a pass.
    pub fn failure(&self) -> Option<&str> {
        match self {
            Seen::Pass => None,
            Seen::Refused(why)
            | Seen::Fatal(why)
            | Seen::Loading(why)
            | Seen::Timeout(why)
            | Seen::Failed(why)
            | Seen::Sleeping(why) => Some(why),
        }
    }

    /// The same outcome, its reason rewritten (cleaned of secrets before it is kept).
    pub fn map_reason(self, rewrite: impl FnOnce(&str) -> String) -> Seen {
        match self {
            Seen::Pass => Seen::Pass,
            Seen::Refused(why) => Seen::Refused(rewrite(&why)),
            Seen::Fatal(why) => Seen::Fatal(rewrite(&why)),
            Seen::Loading(why) => Seen::Loading(rewrite(&why)),
            Seen::Timeout(why) => Seen::Timeout(rewrite(&why)),
            Seen::Failed(why) => Seen::Failed(rewrite(&why)),
            Seen::Sleeping(why) => Seen::Sleeping(rewrite(&why)),
        }
    }
}

/// A failure said only in words may be a blip: counted.
impl From<String> for Seen {
    fn from(why: String) -> Seen {
        Seen::Failed(why)
    }
}

/// How long the latest passing answers took: what a confirmation is held to.
#[derive(Debug, Clone, Default)]
pub struct Recent(VecDeque<Duration>);

impl Recent {
    pub fn passed(&mut self, took: Duration) {
        self.0.push_back(took);
        if self.0.len() > RECENT {
            self.0.pop_front();
        }
    }

    /// How long a look may take when it confirms a failure: about as long as the server has
    /// lately taken to pass, so that a hang is confirmed in a second, not in another full
    /// `timeout`.
    pub fn confirm_deadline(&self, timeout: Duration) -> Duration {
        let mut took: Vec<Duration> = self.0.iter().copied().collect();
        if took.is_empty() {
            return timeout;
        }
        took.sort_unstable();
        // The lower middle of an even count: one slow pass (a first answer that waited on a
        // load) does not stretch every confirmation.
        let median = took[(took.len() - 1) / 2];
        (median * CONFIRM_FACTOR).clamp(CONFIRM_FLOOR, timeout.max(CONFIRM_FLOOR))
    }
}

/// The settings the model decides by; a reload replaces them.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    /// For the sentinel. Watched checks and the pulse need one pass and the same failures.
    pub need: Need,
    pub interval: Duration,
    pub timeout: Duration,
    pub dead_after: Option<Duration>,
    /// The origins the pulse looks at; empty when it is off.
    pub pulse: Vec<String>,
    /// A sleeping server still serves (a request wakes it): ready while it sleeps.
    pub sleep_serves: bool,
    /// How long a round may wait while the model has not passed since its server started.
    pub load_timeout: Option<Duration>,
}

impl Tuning {
    pub fn of(spec: Option<&SentinelSpec>, pulse: Vec<String>) -> Tuning {
        let fallback = SentinelSpec::default();
        let s = spec.unwrap_or(&fallback);
        Tuning {
            need: Need {
                passes: s.success_threshold.max(1),
                fails: s.failure_threshold.max(1),
                hold: s.hold,
            },
            interval: s.interval,
            timeout: s.timeout,
            dead_after: spec.and(s.dead_after),
            pulse,
            sleep_serves: s.sleep.as_ref().is_some_and(|sleep| sleep.serves),
            load_timeout: s.load_timeout,
        }
    }
}

/// A finished sentinel round.
#[derive(Debug, Clone)]
pub struct Round {
    pub started: Instant,
    pub ended: Instant,
    pub seen: Seen,
    pub queries: Vec<QueryView>,
}

/// When the next sentinel round starts, and how long its queries may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub at: Instant,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
struct Watched {
    name: String,
    streak: Streak,
    details: Vec<String>,
    forced: bool,
}

#[derive(Debug, Clone)]
struct PulseState {
    origin: String,
    streak: Streak,
    /// This origin answered since the guard started: a refusal now means it went away.
    reached: bool,
    /// It passed since its server last started: a "loading" answer now is no longer loading.
    alive: bool,
}

#[derive(Debug, Clone)]
struct Sentinel {
    streak: Streak,
    queries: Vec<QueryView>,
    /// The latest rounds, oldest first: at most [`ROUNDS_KEPT`].
    rounds: VecDeque<RoundMark>,
    recent: Recent,
    last: Option<(Instant, Instant)>,
    /// A round was answered since the guard started: a refusal now means the server went away.
    reached: bool,
    /// Something looked wrong at this moment: the first round to start after it runs at once.
    recheck: Option<Instant>,
    /// The server said it sleeps, since when and how.
    sleeping: Option<(Instant, String)>,
    /// The last round failed on a timeout.
    timed_out: bool,
    /// When the round now running began.
    in_flight: Option<Instant>,
}

#[derive(Debug, Clone)]
pub struct Model {
    tuning: Tuning,
    started: bool,
    gate: Vec<Line>,
    watched: Vec<Watched>,
    sentinel: Option<Sentinel>,
    pulse: Vec<PulseState>,
    draining: Option<String>,
    served: Phase,
    /// The sentinel passed since the server last (re)started; until it does, the model is
    /// loading, not dead, however long that takes.
    passed_since_start: bool,
    /// The latest line to turn, said as a transition's reason: `hf-token failing: …`.
    news: Option<String>,
}

impl Model {
    pub fn new(tuning: Tuning, sentinel: bool) -> Model {
        let pulse = pulse_states(&tuning.pulse, &[], false);
        Model {
            tuning,
            started: false,
            gate: vec![Line {
                name: GATE.into(),
                ok: false,
                reason: "the gate has not passed yet".into(),
                caveat: None,
                details: Vec::new(),
            }],
            watched: Vec::new(),
            sentinel: sentinel.then(Sentinel::new),
            pulse,
            draining: None,
            served: Phase::Starting,
            passed_since_start: false,
            news: None,
        }
    }

    /// The gate passed with these results; `watched` names the checks kept under watch, in the
    /// order their verdicts will be numbered.
    pub fn begin(&mut self, gate: Vec<Line>, watched: &[String]) {
        self.watched = watched
            .iter()
            .map(|name| {
                let line = gate.iter().find(|l| &l.name == name);
                Watched {
                    name: name.clone(),
                    streak: Streak::new(true),
                    details: line.map(|l| l.details.clone()).unwrap_or_default(),
                    forced: line.is_some_and(|l| l.caveat == Some(Caveat::Forced)),
                }
            })
            .collect();
        self.gate = gate;
        self.started = true;
    }

    pub fn started(&self) -> bool {
        self.started
    }

    pub fn served(&self) -> Phase {
        self.served
    }

    pub fn tuning(&self) -> &Tuning {
        &self.tuning
    }

    /// A reloaded config. Streaks stand; a sentinel or a pulse origin that appears starts as
    /// the pod stands: a reload alone never turns a ready pod unready.
    pub fn retune(&mut self, tuning: Tuning, sentinel: bool) {
        let ok = self.pulse.iter().all(|p| p.streak.ok());
        self.pulse = pulse_states(&tuning.pulse, &self.pulse, ok);
        let ready = self.served == Phase::Ready;
        match (&self.sentinel, sentinel) {
            (None, true) => {
                self.sentinel = Some(Sentinel {
                    streak: Streak::new(ready),
                    ..Sentinel::new()
                })
            }
            (Some(_), false) => self.sentinel = None,
            _ => {}
        }
        if let Some(s) = &mut self.sentinel {
            // New settings take effect now, not an old interval from now.
            s.recheck = s.last.map(|(_, ended)| ended);
        }
        self.tuning = tuning;
    }

    /// A watched check's verdict: `Seen::Fatal` when nothing can change it (a fatal XID).
    pub fn watched(&mut self, slot: usize, seen: Seen, at: Instant, update: WatchedUpdate) {
        let need = Need::fails(self.tuning.need.fails);
        let Some(w) = self.watched.get_mut(slot) else {
            return;
        };
        if let Some(details) = update.details {
            w.details = details;
        }
        w.forced = update.forced;
        let news = observe(
            &mut w.streak,
            classify(seen, true, true, true),
            at,
            at,
            need,
        )
        .map(|turn| match turn {
            Turned::Ok => format!("{} passes again", w.name),
            Turned::Failing(reason) => format!("{} failing: {reason}", w.name),
        });
        self.news = news.or(self.news.take());
    }

    /// Where a watched check stands.
    pub fn watched_state(&self, slot: usize) -> Option<WatchedState> {
        let w = self.watched.get(slot)?;
        Some(WatchedState {
            name: w.name.clone(),
            ok: w.streak.ok(),
            forced: w.forced,
        })
    }

    /// What the pulse saw of origin `index`.
    pub fn pulse(&mut self, index: usize, seen: Seen, started: Instant, ended: Instant) {
        let need = Need::fails(self.tuning.need.fails);
        let Some(p) = self.pulse.get_mut(index) else {
            return;
        };
        let was_ok = p.streak.ok();
        if gone(&seen, p.reached) {
            self.passed_since_start = false;
            p.alive = false;
        }
        // A sleeping server's health may answer as a dead one's would: never definitive then.
        let sleeping = self.sentinel.as_ref().is_some_and(|s| s.sleeping.is_some());
        let seen = match seen {
            Seen::Fatal(why) | Seen::Loading(why) if sleeping => {
                Seen::Failed(format!("{why} (while it sleeps)"))
            }
            other => other,
        };
        let answered = answered(&seen);
        let failure = classify(seen, p.reached, p.alive, true);
        p.reached |= answered;
        p.alive |= failure.is_none();
        let first_failure = failure.is_some() && p.streak.fails() == 0;
        let news = observe(&mut p.streak, failure, started, ended, need).map(|turn| match turn {
            Turned::Ok => format!("pulse: {} answers again", p.origin),
            Turned::Failing(reason) => format!("pulse failing: {}: {reason}", p.origin),
        });
        // Something wrong, or a server that is back, is worth a real query now: once, not on
        // every look of a pulse that keeps failing.
        if (first_failure || p.streak.ok() != was_ok)
            && let Some(s) = &mut self.sentinel
        {
            s.recheck.get_or_insert(ended);
        }
        self.news = news.or(self.news.take());
    }

    pub fn round(&mut self, round: Round) {
        let need = self.tuning.need;
        let Some(s) = &mut self.sentinel else {
            return;
        };
        s.last = Some((round.started, round.ended));
        if s.recheck.is_some_and(|at| round.started >= at) {
            s.recheck = None;
        }
        s.in_flight = None;
        if let Seen::Sleeping(why) = &round.seen {
            let since = s.sleeping.as_ref().map_or(round.started, |(at, _)| *at);
            if s.sleeping.is_none() && !self.tuning.sleep_serves && s.streak.ok() {
                s.streak
                    .fail(Failure::definitive(why.clone()), round.started, need);
                self.news = Some(format!("sentinel: the server sleeps: {why}"));
            }
            s.sleeping = Some((since, why.clone()));
            return;
        }
        if s.sleeping.take().is_some() && !self.tuning.sleep_serves {
            // Awake again, it proves itself before it is ready (it may not wake well), and a
            // failure from now on is counted from now, not from when it fell asleep.
            s.streak.restart();
        }
        s.timed_out = matches!(round.seen, Seen::Timeout(_));
        s.queries = round.queries;
        if s.rounds.len() == ROUNDS_KEPT {
            s.rounds.pop_front();
        }
        s.rounds.push_back(RoundMark {
            ended: round.ended,
            latency_ms: round
                .ended
                .saturating_duration_since(round.started)
                .as_secs_f64()
                * 1e3,
            passed: round.seen == Seen::Pass,
        });
        if round.seen == Seen::Pass {
            s.recent
                .passed(round.ended.saturating_duration_since(round.started));
            self.passed_since_start = true;
        }
        if gone(&round.seen, s.reached) {
            self.passed_since_start = false;
        }
        // Only an answer says the server was there: a timeout may never have reached it.
        let answered = answered(&round.seen);
        // A production query's "not ready" after the server served may be a full queue
        // (SGLang's 503): counted, not definitive.
        let failure = classify(round.seen, s.reached, self.passed_since_start, false);
        s.reached |= answered;
        match observe(&mut s.streak, failure, round.started, round.ended, need) {
            Some(Turned::Ok) => self.news = Some(self.ready_reason()),
            Some(Turned::Failing(reason)) => {
                self.news = Some(match s.streak.failure().map(|f| f.class) {
                    Some(Class::Definitive) => format!("sentinel failing, definitive: {reason}"),
                    _ => format!(
                        "sentinel failing, {} rounds in a row: {reason}",
                        s.streak.fails()
                    ),
                });
            }
            None => {}
        }
    }

    pub fn drain(&mut self, signal: &str) {
        self.draining
            .get_or_insert_with(|| format!("{signal} received"));
    }

    /// When the next sentinel round runs; `None` when none is due (no sentinel, before the gate
    /// passed, while draining).
    pub fn next_round(&self, now: Instant) -> Option<Schedule> {
        let s = self
            .sentinel
            .as_ref()
            .filter(|_| self.started && self.draining.is_none())?;
        // A model loaded on its first request (Ollama) is aborted when that request is given
        // up on: until the model passed since its server started, rounds wait `load_timeout`.
        let timeout = match self.passed_since_start {
            false => self.tuning.load_timeout.unwrap_or(self.tuning.timeout),
            true => self.tuning.timeout,
        };
        let Some((started, ended)) = s.last else {
            return Some(Schedule { at: now, timeout });
        };
        let streak = &s.streak;
        if s.sleeping.is_some() {
            // Asleep, only the sleep probe runs: no confirmations to hurry.
            let wait = match streak.ok() {
                true => self.tuning.interval,
                false => RECHECK,
            };
            return Some(Schedule {
                at: started + wait,
                timeout,
            });
        }
        if streak.ok() && streak.fails() > 0 {
            // A blip or the start of a failure: confirm soon, held to what passing takes.
            let timeout = s.recent.confirm_deadline(timeout);
            // A round that timed out has waited out its deadline already: the spacing is for
            // quick failures, which a worker restarting in 30 ms must not make three of.
            let at = match s.timed_out {
                true => ended,
                false => ended.max(started + CONFIRM_SPACING),
            };
            return Some(Schedule { at, timeout });
        }
        if s.recheck.is_some() {
            return Some(Schedule { at: ended, timeout });
        }
        let at = if streak.ok() {
            started + self.tuning.interval
        } else if let Some(hold_ends) = streak.hold_ends(self.tuning.need) {
            // Passing, waiting out the first hold: no more queries than the interval asks,
            // and one as the hold ends.
            (started + self.tuning.interval)
                .min(hold_ends)
                .max(started + RECHECK)
        } else {
            started + RECHECK
        };
        Some(Schedule { at, timeout })
    }

    /// Since when the model counts as dead, and why: it has failed for `dead_after` without a
    /// pass, having passed since its server last started. `None` while it is not, or cannot be.
    pub fn dead_at(&self) -> Option<(Instant, String)> {
        let after = self.tuning.dead_after?;
        let s = self.sentinel.as_ref()?;
        // Asleep is not dead, however long it lasts.
        if !self.passed_since_start || s.sleeping.is_some() {
            return None;
        }
        let since = s.streak.failing_since()?;
        let reason = s.streak.failure().map_or("", |f| f.reason.as_str());
        Some((
            since + after,
            format!(
                "the sentinel has failed for over {} without a pass: {reason}",
                human_duration(after)
            ),
        ))
    }

    pub fn phase(&self) -> Phase {
        if self.draining.is_some() {
            Phase::Draining
        } else if !self.started {
            Phase::Starting
        } else if self.all_ok() {
            Phase::Ready
        } else if self.served == Phase::Starting {
            Phase::Starting
        } else {
            Phase::Unready
        }
    }

    fn all_ok(&self) -> bool {
        self.gate
            .iter()
            .all(|l| l.ok || self.watched.iter().any(|w| w.name == l.name))
            && self.watched.iter().all(|w| w.streak.ok())
            && self.pulse.iter().all(|p| p.streak.ok())
            && self
                .sentinel
                .as_ref()
                .is_none_or(|s| s.streak.ok() && (s.sleeping.is_none() || self.tuning.sleep_serves))
    }

    /// The phase moved since it was last settled: what to tell the world.
    pub fn settle(&mut self, now: Instant, wall: SystemTime) -> Option<Transition> {
        // News is about this settling only: a turn that moved no phase is not a later reason.
        let news = self.news.take();
        let to = self.phase();
        if to == self.served {
            return None;
        }
        let reason = match to {
            Phase::Draining => self.draining.clone().unwrap_or_default(),
            Phase::Ready => news.unwrap_or_else(|| self.ready_reason()),
            Phase::Starting | Phase::Unready => news
                .or_else(|| {
                    self.lines(now, wall)
                        .into_iter()
                        .find(|l| !l.ok)
                        .map(|l| format!("{} failing: {}", l.name, l.reason))
                })
                .unwrap_or_default(),
        };
        let from = std::mem::replace(&mut self.served, to);
        Some(Transition { from, to, reason })
    }

    fn ready_reason(&self) -> String {
        let Some(s) = &self.sentinel else {
            return "no sentinel configured; the gate passed".into();
        };
        let passes = s.streak.passes();
        let held = match (s.streak.passing_since(), s.last) {
            (Some(since), Some((_, ended))) if self.served == Phase::Starting => {
                ended.saturating_duration_since(since)
            }
            _ => Duration::ZERO,
        };
        if held.is_zero() || self.tuning.need.hold.is_zero() {
            format!("{passes} consecutive passing rounds")
        } else {
            format!(
                "{passes} consecutive passing rounds, green for {}",
                human_duration(held)
            )
        }
    }

    /// The lines `/readyz` shows, in order: the gate's checks (a watched one as it stands now),
    /// the pulse, the sentinel, and the shutdown while draining. `now` and `wall` are the same
    /// moment on the two clocks, to say since when in the wall clock's words.
    pub fn lines(&self, now: Instant, wall: SystemTime) -> Vec<Line> {
        let clock = Clock { now, wall };
        let mut lines: Vec<Line> = self.gate.clone();
        for w in &self.watched {
            let line = Line {
                name: w.name.clone(),
                ok: w.streak.ok(),
                reason: describe(&w.streak, self.tuning.need.fails, &clock).unwrap_or_default(),
                caveat: (w.streak.ok() && w.forced).then_some(Caveat::Forced),
                details: w.details.clone(),
            };
            match lines.iter_mut().find(|l| l.name == w.name) {
                Some(existing) => *existing = line,
                None => lines.push(line),
            }
        }
        if !self.pulse.is_empty() {
            let failing = self.pulse.iter().find(|p| !p.streak.ok());
            let reason = failing.map_or(String::new(), |p| {
                let why = describe(&p.streak, self.tuning.need.fails, &clock)
                    .unwrap_or_else(|| "no answer yet".into());
                format!("{}: {why}", p.origin)
            });
            lines.push(Line {
                name: PULSE.into(),
                ok: failing.is_none(),
                reason,
                caveat: None,
                details: Vec::new(),
            });
        }
        let (ok, reason, caveat) = match &self.sentinel {
            None => (true, String::new(), None),
            Some(Sentinel {
                sleeping: Some((from, why)),
                streak,
                ..
            }) => {
                let serves = self.tuning.sleep_serves && streak.ok();
                let reason = format!(
                    "sleeping for {}, since {}: {why}",
                    human_duration(clock.age(*from)),
                    clock.since(*from)
                );
                (serves, reason, serves.then_some(Caveat::Sleeping))
            }
            Some(s) if s.streak.ok() => (true, String::new(), None),
            Some(s) => (false, self.sentinel_reason(s, &clock), None),
        };
        lines.push(Line {
            name: SENTINEL.into(),
            ok,
            reason,
            caveat,
            details: Vec::new(),
        });
        if self.draining.is_some() {
            lines.push(Line {
                name: SHUTDOWN.into(),
                ok: false,
                reason: "the process is shutting down".into(),
                caveat: None,
                details: Vec::new(),
            });
        }
        lines
    }

    fn sentinel_reason(&self, s: &Sentinel, clock: &Clock) -> String {
        if let Some(failing) = describe(&s.streak, self.tuning.need.fails, clock) {
            return failing;
        }
        let since = |at| clock.since(at);
        let need = self.tuning.need;
        match s.streak.passing_since() {
            None if !self.passed_since_start && s.in_flight.is_some() => {
                let from = s.in_flight.unwrap_or(clock.now);
                format!(
                    "loading for {}, since {}: the first round waits on the server (a model may load on its first request)",
                    human_duration(clock.age(from)),
                    clock.since(from)
                )
            }
            None => "no sentinel round has finished yet".into(),
            Some(from) if s.streak.passes() >= need.passes => format!(
                "passing since {}; ready once green for {}",
                since(from),
                human_duration(need.hold)
            ),
            Some(from) => format!(
                "passing since {}: {} of {} passing rounds",
                since(from),
                s.streak.passes(),
                need.passes
            ),
        }
    }

    /// A round began at `at`: until it ends, a sentinel that never finished one says it waits.
    pub fn round_began(&mut self, at: Instant) {
        if let Some(s) = &mut self.sentinel {
            s.in_flight = Some(at);
        }
    }

    /// Whether a round may wake a sleeping server: one a request wakes (llama-server), until
    /// the sentinel passes. Else a sleeper that fell asleep before its first pass would never
    /// be ready, nor ever be woken.
    pub fn may_wake(&self) -> bool {
        self.tuning.sleep_serves && self.sentinel.as_ref().is_some_and(|s| !s.streak.ok())
    }

    /// Each query's last answer, for the JSON state.
    pub fn queries(&self) -> &[QueryView] {
        self.sentinel.as_ref().map_or(&[], |s| &s.queries)
    }

    /// The latest sentinel rounds, oldest first, and where its streak stands.
    pub fn rounds(&self) -> Option<(&VecDeque<RoundMark>, StreakView)> {
        let s = self.sentinel.as_ref()?;
        let streak = StreakView {
            ok: s.streak.ok(),
            passes: s.streak.passes(),
            fails: s.streak.fails(),
        };
        Some((&s.rounds, streak))
    }
}

/// A watched check's standing, as the loop logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedState {
    pub name: String,
    pub ok: bool,
    /// Passing only because of `force`.
    pub forced: bool,
}

/// What a watched check's verdict carries besides pass or fail.
#[derive(Debug, Clone, Default)]
pub struct WatchedUpdate {
    pub details: Option<Vec<String>>,
    pub forced: bool,
}

impl Sentinel {
    fn new() -> Sentinel {
        Sentinel {
            streak: Streak::new(false),
            queries: Vec::new(),
            rounds: VecDeque::new(),
            recent: Recent::default(),
            last: None,
            reached: false,
            recheck: None,
            sleeping: None,
            timed_out: false,
            in_flight: None,
        }
    }
}

/// Streaks for `origins`, kept from `old` where the origin stays; a new one starts as `ok`.
fn pulse_states(origins: &[String], old: &[PulseState], ok: bool) -> Vec<PulseState> {
    origins
        .iter()
        .map(|origin| {
            old.iter()
                .find(|p| &p.origin == origin)
                .cloned()
                .unwrap_or_else(|| PulseState {
                    origin: origin.clone(),
                    streak: Streak::new(ok),
                    reached: false,
                    alive: false,
                })
        })
        .collect()
}

/// How a line turned.
enum Turned {
    Ok,
    Failing(String),
}

/// One observation on `streak`, passing or failing as `failure` says: how the line turned, if
/// it did.
fn observe(
    streak: &mut Streak,
    failure: Option<Failure>,
    started: Instant,
    ended: Instant,
    need: Need,
) -> Option<Turned> {
    match failure {
        None => streak.pass(started, ended, need).then_some(Turned::Ok),
        Some(failure) => {
            let reason = failure.reason.clone();
            streak
                .fail(failure, started, need)
                .then_some(Turned::Failing(reason))
        }
    }
}

/// The server had answered and now refuses: it is gone, and starts over when it is back.
fn gone(seen: &Seen, reached: bool) -> bool {
    reached && matches!(seen, Seen::Refused(_))
}

/// Whether the server answered at all: only then does a later refusal mean it went away.
fn answered(seen: &Seen) -> bool {
    matches!(seen, Seen::Pass | Seen::Fatal(_) | Seen::Loading(_))
}

/// What a failure means. A refusal is definitive once the server had answered (`reached`);
/// the server's own "not ready" and a silence are loading until it has passed since it
/// started (`alive`); a "not ready" after that is definitive where `unready_is_final` (a health
/// path's), else counted.
fn classify(seen: Seen, reached: bool, alive: bool, unready_is_final: bool) -> Option<Failure> {
    match seen {
        Seen::Pass => None,
        Seen::Refused(why) if reached => Some(Failure::definitive(format!(
            "{why}: the server had answered, and is gone"
        ))),
        Seen::Refused(why) => Some(Failure::loading(format!("{why} (not listening yet)"))),
        Seen::Loading(why) if alive && unready_is_final => Some(Failure::definitive(format!(
            "{why}: having served, the server says it cannot"
        ))),
        Seen::Loading(why) if alive => Some(Failure::counted(format!(
            "{why}: having served, the server says it cannot now"
        ))),
        Seen::Loading(why) => Some(Failure::loading(why)),
        Seen::Timeout(why) if !alive => Some(Failure::loading(why)),
        Seen::Fatal(why) => Some(Failure::definitive(why)),
        Seen::Timeout(why) | Seen::Failed(why) | Seen::Sleeping(why) => Some(Failure::counted(why)),
    }
}

/// The two clocks at one moment: to say since when in the wall clock's words, and for how long.
struct Clock {
    now: Instant,
    wall: SystemTime,
}

impl Clock {
    fn since(&self, at: Instant) -> String {
        crate::text::rfc3339(self.wall - self.now.saturating_duration_since(at))
    }

    fn age(&self, at: Instant) -> Duration {
        self.now.saturating_duration_since(at)
    }
}

/// `counted, 2 of 3 in a row since …: why`, `definitive since …: why` or `loading for 4s,
/// since …: why`; `None` while passing.
fn describe(streak: &Streak, fails: u32, clock: &Clock) -> Option<String> {
    let failure = streak.failure()?;
    let at = streak.failing_since();
    let from = at.map(|at| clock.since(at)).unwrap_or_default();
    if failure.loading {
        let age = at.map(|at| clock.age(at)).unwrap_or_default();
        return Some(format!(
            "loading for {}, since {from}: {}",
            human_duration(age),
            failure.reason
        ));
    }
    Some(match failure.class {
        Class::Definitive => format!("definitive since {from}: {}", failure.reason),
        Class::Counted => format!(
            "counted, {} of {fails} in a row since {from}: {}",
            streak.fails().min(fails.max(1)),
            failure.reason
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn tuning(passes: u32, fails: u32, hold: Duration) -> Tuning {
        Tuning {
            need: Need {
                passes,
                fails,
                hold,
            },
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            dead_after: Some(Duration::from_secs(60)),
            pulse: vec!["http://127.0.0.1:8000".into()],
            sleep_serves: false,
            load_timeout: None,
        }
    }

    fn begun(tuning: Tuning) -> Model {
        let mut model = Model::new(tuning, true);
        model.begin(Vec::new(), &["token".to_string()]);
        model
    }

    /// Plays `script` (steps a second apart, separated by spaces) and returns the phase after
    /// each step, one letter each: `s`tarting, `r`eady, `u`nready, `d`raining. Steps: `R+`,
    /// `Rc` (counted), `Rf` (fatal), `Rx` (refused), `Rl` (the server's "loading"), `Rt`
    /// (timeout), `Rz` (sleeping) for rounds; `P+`, `Pc`, `Px`, `Pl` for the pulse;
    /// `W+`, `Wc` for a watched check; `D` to drain; `T1`…`T9` to reload with that many
    /// counted failures needed; `S` to reload without the sentinel and then with it.
    fn play(model: &mut Model, script: &str) -> String {
        let t0 = Instant::now();
        let wall = SystemTime::now();
        let mut phases = String::new();
        for (i, step) in script.split_whitespace().enumerate() {
            let at = t0 + SECOND * i as u32;
            let ended = at + Duration::from_millis(50);
            let seen = |code: &str| match code {
                "+" => Seen::Pass,
                "c" => Seen::Failed("status 500".into()),
                "f" => Seen::Fatal("status 503".into()),
                "x" => Seen::Refused("connection refused".into()),
                "l" => Seen::Loading("status 503: Loading model".into()),
                "t" => Seen::Timeout("no answer within 5.0s".into()),
                "z" => Seen::Sleeping("it sleeps".into()),
                other => panic!("unknown outcome {other}"),
            };
            let (what, code) = step.split_at(1);
            match what {
                "R" => model.round(Round {
                    started: at,
                    ended,
                    seen: seen(code),
                    queries: Vec::new(),
                }),
                "P" => model.pulse(0, seen(code), at, ended),
                "W" => model.watched(0, seen(code), at, WatchedUpdate::default()),
                "D" => model.drain("SIGTERM"),
                // The sentinel taken away and given back, by two reloads.
                "S" => {
                    let tuning = model.tuning().clone();
                    model.retune(tuning.clone(), false);
                    model.settle(ended, wall);
                    model.retune(tuning, true);
                }
                "T" => {
                    let fails = code.parse().expect("T takes a digit");
                    let mut tuning = model.tuning().clone();
                    tuning.need.fails = fails;
                    model.retune(tuning, true);
                }
                other => panic!("unknown step {other}"),
            }
            model.settle(ended, wall);
            // One decision: the phase is ready exactly when every line /readyz shows is ok.
            if model.started() && model.served() != Phase::Draining {
                let all_ok = model.lines(ended, wall).iter().all(|l| l.ok);
                assert_eq!(all_ok, model.served() == Phase::Ready, "after {step}");
            }
            phases.push(match model.served() {
                Phase::Starting => 's',
                Phase::Ready => 'r',
                Phase::Unready => 'u',
                Phase::Draining => 'd',
            });
        }
        phases
    }

    #[test]
    fn the_phase_through_blips_death_hangs_recovery_drains_and_reloads() {
        struct Case {
            name: &'static str,
            script: &'static str,
            phases: &'static str,
        }
        let cases = [
            Case {
                name: "ready after the pulse answers and two passing rounds",
                script: "P+ R+ R+",
                phases: "ssr",
            },
            Case {
                name: "isolated counted failures never flip",
                script: "P+ R+ R+ Rc R+ Rc R+ Pc P+ Rc R+ Wc W+",
                phases: "ssrrrrrrrrrrr",
            },
            Case {
                name: "two in a row are still a blip",
                script: "P+ R+ R+ Rc Rc R+ Pc Pc P+",
                phases: "ssrrrrrrr",
            },
            Case {
                name: "a hang: three counted failures in a row",
                script: "P+ R+ R+ Rc Rc Rc R+ R+",
                phases: "ssrrruur",
            },
            Case {
                name: "a crash: the pulse refused after the server answered",
                script: "P+ R+ R+ Px P+ R+ R+",
                phases: "ssrurrr",
            },
            Case {
                name: "a fatal status, from a round or from the pulse",
                script: "P+ R+ R+ Rf R+ R+ Pf P+",
                phases: "ssruurur",
            },
            Case {
                name: "a server not listening yet is loading, not dead",
                script: "Px Px Rx Rx P+ R+ R+",
                phases: "ssssssr",
            },
            Case {
                name: "the server's own loading answer, then ready",
                script: "Pl Pl Rl Rt P+ R+ R+",
                phases: "ssssssr",
            },
            Case {
                name: "a query's not-ready after serving is counted (a full queue), health's is not",
                script: "P+ R+ R+ Rl R+ Rl Rl Rl R+ R+ Pl P+",
                phases: "ssrrrrruurur",
            },
            Case {
                name: "a sleeping server is unready, and proves itself awake",
                script: "P+ R+ R+ Rz Rz Pf R+ R+",
                phases: "ssruuuur",
            },
            Case {
                name: "a watched check turns after the same counted failures",
                script: "P+ R+ R+ Wc Wc Wc W+",
                phases: "ssrrrur",
            },
            Case {
                name: "drain while starting",
                script: "P+ R+ D R+",
                phases: "ssdd",
            },
            Case {
                name: "drain while ready",
                script: "P+ R+ R+ D Rc Rc Rc",
                phases: "ssrdddd",
            },
            Case {
                name: "drain while unready",
                script: "P+ R+ R+ Px D R+ R+",
                phases: "ssruddd",
            },
            Case {
                name: "a reload that lowers the threshold mid-streak turns on the next failure",
                script: "P+ R+ R+ Rc Rc T2 Rc",
                phases: "ssrrrru",
            },
            Case {
                name: "a sentinel added by a reload to a ready pod leaves it ready",
                script: "P+ R+ R+ S R+ Rc",
                phases: "ssrrrr",
            },
            Case {
                name: "a reload that raises it mid-streak waits for the new count",
                script: "P+ R+ R+ Rc Rc T5 Rc Rc Rc",
                phases: "ssrrrrrru",
            },
        ];
        for case in cases {
            let mut model = begun(tuning(2, 3, Duration::ZERO));
            let phases = play(&mut model, case.script);
            assert_eq!(phases, case.phases, "{}", case.name);
        }
    }

    /// Isolated counted failures at several rates, never two adjacent: never a flap, over
    /// thousands of rounds.
    #[test]
    fn loading_and_sleeping_are_said_with_since_when() {
        let t0 = Instant::now();
        let wall = SystemTime::now();
        let sentinel_line = |model: &Model, at: Instant| {
            let lines = model.lines(at, wall);
            lines.into_iter().find(|l| l.name == SENTINEL).unwrap()
        };
        let round = |seen: Seen, at: Instant| Round {
            started: at,
            ended: at + Duration::from_millis(10),
            seen,
            queries: Vec::new(),
        };
        let mut model = begun(tuning(1, 3, Duration::ZERO));
        model.round(round(Seen::Timeout("no answer within 5.0s".into()), t0));
        let line = sentinel_line(&model, t0 + 4 * SECOND);
        assert!(
            line.reason.starts_with("loading for 4.0s, since ")
                && line.reason.ends_with("no answer within 5.0s"),
            "{}",
            line.reason
        );
        model.round(round(Seen::Pass, t0 + 5 * SECOND));
        model.round(round(Seen::Timeout("no answer".into()), t0 + 6 * SECOND));
        assert!(
            sentinel_line(&model, t0 + 7 * SECOND).ok,
            "once it served, a timeout is a counted failure like any"
        );
        // A server whose sleep still serves stays ready, and says it sleeps.
        let mut serving = tuning(1, 3, Duration::ZERO);
        serving.sleep_serves = true;
        let mut model = begun(serving);
        model.round(round(Seen::Pass, t0));
        model.round(round(Seen::Sleeping("it sleeps".into()), t0 + SECOND));
        let line = sentinel_line(&model, t0 + 3 * SECOND);
        assert!(line.ok && line.caveat == Some(Caveat::Sleeping), "{line:?}");
        assert!(
            line.reason.starts_with("sleeping for 2.0s, since "),
            "{}",
            line.reason
        );
        assert_eq!(model.dead_at(), None, "asleep is never dead");
    }

    #[test]
    fn a_server_woken_from_sleep_is_judged_from_its_waking() {
        let t0 = Instant::now();
        let round = |seen: Seen, at: Instant| Round {
            started: at,
            ended: at + Duration::from_millis(10),
            seen,
            queries: Vec::new(),
        };
        let mut t = tuning(1, 3, Duration::ZERO);
        t.load_timeout = Some(Duration::from_secs(600));
        let mut model = begun(t);
        assert_eq!(
            model.next_round(t0).map(|s| s.timeout),
            Some(Duration::from_secs(600)),
            "until the model passed, a round waits as long as a load takes"
        );
        model.round(round(Seen::Pass, t0));
        assert_eq!(
            model.next_round(t0).map(|s| s.timeout),
            Some(model.tuning.timeout)
        );
        // Asleep for an hour: not dead, and only the sleep probe, on the recheck beat.
        model.round(round(Seen::Sleeping("it sleeps".into()), t0 + SECOND));
        let hour = t0 + Duration::from_secs(3600);
        model.round(round(Seen::Sleeping("it sleeps".into()), hour));
        assert_eq!(model.dead_at(), None);
        assert_eq!(model.next_round(hour).map(|s| s.at), Some(hour + RECHECK));
        // Woken into a hang: counted from the waking, not from the sleep, and dead in time.
        let woke = hour + SECOND;
        model.round(round(Seen::Timeout("no answer within 5.0s".into()), woke));
        let (dead_at, _) = model.dead_at().expect("a hang after waking can be a death");
        assert_eq!(dead_at, woke + Duration::from_secs(60));
    }

    #[test]
    fn isolated_failures_never_flap_at_any_rate() {
        for every in [2usize, 3, 5, 10] {
            let mut model = begun(tuning(2, 3, Duration::ZERO));
            let script: Vec<&str> = ["P+", "R+", "R+"]
                .into_iter()
                .chain((0..3000).map(|i| if i % every == 0 { "Rc" } else { "R+" }))
                .collect();
            let phases = play(&mut model, &script.join(" "));
            assert!(
                !phases.contains('u'),
                "a failure every {every} rounds flapped"
            );
        }
    }

    #[test]
    fn the_hold_guards_only_the_first_ready() {
        let mut model = begun(tuning(2, 1, Duration::from_secs(3)));
        assert_eq!(play(&mut model, "P+ R+ R+ R+ R+ R+ Rc R+ R+"), "ssssrruur");
    }

    #[test]
    fn rounds_are_scheduled_by_what_the_model_knows() {
        let t = tuning(2, 3, Duration::ZERO);
        let (interval, timeout) = (t.interval, t.timeout);
        let mut model = begun(t);
        let t0 = Instant::now();
        assert_eq!(
            model.next_round(t0),
            Some(Schedule { at: t0, timeout }),
            "the first round runs at once"
        );
        play(&mut model, "P+ R+ R+");
        let (started, ended) = model.sentinel.as_ref().and_then(|s| s.last).unwrap();
        assert_eq!(
            model.next_round(ended).map(|s| s.at),
            Some(started + interval),
            "all well: the interval"
        );
        play(&mut model, "Rc");
        let (started, ended) = model.sentinel.as_ref().and_then(|s| s.last).unwrap();
        assert_eq!(
            model.next_round(ended),
            Some(Schedule {
                at: started + CONFIRM_SPACING,
                timeout: CONFIRM_FLOOR
            }),
            "a quick counted failure is confirmed soon, held to what passing took"
        );
        play(&mut model, "R+ R+ Rt");
        let (_, ended) = model.sentinel.as_ref().and_then(|s| s.last).unwrap();
        assert_eq!(
            model.next_round(ended).map(|s| s.at),
            Some(ended),
            "a timeout is confirmed as it ends: it waited its deadline out already"
        );
        play(&mut model, "Rc Rc");
        let (started, _) = model.sentinel.as_ref().and_then(|s| s.last).unwrap();
        assert_eq!(
            model.next_round(started).map(|s| s.at),
            Some(started + RECHECK),
            "unready: every second"
        );
        model.drain("SIGTERM");
        assert_eq!(model.next_round(started), None, "none while draining");
    }

    #[test]
    fn a_pulse_that_fails_or_comes_back_asks_for_a_round_now() {
        let mut model = begun(tuning(2, 3, Duration::ZERO));
        play(&mut model, "P+ R+ R+");
        let (_, ended) = model.sentinel.as_ref().and_then(|s| s.last).unwrap();
        let later = ended + SECOND * 5;
        model.pulse(0, Seen::Failed("no answer".into()), later, later);
        assert_eq!(model.next_round(later).map(|s| s.at), Some(ended));
    }

    #[test]
    fn confirmation_deadlines_follow_the_median_pass() {
        let ms = Duration::from_millis;
        let timeout = Duration::from_secs(5);
        let deadline = |took: &[Duration]| {
            let mut recent = Recent::default();
            took.iter().for_each(|t| recent.passed(*t));
            recent.confirm_deadline(timeout)
        };
        assert_eq!(deadline(&[]), timeout);
        assert_eq!(deadline(&[ms(10), ms(20)]), CONFIRM_FLOOR);
        assert_eq!(deadline(&[ms(300), ms(200), ms(4000)]), ms(1200));
        assert_eq!(deadline(&[ms(3000), ms(3000)]), timeout);
    }

    #[test]
    fn the_model_is_dead_only_after_passing_since_its_server_started() {
        let mut model = begun(tuning(2, 3, Duration::ZERO));
        play(&mut model, "Px Rx Rx Rx");
        assert_eq!(model.dead_at(), None, "never passed: loading, however long");
        play(&mut model, "P+ R+ R+ Rc Rc Rc");
        let (at, reason) = model.dead_at().expect("failing after a pass");
        let first_failure = model
            .sentinel
            .as_ref()
            .unwrap()
            .streak
            .failing_since()
            .unwrap();
        assert_eq!(at, first_failure + Duration::from_secs(60));
        assert!(reason.contains("status 500"), "{reason}");
        play(&mut model, "Px");
        assert_eq!(model.dead_at(), None, "a server that went away starts over");
        play(&mut model, "P+ R+");
        assert_eq!(model.dead_at(), None, "passing again");
    }

    #[test]
    fn lines_say_which_class_and_since_when() {
        let mut model = begun(tuning(2, 3, Duration::ZERO));
        play(&mut model, "P+ R+ R+ Rc Px");
        let now = Instant::now();
        let lines = model.lines(now, SystemTime::UNIX_EPOCH + Duration::from_secs(3600));
        let names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["token", PULSE, SENTINEL]);
        let pulse = &lines[1];
        assert!(!pulse.ok);
        // The steps were played a second apart from before `now`: the failure is dated as
        // late as the wall clock given, never later.
        assert_eq!(
            pulse.reason,
            "http://127.0.0.1:8000: definitive since 1970-01-01T01:00:00.000Z: connection refused: the server had answered, and is gone"
        );
        assert!(lines[2].ok, "one counted failure leaves the sentinel ok");
    }
}
