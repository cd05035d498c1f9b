//! How far a hash has got, and a way to stop it: shared between the hashing threads and
//! whoever reports on them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Bytes hashed so far, across every file and thread that shares it, plus a stop flag.
///
/// The hashing side only adds and reads; the reporting side reads [`Progress::done`] whenever it
/// likes (rate and ETA are its arithmetic) and may call [`Progress::cancel`]: a check whose
/// timeout fired, or a warn check stopped when the gate passed, must not leave threads reading
/// a 100 GB model behind it. Hashing notices the flag between two reads.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    cancelled: AtomicBool,
}

impl Progress {
    pub fn new() -> Progress {
        Progress::default()
    }

    /// Bytes read and hashed so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Asks every hash that shares this progress to stop after its current read.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    pub(super) fn add(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
    }
}
