//! The probe server. Every answer comes from the cached [`Snapshot`]: a readiness answer never
//! waits on a check or the sentinel, so a slow model cannot make the kubelet's probe time out.
//!
//! Routes (GET and HEAD only):
//! - `/livez`: 200 while bootgate itself runs.
//! - `/livez/model`: 200 unless the model has failed for `sentinel.dead_after` after passing
//!   since its server started: a livenessProbe for the model server's container.
//! - `/startupz`: 200 once the server is up and (in `run`) the gate has passed.
//! - `/readyz`: kube-apiserver's format — `ok`; `?verbose` lists `[+]name ok` lines and ends
//!   `readyz check passed`; a failure is always verbose, ends `readyz check failed`, and answers
//!   503; `?exclude=name` skips a check.
//! - `/readyz/<name>`: that check alone: `ok`, or 503 `<name> failed: <reason>` (the reason only
//!   to loopback clients).
//! - `/metrics`: Prometheus text.
//! - `/status`: the operator's page (`status_page.rs`); `?format=json` for the same as data.
//!
//! Each connection is bounded here: a request head must be complete within [`HEADER_DEADLINE`]
//! and fit in [`MAX_HEAD_BYTES`]. How many connections may be open, and which one closes to make
//! room, is `accept.rs`'s part.

use std::convert::Infallible;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket};

use super::lines::{Line, QueryView, RoundMark, StreakView, pins_json};
use super::metrics::Metrics;
use crate::state::StatusRecord;

/// A request head (request line and headers) may be this long: a probe's is under 200 bytes, a
/// scrape's under 1 KiB. It is also hyper's smallest read buffer, so it bounds what an
/// unfinished head can hold.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// A connection must deliver a whole request head this soon after it opens, or after the last
/// answer on a kept-alive connection; then it is closed. The kubelet sends its request the
/// moment it connects and gives up after 1 s, so a connection still silent or unfinished at half
/// that is not a probe. hyper starts this timer whenever it waits for a head, before the first
/// byte too, so it is also the idle timeout between kept-alive requests.
pub const HEADER_DEADLINE: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub lines: Vec<Line>,
    pub phase: String,
    pub pins: Vec<(String, String)>,
    pub queries: Vec<QueryView>,
    /// `details: all`: reasons for every client, not only loopback ones.
    pub details_for_all: bool,
    /// Up and past the gate: what `/startupz` reports.
    pub started: bool,
    /// From when `/livez/model` fails, and why.
    pub dead: Option<(tokio::time::Instant, String)>,
    /// The sentinel's latest rounds, oldest first, and its streak; `None` without a sentinel.
    pub rounds: Vec<RoundMark>,
    pub streak: Option<StreakView>,
    /// The gate as its status.json left it, once it has passed.
    pub gate: Option<Arc<StatusRecord>>,
}

pub struct Shared {
    snapshot: RwLock<Snapshot>,
    pub metrics: Metrics,
    /// Bumped by every [`Shared::write`], under the snapshot's write lock: a page rendered at an
    /// older count is stale.
    generation: AtomicU64,
    /// `/status` as last rendered, each variant once per snapshot: a page costs a hundred times
    /// a `/readyz` answer to render, and a flood of requests must cost no more than `/readyz`.
    pages: Mutex<Pages>,
}

/// The rendered variants of `/status` (HTML or JSON, with or without details) for one
/// generation of the snapshot.
#[derive(Default)]
struct Pages {
    generation: u64,
    bodies: [Option<Bytes>; 4],
}

/// Nothing known yet: no lines (so ready) and no pins. What a fuzz target serves from.
impl Default for Shared {
    fn default() -> Shared {
        Shared {
            snapshot: RwLock::new(Snapshot::default()),
            metrics: Metrics::new(&[]),
            generation: AtomicU64::new(0),
            pages: Mutex::default(),
        }
    }
}

impl Shared {
    pub fn new(snapshot: Snapshot, metrics: Metrics) -> Shared {
        Shared {
            snapshot: RwLock::new(snapshot),
            metrics,
            generation: AtomicU64::new(0),
            pages: Mutex::default(),
        }
    }

    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The snapshot to change; whatever was rendered from it before is stale from now.
    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, Snapshot> {
        let snapshot = self.snapshot.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::Relaxed);
        snapshot
    }

    /// Variant `slot` of the page, rendered only if this generation has not been. The caller
    /// holds the read lock (the `_snapshot` it renders from), so no write can come between the
    /// check and the store.
    fn page(&self, _snapshot: &Snapshot, slot: usize, render: impl FnOnce() -> String) -> Bytes {
        let generation = self.generation.load(Ordering::Relaxed);
        let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        if pages.generation != generation {
            *pages = Pages {
                generation,
                ..Pages::default()
            };
        }
        pages.bodies[slot]
            .get_or_insert_with(|| Bytes::from(render()))
            .clone()
    }
}

/// Connections the kernel holds for us until we accept them (the kernel caps it at
/// `net.core.somaxconn`). When the queue is full the kernel drops a new SYN, and the client sends
/// it again only a second later, as long as the kubelet waits: a flood that outruns the accept
/// loop for a moment (a CPU quota, a file limit) must not fill it. std and mio ask for 128.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds the listen address; `[::]` falls back to `0.0.0.0` where IPv6 is off.
pub async fn bind(listen: &str) -> std::io::Result<TcpListener> {
    match bind_any(listen).await {
        Ok(l) => Ok(l),
        Err(e) if listen.starts_with("[::]:") => {
            let port = &listen["[::]:".len()..];
            bind_any(&format!("0.0.0.0:{port}")).await.map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}

/// `TcpListener::bind` with [`LISTEN_BACKLOG`]: the first address `listen` resolves to that binds.
async fn bind_any(listen: &str) -> std::io::Result<TcpListener> {
    let mut last = None;
    for address in tokio::net::lookup_host(listen).await? {
        let socket = match address {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(address) {
            Ok(()) => return socket.listen(LISTEN_BACKLOG),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        )
    }))
}

/// One connection, from its first byte to its close, bounded as the probe server bounds every
/// connection: [`HEADER_DEADLINE`] for each request head and the idle time before it,
/// [`MAX_HEAD_BYTES`] for its size. It ends when the client closes, a bound is broken, or the
/// request said `Connection: close`. This is the whole path a request head takes, so a fuzz
/// target can drive it over `tokio::io::duplex` (on a runtime with time enabled).
pub async fn serve_connection<IO>(io: IO, shared: &Shared, peer: SocketAddr) -> hyper::Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    connection(io, shared, peer, || {}).await
}

/// [`serve_connection`], calling `on_request` as each request head is complete.
pub(super) async fn connection<IO>(
    io: IO,
    shared: &Shared,
    peer: SocketAddr,
    on_request: impl Fn(),
) -> hyper::Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let service = service_fn(|req| {
        on_request();
        let answer = respond(&req, shared, peer);
        async move { Ok::<_, Infallible>(answer) }
    });
    http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_DEADLINE)
        .max_buf_size(MAX_HEAD_BYTES)
        // A client may shut its side down once its request is sent (`nc -N`, some checkers);
        // without this, hyper reads that end before it writes and drops the answer.
        .half_close(true)
        .serve_connection(TokioIo::new(io), service)
        .await
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    typed(status, body, "text/plain; charset=utf-8")
}

fn typed(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

pub fn respond(
    req: &Request<Incoming>,
    shared: &Shared,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    match path {
        "/livez" => text(StatusCode::OK, "ok"),
        "/livez/model" => {
            let snapshot = shared.read();
            match &snapshot.dead {
                Some((at, reason)) if tokio::time::Instant::now() >= *at => {
                    let reason = if sees_details(peer, &snapshot) {
                        reason.as_str()
                    } else {
                        "reason withheld"
                    };
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("model failed: {reason}\n"),
                    )
                }
                _ => text(StatusCode::OK, "ok"),
            }
        }
        "/startupz" if shared.read().started => text(StatusCode::OK, "ok"),
        "/startupz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "starting: the gate has not passed yet\n",
        ),
        "/readyz" => {
            let snapshot = shared.read();
            let local = sees_details(peer, &snapshot);
            // The whole state is for the pod's own eyes; anyone else gets the plain answer.
            if local && wants_json(req, query) {
                json_state(&snapshot)
            } else {
                readyz(&snapshot, query, local)
            }
        }
        "/status" => status(req, query, shared, peer),
        "/metrics" => typed(
            StatusCode::OK,
            shared.metrics.render(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        _ => match path.strip_prefix("/readyz/") {
            Some(name) => {
                let snapshot = shared.read();
                one_check(&snapshot, name, sees_details(peer, &snapshot))
            }
            None => text(StatusCode::NOT_FOUND, "404 page not found\n"),
        },
    }
}

/// The operator's page, or with `format=json` the same as data.
fn status(
    req: &Request<Incoming>,
    query: &str,
    shared: &Shared,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let snapshot = shared.read();
    let local = sees_details(peer, &snapshot);
    let json = wants_json(req, query);
    // Ages on the page ("12s ago") are as of its render: at most a sentinel round old.
    let now = tokio::time::Instant::now();
    let body = shared.page(
        &snapshot,
        usize::from(local) * 2 + usize::from(json),
        || {
            if json {
                super::status_page::json(&snapshot, local, now).to_string()
            } else {
                super::status_page::html(&snapshot, local, now)
            }
        },
    );
    drop(snapshot);
    if json {
        return typed(StatusCode::OK, body, "application/json");
    }
    let mut response = typed(StatusCode::OK, body, "text/html; charset=utf-8");
    // The page shows text from outside: escaped, and no script may run whatever slips through.
    response.headers_mut().insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    response
}

/// Reasons and details are for the pod itself (loopback), unless `details: all` says anyone.
fn sees_details(peer: SocketAddr, snapshot: &Snapshot) -> bool {
    peer.ip().to_canonical().is_loopback() || snapshot.details_for_all
}

fn wants_json(req: &Request<Incoming>, query: &str) -> bool {
    query.split('&').any(|p| p == "format=json")
        || req
            .headers()
            .get(hyper::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"))
}

/// The whole state as JSON, reasons and details included: lines, phase, pins, each query's
/// last answer. Only callers who may see details get it; secrets were redacted before they
/// reached the snapshot.
pub fn json_state(snapshot: &Snapshot) -> Response<Full<Bytes>> {
    let ready = snapshot.lines.iter().all(|l| l.ok);
    // Only a client that may see details is given the JSON state.
    let checks: Vec<serde_json::Value> = snapshot.lines.iter().map(|l| l.json(true)).collect();
    let queries: Vec<serde_json::Value> = snapshot.queries.iter().map(|q| q.json(true)).collect();
    let pins = pins_json(&snapshot.pins);
    let doc = serde_json::json!({
        "ready": ready,
        "phase": snapshot.phase,
        "pins": pins,
        "checks": checks,
        "sentinel": {"queries": queries},
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    typed(status, doc.to_string(), "application/json")
}

/// The kube-apiserver's `/readyz`, byte for byte, except that not ready is 503 (not 500).
pub fn readyz(snapshot: &Snapshot, query: &str, local: bool) -> Response<Full<Bytes>> {
    let mut verbose = false;
    let mut excluded: Vec<String> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "verbose" => verbose = true,
            // The apiserver keeps excludes in a set, decoded: `a&a` is one name, `%61` is `a`.
            "exclude" => {
                let name = percent_decode(value);
                if !excluded.contains(&name) {
                    excluded.push(name);
                }
            }
            _ => {}
        }
    }
    let mut out = String::new();
    let mut failed = false;
    for line in &snapshot.lines {
        if let Some(i) = excluded.iter().position(|e| *e == line.name) {
            excluded.remove(i);
            let _ = writeln!(out, "[+]{} excluded: ok", line.name);
        } else if line.ok
            && let Some(caveat) = line.caveat
        {
            let _ = writeln!(out, "[+]{} ok ({})", line.name, caveat.word());
        } else if line.ok {
            let _ = writeln!(out, "[+]{} ok", line.name);
        } else {
            failed = true;
            let _ = writeln!(out, "[-]{} failed: reason withheld", line.name);
        }
        // Indented, so a reader of `[+]`/`[-]` lines skips them; for the pod's own eyes only.
        if local {
            for detail in &line.details {
                let _ = writeln!(out, "    {detail}");
            }
        }
    }
    if !excluded.is_empty() {
        excluded.sort_unstable();
        excluded.dedup();
        let names: Vec<String> = excluded.iter().map(|n| format!("{n:?}")).collect();
        let _ = writeln!(
            out,
            "warn: some health checks cannot be excluded: no matches for {}",
            names.join(",")
        );
    }
    if failed {
        out.push_str("readyz check failed\n");
        return text(StatusCode::SERVICE_UNAVAILABLE, out);
    }
    if !verbose {
        return text(StatusCode::OK, "ok");
    }
    out.push_str("readyz check passed\n");
    text(StatusCode::OK, out)
}

/// `%XX` escapes and `+` as in a query string; anything malformed is kept as written.
fn percent_decode(text: &str) -> String {
    String::from_utf8_lossy(&crate::encoding::percent_decoded(text, true)).into_owned()
}

fn one_check(snapshot: &Snapshot, name: &str, local: bool) -> Response<Full<Bytes>> {
    match snapshot.lines.iter().find(|l| l.name == name) {
        Some(line) if line.ok => match line.caveat {
            Some(caveat) => text(StatusCode::OK, format!("ok ({})", caveat.word())),
            None => text(StatusCode::OK, "ok"),
        },
        Some(line) => {
            // Anyone who can reach the pod IP can ask; reasons are for the pod's own eyes.
            let reason = if local {
                line.reason.as_str()
            } else {
                "reason withheld"
            };
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{name} failed: {reason}\n"),
            )
        }
        None => text(StatusCode::NOT_FOUND, format!("no check named {name:?}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn snapshot(lines: &[(&str, bool)]) -> Snapshot {
        Snapshot {
            phase: "starting".into(),
            pins: vec![("model_version".into(), "1.4.2".into())],
            queries: Vec::new(),
            details_for_all: false,
            started: true,
            dead: None,
            rounds: Vec::new(),
            streak: None,
            gate: None,
            lines: lines
                .iter()
                .map(|(n, ok)| Line {
                    name: n.to_string(),
                    ok: *ok,
                    reason: format!("{n} is broken"),
                    caveat: None,
                    details: Vec::new(),
                })
                .collect(),
        }
    }

    fn body(response: Response<Full<Bytes>>) -> (u16, String) {
        let status = response.status().as_u16();
        let Ok(collected) = block_on(response.into_body().collect());
        let bytes = collected.to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn matches_the_apiserver_byte_for_byte() {
        let ok = snapshot(&[("ping", true), ("sentinel", true)]);
        assert_eq!(body(readyz(&ok, "", false)), (200, "ok".into()));
        assert_eq!(
            body(readyz(&ok, "verbose", false)),
            (
                200,
                "[+]ping ok\n[+]sentinel ok\nreadyz check passed\n".into()
            )
        );
        let bad = snapshot(&[("ping", true), ("sentinel", false)]);
        assert_eq!(
            body(readyz(&bad, "", false)),
            (
                503,
                "[+]ping ok\n[-]sentinel failed: reason withheld\nreadyz check failed\n".into()
            )
        );
        assert_eq!(
            body(readyz(&bad, "exclude=sentinel&verbose", false)),
            (
                200,
                "[+]ping ok\n[+]sentinel excluded: ok\nreadyz check passed\n".into()
            )
        );
        assert_eq!(
            body(readyz(&ok, "verbose&exclude=nope&exclude=bar", false)),
            (
                200,
                "[+]ping ok\n[+]sentinel ok\nwarn: some health checks cannot be excluded: no matches for \"bar\",\"nope\"\nreadyz check passed\n".into()
            )
        );
    }

    #[test]
    fn json_state_is_the_whole_state() {
        let bad = snapshot(&[("ping", true), ("sentinel", false)]);
        let (status, local) = body(json_state(&bad));
        assert_eq!(status, 503);
        let doc: serde_json::Value = serde_json::from_str(&local).unwrap();
        assert_eq!(doc["checks"][1]["reason"], "sentinel is broken");
        assert_eq!(doc["pins"]["model_version"], "1.4.2");
        assert_eq!(doc["ready"], false);
    }

    #[test]
    fn excludes_are_decoded_and_counted_once() {
        assert_eq!(percent_decode("%61b%2Fc+d"), "ab/c d");
        assert_eq!(percent_decode("%zz%é%"), "%zz%é%");
        let ok = snapshot(&[("a", true)]);
        assert_eq!(
            body(readyz(&ok, "verbose&exclude=%61&exclude=a", false)),
            (200, "[+]a excluded: ok\nreadyz check passed\n".into())
        );
    }

    mod connection {
        use super::super::*;
        use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
        use tokio::time::Instant;

        const PEER: ([u8; 4], u16) = ([10, 0, 0, 1], 40000);

        /// Serves one connection to its end; the client side, and how long serving took.
        async fn serve(
            client: impl AsyncFnOnce(&mut DuplexStream),
        ) -> (hyper::Result<()>, Duration, DuplexStream) {
            serve_from(Shared::default(), client).await
        }

        async fn serve_from(
            shared: Shared,
            client: impl AsyncFnOnce(&mut DuplexStream),
        ) -> (hyper::Result<()>, Duration, DuplexStream) {
            let (mut near, far) = duplex(64 * 1024);
            let began = Instant::now();
            let served = serve_connection(far, &shared, PEER.into());
            let (result, ()) = tokio::join!(served, client(&mut near));
            (result, began.elapsed(), near)
        }

        async fn answer(stream: &mut DuplexStream) -> String {
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer).await;
            String::from_utf8_lossy(&answer).into_owned()
        }

        // Time is paused and jumps ahead whenever everything waits, so each deadline shows as
        // exactly itself: these pin down when hyper's header timer runs.

        #[tokio::test(start_paused = true)]
        async fn a_connection_that_never_sends_is_closed_at_the_deadline() {
            let (result, took, _) = serve(async |_| {}).await;
            assert!(result.unwrap_err().is_timeout());
            assert_eq!(took, HEADER_DEADLINE);
        }

        #[tokio::test(start_paused = true)]
        async fn dribbled_bytes_do_not_extend_the_deadline() {
            let (result, took, _) = serve(async |client| {
                client.write_all(b"GET /livez HTTP/1.1\r\n").await.unwrap();
                for _ in 0..20 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if client.write_all(b"X").await.is_err() {
                        break;
                    }
                }
            })
            .await;
            assert!(result.unwrap_err().is_timeout());
            assert_eq!(took, HEADER_DEADLINE);
        }

        #[tokio::test(start_paused = true)]
        async fn an_idle_kept_alive_connection_is_closed_at_the_deadline() {
            let answered = std::sync::Mutex::new(None);
            let (result, _, _) = serve(async |client| {
                client
                    .write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
                    .await
                    .unwrap();
                let mut buf = [0u8; 512];
                let n = client.read(&mut buf).await.unwrap();
                assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
                *answered.lock().unwrap() = Some(Instant::now());
            })
            .await;
            let answered = answered.lock().unwrap().expect("answered");
            assert!(result.unwrap_err().is_timeout());
            assert_eq!(answered.elapsed(), HEADER_DEADLINE);
        }

        #[tokio::test(start_paused = true)]
        async fn a_head_over_the_bound_is_refused() {
            let mut head = b"GET /livez HTTP/1.1\r\nX-Pad: ".to_vec();
            head.resize(MAX_HEAD_BYTES, b'a');
            let (result, took, mut client) = serve(async |client| {
                client.write_all(&head).await.unwrap();
            })
            .await;
            assert!(result.is_err());
            assert!(took < HEADER_DEADLINE);
            assert!(answer(&mut client).await.starts_with("HTTP/1.1 431"));
        }

        #[tokio::test(start_paused = true)]
        async fn hostile_heads_get_an_answer_or_a_close() {
            let heads: [&[u8]; 8] = [
                b"\0\0\0\0\r\n\r\n",
                b"GET /readyz?exclude=%ff%&exclude=%C3 HTTP/1.1\r\n\r\n",
                b"GET http://elsewhere/readyz/../livez HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                b"GET /readyz/\xff\xfe HTTP/1.1\r\n\r\n",
                b"POST /readyz HTTP/1.1\r\nContent-Length: 99999999\r\n\r\nabc",
                b"GET /livez HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                b"GET /livez HTTP/1.0\r\n\r\nGET /readyz HTTP/1.1\r\n\r\n",
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            ];
            for head in heads {
                let (_, took, mut client) = serve(async |client| {
                    client.write_all(head).await.unwrap();
                    client.shutdown().await.unwrap();
                })
                .await;
                assert!(took < HEADER_DEADLINE, "{head:?} held the connection");
                let answer = answer(&mut client).await;
                assert!(
                    answer.is_empty() || answer.starts_with("HTTP/1."),
                    "{head:?}: {answer}"
                );
            }
        }

        #[tokio::test(start_paused = true)]
        async fn a_client_that_half_closes_after_its_request_is_answered() {
            for _ in 0..100 {
                let (result, _, mut client) = serve(async |client| {
                    client
                        .write_all(b"GET /readyz HTTP/1.1\r\nConnection: close\r\n\r\n")
                        .await
                        .unwrap();
                    client.shutdown().await.unwrap();
                })
                .await;
                result.unwrap();
                assert!(answer(&mut client).await.ends_with("\r\n\r\nok"));
            }
        }

        #[tokio::test(start_paused = true)]
        async fn an_answer_over_the_head_bound_is_written_whole() {
            let names: Vec<String> = (0..2000).map(|i| format!("check-{i:04}")).collect();
            let lines: Vec<(&str, bool)> = names.iter().map(|n| (n.as_str(), true)).collect();
            let shared = Shared::default();
            *shared.write() = super::snapshot(&lines);
            let (result, _, mut client) = serve_from(shared, async |client| {
                client
                    .write_all(b"GET /readyz?verbose HTTP/1.1\r\nConnection: close\r\n\r\n")
                    .await
                    .unwrap();
            })
            .await;
            result.unwrap();
            let answer = answer(&mut client).await;
            let body = answer.split_once("\r\n\r\n").unwrap().1;
            assert!(body.len() > 4 * MAX_HEAD_BYTES);
            assert!(body.ends_with("[+]check-1999 ok\nreadyz check passed\n"));
        }

        #[tokio::test(start_paused = true)]
        async fn a_head_within_the_bound_is_answered() {
            let mut head = b"GET /livez HTTP/1.1\r\nConnection: close\r\nX-Pad: ".to_vec();
            head.resize(MAX_HEAD_BYTES - 4, b'a');
            head.extend_from_slice(b"\r\n\r\n");
            let (result, _, mut client) = serve(async |client| {
                client.write_all(&head).await.unwrap();
            })
            .await;
            result.unwrap();
            assert!(answer(&mut client).await.starts_with("HTTP/1.1 200"));
        }
    }

    #[test]
    fn a_status_page_is_rendered_once_a_change_and_a_variant() {
        let shared = Shared::new(snapshot(&[("a", true)]), Metrics::new(&[]));
        let renders = std::cell::Cell::new(0);
        let page = |slot| {
            shared.page(&shared.read(), slot, || {
                renders.set(renders.get() + 1);
                format!("render {}", renders.get())
            })
        };
        assert_eq!(page(0), "render 1");
        assert_eq!(
            page(0),
            "render 1",
            "the same page until the snapshot changes"
        );
        assert_eq!(page(3), "render 2", "each variant rendered for itself");
        shared.write().phase = "ready".into();
        assert_eq!(page(0), "render 3", "a change makes every variant stale");
        assert_eq!(page(3), "render 4");
        assert_eq!(page(3), "render 4");
    }

    #[test]
    fn one_check_tells_its_reason_only_locally() {
        let bad = snapshot(&[("sentinel", false)]);
        assert_eq!(
            body(one_check(&bad, "sentinel", true)),
            (503, "sentinel failed: sentinel is broken\n".into())
        );
        assert_eq!(
            body(one_check(&bad, "sentinel", false)),
            (503, "sentinel failed: reason withheld\n".into())
        );
        assert_eq!(body(one_check(&bad, "nope", true)).0, 404);
    }
}
