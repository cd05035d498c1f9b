//! `exec`: an argv, run without a shell, exits 0.
//!
//! Output is read as it comes: each chunk is a heartbeat, so a command that prints progress is
//! never mistaken for a stalled one, and the tail of stderr becomes the reason when it fails.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::{Attempt, Failure, Shared, io_phrase};
use crate::config::Text;
use crate::heartbeat::Heartbeat;
use crate::redact::{End, Redactor, WINDOW};

/// A grandchild may keep the pipes open after the command exits; do not wait on it for long.
const DRAIN_GRACE: Duration = Duration::from_millis(100);

/// Processes this crate's exec checks own: tokio reaps them itself, so `run`'s orphan reaper
/// must leave them alone.
static OWNED: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// Whether `pid` is a running exec check's command.
pub fn owns(pid: u32) -> bool {
    OWNED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&pid)
}

/// Holds a pid in [`OWNED`] for as long as the attempt that spawned it lives.
struct Owned(Option<u32>);

impl Owned {
    fn new(pid: Option<u32>) -> Owned {
        if let Some(pid) = pid {
            OWNED.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
        }
        Owned(pid)
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            OWNED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|p| *p != pid);
        }
    }
}

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
        let mut child = Command::new(&program.value)
            .args(self.argv[1..].iter().map(|a| &a.value))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Dropping the attempt (timeout, stall, SIGTERM) must not leave the command running.
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
        // Registered before any await, so the reaper (on this same thread) cannot see it first.
        let _owned = Owned::new(child.id());
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        // The pipes are read while the command runs: one that fills a pipe buffer would
        // otherwise block forever and look stalled.
        // A secret cut in half by the tail buffer would no longer match: keep enough extra to
        // hold the longest one whole; the cut end is dropped after redaction.
        let keep = WINDOW + self.redactor.reach();
        let readers =
            async { tokio::join!(tail(stdout, heartbeat, keep), tail(stderr, heartbeat, keep)) };
        tokio::pin!(readers);
        let mut output = None;
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                both = &mut readers, if output.is_none() => output = Some(both),
            }
        };
        let (out, err) = match output {
            Some(both) => both,
            None => tokio::time::timeout(DRAIN_GRACE, readers)
                .await
                .unwrap_or_default(),
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
        let how = match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".to_string(),
        };
        let (output, cut) = if err.0.iter().any(|b| !b.is_ascii_whitespace()) {
            err
        } else {
            out
        };
        let text = self.redactor.outside(&output, End::Tail, cut).await;
        let excerpt = self.redactor.excerpt(&last_lines(&text));
        Err(Failure::retry(if excerpt.is_empty() {
            format!("{} {how}", program.written)
        } else {
            format!("{} {how}: {excerpt}", program.written)
        }))
    }
}

/// The last `keep` bytes of a pipe, and whether anything before them was dropped.
async fn tail<R: AsyncRead + Unpin>(
    pipe: Option<R>,
    heartbeat: &Heartbeat,
    keep: usize,
) -> (Vec<u8>, bool) {
    let Some(mut pipe) = pipe else {
        return (Vec::new(), false);
    };
    let mut kept = Vec::new();
    let mut cut = false;
    let mut chunk = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        heartbeat.beat();
        kept.extend_from_slice(&chunk[..n]);
        if kept.len() > 2 * keep {
            kept.drain(..kept.len() - keep);
            cut = true;
        }
    }
    (kept, cut)
}

/// The end of the output is where commands say why they failed.
fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    lines[start..].join(" | ")
}
