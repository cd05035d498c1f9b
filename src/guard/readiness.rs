//! The one readiness state machine: Starting → Ready ⇄ Unready → Draining.
//!
//! Pure bookkeeping over sentinel rounds, so the thresholds and the hold are tested without a
//! clock or a network.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

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

pub struct Readiness {
    phase: Phase,
    passes: u32,
    fails: u32,
    /// When the current run of passing rounds began (the start of its first round).
    streak_since: Option<Instant>,
    been_ready: bool,
    success_threshold: u32,
    failure_threshold: u32,
    hold: Duration,
}

impl Readiness {
    pub fn new(success_threshold: u32, failure_threshold: u32, hold: Duration) -> Self {
        Readiness {
            phase: Phase::Starting,
            passes: 0,
            fails: 0,
            streak_since: None,
            been_ready: false,
            success_threshold: success_threshold.max(1),
            failure_threshold: failure_threshold.max(1),
            hold,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// New thresholds from a reloaded config; the phase and the current streak stand.
    pub fn retune(&mut self, success_threshold: u32, failure_threshold: u32, hold: Duration) {
        self.success_threshold = success_threshold.max(1);
        self.failure_threshold = failure_threshold.max(1);
        self.hold = hold;
    }

    fn go(&mut self, to: Phase, reason: String) -> Option<Transition> {
        let from = self.phase;
        self.phase = to;
        Some(Transition { from, to, reason })
    }

    /// Records a finished round that started at `started` and ended at `ended`.
    pub fn round(&mut self, passed: bool, started: Instant, ended: Instant) -> Option<Transition> {
        if self.phase == Phase::Draining {
            return None;
        }
        if !passed {
            self.passes = 0;
            self.streak_since = None;
            self.fails += 1;
            if self.phase == Phase::Ready && self.fails >= self.failure_threshold {
                let reason = format!("{} consecutive failing rounds", self.fails);
                return self.go(Phase::Unready, reason);
            }
            return None;
        }
        self.fails = 0;
        self.passes += 1;
        let since = *self.streak_since.get_or_insert(started);
        if self.phase == Phase::Ready || self.passes < self.success_threshold {
            return None;
        }
        // The hold guards only the first ready: a recovery needs the threshold alone.
        let held = ended.saturating_duration_since(since);
        if !self.been_ready && held < self.hold {
            return None;
        }
        self.been_ready = true;
        let reason = if self.phase == Phase::Starting && !self.hold.is_zero() {
            format!(
                "{} consecutive passing rounds, green for {}",
                self.passes,
                crate::config::units::human_duration(held)
            )
        } else {
            format!("{} consecutive passing rounds", self.passes)
        };
        self.go(Phase::Ready, reason)
    }

    /// With nothing to query, readiness is the gate's: ready at once.
    pub fn ready_without_sentinel(&mut self) -> Option<Transition> {
        self.been_ready = true;
        self.go(
            Phase::Ready,
            "no sentinel configured; the gate passed".into(),
        )
    }

    pub fn drain(&mut self, signal: &str) -> Option<Transition> {
        if self.phase == Phase::Draining {
            return None;
        }
        self.go(Phase::Draining, format!("{signal} received"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds rounds one second apart, each taking 100 ms.
    fn feed(r: &mut Readiness, start: Instant, rounds: &[bool]) -> Vec<(usize, Phase)> {
        rounds
            .iter()
            .enumerate()
            .filter_map(|(i, &passed)| {
                let began = start + Duration::from_secs(i as u64);
                r.round(passed, began, began + Duration::from_millis(100))
                    .map(|t| (i, t.to))
            })
            .collect()
    }

    #[test]
    fn ready_needs_the_threshold_and_the_hold_then_flips_on_failures() {
        let mut r = Readiness::new(2, 3, Duration::from_secs(3));
        let t0 = Instant::now();
        // A failure restarts the hold; ready once the streak begun at round 2 is 3 s old.
        let rounds = [
            true, false, true, true, true, true, false, false, false, true, true,
        ];
        assert_eq!(
            feed(&mut r, t0, &rounds),
            vec![(5, Phase::Ready), (8, Phase::Unready), (10, Phase::Ready)]
        );
    }

    #[test]
    fn a_single_blip_never_flaps() {
        let mut r = Readiness::new(1, 2, Duration::ZERO);
        let t0 = Instant::now();
        assert_eq!(
            feed(&mut r, t0, &[true, false, true, false, true]),
            vec![(0, Phase::Ready)]
        );
    }

    #[test]
    fn draining_is_final() {
        let mut r = Readiness::new(1, 1, Duration::ZERO);
        let t0 = Instant::now();
        feed(&mut r, t0, &[true]);
        assert_eq!(r.drain("SIGTERM").map(|t| t.to), Some(Phase::Draining));
        assert!(r.round(false, t0, t0).is_none());
        assert!(r.drain("SIGTERM").is_none());
    }
}
