//! Retry spacing: from 10 ms, doubling, capped, with jitter so a fleet of pods restarted at
//! once does not knock on a dependency in lockstep.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const FIRST_INTERVAL: Duration = Duration::from_millis(10);

pub struct Backoff {
    next: Duration,
    max: Duration,
    rng: u64,
}

impl Backoff {
    pub fn new(max: Duration) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ (u64::from(std::process::id()) << 32);
        Backoff::seeded(max, seed)
    }

    pub fn seeded(max: Duration, seed: u64) -> Self {
        Backoff {
            next: FIRST_INTERVAL.min(max),
            max,
            rng: seed | 1,
        }
    }

    /// The next delay: the current step scaled into [50 %, 100 %].
    pub fn next_delay(&mut self) -> Duration {
        let step = self.next;
        self.next = (self.next * 2).min(self.max);
        step.mul_f64(0.5 + 0.5 * self.unit())
    }

    /// xorshift64*: jitter needs spread, not cryptographic quality.
    fn unit(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let x = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_ten_ms_up_to_the_cap_with_jitter() {
        let mut b = Backoff::seeded(Duration::from_millis(100), 42);
        let steps = [10, 20, 40, 80, 100, 100, 100];
        for max in steps {
            let d = b.next_delay();
            let max = Duration::from_millis(max);
            assert!(
                d >= max / 2 && d <= max,
                "{d:?} outside [{:?}, {max:?}]",
                max / 2
            );
        }
    }

    #[test]
    fn jitter_spreads() {
        let mut b = Backoff::seeded(Duration::from_millis(10), 7);
        let delays: std::collections::BTreeSet<_> = (0..20).map(|_| b.next_delay()).collect();
        assert!(delays.len() > 10);
    }
}
