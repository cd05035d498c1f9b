//! The processes bootgate's commands start, and everything they leave behind.
//!
//! An exec check's command runs in a process group of its own, with a mark in its environment
//! ([`MARK`]`=<bootgate pid>.<n>`, one per attempt) that every process it starts inherits. When
//! the attempt ends, however it ends — the command exits, the attempt times out or stalls, the
//! gate ends, a signal stops bootgate — [`Attempt`] kills with SIGKILL: the group; every
//! descendant of a process found, whatever group or session it moved to; and every process
//! re-parented to bootgate that carries the attempt's mark. bootgate is the child subreaper of
//! its descendants, so a daemon that `setsid()`s and loses its parent lands on bootgate, not on
//! the node's init, and is found there. A server's own processes under `run` never carry a
//! mark, and are never touched.

use std::collections::BTreeSet;
use std::io::Read;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::process::{
    Pid, Signal, WaitOptions, kill_process, kill_process_group, test_kill_process_group, waitpid,
};

/// The environment variable that marks an attempt's processes.
pub const MARK: &str = "BOOTGATE_ATTEMPT";
/// More than any environment a check's command has; a longer one is read this far.
const ENVIRON_BYTES: u64 = 1 << 20;
/// Rounds of find-and-kill: each catches what forked before the previous round's kills.
const ROUNDS: usize = 16;
/// How long a killed process that landed on bootgate is waited for, to be reaped.
const REAP_PATIENCE: Duration = Duration::from_secs(5);

/// Pids whose exit status their owner collects (tokio for an exec check's command, the reaper
/// thread for what an attempt killed): never reaped by anyone else.
static CLAIMED: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Whether `pid`'s exit status is someone's to collect.
pub fn claimed(pid: u32) -> bool {
    CLAIMED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&pid)
}

/// Holds a pid in [`CLAIMED`] for as long as it lives.
pub struct Claim(Option<u32>);

impl Claim {
    pub fn new(pid: Option<u32>) -> Claim {
        if let Some(pid) = pid {
            CLAIMED.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
        }
        Claim(pid)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let mut claimed = CLAIMED.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(at) = claimed.iter().position(|p| *p == pid) {
                claimed.swap_remove(at);
            }
        }
    }
}

/// Makes bootgate the child subreaper of its descendants (once): an orphan re-parents to
/// bootgate, whether or not it is PID 1, instead of to the node's init.
pub fn become_subreaper() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        if let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
            tracing::warn!(
                "cannot become the child subreaper ({e}): a process a command detaches may outlive it"
            );
        }
    });
}

/// One attempt's processes, ended when this is dropped (or by [`Attempt::end`]).
pub struct Attempt {
    mark: String,
    group: Option<Pid>,
    ended: bool,
}

impl Attempt {
    /// A new attempt's mark; spawn its command with [`Attempt::variable`] set, in a new process
    /// group, then tell [`Attempt::lead`] its pid.
    pub fn new() -> Attempt {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        become_subreaper();
        Attempt {
            mark: format!(
                "{}.{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
            group: None,
            ended: false,
        }
    }

    /// The variable to set in the command's environment.
    pub fn variable(&self) -> (&'static str, &str) {
        (MARK, &self.mark)
    }

    /// The command's pid: the leader of the attempt's process group.
    pub fn lead(&mut self, pid: Option<u32>) {
        self.group = pid
            .and_then(|p| i32::try_from(p).ok())
            .and_then(Pid::from_raw);
    }

    /// Kills every process of the attempt still running; returns how many there were.
    pub fn end(&mut self) -> usize {
        self.ended = true;
        let me = std::process::id();
        let entry = format!("{MARK}={}", self.mark);
        let mut killed = BTreeSet::new();
        for _ in 0..ROUNDS {
            let found = self.find(me, entry.as_bytes());
            if found.is_subset(&killed) {
                break;
            }
            if let Some(group) = self.group {
                let _ = kill_process_group(group, Signal::KILL);
            }
            for &pid in &found {
                if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
                    let _ = kill_process(pid, Signal::KILL);
                }
            }
            killed.extend(found);
        }
        let count = killed.len();
        reap_later(killed.into_iter().filter(|pid| !claimed(*pid)).collect());
        count
    }

    /// The attempt's live processes: the group, what re-parented to bootgate with the mark,
    /// and every descendant of those.
    fn find(&mut self, me: u32, entry: &[u8]) -> BTreeSet<u32> {
        // A group with no member left, its leader reaped, is forgotten: nothing of the attempt
        // can join it again, and its id may come back as the group of a process not ours.
        if self
            .group
            .is_some_and(|g| test_kill_process_group(g) == Err(rustix::io::Errno::SRCH))
        {
            self.group = None;
        }
        // The usual case, a command that left nothing, without reading all of /proc: with the
        // group gone, the leader is gone, so anything left re-parented to bootgate.
        if self.group.is_none()
            && own_children().is_some_and(|children| {
                !children
                    .iter()
                    .any(|&pid| !claimed(pid) && carries(pid, entry))
            })
        {
            return BTreeSet::new();
        }
        let group = self.group.map(|g| g.as_raw_nonzero().get() as u32);
        let live: Vec<Stat> = processes()
            .into_iter()
            .filter(|p| p.state != 'Z' && p.state != 'X' && p.pid != me)
            .collect();
        let mut found: BTreeSet<u32> = live
            .iter()
            .filter(|p| {
                Some(p.group) == group
                    || (p.parent == me && !claimed(p.pid) && carries(p.pid, entry))
            })
            .map(|p| p.pid)
            .collect();
        loop {
            let before = found.len();
            for p in &live {
                if found.contains(&p.parent) {
                    found.insert(p.pid);
                }
            }
            if found.len() == before {
                return found;
            }
        }
    }
}

impl Default for Attempt {
    fn default() -> Attempt {
        Attempt::new()
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.ended {
            self.end();
        }
    }
}

/// What /proc says of one process.
struct Stat {
    pid: u32,
    state: char,
    parent: u32,
    group: u32,
}

/// Every process /proc shows.
fn processes() -> Vec<Stat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| stat(entry.ok()?.file_name().to_str()?.parse().ok()?))
        .collect()
}

/// What /proc says of `pid`; `None` once it is gone.
fn stat(pid: u32) -> Option<Stat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; the fields follow the last `)`.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    let group = fields.next()?.parse().ok()?;
    Some(Stat {
        pid,
        state,
        parent,
        group,
    })
}

/// Pids of bootgate's children that have exited and wait to be reaped. Asked at every
/// SIGCHLD: from bootgate's own list of children, not all of /proc, where the kernel has one.
pub fn zombie_children() -> Vec<u32> {
    let me = std::process::id();
    let candidates = match own_children() {
        Some(children) => children.into_iter().filter_map(stat).collect(),
        None => processes(),
    };
    candidates
        .into_iter()
        .filter(|p| p.state == 'Z' && p.parent == me)
        .map(|p| p.pid)
        .collect()
}

/// bootgate's children, from every thread's `children` file; `None` where the kernel has none.
fn own_children() -> Option<Vec<u32>> {
    let mut children = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let text = std::fs::read_to_string(task.ok()?.path().join("children")).ok()?;
        children.extend(
            text.split_whitespace()
                .filter_map(|pid| pid.parse::<u32>().ok()),
        );
    }
    Some(children)
}

/// Whether `pid`'s environment holds `entry` (`NAME=value`).
fn carries(pid: u32, entry: &[u8]) -> bool {
    let Ok(file) = std::fs::File::open(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let mut environ = Vec::new();
    let _ = file.take(ENVIRON_BYTES).read_to_end(&mut environ);
    environ.split(|b| *b == 0).any(|e| e == entry)
}

/// Reaps, on a thread of its own, those of `pids` that die as bootgate's children (orphans
/// that landed on it); the others are their parents' to reap. A killed process can take a
/// moment to die, and a `Drop` cannot wait for it.
fn reap_later(pids: Vec<u32>) {
    if pids.is_empty() {
        return;
    }
    let claims: Vec<Claim> = pids.iter().map(|pid| Claim::new(Some(*pid))).collect();
    let reap = move || {
        let started = Instant::now();
        let mut waiting = pids;
        while !waiting.is_empty() && started.elapsed() < REAP_PATIENCE {
            waiting.retain(|&pid| {
                let Some(raw) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
                    return false;
                };
                match waitpid(Some(raw), WaitOptions::NOHANG) {
                    Ok(Some(_)) => false,
                    // Not (yet) a child of bootgate: wait while it still exists.
                    _ => std::path::Path::new(&format!("/proc/{pid}")).exists(),
                }
            });
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(claims);
    };
    if std::thread::Builder::new()
        .name("reaper".into())
        .spawn(reap)
        .is_err()
    {
        tracing::warn!("cannot start a thread to reap ended processes");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::process::{WaitId, WaitIdOptions, waitid};

    #[test]
    fn a_group_whose_leader_was_reaped_is_never_signalled_again() {
        use std::os::unix::process::CommandExt;
        let mut attempt = Attempt::new();
        let mut leader = std::process::Command::new("true")
            .process_group(0)
            .spawn()
            .unwrap();
        attempt.lead(Some(leader.id()));
        leader.wait().unwrap();
        assert_eq!(attempt.end(), 0);
        // Its id is free for another process to lead a group of its own with.
        assert!(attempt.group.is_none());
    }

    #[test]
    fn an_exited_child_is_a_zombie_child_until_reaped() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = Pid::from_child(&child);
        // Returns once the child has exited, and leaves it unreaped.
        waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        )
        .unwrap();
        assert!(zombie_children().contains(&child.id()));
        child.wait().unwrap();
        assert!(!zombie_children().contains(&child.id()));
    }
}
