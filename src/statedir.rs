//! The state directory shared with the model server: one owner at a time, no stale leftovers,
//! and no link followed (see [`crate::files::SharedDir`]).

use std::fs::{File, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::files::SharedDir;
use crate::text::io_phrase;

pub const LOCK: &str = "lock";
pub const STATUS: &str = "status.json";
pub const READY: &str = "ready";
/// What a gate leaves behind: none of it may outlive a run that did not write it.
pub const GATE_FILES: [&str; 3] = [READY, STATUS, crate::report::safe_mode::FILE];
/// Far beyond the status.json of any real gate (some 10,000 checks), and small enough to
/// parse within a sidecar's memory limit.
const MAX_STATUS_BYTES: u64 = 4 << 20;
/// At most this much of the lock's content (`pid N on HOST`) is shown.
const OWNER_BYTES: u64 = 200;

/// Holds the lock for as long as it lives.
pub struct StateDir {
    dir: SharedDir,
    _lock: File,
}

/// What went wrong, naming the entry it went wrong with.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {}", path.display(), io_phrase(source))]
pub struct StateDirError {
    action: &'static str,
    path: PathBuf,
    source: io::Error,
}

impl StateDirError {
    fn new(action: &'static str, path: PathBuf) -> impl FnOnce(io::Error) -> StateDirError {
        move |source| StateDirError {
            action,
            path,
            source,
        }
    }
}

impl StateDir {
    /// Takes the exclusive lock, waiting while another instance holds it (a restarted init
    /// container whose previous run has not exited yet), then clears what a crashed earlier
    /// run may have left: a stale ready marker must never let a pod through.
    pub async fn acquire(path: &Path) -> Result<StateDir, StateDirError> {
        let dir = SharedDir::create(path)
            .map_err(StateDirError::new("use state_dir", path.to_path_buf()))?;
        let mut lock = dir
            .open_lock(LOCK)
            .map_err(StateDirError::new("open", dir.entry(LOCK)))?;
        let mut told = false;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    if !told {
                        told = true;
                        tracing::info!(
                            "{} is locked by {}; waiting for it to finish",
                            path.display(),
                            owner(&mut lock)
                        );
                    }
                    // Polling a lock a second instance rarely meets keeps SIGTERM and the
                    // deadline in charge, which a blocking lock in a thread would not.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(TryLockError::Error(e)) => {
                    return Err(StateDirError::new("lock", dir.entry(LOCK))(e));
                }
            }
        }
        let owner = format!("pid {} on {}\n", std::process::id(), hostname());
        lock.set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| lock.write_all(owner.as_bytes()))
            .map_err(StateDirError::new("write", dir.entry(LOCK)))?;
        remove_stale(&dir, &GATE_FILES)?;
        Ok(StateDir { dir, _lock: lock })
    }

    /// The entry's path, for messages.
    pub fn entry(&self, name: &str) -> PathBuf {
        self.dir.entry(name)
    }

    pub fn mark_ready(&self, contents: &str) -> Result<(), StateDirError> {
        self.write(READY, contents.as_bytes())
    }

    pub fn write(&self, name: &str, contents: &[u8]) -> Result<(), StateDirError> {
        self.dir
            .write(name, contents)
            .map_err(StateDirError::new("write", self.dir.entry(name)))
    }

    /// Removes `name`, so that nothing claims what the gate could not finish saying.
    pub fn remove(&self, name: &str) -> Result<(), StateDirError> {
        self.dir
            .remove(name)
            .map(|_| ())
            .map_err(StateDirError::new("remove", self.dir.entry(name)))
    }
}

/// The gate's status.json in `state_dir`, read as files others control are: bounded, without
/// blocking on a FIFO and without following a link, since anyone who can write the state_dir
/// can put something else there.
pub fn read_status(state_dir: &Path) -> io::Result<Vec<u8>> {
    SharedDir::open(state_dir)?.read(STATUS, MAX_STATUS_BYTES)
}

/// After a config that cannot be loaded (exit 2): `names` from an earlier run must not
/// outlive it, or a stale `ready` would speak for a gate that never ran. They are removed only
/// when the lock is free: its holder is a gate still running, which clears them itself. No
/// directory is created: one that does not exist holds nothing stale.
pub fn clear_after_invalid_config(path: &Path, names: &[&str]) {
    let dir = match SharedDir::open(path) {
        Ok(dir) => dir,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::warn!("cannot use state_dir {}: {}", path.display(), io_phrase(&e));
            return;
        }
    };
    let locked = dir
        .open_lock(LOCK)
        .and_then(|lock| lock.try_lock().map(|()| lock).map_err(io::Error::from));
    match locked {
        Ok(_lock) => {
            if let Err(e) = remove_stale(&dir, names) {
                tracing::warn!("{e}");
            }
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => tracing::info!(
            "{} is locked by a running bootgate; what it holds is left to it",
            path.display()
        ),
        Err(e) => tracing::warn!(
            "cannot lock {}: {}",
            dir.entry(LOCK).display(),
            io_phrase(&e)
        ),
    }
}

/// Removes what an earlier run left of `names`: the files, and temporaries of a write it did
/// not finish.
fn remove_stale(dir: &SharedDir, names: &[&str]) -> Result<(), StateDirError> {
    for &stale in names {
        if dir
            .remove(stale)
            .map_err(StateDirError::new("remove the stale", dir.entry(stale)))?
        {
            tracing::info!("removed stale {stale} from an earlier run");
        }
    }
    let leftovers = dir
        .remove_temporaries(names)
        .map_err(StateDirError::new("clean up", dir.path().to_path_buf()))?;
    for leftover in leftovers {
        tracing::info!("removed {leftover}, left by an interrupted write");
    }
    Ok(())
}

/// Who holds the lock, as its holder wrote it: short, and with control characters escaped,
/// since anyone who can write the state_dir can write it.
fn owner(lock: &mut File) -> String {
    let mut text = Vec::new();
    let _ = lock.rewind();
    let _ = Read::by_ref(lock).take(OWNER_BYTES).read_to_end(&mut text);
    let text = String::from_utf8_lossy(&text);
    let text = text.trim();
    if text.is_empty() {
        return "another bootgate".into();
    }
    crate::echo::escaped(text, false).into_owned()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this host".into())
}
