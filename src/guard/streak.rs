//! The one rule that turns a run of observations into "ok" or "not ok", for every line the guard
//! shows: the sentinel, the pulse, each watched check.
//!
//! A *counted* failure (a timeout, a 5xx, a body that does not match) may be a blip: only
//! `failure_threshold` of them in a row turn a line. A *definitive* one (the port refuses after
//! the server was up, a status the config calls fatal) turns it at once, as Envoy treats a
//! non-retriable status. Pure bookkeeping: the caller says when each observation began and ended.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Definitive,
    Counted,
}

impl Class {
    pub fn word(self) -> &'static str {
        match self {
            Class::Definitive => "definitive",
            Class::Counted => "counted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub class: Class,
    pub reason: String,
    /// The server is still loading: said so, with since when, rather than as a count.
    pub loading: bool,
}

impl Failure {
    pub fn counted(reason: impl Into<String>) -> Failure {
        Failure {
            class: Class::Counted,
            reason: reason.into(),
            loading: false,
        }
    }

    pub fn definitive(reason: impl Into<String>) -> Failure {
        Failure {
            class: Class::Definitive,
            reason: reason.into(),
            loading: false,
        }
    }

    /// Counted: a server that is loading is not ready, and not yet failing either.
    pub fn loading(reason: impl Into<String>) -> Failure {
        Failure {
            loading: true,
            ..Failure::counted(reason)
        }
    }
}

/// What it takes to turn a line: passes in a row (and, before it was ever ok, for how long),
/// counted failures in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub passes: u32,
    pub fails: u32,
    pub hold: Duration,
}

impl Need {
    /// One pass, `fails` counted failures, no hold: a watched check, the pulse.
    pub fn fails(fails: u32) -> Need {
        Need {
            passes: 1,
            fails: fails.max(1),
            hold: Duration::ZERO,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Streak {
    ok: bool,
    been_ok: bool,
    passes: u32,
    fails: u32,
    /// When the current run of passes began (the start of its first observation).
    passing_since: Option<Instant>,
    /// When the current run of failures began.
    failing_since: Option<Instant>,
    last_failure: Option<Failure>,
}

impl Streak {
    pub fn new(ok: bool) -> Streak {
        Streak {
            ok,
            been_ok: ok,
            passes: 0,
            fails: 0,
            passing_since: None,
            failing_since: None,
            last_failure: None,
        }
    }

    pub fn ok(&self) -> bool {
        self.ok
    }

    pub fn been_ok(&self) -> bool {
        self.been_ok
    }

    pub fn passes(&self) -> u32 {
        self.passes
    }

    /// Failures in the current run: while the line is ok, the blips still being confirmed.
    pub fn fails(&self) -> u32 {
        self.fails
    }

    pub fn passing_since(&self) -> Option<Instant> {
        self.passing_since
    }

    pub fn failing_since(&self) -> Option<Instant> {
        self.failing_since
    }

    /// The latest failure of the current run; `None` once a pass has ended it.
    pub fn failure(&self) -> Option<&Failure> {
        self.last_failure.as_ref().filter(|_| self.fails > 0)
    }

    /// An observation that began at `started` and passed at `ended`. True when the line turned ok.
    pub fn pass(&mut self, started: Instant, ended: Instant, need: Need) -> bool {
        self.fails = 0;
        self.failing_since = None;
        self.passes = self.passes.saturating_add(1);
        let since = *self.passing_since.get_or_insert(started);
        if self.ok || self.passes < need.passes.max(1) {
            return false;
        }
        // The hold guards only the first ok: a recovery needs the passes alone.
        if !self.been_ok && ended.saturating_duration_since(since) < need.hold {
            return false;
        }
        self.ok = true;
        self.been_ok = true;
        true
    }

    /// An observation that began at `started` and failed. True when the line turned not ok.
    pub fn fail(&mut self, failure: Failure, started: Instant, need: Need) -> bool {
        self.passes = 0;
        self.passing_since = None;
        self.fails = self.fails.saturating_add(1);
        self.failing_since.get_or_insert(started);
        let definitive = failure.class == Class::Definitive;
        self.last_failure = Some(failure);
        if self.ok && (definitive || self.fails >= need.fails.max(1)) {
            self.ok = false;
            return true;
        }
        false
    }

    /// Not ok, with no run of passes or failures: a line that must prove itself again from
    /// now (a server woken from sleep), its first ready (and the hold) long behind it.
    pub fn restart(&mut self) {
        *self = Streak {
            been_ok: self.been_ok,
            ..Streak::new(false)
        };
    }

    /// When the hold will have passed, while a first passing run waits on it.
    pub fn hold_ends(&self, need: Need) -> Option<Instant> {
        let since = self.passing_since.filter(|_| !self.been_ok)?;
        Some(since + need.hold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEED: Need = Need {
        passes: 2,
        fails: 3,
        hold: Duration::ZERO,
    };

    /// Feeds observations one second apart, each lasting 100 ms: `+` pass, `c` counted failure,
    /// `d` definitive; returns where the line turned, as `(index, ok)`.
    fn feed(streak: &mut Streak, need: Need, script: &str) -> Vec<(usize, bool)> {
        let t0 = Instant::now();
        let mut turns = Vec::new();
        for (i, step) in script.chars().enumerate() {
            let at = t0 + Duration::from_secs(i as u64);
            let turned = match step {
                '+' => streak.pass(at, at + Duration::from_millis(100), need),
                'c' => streak.fail(Failure::counted("slow"), at, need),
                'd' => streak.fail(Failure::definitive("refused"), at, need),
                other => panic!("unknown step {other}"),
            };
            if turned {
                turns.push((i, streak.ok()));
            }
        }
        turns
    }

    #[test]
    fn thresholds_hold_and_classes() {
        struct Case {
            name: &'static str,
            ok: bool,
            need: Need,
            script: &'static str,
            turns: &'static [(usize, bool)],
        }
        let held = Need {
            hold: Duration::from_secs(3),
            ..NEED
        };
        let cases = [
            Case {
                name: "isolated counted failures never turn an ok line",
                ok: true,
                need: NEED,
                script: "+c+c+cc+c+cc+",
                turns: &[],
            },
            Case {
                name: "three counted failures in a row do",
                ok: true,
                need: NEED,
                script: "+ccc++",
                turns: &[(3, false), (5, true)],
            },
            Case {
                name: "a definitive failure turns at once",
                ok: true,
                need: NEED,
                script: "+d+c++",
                turns: &[(1, false), (5, true)],
            },
            Case {
                name: "a failure restarts the passes a turn needs",
                ok: false,
                need: NEED,
                script: "+c+c++",
                turns: &[(5, true)],
            },
            Case {
                name: "the hold counts from the streak's first start, and only the first time",
                ok: false,
                need: held,
                script: "+c++++ccc++",
                turns: &[(5, true), (8, false), (10, true)],
            },
            Case {
                name: "a definitive failure before the first ok changes nothing",
                ok: false,
                need: NEED,
                script: "dd++",
                turns: &[(3, true)],
            },
        ];
        for case in cases {
            let mut streak = Streak::new(case.ok);
            assert_eq!(
                feed(&mut streak, case.need, case.script),
                case.turns,
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn failing_since_is_the_first_failure_of_the_run() {
        let mut streak = Streak::new(true);
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        streak.fail(Failure::counted("a"), t0, NEED);
        streak.fail(Failure::counted("b"), t0 + second, NEED);
        assert_eq!(streak.failing_since(), Some(t0));
        assert_eq!(streak.failure().map(|f| f.reason.as_str()), Some("b"));
        streak.pass(t0 + 2 * second, t0 + 2 * second, NEED);
        assert_eq!(streak.failing_since(), None);
        assert!(streak.failure().is_none());
    }
}
