//! `exec`: an argv, run without a shell, exits 0.
//!
//! Output is read as it comes: each chunk is a heartbeat, so a command that prints progress is
//! never mistaken for a stalled one, and the tail of stderr becomes the reason when it fails.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::{Attempt, Failure, Shared};
use crate::config::Text;
use crate::heartbeat::Heartbeat;
use crate::processes::{self, Claim};
use crate::redact::{End, Redactor};
use crate::text::io_phrase;

/// A grandchild may keep the pipes open after the command exits; do not wait on it for long.
const DRAIN_GRACE: Duration = Duration::from_millis(100);

pub struct ExecCheck {
    argv: Vec<Text>,
    redactor: Redactor,
}

impl ExecCheck {
    pub fn new(argv: &[Text], shared: &Shared) -> Self {
        ExecCheck {
            argv: argv.to_vec(),
            redactor: shared.redactor.clone(),
        }
    }

    pub async fn attempt(&mut self, heartbeat: &Heartbeat) -> Attempt {
        let program = &self.argv[0];
        // Whatever the command starts ends with the attempt, however the attempt ends.
        let mut processes = processes::Attempt::new();
        let (mark, value) = processes.variable();
        let mut child = Command::new(&program.value)
            .args(self.argv[1..].iter().map(|a| &a.value))
            .env(mark, value)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    Failure::retry(format!("command {} not found", program.written))
                }
                _ => Failure::retry(format!(
                    "cannot start {}: {}",
                    program.written,
                    io_phrase(&e)
                )),
            })?;
        processes.lead(child.id());
        // Claimed before any await: `run`'s orphan reaper (on this same thread) must leave
        // the command's exit status to tokio.
        let _claim = Claim::new(child.id());
        // The pipes are read while the command runs: one that fills a pipe buffer would
        // otherwise block forever and look stalled.
        // A secret cut in half by the tail buffer would no longer match: keep enough extra to
        // hold the longest one whole; the cut end is dropped after redaction.
        let keep = self.redactor.quoted_bytes();
        let (mut out, mut err) = (Tail::default(), Tail::default());
        let status = {
            let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
            let readers = async {
                tokio::join!(
                    out.read(stdout, heartbeat, keep),
                    err.read(stderr, heartbeat, keep)
                )
            };
            tokio::pin!(readers);
            let mut read_all = false;
            let status = loop {
                tokio::select! {
                    status = child.wait() => break status,
                    _ = &mut readers, if !read_all => read_all = true,
                };
            };
            // What the command left running goes now, which also closes the pipes it held:
            // the rest of the output arrives at once.
            let ended = processes.end();
            if ended > 0 {
                tracing::info!(
                    "{}: ended {ended} process{} the command left running",
                    program.written,
                    if ended == 1 { "" } else { "es" }
                );
            }
            if !read_all {
                // A process that escaped every mark may still hold a pipe: what was read so
                // far is kept either way.
                let _ = tokio::time::timeout(DRAIN_GRACE, &mut readers).await;
            }
            status
        };
        let status = status.map_err(|e| {
            Failure::retry(format!(
                "waiting for {}: {}",
                program.written,
                io_phrase(&e)
            ))
        })?;
        if status.success() {
            return Ok("exit 0".into());
        }
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(signal)) => format!("was killed by {}", signal_name(signal)),
            (None, None) => "was killed".to_string(),
        };
        let Tail { bytes, cut } = if err.bytes.iter().any(|b| !b.is_ascii_whitespace()) {
            err
        } else {
            out
        };
        let text = self.redactor.outside(&bytes, End::Tail, cut).await;
        let excerpt = self.redactor.excerpt(&last_lines(&text));
        Err(Failure::retry(if excerpt.is_empty() {
            format!("{} {how}", program.written)
        } else {
            format!("{} {how}: {excerpt}", program.written)
        }))
    }
}

/// The end of a pipe's output, kept as it is read, so that none is lost when the reading stops
/// early.
#[derive(Default)]
struct Tail {
    /// The last bytes read: at most twice the bound asked for.
    bytes: Vec<u8>,
    /// Whether anything before them was dropped.
    cut: bool,
}

impl Tail {
    /// Reads `pipe` to its end, keeping at least its last `keep` bytes.
    async fn read<R: AsyncRead + Unpin>(
        &mut self,
        pipe: Option<R>,
        heartbeat: &Heartbeat,
        keep: usize,
    ) {
        let Some(mut pipe) = pipe else {
            return;
        };
        let mut chunk = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            heartbeat.beat();
            self.bytes.extend_from_slice(&chunk[..n]);
            if self.bytes.len() > 2 * keep {
                self.bytes.drain(..self.bytes.len() - keep);
                self.cut = true;
            }
        }
    }
}

/// `SIGKILL`, or the number of a signal without a common name.
fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return format!("signal {signal}"),
    };
    name.to_string()
}

/// The end of the output is where commands say why they failed.
fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    lines[start..].join(" | ")
}
