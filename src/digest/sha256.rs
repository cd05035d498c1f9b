//! One file's SHA-256: stat first and refuse anything but a regular file, open without
//! blocking, read in large chunks through one reused buffer, and notice a file that changed
//! underneath.
//!
//! A hash is sequential: each 64-byte block's compression starts from the previous block's
//! result (Merkle–Damgård), so one file cannot be split across threads. One file is one
//! thread's work; [`super::sha256_files`] spreads many files over many.

use std::fs::{self, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::{Digest, Progress};
use crate::files::{irregular, open_nonblocking};

/// Bytes per read. Throughput from the page cache is flat from 64 KiB to 4 MiB on the bench
/// machine (docs/performance.md, section 10); 1 MiB keeps the syscall count low on network
/// filesystems and costs 1 MiB per hashing thread.
pub const READ_BYTES: usize = 1 << 20;

/// Why a file has no digest. The messages leave the path out: the caller names the file.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("cannot read it: {0}")]
    Io(#[from] io::Error),
    #[error("it changed while it was being hashed ({0} differ)")]
    Changed(&'static str),
    #[error("hashing was cancelled")]
    Cancelled,
    #[error("it has {size} B, fewer than the {end} B the byte range needs")]
    Shorter { size: u64, end: u64 },
}

/// The SHA-256 of the regular file at `path`, following symlinks. Adds the bytes it reads to
/// `progress` as it goes, and stops with [`HashError::Cancelled`] between two reads once
/// `progress` is cancelled.
///
/// A FIFO, socket or device is refused from its `stat`, before any `open`: opening a FIFO for
/// reading blocks until a writer comes, and opening some devices does something. The open
/// itself is non-blocking, and the opened file is checked again, so a FIFO swapped in between
/// cannot block either. If the file's size, mtime or ctime differ between the open and the end,
/// or it was not as long as it said, the digest is of no one version of it: that is
/// [`HashError::Changed`], never a digest.
pub fn sha256_file(path: &Path, progress: &Progress) -> Result<Digest, HashError> {
    let mut buffer = Vec::new();
    hash_file(path, progress, &mut buffer).map(|hashed| hashed.digest)
}

/// A file's digest and the bytes it was taken over: one version of the file, so the size
/// that goes with the digest is this one, not a later `stat`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hashed {
    pub digest: Digest,
    pub bytes: u64,
}

/// [`sha256_file`] through the caller's buffer, so a thread hashing many files allocates once.
pub(super) fn hash_file(
    path: &Path,
    progress: &Progress,
    buffer: &mut Vec<u8>,
) -> Result<Hashed, HashError> {
    hash_range(path, None, progress, buffer)
}

/// The SHA-256 of `range` of the file at `path` (the whole file when `None`), read as
/// [`read_through`] reads.
pub(super) fn hash_range(
    path: &Path,
    range: Option<Range<u64>>,
    progress: &Progress,
    buffer: &mut Vec<u8>,
) -> Result<Hashed, HashError> {
    let mut hasher = Sha256::new();
    let bytes = read_through(path, range, progress, buffer, &mut |chunk: Chunk<'_>| {
        if let Chunk::Bytes(bytes) = chunk {
            hasher.update(bytes);
        }
    })?;
    Ok(Hashed {
        digest: Digest::from_bytes(hasher.finalize().into()),
        bytes,
    })
}

/// What [`read_through`] hands its consumer: first the file's size, as one version of it has
/// it, then its bytes (of the range asked for) in order.
pub(super) enum Chunk<'a> {
    Size(u64),
    Bytes(&'a [u8]),
}

/// Reads the regular file at `path` (following symlinks), or only `range` of it, through
/// `buffer`, giving `consume` the size and then the bytes; returns how many bytes it read.
/// Refuses what is not a regular file before opening it, opens without blocking, stops when
/// `progress` is cancelled, and refuses a file that changed underneath (see [`sha256_file`]).
pub(super) fn read_through(
    path: &Path,
    range: Option<Range<u64>>,
    progress: &Progress,
    buffer: &mut Vec<u8>,
    consume: &mut dyn FnMut(Chunk<'_>),
) -> Result<u64, HashError> {
    if progress.is_cancelled() {
        return Err(HashError::Cancelled);
    }
    refuse_irregular(&fs::metadata(path)?)?;
    let mut file = open_nonblocking(path)?;
    let before = file.metadata()?;
    refuse_irregular(&before)?;
    let range = range.unwrap_or(0..before.len());
    if range.end > before.len() {
        return Err(HashError::Shorter {
            size: before.len(),
            end: range.end,
        });
    }
    if range.start > 0 {
        file.seek(SeekFrom::Start(range.start))?;
    }
    if buffer.len() < READ_BYTES {
        buffer.resize(READ_BYTES, 0);
    }
    consume(Chunk::Size(before.len()));
    let wanted = range.end.saturating_sub(range.start);
    let mut total = 0u64;
    while total < wanted {
        if progress.is_cancelled() {
            return Err(HashError::Cancelled);
        }
        let room =
            usize::try_from(wanted - total).map_or(buffer.len(), |left| left.min(buffer.len()));
        let read = match file.read(&mut buffer[..room]) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        consume(Chunk::Bytes(&buffer[..read]));
        total += read as u64;
        progress.add(read as u64);
    }
    let after = file.metadata()?;
    if let Some(what) = changed(&before, &after, total, wanted) {
        return Err(HashError::Changed(what));
    }
    Ok(total)
}

fn refuse_irregular(meta: &Metadata) -> Result<(), HashError> {
    match irregular(meta.file_type()) {
        Some(what) => Err(HashError::NotRegular(what)),
        None => Ok(()),
    }
}

/// What differs between the open file's `fstat` before and after the read of `wanted` bytes,
/// or `None`.
fn changed(before: &Metadata, after: &Metadata, read: u64, wanted: u64) -> Option<&'static str> {
    if before.len() != after.len() || read != wanted {
        Some("size")
    } else if (before.mtime(), before.mtime_nsec()) != (after.mtime(), after.mtime_nsec()) {
        Some("mtime")
    } else if (before.ctime(), before.ctime_nsec()) != (after.ctime(), after.ctime_nsec()) {
        Some("ctime")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::os::unix::net::UnixListener;

    fn hash(path: &Path) -> Result<Digest, HashError> {
        sha256_file(path, &Progress::new())
    }

    #[test]
    fn known_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        fs::write(&empty, b"").unwrap();
        assert_eq!(
            hash(&empty).unwrap().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let abc = dir.path().join("abc");
        fs::write(&abc, b"abc").unwrap();
        assert_eq!(
            hash(&abc).unwrap().to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// A million `a`s is FIPS 180-2's long vector. The second file runs past three read
    /// buffers and ends mid-block; its reference digest is one `update` over it in memory.
    #[test]
    fn files_longer_than_the_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let million = dir.path().join("million");
        fs::write(&million, vec![b'a'; 1_000_000]).unwrap();
        assert_eq!(
            hash(&million).unwrap().to_hex(),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
        let data: Vec<u8> = (0..3 * READ_BYTES + 12_345)
            .map(|i| (i * 7 + i / 4099) as u8)
            .collect();
        let long = dir.path().join("long");
        fs::write(&long, &data).unwrap();
        let progress = Progress::new();
        let digest = sha256_file(&long, &progress).unwrap();
        let expected: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!(digest, Digest::from_bytes(expected));
        assert_eq!(progress.done(), data.len() as u64);
    }

    #[test]
    fn missing_file_and_directory_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = hash(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(&err, HashError::Io(e) if e.kind() == io::ErrorKind::NotFound));
        let err = hash(dir.path()).unwrap_err();
        assert!(matches!(err, HashError::NotRegular("a directory")), "{err}");
        assert_eq!(err.to_string(), "it is a directory, not a regular file");
    }

    /// A FIFO with no writer would block an `open` for reading forever; it must be refused at
    /// once. So must a socket, and a device (which an `open` may act on).
    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert!(matches!(hash(&fifo), Err(HashError::NotRegular("a FIFO"))));
        // The open itself, reached when a FIFO is swapped in after the stat, must not block.
        let opened = open_nonblocking(&fifo).unwrap();
        assert!(matches!(
            refuse_irregular(&opened.metadata().unwrap()),
            Err(HashError::NotRegular("a FIFO"))
        ));
        let socket = dir.path().join("socket");
        let _listener = UnixListener::bind(&socket).unwrap();
        assert!(matches!(
            hash(&socket),
            Err(HashError::NotRegular("a socket"))
        ));
        assert!(matches!(
            hash(Path::new("/dev/null")),
            Err(HashError::NotRegular("a character device"))
        ));
    }

    #[test]
    fn symlinks_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("blob");
        fs::write(&target, b"abc").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(hash(&link).unwrap(), hash(&target).unwrap());
    }

    #[test]
    fn a_cancelled_progress_stops_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"abc").unwrap();
        let progress = Progress::new();
        progress.cancel();
        assert!(matches!(
            sha256_file(&path, &progress),
            Err(HashError::Cancelled)
        ));
        assert_eq!(progress.done(), 0);
    }

    #[test]
    fn a_file_changed_during_the_hash_is_not_given_a_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"abc").unwrap();
        let before = std::fs::File::open(&path).unwrap().metadata().unwrap();
        let mut appender = OpenOptions::new().append(true).open(&path).unwrap();
        appender.write_all(b"def").unwrap();
        let after = std::fs::File::open(&path).unwrap().metadata().unwrap();
        assert_eq!(changed(&before, &after, 3, 3), Some("size"));
        assert_eq!(
            changed(&after, &after, 3, 6),
            Some("size"),
            "read short of the size"
        );
        assert_eq!(changed(&after, &after, 6, 6), None);
        assert_eq!(
            changed(&after, &after, 2, 2),
            None,
            "a range of it, read whole"
        );
    }
}
