//! The pulse: between sentinel rounds, a cheap look at each query's server, over a connection
//! held open between looks.
//!
//! Held open, the connection is also how a crash is seen: when the server's process dies, the
//! kernel closes its sockets, this one ends, and the re-dial is refused — a crash is an event,
//! not something to poll for. A server that merely closes idle connections (uvicorn and
//! llama.cpp's server do after about 5 s) is re-dialled and answers. Each look sends `HEAD /`
//! (any answer proves the server's HTTP loop runs) or `GET <path>` (must answer 2xx); over
//! https the look is the connection alone.
//!
//! What a look saw goes to the guard's model as it is; the model says what it means.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout};

use super::model::{CONFIRM_SPACING, Recent, Seen};
use crate::checks::http::{Target, target};
use crate::config::units::human_duration;
use crate::config::{PulseSpec, SentinelSpec};

/// The most of an answer's head read; a health answer's is a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;
/// A `GET` answer's body is read and dropped up to this, so the connection can be kept;
/// past it, or with no length, the connection is closed instead.
const MAX_BODY: usize = 64 * 1024;
/// The most of a failing answer's body a reason quotes.
const EXCERPT: usize = 160;
/// When the held connection closes (an idle close, or a crash), the pulse looks again at once,
/// but no sooner than this after the last such look: a server that closes every connection at
/// once is asked once a second, not in a loop.
const EARLY_LOOK_GAP: Duration = Duration::from_secs(1);

/// What one look at origin `index` saw.
#[derive(Debug)]
pub struct Look {
    pub index: usize,
    pub seen: Seen,
    pub started: Instant,
    pub ended: Instant,
}

/// The origins the pulse looks at: each query's scheme and authority (never its credentials),
/// once each, in order.
pub fn origins(spec: Option<&SentinelSpec>) -> Vec<String> {
    targets(spec)
        .into_iter()
        .map(|(origin, _)| origin)
        .collect()
}

fn targets(spec: Option<&SentinelSpec>) -> Vec<(String, Target)> {
    let Some(spec) = spec.filter(|s| s.pulse.is_some()) else {
        return Vec::new();
    };
    let mut targets: Vec<(String, Target)> = Vec::new();
    for query in &spec.queries {
        if let Ok(t) = target(&query.url.value) {
            let scheme = if t.https { "https" } else { "http" };
            let origin = format!("{scheme}://{}", t.authority);
            if !targets.iter().any(|(o, _)| *o == origin) {
                targets.push((origin, t));
            }
        }
    }
    targets
}

/// Starts one task per origin, numbered as [`origins`] lists them; they end when the set is
/// dropped or the receiver is.
pub fn spawn(spec: &SentinelSpec, looks: &UnboundedSender<Look>) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    let Some(pulse) = &spec.pulse else {
        return tasks;
    };
    for (index, (_, target)) in targets(Some(spec)).into_iter().enumerate() {
        let pulse = Pulser {
            index,
            request: request(pulse, &target),
            target,
            spec: pulse.clone(),
            timeout: spec.timeout,
            confirmations: spec.failure_threshold.max(1),
            looks: looks.clone(),
        };
        tasks.spawn(pulse.run());
    }
    tasks
}

fn request(spec: &PulseSpec, target: &Target) -> Vec<u8> {
    let (method, path) = match &spec.path {
        Some(path) => ("GET", path.as_str()),
        None => ("HEAD", "/"),
    };
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: bootgate/{}\r\n\r\n",
        target.authority,
        env!("CARGO_PKG_VERSION")
    )
    .into_bytes()
}

struct Pulser {
    index: usize,
    target: Target,
    request: Vec<u8>,
    spec: PulseSpec,
    timeout: Duration,
    /// Failures confirmed at once, before the look falls back to its beat.
    confirmations: u32,
    looks: UnboundedSender<Look>,
}

impl Pulser {
    async fn run(self) {
        let mut held: Option<Held> = None;
        let mut recent = Recent::default();
        let mut failures_in_a_row = 0u32;
        // Passes are news only after a failure (or first): the model needs the turns, and an
        // idle healthy pod then sends nothing at all.
        let mut last_passed = false;
        let mut next = Instant::now();
        let mut last_early: Option<Instant> = None;
        loop {
            let closed = match &mut held {
                Some(connection) => {
                    tokio::select! {
                        () = sleep_until(next) => false,
                        () = connection.closed() => true,
                    }
                }
                None => {
                    sleep_until(next).await;
                    false
                }
            };
            if closed {
                held = None;
                // A close is news (a crash, or an idle close): look now, or as soon as the gap
                // allows, and on the beat if that comes first.
                let early = last_early.map_or_else(Instant::now, |at| at + EARLY_LOOK_GAP);
                sleep_until(early.min(next)).await;
                last_early = Some(Instant::now());
            }
            let started = Instant::now();
            next = started + self.spec.every;
            let deadline = if failures_in_a_row > 0 {
                recent.confirm_deadline(self.timeout)
            } else {
                self.timeout
            };
            let seen = match timeout(deadline, self.look(&mut held)).await {
                Ok(Ok(())) => {
                    recent.passed(started.elapsed());
                    Seen::Pass
                }
                Ok(Err(seen)) => seen,
                Err(_) => {
                    held = None;
                    Seen::Timeout(format!("no answer within {}", human_duration(deadline)))
                }
            };
            let passed = seen == Seen::Pass;
            if passed {
                failures_in_a_row = 0;
            } else {
                failures_in_a_row = failures_in_a_row.saturating_add(1);
                // A failure that may be a blip is confirmed at once; a refusal needs no
                // confirming, and a server that keeps failing is looked at on the beat.
                let blip = matches!(seen, Seen::Failed(_) | Seen::Timeout(_));
                if blip && failures_in_a_row < self.confirmations {
                    next = Instant::now().max(started + CONFIRM_SPACING);
                }
            }
            if passed && last_passed {
                continue;
            }
            last_passed = passed;
            let look = Look {
                index: self.index,
                seen,
                started,
                ended: Instant::now(),
            };
            if self.looks.send(look).is_err() {
                return;
            }
        }
    }

    /// One look: on the held connection if there is one (once more on a fresh one if the held
    /// one turns out closed), else on a new one.
    async fn look(&self, held: &mut Option<Held>) -> Result<(), Seen> {
        if let Some(connection) = held.as_mut() {
            match self.exchange(connection).await {
                Ok(keep) => {
                    if !keep {
                        *held = None;
                    }
                    return Ok(());
                }
                // Closed between looks, unseen: not a failure of the server.
                Err(Exchange::Closed) => *held = None,
                Err(Exchange::Missed(seen)) => {
                    *held = None;
                    return Err(seen);
                }
            }
        }
        let stream = crate::checks::tcp::connect(&self.target.address)
            .await
            .map_err(|e| {
                if e.refused {
                    Seen::Refused(format!("refused: {} {}", self.target.address, e.reason))
                } else {
                    Seen::Failed(format!(
                        "cannot connect to {}: {}",
                        self.target.address, e.reason
                    ))
                }
            })?;
        let mut connection = Held { stream };
        match self.exchange(&mut connection).await {
            Ok(keep) => {
                if keep {
                    *held = Some(connection);
                }
                Ok(())
            }
            Err(Exchange::Closed) => Err(Seen::Failed(
                "the connection closed before an answer".into(),
            )),
            Err(Exchange::Missed(seen)) => Err(seen),
        }
    }

    /// Sends the request and reads the answer; `Ok(true)` when the connection may be kept.
    async fn exchange(&self, connection: &mut Held) -> Result<bool, Exchange> {
        if self.target.https {
            // The connection is the look: a TLS exchange every beat would cost more than it says.
            return Ok(true);
        }
        let stream = &mut connection.stream;
        stream
            .write_all(&self.request)
            .await
            .map_err(|_| Exchange::Closed)?;
        let mut head = Vec::with_capacity(512);
        let mut buf = [0u8; 2048];
        let (answer, end) = 'answer: loop {
            while let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                let answer = Head::parse(&head[..at + 4])
                    .ok_or_else(|| Exchange::failed("the answer is not HTTP"))?;
                // An interim answer (100 Continue, 103 Early Hints) comes before the one that
                // counts.
                if !(100..200).contains(&answer.status) {
                    break 'answer (answer, at + 4);
                }
                head.drain(..at + 4);
            }
            if head.len() > MAX_HEAD {
                return Err(Exchange::failed("the answer's head is too long"));
            }
            let n = stream.read(&mut buf).await.map_err(|_| Exchange::Closed)?;
            if n == 0 {
                return Err(if head.is_empty() {
                    Exchange::Closed
                } else {
                    Exchange::failed("the connection closed in the middle of an answer")
                });
            }
            head.extend_from_slice(&buf[..n]);
        };
        if self.spec.path.is_some() && !(200..300).contains(&answer.status) {
            // What of the body came with the head says why (`Loading model`); no more is
            // awaited for it.
            let body = &head[end..];
            let body = &body[..body.len().min(answer.length.unwrap_or(0)).min(EXCERPT)];
            let excerpt = String::from_utf8_lossy(body);
            let mut why = format!(
                "GET {} answered {}",
                self.spec.path.as_deref().unwrap_or_default(),
                answer.status
            );
            if !excerpt.trim().is_empty() {
                why = format!("{why}: {}", crate::echo::capped(excerpt.trim(), EXCERPT));
            }
            let status = answer.status;
            return Err(Exchange::Missed(
                if self.spec.fatal_status.contains(&status) {
                    Seen::Fatal(why)
                } else if self.spec.loading_status.contains(&status) {
                    Seen::Loading(why)
                } else {
                    Seen::Failed(why)
                },
            ));
        }
        if self.spec.path.is_none() {
            // A HEAD answer has no body, whatever its Content-Length says.
            return Ok(!answer.close);
        }
        let Some(length) = answer.length.filter(|l| *l <= MAX_BODY) else {
            return Ok(false);
        };
        let mut left = length.saturating_sub(head.len() - end);
        while left > 0 {
            let n = stream.read(&mut buf).await.map_err(|_| Exchange::Closed)?;
            if n == 0 {
                return Ok(false);
            }
            left = left.saturating_sub(n);
        }
        Ok(!answer.close)
    }
}

enum Exchange {
    /// The connection was closed before any of the answer came: on a held connection, the
    /// server's idle close.
    Closed,
    /// An answer that fails the look, or none that could be read.
    Missed(Seen),
}

impl Exchange {
    fn failed(why: &str) -> Exchange {
        Exchange::Missed(Seen::Failed(why.into()))
    }
}

struct Held {
    stream: TcpStream,
}

impl Held {
    /// Resolves when the peer closes the connection (or sends what nobody asked for).
    async fn closed(&mut self) {
        let mut byte = [0u8; 1];
        loop {
            if self.stream.readable().await.is_err() {
                return;
            }
            match self.stream.try_read(&mut byte) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                _ => return,
            }
        }
    }
}

/// What the pulse needs of an answer's head.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    length: Option<usize>,
    close: bool,
}

impl Head {
    fn parse(head: &[u8]) -> Option<Head> {
        // A header value may hold any byte (obs-text); only names and numbers matter here.
        let text = String::from_utf8_lossy(head);
        let mut lines = text.split("\r\n");
        let status_line = lines.next()?;
        let rest = status_line.strip_prefix("HTTP/1.")?;
        let status = rest.get(2..5)?.parse().ok()?;
        let mut length = None;
        let mut close = rest.starts_with('0');
        let mut chunked = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok();
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = true;
            }
        }
        Some(Head {
            status,
            length: length.filter(|_| !chunked),
            close,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        let parse = |text: &str| Head::parse(text.as_bytes());
        assert_eq!(
            parse("HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n"),
            Some(Head {
                status: 200,
                length: Some(15),
                close: false
            })
        );
        assert_eq!(
            parse("HTTP/1.0 503 Service Unavailable\r\n\r\n"),
            Some(Head {
                status: 503,
                length: None,
                close: true
            })
        );
        assert_eq!(
            parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"),
            Some(Head {
                status: 200,
                length: None,
                close: true
            })
        );
        assert_eq!(parse("SSH-2.0-OpenSSH\r\n\r\n"), None);
        assert_eq!(
            Head::parse(b"HTTP/1.1 204 No Content\r\nServer: caf\xe9\r\n\r\n").map(|h| h.status),
            Some(204),
            "a byte that is not UTF-8 in a value"
        );
        assert_eq!(parse("HTTP/1.1 2x0 OK\r\n\r\n"), None);
    }
}
