//! Reads of files someone else controls, bounded and never blocking: a FIFO makes the open
//! return at once and is refused, and a file is read only up to a bound.

use std::fs::{File, FileType};
use std::io::{self, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// Opens for reading with `O_NONBLOCK`: on a regular file it changes nothing, on a FIFO it
/// makes the open return at once instead of waiting for a writer.
pub(crate) fn open_nonblocking(path: &Path) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::open(path, flags, Mode::empty())?))
}

/// What a file is when it is not a regular file (`a FIFO`), or `None` when it is one.
pub(crate) fn irregular(kind: FileType) -> Option<&'static str> {
    Some(if kind.is_file() {
        return None;
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "something else"
    })
}

/// The whole regular file at `path`, if it holds at most `max` bytes. A directory answers
/// [`io::ErrorKind::IsADirectory`], another irregular file [`io::ErrorKind::InvalidInput`], a
/// longer file [`io::ErrorKind::FileTooLarge`]; each message says which, without the path.
pub(crate) fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    read_opened(open_nonblocking(path)?, max)
}

/// [`read_regular`] of a file already opened without blocking.
pub(super) fn read_opened(file: File, max: u64) -> io::Result<Vec<u8>> {
    // The opened file's own `fstat`: a FIFO swapped in after any earlier look is still seen.
    if let Some(what) = irregular(file.metadata()?.file_type()) {
        let kind = if what == "a directory" {
            io::ErrorKind::IsADirectory
        } else {
            io::ErrorKind::InvalidInput
        };
        return Err(io::Error::new(
            kind,
            format!("it is {what}, not a regular file"),
        ));
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("it is larger than {} MiB", max >> 20),
        ));
    }
    Ok(bytes)
}

/// [`read_regular`], as UTF-8 text.
pub(crate) fn read_text(path: &Path, max: u64) -> io::Result<String> {
    String::from_utf8(read_regular(path, max)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_bounded_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        crate::files::make_fifo(&fifo);
        // Returns at once: no writer is ever coming.
        let err = read_regular(&fifo, 10).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(err.to_string(), "it is a FIFO, not a regular file");
        let err = read_regular(dir.path(), 10).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::IsADirectory);

        let file = dir.path().join("f");
        std::fs::write(&file, [b'x'; 11]).unwrap();
        assert_eq!(read_regular(&file, 11).unwrap().len(), 11);
        let err = read_regular(&file, 10).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        std::fs::write(&file, [0xff]).unwrap();
        assert_eq!(
            read_text(&file, 10).unwrap_err().to_string(),
            "it is not UTF-8 text"
        );
    }
}
