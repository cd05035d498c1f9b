//! Standard error that never takes the process down. A line that cannot be written
//! (`2>/dev/full`, a log collector that went away and left a closed pipe) is dropped; the
//! gate's exit code, status.json, the probes and the marker do not depend on the log.
//!
//! `eprintln!` panics when the write fails, and so does tracing-subscriber's report of its
//! own write errors; with `panic = "abort"` either would end the process.

use std::io::{self, Write};

/// Writes `text` and a newline in one write, ignoring any error.
pub fn line(text: &str) {
    let _ = io::stderr()
        .lock()
        .write_all(format!("{text}\n").as_bytes());
}

/// The log's writer: every write "succeeds", whatever became of the bytes.
pub struct Lossy;

impl Write for Lossy {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = io::stderr().lock().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
