//! SIGTERM and SIGINT as one stop request.
//!
//! bootgate is usually PID 1 in its container, and the kernel drops signals PID 1 has no
//! handler for: without these handlers a waiting gate would ignore pod deletion until SIGKILL.

use tokio::signal::unix::{Signal, SignalKind, signal};

pub struct Stop {
    term: Option<Signal>,
    int: Option<Signal>,
}

impl Stop {
    pub fn install() -> Stop {
        Stop {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }

    /// Resolves with the signal's name when one arrives.
    pub async fn requested(&mut self) -> &'static str {
        async fn next(s: &mut Option<Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = next(&mut self.term) => "SIGTERM",
            _ = next(&mut self.int) => "SIGINT",
        }
    }
}
