//! A directory that someone else can write too: `state_dir`, shared with the model server.
//!
//! Every entry is reached through a descriptor of the directory itself (`openat`, `renameat`,
//! `unlinkat`), and no symbolic link is ever followed, neither the directory nor an entry: a
//! link planted at `lock`, `status.json` or a temporary's name cannot turn a write, a
//! truncation or a creation towards a file elsewhere. A temporary gets a name of its own (the
//! pid and a counter) and is created with `O_EXCL`, so a name prepared in advance is never
//! reused but passed over, and it is removed when the write fails.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags};

/// Permissions of a new file before the umask, as `std::fs::File::create` gives.
const FILE_MODE: u32 = 0o666;
/// How many taken temporary names a write passes over before it gives up. An interrupted
/// process leaves one; more were put there on purpose.
const TAKEN_NAMES: usize = 16;

#[derive(Debug)]
pub struct SharedDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl SharedDir {
    /// Opens the directory at `path`, which must be a directory, not a link to one.
    pub fn open(path: &Path) -> io::Result<SharedDir> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| {
            // With O_DIRECTORY, a link to a directory reads "not a directory": say what it is.
            match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_symlink() => explain(rustix::io::Errno::LOOP),
                _ => explain(e),
            }
        })?;
        Ok(SharedDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// [`SharedDir::open`], creating the directory and its parents first when missing.
    pub fn create(path: &Path) -> io::Result<SharedDir> {
        match std::fs::create_dir_all(path) {
            Ok(()) => SharedDir::open(path),
            // Something is there: opening it says what it is (a file, a link).
            Err(_) if std::fs::symlink_metadata(path).is_ok() => SharedDir::open(path),
            Err(e) => Err(explain(e)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entry's path, for messages.
    pub fn entry(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Replaces `name` with `bytes` in one step, through a temporary in the same directory: a
    /// reader sees the old content or the new, never half of it. A failure (a full disk, a
    /// directory where the file should be) leaves the old content and no temporary.
    pub fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let (tmp, mut file) = self.create_temporary(name)?;
        let written = file.write_all(bytes).map_err(explain);
        drop(file);
        let moved = written
            .and_then(|()| rustix::fs::renameat(&self.fd, &tmp, &self.fd, name).map_err(explain));
        if moved.is_err() {
            let _ = rustix::fs::unlinkat(&self.fd, &tmp, AtFlags::empty());
        }
        moved
    }

    /// A new temporary for `name`, created. A name already taken is passed over for the next:
    /// a process killed in the middle of a write leaves its temporary behind, and the next one
    /// often has the same pid (a container's PID 1), so it would give its first write that name.
    fn create_temporary(&self, name: &str) -> io::Result<(String, File)> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut taken = 0;
        loop {
            let tmp = temporary_name(name);
            match rustix::fs::openat(&self.fd, &tmp, flags, Mode::from_raw_mode(FILE_MODE)) {
                Ok(fd) => return Ok((tmp, File::from(fd))),
                Err(rustix::io::Errno::EXIST) if taken < TAKEN_NAMES => taken += 1,
                Err(rustix::io::Errno::EXIST) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("its temporary {tmp} exists already"),
                    ));
                }
                Err(e) => return Err(explain(e)),
            }
        }
    }

    /// Removes `name` (a link itself, never what it points to); `false` when it was absent.
    pub fn remove(&self, name: &str) -> io::Result<bool> {
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(explain(e)),
        }
    }

    /// The regular file `name`, if it holds at most `max` bytes; opened without blocking (a
    /// FIFO is refused at once) and without following a link (one to `/dev/zero`).
    pub fn read(&self, name: &str, max: u64) -> io::Result<Vec<u8>> {
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::empty()).map_err(explain)?;
        super::bounded::read_opened(File::from(fd), max)
    }

    /// Opens the regular file `name` for reading and writing, creating it when missing and
    /// never truncating it: a lock file, whose content says who holds it.
    pub fn open_lock(&self, name: &str) -> io::Result<File> {
        let flags =
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(FILE_MODE))
            .map_err(explain)?;
        let file = File::from(fd);
        if let Some(what) = super::bounded::irregular(file.metadata()?.file_type()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("it is {what}, not a regular file"),
            ));
        }
        Ok(file)
    }

    /// Removes the temporaries of `names` that an interrupted write left behind (a process
    /// killed mid-write), and returns their names. Only for the holder of the lock: another
    /// writer's temporary would go too.
    pub fn remove_temporaries(&self, names: &[&str]) -> io::Result<Vec<String>> {
        let mut removed = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.fd).map_err(explain)? {
            let entry = entry.map_err(explain)?;
            let Ok(entry) = entry.file_name().to_str() else {
                continue;
            };
            if names.iter().any(|name| is_temporary_of(entry, name)) && self.remove(entry)? {
                removed.push(entry.to_string());
            }
        }
        Ok(removed)
    }
}

/// `NAME.PID.N.tmp`: unique to this process and this write.
fn temporary_name(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{name}.{}.{n}.tmp", std::process::id())
}

/// Whether `entry` is a temporary of `name`: `NAME.PID.N.tmp`, or `NAME.tmp` as earlier
/// versions named it.
fn is_temporary_of(entry: &str, name: &str) -> bool {
    let Some(middle) = entry
        .strip_suffix(".tmp")
        .and_then(|e| e.strip_prefix(name))
    else {
        return false;
    };
    if middle.is_empty() {
        return true;
    }
    let Some(middle) = middle.strip_prefix('.') else {
        return false;
    };
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    middle
        .split_once('.')
        .is_some_and(|(pid, n)| number(pid) && number(n))
}

/// The error in words a reader acts on, without the `(os error N)`; the kind is kept.
fn explain(error: impl Into<io::Error>) -> io::Error {
    let error = error.into();
    // ELOOP's kind has no stable name yet.
    let link = error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error());
    let phrase = match error.kind() {
        _ if link => "it is a symbolic link, and bootgate follows none in its state_dir",
        io::ErrorKind::IsADirectory => "it is a directory",
        io::ErrorKind::NotADirectory => "it is not a directory",
        io::ErrorKind::StorageFull => "no space left on the device",
        io::ErrorKind::AlreadyExists => "it exists already",
        io::ErrorKind::PermissionDenied => "permission denied",
        io::ErrorKind::ReadOnlyFilesystem => "the filesystem is read-only",
        _ => return error,
    };
    io::Error::new(error.kind(), phrase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_are_recognised_by_their_whole_name() {
        assert!(is_temporary_of("status.json.12.0.tmp", "status.json"));
        assert!(is_temporary_of("status.json.tmp", "status.json"));
        assert!(!is_temporary_of("status.json", "status.json"));
        assert!(!is_temporary_of("status.jsonx.1.2.tmp", "status.json"));
        assert!(!is_temporary_of("status.json.1.tmp", "status.json"));
        assert!(!is_temporary_of("status.json.a.2.tmp", "status.json"));
        assert!(!is_temporary_of("env.1.2.tmp", "status.json"));
        assert_ne!(temporary_name("ready"), temporary_name("ready"));
    }

    #[test]
    fn nothing_outside_is_touched_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "precious").unwrap();
        let state = dir.path().join("state");
        let shared = SharedDir::create(&state).unwrap();
        std::os::unix::fs::symlink(&outside, state.join("lock")).unwrap();
        let err = shared.open_lock("lock").unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is a symbolic link, and bootgate follows none in its state_dir"
        );
        std::os::unix::fs::symlink(&outside, state.join("status.json")).unwrap();
        shared.write("status.json", b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious");
        assert_eq!(std::fs::read(state.join("status.json")).unwrap(), b"{}");
        std::os::unix::fs::symlink(&outside, state.join("ready")).unwrap();
        assert!(shared.read("ready", 10).is_err());
        assert!(shared.remove("ready").unwrap());
        assert!(outside.exists());

        // The directory itself, through a link: refused.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&state, &link).unwrap();
        assert_eq!(
            SharedDir::open(&link).unwrap_err().to_string(),
            "it is a symbolic link, and bootgate follows none in its state_dir"
        );
    }

    #[test]
    fn a_failed_write_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedDir::create(dir.path()).unwrap();
        std::fs::create_dir(dir.path().join("ready")).unwrap();
        std::fs::write(dir.path().join("ready").join("x"), "").unwrap();
        let err = shared.write("ready", b"now").unwrap_err();
        assert_eq!(err.to_string(), "it is a directory");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["ready"]);
        std::fs::write(dir.path().join("env.7.3.tmp"), "").unwrap();
        assert_eq!(
            shared.remove_temporaries(&["env"]).unwrap(),
            ["env.7.3.tmp"]
        );
    }
}
