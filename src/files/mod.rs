//! Files that someone else controls — a manifest, a JSON the image ships, the verification
//! cache, a prompt template, the state directory the model server can write — read so that
//! nothing can hang or flood bootgate, and written so that nothing planted can turn a write
//! elsewhere.

mod bounded;
mod shared_dir;

use std::io;
use std::path::Path;

pub(crate) use bounded::{irregular, open_nonblocking, read_regular, read_text};
pub use shared_dir::SharedDir;

/// [`SharedDir::write`] of the file at `path`, its directory opened for this one write.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "it does not end in a file name",
        )
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    SharedDir::open(dir)?.write(name, bytes)
}

/// A FIFO at `path`: what the readers here must refuse without waiting for a writer.
#[cfg(test)]
pub(crate) fn make_fifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        0,
    )
    .expect("make a FIFO");
}
