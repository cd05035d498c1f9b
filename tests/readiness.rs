//! The readiness model on the real binary, against a model server that is a real process of its
//! own (`tests/fixtures/model_server.py`): killed, stopped, hung, blipping and restarted. Each
//! test's bound is the figure the guard promises, measured at `/readyz`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/model_server.py"
);

/// The model server, as a process: dropped, it is killed.
struct ModelServer {
    process: ServerProcess,
    port: u16,
}

impl ModelServer {
    fn start(port: u16) -> ModelServer {
        ModelServer::start_with(port, &[])
    }

    fn start_with(port: u16, args: &[&str]) -> ModelServer {
        let mut child = Command::new("python3")
            .args([MODEL, "--port", &port.to_string()])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the model server");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut line)
            .expect("read its first line");
        assert_eq!(line.trim(), format!("listening {port}"));
        ModelServer {
            process: ServerProcess(child),
            port,
        }
    }

    fn signal(&self, name: &str) {
        self.process.signal(name);
    }

    /// Dies as a crash does: the kernel closes its sockets.
    fn kill(mut self) {
        self.signal("KILL");
        let _ = self.process.0.wait();
    }

    fn post(&self, path: &str, body: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    }

    fn control(&self, words: &str) {
        assert_contains!(self.post("/control", words), "200 OK");
    }

    /// Completions it was asked for so far.
    fn completions(&self) -> u64 {
        let (_, _, body) = get(self.port, "/stats");
        let stats: serde_json::Value = serde_json::from_str(&body).expect("stats");
        stats["completions"].as_u64().expect("a count")
    }
}

/// The guard's config with the sentinel's defaults but for the first-ready hold (which only
/// delays the first ready), `extra` sentinel keys, and one real completion query.
fn guard_config(model_port: u16, extra: &str) -> String {
    format!(
        r#"listen: "127.0.0.1:0"
drain: 100ms
sentinel:
  hold: 0s
{extra}  queries:
    - name: completions
      method: POST
      url: http://127.0.0.1:{model_port}/v1/completions
      body: '{{"prompt": "2+2=", "max_tokens": 1}}'
"#
    )
}

fn readyz(port: u16) -> u16 {
    get(port, "/readyz").0
}

/// A model server and a guard watching it, ready.
fn ready(scene: &Scene, extra: &str) -> (ModelServer, Running, u16) {
    let model_port = free_port();
    let model = ModelServer::start(model_port);
    let (guard, port) = start_guard(scene, &guard_config(model_port, extra));
    until_readyz(port, 200, Instant::now());
    (model, guard, port)
}

#[test]
fn a_model_that_dies_is_unready_within_3s_and_ready_within_3s_of_its_return() {
    let scene = Scene::new();
    let (model, mut guard, port) = ready(&scene, "");
    let model_port = model.port;

    turns(
        "unready after the model died",
        port,
        503,
        Duration::from_secs(3),
        || model.kill(),
    );
    guard.wait_for_line("readiness: ready -> unready: pulse failing");
    let (_, _, pulse) = get(port, "/readyz/pulse");
    assert_contains!(pulse, "definitive since");
    assert_contains!(pulse, "connection refused");

    // Back is when it accepts connections again: the clock starts once it says it does.
    let _back = ModelServer::start(model_port);
    let back = Instant::now();
    assert_within(
        "ready after the model came back",
        until_readyz(port, 200, back),
        Duration::from_secs(3),
        port,
    );
    stop_guard(guard);
}

#[test]
fn a_model_that_stops_answering_is_unready_within_its_timeout_and_3s() {
    let scene = Scene::new();
    // The defaults' 5 s timeout, shortened: the bound is the timeout plus 3 s either way.
    let (model, guard, port) = ready(&scene, "  timeout: 2s\n");

    // Stopped, its kernel still accepts connections; nobody answers them.
    turns(
        "unready after the model stopped answering",
        port,
        503,
        Duration::from_secs(2 + 3),
        || model.signal("STOP"),
    );
    assert_contains!(get(port, "/readyz/pulse").2, "no answer within");

    turns(
        "ready after the model answered again",
        port,
        200,
        Duration::from_secs(3),
        || model.signal("CONT"),
    );
    stop_guard(guard);
}

#[test]
fn completions_that_hang_while_the_server_answers_are_unready_within_interval_timeout_and_1s() {
    let scene = Scene::new();
    let (model, mut guard, port) = ready(&scene, "  interval: 2s\n  timeout: 1s\n");

    // interval + timeout + two confirmations (under a second for a model this quick), and
    // half a second for a loaded machine.
    turns(
        "unready after completions hung",
        port,
        503,
        Duration::from_millis(2_000 + 1_000 + 1_500),
        || model.control("hang"),
    );
    // The pulse still passes: the sentinel alone saw it, three counted failures in a row.
    guard.wait_for_line("readiness: ready -> unready: sentinel failing, 3 rounds in a row");
    assert_contains!(get(port, "/readyz?verbose").2, "[+]pulse ok");

    turns(
        "ready after completions answered again",
        port,
        200,
        Duration::from_secs(3),
        || model.control("ok"),
    );
    stop_guard(guard);
}

/// Connections to `port` on loopback that are established, as the kernel lists them (both
/// ends are on this machine: each connection is counted once, at its client's end).
fn established_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let remote = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[2].ends_with(&remote) && fields[3] == "01"
        })
        .count()
}

/// What Ollama's preset relies on: a server that gives up work whose client left (Ollama
/// aborts a model load) sees the guard leave when a query times out.
#[test]
fn a_query_given_up_on_closes_its_connection() {
    let scene = Scene::new();
    let (model, guard, port) = ready(&scene, "  interval: 2s\n  timeout: 1s\n");
    model.control("hang");
    let failed = || metric(port, r#"bootgate_sentinel_rounds_total{result="fail"}"#);
    await_that("five rounds given up on", || failed() >= Some(5.0));
    // The pulse's held connection, and at most the round now waiting: not one per round that
    // timed out, each held open on the hung server by a task nobody waits for.
    let open = established_to(model.port);
    assert!(open <= 2, "{open} connections open to the hung server");
    stop_guard(guard);
}

#[test]
fn isolated_counted_failures_never_flip_ready() {
    let scene = Scene::new();
    let (model, mut guard, port) = ready(&scene, "  interval: 50ms\n");
    // A fifth of the completions fail with a 500, never two in a row.
    model.control("flaky 0.2 7");
    let before = model.completions();
    await_that("a hundred more rounds", || {
        model.completions() >= before + 100
    });
    guard.wait_for_line("sentinel failing: completions: status 500");
    // The counter is there (it counted the first ready), and never counted an unready.
    assert_eq!(
        metric(port, "bootgate_transitions_total{to=\"ready\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(port, "bootgate_transitions_total{to=\"unready\"}"),
        None
    );
    assert_eq!(readyz(port), 200);
    guard.signal("TERM");
    assert_eq!(guard.wait().0.code(), Some(0));
    assert!(!guard.full_stderr().contains("ready -> unready"));
}

#[test]
fn a_status_the_config_calls_fatal_is_unready_at_once() {
    let scene = Scene::new();
    // Rounds an hour apart: the pulse alone sees it.
    let (model, mut guard, port) = ready(
        &scene,
        "  interval: 1h\n  pulse: {every: 1s, path: /health, fatal_status: [503]}\n",
    );

    // vLLM's dead engine: /health answers 503, the server still runs.
    turns(
        "unready after the engine died",
        port,
        503,
        Duration::from_secs(3),
        || model.control("dead"),
    );
    guard.wait_for_line("readiness: ready -> unready: pulse failing: http://127.0.0.1");
    assert_contains!(get(port, "/readyz/pulse").2, "definitive since");
    assert_contains!(get(port, "/readyz/pulse").2, "GET /health answered 503");
    stop_guard(guard);
}

#[test]
fn model_liveness_spares_a_loading_model_and_fails_a_dead_one() {
    let scene = Scene::new();
    let model_port = free_port();
    let (mut guard, port) = start_guard(
        &scene,
        &guard_config(
            model_port,
            "  interval: 2s\n  timeout: 1s\n  dead_after: 1s\n",
        ),
    );
    // Nothing listens yet: a model loading, however long. Still alive well past dead_after.
    guard.wait_for_line("sentinel failing: completions: connection refused");
    let loading = Instant::now();
    while loading.elapsed() < Duration::from_millis(2500) {
        assert_eq!(get(port, "/livez/model").0, 200, "a loading model is alive");
        std::thread::sleep(Duration::from_millis(250));
    }

    let model = ModelServer::start(model_port);
    until_readyz(port, 200, Instant::now());
    model.control("hang");
    let hung = Instant::now();
    await_that("/livez/model 503", || get(port, "/livez/model").0 == 503);
    // Failing for dead_after (1 s) since the first round that timed out began: not sooner.
    assert!(
        hung.elapsed() >= Duration::from_secs(1),
        "{:?}",
        hung.elapsed()
    );
    assert_contains!(get(port, "/livez/model").2, "without a pass");
    assert_eq!(get(port, "/livez").0, 200, "/livez is about bootgate alone");

    // A server that went away starts over: when it is back it loads again, and it is alive
    // until it fails anew.
    model.kill();
    await_that("/livez/model 200 once the server refuses", || {
        get(port, "/livez/model").0 == 200
    });
    stop_guard(guard);
}

#[test]
fn a_reload_reaches_the_watched_checks_interval() {
    let scene = Scene::new();
    let model_port = free_port();
    let _model = ModelServer::start(model_port);
    let neighbour = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let neighbour_port = neighbour.local_addr().unwrap().port();
    let config = |interval: &str| {
        format!(
            "checks:\n  neighbour: {{kind: tcp, address: \"127.0.0.1:{neighbour_port}\", watch: true}}\n{}",
            guard_config(
                model_port,
                &format!("  interval: {interval}\n  failure_threshold: 1\n")
            )
        )
    };
    let path = scene.config(&config("1h"));
    let mut guard = scene.spawn(&["sidecar", "--config", path.to_str().unwrap()], &[]);
    let port = guard_port(&mut guard);
    until_readyz(port, 200, Instant::now());
    write_config(&path, &config("100ms"));
    guard.wait_for_line("config reloaded");
    // An hour before the reload; the reloaded 100 ms after it.
    turns(
        "unready after the neighbour closed",
        port,
        503,
        Duration::from_secs(5),
        || drop(neighbour),
    );
    guard.wait_for_line("readiness: ready -> unready: neighbour failing");
    stop_guard(guard);
}

/// Replaces the config as an editor would: a new file renamed over the old.
fn write_config(path: &Path, text: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, path).unwrap();
}

#[test]
fn a_crash_is_seen_on_the_held_connection_not_polled_for() {
    let scene = Scene::new();
    // Looks an hour apart, rounds an hour apart, a connection the server never closes as idle:
    // only the held connection ending can tell the guard in time.
    let model_port = free_port();
    let model = ModelServer::start_with(model_port, &["--keep-alive", "3600"]);
    let (mut guard, port) = start_guard(
        &scene,
        &guard_config(model_port, "  interval: 1h\n  pulse: 1h\n"),
    );
    until_readyz(port, 200, Instant::now());
    turns(
        "unready after the crash",
        port,
        503,
        Duration::from_millis(500),
        || model.kill(),
    );
    guard.wait_for_line("readiness: ready -> unready: pulse failing");
    stop_guard(guard);
}

#[test]
fn a_server_that_closes_every_connection_at_once_is_not_asked_in_a_loop() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let scene = Scene::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let model_port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let (mut guard, port) = start_guard(&scene, &guard_config(model_port, ""));
    guard.wait_for_line("pulse: http://127.0.0.1");
    let from = accepted.load(Ordering::SeqCst);
    // A rate, so a window of time: no event marks its end.
    std::thread::sleep(Duration::from_secs(3));
    // A look and a round a second, each confirmed at most twice, half a second apart.
    let dialled = accepted.load(Ordering::SeqCst) - from;
    assert!(dialled <= 24, "{dialled} connections in 3 s");
    assert_eq!(readyz(port), 503);
    stop_guard(guard);
}
