//! The state directory shared with the model server: one owner at a time, no stale leftovers.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const LOCK: &str = "lock";
pub const STATUS: &str = "status.json";
pub const READY: &str = "ready";

/// Holds the lock for as long as it lives.
pub struct StateDir {
    pub path: PathBuf,
    _lock: File,
}

#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    #[error("cannot use state_dir {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

impl StateDir {
    pub fn status_path(&self) -> PathBuf {
        self.path.join(STATUS)
    }

    /// Takes the exclusive lock, waiting while another instance holds it (a restarted init
    /// container whose previous run has not exited yet), then clears what a crashed earlier
    /// run may have left: a stale ready marker must never let a pod through.
    pub async fn acquire(path: &Path) -> Result<StateDir, StateDirError> {
        let io_err = |source| StateDirError::Io {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(path).map_err(io_err)?;
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path.join(LOCK))
            .map_err(io_err)?;
        let mut told = false;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    if !told {
                        told = true;
                        let mut owner = String::new();
                        let _ = lock.read_to_string(&mut owner);
                        let owner = owner.trim();
                        tracing::info!(
                            "{} is locked by {}; waiting for it to finish",
                            path.display(),
                            if owner.is_empty() {
                                "another bootgate"
                            } else {
                                owner
                            }
                        );
                    }
                    // Polling a lock a second instance rarely meets keeps SIGTERM and the
                    // deadline in charge, which a blocking lock in a thread would not.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(TryLockError::Error(e)) => return Err(io_err(e)),
            }
        }
        let owner = format!("pid {} on {}\n", std::process::id(), hostname());
        lock.set_len(0).map_err(io_err)?;
        lock.rewind().map_err(io_err)?;
        lock.write_all(owner.as_bytes()).map_err(io_err)?;
        for stale in [READY, STATUS, crate::report::safe_mode::FILE] {
            match std::fs::remove_file(path.join(stale)) {
                Ok(()) => tracing::info!("removed stale {stale} from an earlier run"),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        Ok(StateDir {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn mark_ready(&self, contents: &str) -> io::Result<()> {
        crate::report::status::write_atomically(&self.path.join(READY), contents.as_bytes())
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this host".into())
}
