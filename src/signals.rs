//! SIGTERM and SIGINT as one stop request.
//!
//! bootgate is usually PID 1 in its container, and the kernel drops signals PID 1 has no
//! handler for: without these handlers a waiting gate would ignore pod deletion until SIGKILL.
//!
//! Elsewhere a signal with no handler ends the process, and a kubelet may send SIGTERM at any
//! moment, including the first millisecond. So the binary blocks both signals before `main`
//! ([`hold`]); the library installs the handlers, then lets the signals through ([`release`]),
//! and one that arrived in between is delivered to the handler then: exit 3, not death by the
//! signal.

use tokio::signal::unix::{Signal, SignalKind, signal};

pub struct Stop {
    term: Option<Signal>,
    int: Option<Signal>,
}

impl Stop {
    /// Installs the handlers. Needs the runtime: call it inside one.
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

/// Blocks SIGTERM and SIGINT on the calling thread: they stay pending, not acted on, until
/// [`release`]. The binary calls it before `main`, while the process has one thread.
pub extern "C" fn hold() {
    mask(libc::SIG_BLOCK);
}

/// Lets SIGTERM and SIGINT through again, delivering any that arrived while held: to the
/// handlers once [`Stop::install`] has run, or with their default action where no handler is
/// wanted (`validate`, `lint`). Called before any thread or child exists, since both inherit
/// the mask.
pub fn release() {
    mask(libc::SIG_UNBLOCK);
}

#[allow(unsafe_code)]
fn mask(how: libc::c_int) {
    // SAFETY: `set` is initialised by `sigemptyset` before use and lives across the calls;
    // the pointers are valid for their duration, and a null old-set pointer is allowed. Only
    // SIGTERM and SIGINT change, neither of which the C library reserves.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}
