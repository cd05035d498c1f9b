//! Waking up when a path may have changed, through inotify instead of a timer.
//!
//! The kubelet updates Secret and ConfigMap volumes by renaming a new `..data` symlink over the
//! old one; a watch on the file itself dies with the old inode. So the watch is on the directory
//! that holds the path — or, while that does not exist yet, on its nearest existing ancestor —
//! and moves down as the missing directories appear.

use std::future::poll_fn;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::Poll;

use futures_core::Stream;
use inotify::{EventStream, Inotify, WatchDescriptor, WatchMask};

use crate::heartbeat::Heartbeat;

pub struct PathWatch {
    events: EventStream<Vec<u8>>,
    target: PathBuf,
    watching: Vec<(WatchDescriptor, PathBuf)>,
}

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

impl PathWatch {
    pub fn new(target: &Path) -> io::Result<PathWatch> {
        let events = Inotify::init()?.into_event_stream(vec![0; 4096])?;
        let mut watch = PathWatch {
            events,
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

    fn arm(&mut self) -> io::Result<()> {
        let wanted = self.wanted();
        if wanted.iter().eq(self.watching.iter().map(|(_, p)| p)) {
            return Ok(());
        }
        for (wd, _) in self.watching.drain(..) {
            // Fails harmlessly when the directory is already gone (the kernel dropped it).
            let _ = self.events.watches().remove(wd);
        }
        for dir in wanted {
            let wd = self.events.watches().add(&dir, mask())?;
            self.watching.push((wd, dir));
        }
        Ok(())
    }

    /// Waits until something under the watched directories changes, then re-aims the watch.
    /// Events are coalesced: one wake-up however many arrived.
    pub async fn changed(&mut self, heartbeat: &Heartbeat) -> io::Result<()> {
        let events = &mut self.events;
        match poll_fn(|cx| Pin::new(&mut *events).poll_next(cx)).await {
            Some(event) => drop(event?),
            None => return Err(io::ErrorKind::UnexpectedEof.into()),
        }
        heartbeat.beat();
        // Whatever else is already queued belongs to the same change.
        while let Poll::Ready(Some(event)) =
            poll_fn(|cx| Poll::Ready(Pin::new(&mut *events).poll_next(cx))).await
        {
            drop(event?);
        }
        self.arm()
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
        let mut watch = PathWatch::new(&target).unwrap();
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
}
