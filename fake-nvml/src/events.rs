//! Event sets: which GPUs each set listens to, and how many of each GPU's configured XIDs the
//! set has handed out, so a test that appends an XID to the configuration later gets just the
//! new one delivered.
//!
//! The registry is one process-wide map behind a mutex, not thread-local state: callers create
//! a set on one thread and wait on it from another.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::abi::{self, EVENT_XID};
use crate::codes::{INVALID_ARGUMENT, TIMEOUT};
use crate::config::{Config, number};
use crate::device::{self, Gpu};
use crate::out::Status;

/// How often a waiting call looks at the configuration again.
const POLL: Duration = Duration::from_millis(5);

struct Registry {
    /// The next handle value; handles are keys into `sets`, never dereferenced.
    next: usize,
    sets: BTreeMap<usize, Set>,
}

#[derive(Default)]
struct Set {
    /// Per GPU index, in the order events are delivered.
    gpus: BTreeMap<u32, Listener>,
}

struct Listener {
    mask: u64,
    delivered: usize,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next: 1,
    sets: BTreeMap::new(),
});

/// A panic while the lock was held cannot have left the maps half-updated in a way that
/// matters to a test double, so a poisoned lock is used as it is.
fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

fn key(set: abi::EventSet) -> usize {
    set.addr()
}

pub(crate) fn create() -> abi::EventSet {
    let mut registry = registry();
    let id = registry.next;
    registry.next += 1;
    registry.sets.insert(id, Set::default());
    std::ptr::without_provenance_mut(id)
}

pub(crate) fn free(set: abi::EventSet) -> Status {
    registry()
        .sets
        .remove(&key(set))
        .map(|_| ())
        .ok_or(INVALID_ARGUMENT)
}

/// Adds `mask` to what `set` hears from GPU `gpu`. Delivery starts from the first configured
/// XID of that GPU; registering again does not deliver the same XIDs twice.
pub(crate) fn register(set: abi::EventSet, gpu: u32, mask: u64) -> Status {
    let mut registry = registry();
    let set = registry.sets.get_mut(&key(set)).ok_or(INVALID_ARGUMENT)?;
    set.gpus
        .entry(gpu)
        .and_modify(|listener| listener.mask |= mask)
        .or_insert(Listener { mask, delivered: 0 });
    Ok(())
}

/// One delivered critical XID.
pub(crate) struct Xid {
    pub(crate) gpu: u32,
    pub(crate) xid: u64,
}

/// Waits up to `timeout_ms` (capped by `FAKE_NVML_EVENT_WAIT_MAX_MS`, so a test of a long-poll
/// loop need not sleep for real) for an XID this set has not delivered yet, re-reading the
/// configuration every few milliseconds; TIMEOUT when none comes.
pub(crate) fn wait(set: abi::EventSet, timeout_ms: u32, first: &Config) -> Result<Xid, u32> {
    let cap = first.value(None, "EVENT_WAIT_MAX_MS", None, |v| number(v).map(Some));
    let wait = u64::from(timeout_ms).min(cap.unwrap_or(u64::MAX));
    let start = Instant::now();
    let deadline = start.checked_add(Duration::from_millis(wait));
    let mut reloaded;
    let mut config = first;
    loop {
        if let Some(xid) = take_pending(set, config)? {
            config.note(format_args!(
                "delivering XID {} from GPU {}",
                xid.xid, xid.gpu
            ));
            return Ok(xid);
        }
        let now = Instant::now();
        let left = match deadline {
            Some(deadline) if now >= deadline => return Err(TIMEOUT),
            Some(deadline) => deadline - now,
            None => POLL,
        };
        thread::sleep(POLL.min(left));
        reloaded = Config::load();
        config = &reloaded;
    }
}

/// The next undelivered XID, lowest GPU index first, each GPU's in configured order. A set
/// freed while a caller waits on it answers INVALID_ARGUMENT.
fn take_pending(set: abi::EventSet, config: &Config) -> Result<Option<Xid>, u32> {
    let count = device::count(config);
    let mut registry = registry();
    let set = registry.sets.get_mut(&key(set)).ok_or(INVALID_ARGUMENT)?;
    for (&gpu, listener) in &mut set.gpus {
        if listener.mask & EVENT_XID == 0 || gpu >= count {
            continue;
        }
        let xids = Gpu { config, index: gpu }.xids();
        if let Some(&xid) = xids.get(listener.delivered) {
            listener.delivered += 1;
            return Ok(Some(Xid { gpu, xid }));
        }
    }
    Ok(None)
}
