//! Secret values that turn up after start (a Secret volume filled late, a file rotated): a
//! [`Source`] is asked again before outside text is cleaned. Asking may block (a secret on a
//! network mount), so it runs on a blocking thread, one ask at a time however many callers
//! wait, and a caller waits only so long.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// Where secret values may appear after start.
pub trait Source: Send + 'static {
    /// The values that appeared since the last call. May block.
    fn changed(&mut self) -> Vec<String>;
}

/// How long a caller waits for an ask; past it, the text is withheld rather than risked.
pub const ASK_LIMIT: Duration = Duration::from_secs(2);

pub struct Follow {
    state: Mutex<State>,
    /// The number of the last ask finished.
    finished: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    /// Here between asks; with the ask while one runs.
    source: Option<Box<dyn Source>>,
    following: bool,
    /// The number of the last ask begun.
    begun: u64,
    /// A caller came while an ask ran, so that ask may have looked before its text existed:
    /// another follows at once.
    again: bool,
}

impl Default for Follow {
    fn default() -> Self {
        Follow {
            state: Mutex::default(),
            finished: watch::Sender::new(0),
        }
    }
}

impl Follow {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts following `source`; a redactor follows one, the first it is given.
    pub fn start(&self, source: Box<dyn Source>) {
        let mut state = self.state();
        if !state.following {
            state.following = true;
            state.source = Some(source);
        }
    }

    /// Asks the source, through an ask that begins now, and hands what it finds to `found`.
    /// False when that ask did not finish within [`ASK_LIMIT`].
    pub async fn ask<F>(self: &Arc<Self>, found: F) -> bool
    where
        F: Fn(Vec<String>) + Send + 'static,
    {
        let target = {
            let mut state = self.state();
            if !state.following {
                return true;
            }
            match state.source.take() {
                Some(source) => {
                    state.begun += 1;
                    self.spawn(source, found);
                    state.begun
                }
                None => {
                    state.again = true;
                    state.begun + 1
                }
            }
        };
        let mut finished = self.finished.subscribe();
        matches!(
            tokio::time::timeout(ASK_LIMIT, finished.wait_for(|&done| done >= target)).await,
            Ok(Ok(_))
        )
    }

    fn spawn<F>(self: &Arc<Self>, mut source: Box<dyn Source>, found: F)
    where
        F: Fn(Vec<String>) + Send + 'static,
    {
        // The thread runs on if the caller stops waiting: a hung mount holds it, and later
        // callers wait on the same ask instead of starting threads of their own.
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            loop {
                found(source.changed());
                let mut state = this.state();
                // Told under the lock: an ask that begins once the source is back cannot
                // finish, and be told, before this one is.
                this.finished.send_replace(state.begun);
                if !std::mem::take(&mut state.again) {
                    state.source = Some(source);
                    return;
                }
                state.begun += 1;
            }
        });
    }
}
