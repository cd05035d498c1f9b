//! Proof of life from a running attempt: a check beats on each wake-up, poll or chunk of work,
//! and an attempt that stops beating is stalled.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Clone)]
pub struct Heartbeat {
    epoch: Instant,
    last_nanos: Arc<AtomicU64>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat {
            epoch: Instant::now(),
            last_nanos: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Heartbeat {
    pub fn beat(&self) {
        let nanos = self.epoch.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
        self.last_nanos.store(nanos, Ordering::Relaxed);
    }

    pub fn last(&self) -> Instant {
        self.epoch + Duration::from_nanos(self.last_nanos.load(Ordering::Relaxed))
    }

    /// Resolves once no beat has come for `quiet`.
    pub async fn stalled(&self, quiet: Duration) {
        loop {
            let due = self.last() + quiet;
            if Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn beats_postpone_the_stall() {
        let hb = Heartbeat::default();
        let beater = hb.clone();
        let start = Instant::now();
        let beats = tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                beater.beat();
            }
        });
        hb.stalled(Duration::from_millis(50)).await;
        beats.await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(110));
    }
}
