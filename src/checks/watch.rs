//! Waking up when a path may have changed, through inotify instead of a timer.
//!
//! The kubelet updates Secret and ConfigMap volumes by renaming a new `..data` symlink over the
//! old one; a watch on the file itself dies with the old inode. So the watch is on the directory
//! that holds the path — or, while that does not exist yet, on its nearest existing ancestor —
//! and moves down as the missing directories appear.

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use futures_core::Stream;
use inotify::{EventMask, EventStream, Inotify, WatchDescriptor, WatchMask, Watches};
use tokio::sync::Notify;

use crate::heartbeat::Heartbeat;

fn mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::DELETE
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::CLOSE_WRITE
        | WatchMask::MODIFY
        | WatchMask::ATTRIB
}

/// One inotify instance for the whole process, shared by every waiting check.
///
/// A node allows each user 128 instances by default, and non-root containers often share a
/// uid: one instance per check would run out on a busy node. The instance is created when the
/// first check starts to wait, so a gate whose checks are all satisfied creates none.
#[derive(Clone, Default)]
pub struct Hub {
    shared: Arc<Mutex<HubState>>,
}

#[derive(Default)]
struct HubState {
    watches: Option<Watches>,
    /// Why the hub cannot watch: inotify could not start, or its stream ended.
    broken: Option<String>,
    /// Who waits on each watched directory. The kernel hands out one descriptor per inode, so
    /// two checks in one directory share it.
    subscribers: HashMap<WatchDescriptor, Vec<(u64, Arc<Notify>)>>,
    next_id: u64,
}

impl Hub {
    fn state(&self) -> MutexGuard<'_, HubState> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn watches(&self, state: &mut HubState) -> io::Result<Watches> {
        if let Some(watches) = &state.watches {
            return Ok(watches.clone());
        }
        if let Some(reason) = &state.broken {
            return Err(io::Error::other(reason.clone()));
        }
        let stream = Inotify::init().and_then(|i| i.into_event_stream(vec![0u8; 4096]));
        match stream {
            Ok(stream) => {
                let watches = stream.watches();
                state.watches = Some(watches.clone());
                tokio::spawn(dispatch(Arc::downgrade(&self.shared), stream));
                Ok(watches)
            }
            Err(e) => {
                state.broken = Some(crate::text::io_phrase(&e));
                Err(e)
            }
        }
    }

    fn subscribe(&self, dir: &Path, id: u64, wake: &Arc<Notify>) -> io::Result<WatchDescriptor> {
        let mut state = self.state();
        let wd = self.watches(&mut state)?.add(dir, mask())?;
        state
            .subscribers
            .entry(wd.clone())
            .or_default()
            .push((id, wake.clone()));
        Ok(wd)
    }

    fn unsubscribe(&self, wd: &WatchDescriptor, id: u64) {
        let mut state = self.state();
        let Some(subscribers) = state.subscribers.get_mut(wd) else {
            return;
        };
        subscribers.retain(|(who, _)| *who != id);
        if subscribers.is_empty() {
            state.subscribers.remove(wd);
            if let Some(mut watches) = state.watches.clone() {
                // Fails harmlessly when the kernel already dropped it with its directory.
                let _ = watches.remove(wd.clone());
            }
        }
    }

    /// False once the kernel dropped the watch (its directory was deleted or replaced).
    fn still_watching(&self, wd: &WatchDescriptor, id: u64) -> bool {
        self.state()
            .subscribers
            .get(wd)
            .is_some_and(|subscribers| subscribers.iter().any(|(who, _)| *who == id))
    }

    fn new_id(&self) -> u64 {
        let mut state = self.state();
        state.next_id += 1;
        state.next_id
    }

    fn broken(&self) -> Option<String> {
        self.state().broken.clone()
    }
}

/// Routes each event to the checks waiting on its directory. A `Notify` keeps one permit, so
/// an event that lands between two waits is not lost, and a burst wakes a check once.
async fn dispatch(hub: Weak<Mutex<HubState>>, mut stream: EventStream<Vec<u8>>) {
    loop {
        let next = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await;
        let Some(shared) = hub.upgrade() else { return };
        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
        match next {
            Some(Ok(event)) if !event.mask.contains(EventMask::Q_OVERFLOW) => {
                if let Some(subscribers) = state.subscribers.get(&event.wd) {
                    subscribers.iter().for_each(|(_, wake)| wake.notify_one());
                }
                if event.mask.contains(EventMask::IGNORED) {
                    state.subscribers.remove(&event.wd);
                }
            }
            // Events were dropped: anyone may have missed theirs.
            Some(Ok(_)) => wake_all(&state),
            Some(Err(e)) => {
                state.broken = Some(format!("inotify failed: {}", crate::text::io_phrase(&e)));
                wake_all(&state);
                return;
            }
            None => {
                state.broken = Some("inotify stream ended".into());
                wake_all(&state);
                return;
            }
        }
    }
}

fn wake_all(state: &HubState) {
    for subscribers in state.subscribers.values() {
        subscribers.iter().for_each(|(_, wake)| wake.notify_one());
    }
}

/// A watch on what one check waits for.
pub struct PathWatch {
    hub: Hub,
    id: u64,
    wake: Arc<Notify>,
    target: PathBuf,
    watching: Vec<(WatchDescriptor, PathBuf)>,
}

impl PathWatch {
    pub fn new(hub: &Hub, target: &Path) -> io::Result<PathWatch> {
        let mut watch = PathWatch {
            hub: hub.clone(),
            id: hub.new_id(),
            wake: Arc::new(Notify::new()),
            target: target.to_path_buf(),
            watching: Vec::new(),
        };
        watch.arm()?;
        Ok(watch)
    }

    /// Which directories to watch now: the target's parent (or its nearest existing
    /// ancestor) and, when the target is itself a directory, the target.
    fn wanted(&self) -> Vec<PathBuf> {
        let mut wanted = Vec::with_capacity(2);
        let mut dir = self.target.parent().unwrap_or(Path::new("/"));
        loop {
            if dir.as_os_str().is_empty() {
                dir = Path::new(".");
            }
            if dir.is_dir() {
                wanted.push(dir.to_path_buf());
                break;
            }
            match dir.parent() {
                Some(p) => dir = p,
                None => break,
            }
        }
        if self.target.is_dir() {
            wanted.push(self.target.clone());
        }
        wanted
    }

    /// Aims the watch at what [`PathWatch::wanted`] says now, and again until that stops
    /// changing: a directory created while the watch moved (`llama` appearing as the watch goes
    /// from `/models`'s parent to `/models`) would otherwise go unseen, and so would the file
    /// then written inside it.
    fn arm(&mut self) -> io::Result<()> {
        // Each pass moves the watch at least one level down; a path has only so many levels.
        for _ in 0..=self.target.components().count() {
            let wanted = self.wanted();
            // The same paths are not enough: a directory replaced by a rename keeps its path,
            // and the kernel dropped the watch on the old one.
            let unchanged = wanted.iter().eq(self.watching.iter().map(|(_, p)| p))
                && self
                    .watching
                    .iter()
                    .all(|(wd, _)| self.hub.still_watching(wd, self.id));
            if unchanged {
                return Ok(());
            }
            self.disarm();
            for dir in wanted {
                let wd = self.hub.subscribe(&dir, self.id, &self.wake)?;
                self.watching.push((wd, dir));
            }
        }
        Ok(())
    }

    fn disarm(&mut self) {
        for (wd, _) in self.watching.drain(..) {
            self.hub.unsubscribe(&wd, self.id);
        }
    }

    /// Waits until something under the watched directories changes, then re-aims the watch.
    pub async fn changed(&mut self, heartbeat: &Heartbeat) -> io::Result<()> {
        self.wake.notified().await;
        heartbeat.beat();
        if let Some(reason) = self.hub.broken() {
            return Err(io::Error::other(reason));
        }
        self.arm()
    }
}

impl Drop for PathWatch {
    fn drop(&mut self) {
        self.disarm();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread")]
    async fn follows_a_path_down_as_directories_appear() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("a/b/file");
        let hub = Hub::default();
        let mut watch = PathWatch::new(&hub, &target).unwrap();
        assert_eq!(watch.watching[0].1, root.path());
        let hb = Heartbeat::default();
        std::fs::create_dir(root.path().join("a")).unwrap();
        tokio::time::timeout(Duration::from_secs(5), watch.changed(&hb))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(watch.watching[0].1, root.path().join("a"));
        std::fs::create_dir(root.path().join("a/b")).unwrap();
        tokio::time::timeout(Duration::from_secs(5), watch.changed(&hb))
            .await
            .unwrap()
            .unwrap();
        std::fs::write(&target, b"x").unwrap();
        tokio::time::timeout(Duration::from_secs(5), watch.changed(&hb))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(watch.watching[0].1, root.path().join("a/b"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_directory_replaced_under_the_same_path_is_watched_again() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a");
        std::fs::create_dir(&dir).unwrap();
        let hub = Hub::default();
        let hb = Heartbeat::default();
        let mut watch = PathWatch::new(&hub, &dir.join("file")).unwrap();
        let fresh = root.path().join("a.new");
        std::fs::create_dir(&fresh).unwrap();
        // rename(2) over an empty directory: the old inode and its watch are gone.
        std::fs::rename(&fresh, &dir).unwrap();
        // Wake-ups until the watch has moved to the new directory.
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while watch
            .watching
            .iter()
            .any(|(wd, _)| !hub.still_watching(wd, watch.id))
            || hub.state().subscribers.is_empty()
        {
            assert!(std::time::Instant::now() < until, "never re-armed");
            tokio::time::timeout(Duration::from_secs(5), watch.changed(&hb))
                .await
                .unwrap()
                .unwrap();
        }
        std::fs::write(dir.join("file"), b"x").unwrap();
        tokio::time::timeout(Duration::from_secs(1), watch.changed(&hb))
            .await
            .expect("a write in the new directory wakes the watch")
            .unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn checks_in_one_directory_share_a_watch_and_outlive_each_other() {
        let root = tempfile::tempdir().unwrap();
        let hub = Hub::default();
        let hb = Heartbeat::default();
        let mut first = PathWatch::new(&hub, &root.path().join("a")).unwrap();
        let second = PathWatch::new(&hub, &root.path().join("b")).unwrap();
        assert_eq!(
            first.watching[0].0, second.watching[0].0,
            "one kernel watch"
        );
        drop(second);
        std::fs::write(root.path().join("a"), b"x").unwrap();
        tokio::time::timeout(Duration::from_secs(5), first.changed(&hb))
            .await
            .expect("the remaining check still wakes")
            .unwrap();
        assert_eq!(hub.state().subscribers.len(), 1);
        drop(first);
        assert!(hub.state().subscribers.is_empty());
    }
}
