//! `bootgate sidecar` end to end: a fake model server on loopback, real probes, real signals.

#[macro_use]
mod common;

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// What the fake model server does with the next completion request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Behaviour {
    Answer(u16),
    /// Holds the request open, far past the sentinel's timeout.
    Hang,
    /// A slow model: answers 200 after this long.
    Delay(Duration),
}

struct FakeModel {
    behaviour: Arc<Mutex<Behaviour>>,
    answered_200: Arc<Mutex<Option<Instant>>>,
    requests: Arc<AtomicUsize>,
}

impl FakeModel {
    fn serve(listener: TcpListener, first: Behaviour) -> FakeModel {
        let model = FakeModel {
            behaviour: Arc::new(Mutex::new(first)),
            answered_200: Arc::new(Mutex::new(None)),
            requests: Arc::new(AtomicUsize::new(0)),
        };
        let (behaviour, answered_200, requests) = (
            model.behaviour.clone(),
            model.answered_200.clone(),
            model.requests.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (behaviour, answered_200, requests) =
                    (behaviour.clone(), answered_200.clone(), requests.clone());
                std::thread::spawn(move || {
                    // A client gone before its request ended is no request.
                    if !read_head(&mut stream).windows(4).any(|w| w == b"\r\n\r\n") {
                        return;
                    }
                    requests.fetch_add(1, Ordering::SeqCst);
                    let now = *behaviour.lock().unwrap();
                    // The fake server's own behaviour, not a test waiting: a model server
                    // stuck on a request, or slow to answer it.
                    let status = match now {
                        Behaviour::Hang => {
                            std::thread::sleep(Duration::from_secs(3));
                            return;
                        }
                        Behaviour::Delay(delay) => {
                            std::thread::sleep(delay);
                            200
                        }
                        Behaviour::Answer(status) => status,
                    };
                    let body = if status == 200 {
                        r#"{"choices":[{"text":" 4"}]}"#
                    } else {
                        "model not loaded"
                    };
                    if status == 200 {
                        answered_200
                            .lock()
                            .unwrap()
                            .get_or_insert_with(Instant::now);
                    }
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        model
    }

    fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }
}

fn sidecar_config(model_port: u16, extra: &str) -> String {
    format!(
        r#"listen: "127.0.0.1:0"
drain: 300ms
pins: {{model_version: "1.4.2"}}
{extra}
sentinel:
  interval: 50ms
  timeout: 200ms
  success_threshold: 2
  failure_threshold: 2
  hold: 400ms
  queries:
    - name: completion
      method: POST
      url: http://127.0.0.1:{model_port}/v1/completions
      headers: {{Authorization: "Bearer ${{API_KEY}}"}}
      body: '{{"prompt":"2+2=","max_tokens":1}}'
      expect:
        status: 200
        json: {{"/choices/0/text": {{contains: "4"}}}}
"#
    )
}

/// Status and body of one probe (headers carry a `date` that changes by the second).
/// A sidecar whose one check has nothing to wait for, ready, draining for `drain`.
fn ready_sidecar(scene: &Scene, drain: &str) -> (Running, u16) {
    let config = scene.config(&format!(
        "listen: \"127.0.0.1:0\"\ndrain: {drain}\nchecks:\n  k: {{kind: secret, env: K}}\n"
    ));
    let mut sidecar = scene.spawn(&["sidecar", "--config", config.to_str().unwrap()], &[]);
    let port = guard_port(&mut sidecar);
    sidecar.wait_for_line("readiness: starting -> ready");
    (sidecar, port)
}

fn status_and_body(port: u16, path: &str) -> (u16, String) {
    let (status, _, body) = get(port, path);
    (status, body)
}

#[test]
fn timing_transitions_follow_thresholds_and_hold_without_flapping() {
    let scene = Scene::new();
    let model_port = free_port();
    let config = scene.config(&sidecar_config(model_port, ""));
    let mut sidecar = scene.spawn(
        &["sidecar", "--config", config.to_str().unwrap()],
        &[("API_KEY", "sk-sentinel-canary-42")],
    );
    let port = guard_port(&mut sidecar);

    // 1. Nothing listens yet: starting, not ready.
    sidecar.wait_for_line("sentinel failing: completion: connection refused");
    assert_eq!(get(port, "/readyz").0, 503);
    assert_eq!(status_and_body(port, "/livez"), (200, "ok".into()));

    // 2. The server is up but still loading.
    let model = FakeModel::serve(
        TcpListener::bind(("127.0.0.1", model_port)).unwrap(),
        Behaviour::Answer(503),
    );
    sidecar.wait_for_line("sentinel failing: completion: status 503: model not loaded");

    // 3. It answers: ready only after two passing rounds and the 400 ms hold.
    model.set(Behaviour::Answer(200));
    let ready_at = sidecar.wait_for_line("readiness: starting -> ready");
    let first_200 = model
        .answered_200
        .lock()
        .unwrap()
        .expect("a 200 was served");
    assert!(
        ready_at - first_200 >= Duration::from_millis(350),
        "ready after {:?}, before the hold",
        ready_at - first_200
    );
    assert_eq!(status_and_body(port, "/readyz"), (200, "ok".into()));
    assert!(scene.state_dir().join("ready").exists());

    // 4. It hangs past the timeout: unready after two failing rounds; probes stay instant.
    model.set(Behaviour::Hang);
    sidecar.wait_for_line("sentinel failing: completion: no answer within 200ms");
    let mut latencies: Vec<Duration> = (0..100)
        .map(|_| {
            let asked = Instant::now();
            let _ = get(port, "/readyz");
            asked.elapsed()
        })
        .collect();
    latencies.sort();
    let p99 = latencies[98];
    assert!(
        p99 < Duration::from_millis(25),
        "/readyz p99 {p99:?} while the sentinel hangs"
    );
    sidecar.wait_for_line("readiness: ready -> unready");
    assert!(!scene.state_dir().join("ready").exists());

    // 5. Errors, then recovery: the threshold alone, no second hold.
    model.set(Behaviour::Answer(500));
    sidecar.wait_for_line("sentinel failing: completion: status 500");
    model.set(Behaviour::Answer(200));
    sidecar.wait_for_line("readiness: unready -> ready");

    assert_eq!(
        metric(port, "bootgate_transitions_total{to=\"ready\"}"),
        Some(2.0)
    );
    assert_eq!(
        metric(port, "bootgate_transitions_total{to=\"unready\"}"),
        Some(1.0)
    );
    assert_eq!(metric(port, "bootgate_ready"), Some(1.0));
    let (_, _, metrics) = get(port, "/metrics");
    assert_contains!(metrics, "model_version=\"1.4.2\"");
    assert!(model.requests.load(Ordering::SeqCst) > 5);
    sidecar.signal("TERM");
    let (status, _) = sidecar.wait();
    assert_eq!(status.code(), Some(0));
    let log = sidecar.full_stderr();
    assert_eq!(log.matches("readiness: ").count(), 4, "no flap:\n{log}");
    assert_hides(&["sk-sentinel-canary-42"], &[("log", &log)]);
}

#[test]
fn readyz_bodies_and_headers_follow_the_apiserver() {
    let scene = Scene::new();
    let (mut sidecar, port) = ready_sidecar(&scene, "100ms");
    let (status, head, body) = get(port, "/readyz?verbose");
    assert_eq!(
        (status, body.as_str()),
        (200, "[+]sentinel ok\nreadyz check passed\n")
    );
    assert_contains!(head, "content-type: text/plain; charset=utf-8");
    assert_contains!(head, "x-content-type-options: nosniff");
    assert_eq!(get(port, "/readyz").2, "ok");
    assert_eq!(
        get(port, "/readyz?verbose&exclude=sentinel&exclude=nope").2,
        "[+]sentinel excluded: ok\nwarn: some health checks cannot be excluded: no matches for \"nope\"\nreadyz check passed\n"
    );
    assert_eq!(
        status_and_body(port, "/readyz/sentinel"),
        (200, "ok".into())
    );
    let (status, head, _) = request(port, "POST", "/readyz");
    assert_eq!(status, 405);
    assert_contains!(head, "allow: GET, HEAD");
    let (status, head, body) = request(port, "HEAD", "/readyz");
    assert_eq!((status, body.as_str()), (200, ""));
    assert_contains!(head, "content-length: 2");
    assert_eq!(get(port, "/nope").0, 404);
    sidecar.signal("TERM");
    assert_eq!(sidecar.wait().0.code(), Some(0));
}

#[test]
fn timing_sigterm_turns_unready_at_once_then_drains_and_exits_0() {
    let scene = Scene::new();
    let (mut sidecar, port) = ready_sidecar(&scene, "1s");
    assert!(scene.state_dir().join("ready").exists());
    sidecar.signal("TERM");
    let sent = Instant::now();
    let logged = sidecar.wait_for_line("readiness: ready -> draining");
    assert!(
        logged - sent < Duration::from_millis(100),
        "unready after {:?}",
        logged - sent
    );
    let (status, _, body) = get(port, "/readyz");
    assert_eq!(status, 503);
    assert_eq!(
        body,
        "[+]sentinel ok\n[-]shutdown failed: reason withheld\nreadyz check failed\n"
    );
    assert!(!scene.state_dir().join("ready").exists(), "marker gone");
    let (status, exited) = sidecar.wait();
    assert_eq!(status.code(), Some(0));
    assert!(
        exited - sent >= Duration::from_millis(900),
        "drained for {:?}",
        exited - sent
    );
}

#[test]
fn a_second_signal_ends_the_drain() {
    let scene = Scene::new();
    let (mut sidecar, _) = ready_sidecar(&scene, "30s");
    sidecar.signal("TERM");
    sidecar.wait_for_line("draining: answering 503");
    sidecar.signal("TERM");
    sidecar.wait_for_line("received again; exiting now");
    assert_eq!(sidecar.wait().0.code(), Some(0));
}

#[test]
fn gate_results_appear_as_their_own_lines() {
    let scene = Scene::new();
    let gate = scene.init(
        "checks:\n  key: {kind: secret, env: K}\n  optional: {kind: tcp, address: '127.0.0.1:1', on_fail: warn}\n",
        &[("K", "value-1")],
    );
    assert_eq!(gate.code(), Some(0), "{}", gate.stderr);
    let (mut sidecar, port) = ready_sidecar(&scene, "100ms");
    assert_eq!(
        get(port, "/readyz?verbose").2,
        "[+]key ok\n[+]optional ok\n[+]sentinel ok\nreadyz check passed\n"
    );
    sidecar.signal("TERM");
    assert_eq!(sidecar.wait().0.code(), Some(0));
}

/// Answers 200 only to `Authorization: Bearer <wanted>`; otherwise 401, echoing what it got
/// back, as many servers do.
fn auth_server(wanted: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let request = String::from_utf8_lossy(&read_head(&mut stream)).to_ascii_lowercase();
            let auth = request
                .lines()
                .find(|l| l.starts_with("authorization:"))
                .unwrap_or("none")
                .to_string();
            let (status, body) = if auth.ends_with(&format!("bearer {wanted}")) {
                (200, r#"{"choices":[{"text":"4"}]}"#.to_string())
            } else {
                (401, format!("bad credentials: {auth}"))
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// A guard whose one query sends the token in `token_file` (`@` is the scene's directory) as a
/// Bearer token, with thresholds of 1.
fn token_file_sentinel(model_port: u16, timeout: &str, token_file: &str) -> String {
    format!(
        r#"listen: "127.0.0.1:0"
drain: 100ms
sentinel:
  interval: 50ms
  timeout: {timeout}
  success_threshold: 1
  failure_threshold: 1
  hold: 0s
  queries:
    - name: completion
      url: http://127.0.0.1:{model_port}/v1/models
      headers: {{Authorization: {{file: '{token_file}', prefix: "Bearer "}}}}
"#
    )
}

#[test]
fn sentinel_reads_a_rotated_token_each_round_and_never_shows_it() {
    let scene = Scene::new();
    let model_port = auth_server("tok-new-8c1f");
    kubelet_secret(&scene.path("secrets/api"), "token", "tok-old-5d2e", 1);
    let config = scene.config(&token_file_sentinel(
        model_port,
        "500ms",
        "@/secrets/api/token",
    ));
    let mut sidecar = scene.spawn(&["sidecar", "--config", config.to_str().unwrap()], &[]);
    let port = guard_port(&mut sidecar);
    sidecar.wait_for_line("sentinel failing: completion: status 401");
    let (_, _, reason) = get(port, "/readyz/sentinel");
    let (_, _, starting) = get(port, "/readyz?format=json");
    // The Secret is rotated in place; the next round uses the new token.
    kubelet_secret(&scene.path("secrets/api"), "token", "tok-new-8c1f", 2);
    sidecar.wait_for_line("readiness: starting -> ready");
    let (status, head, ready) = get(port, "/readyz?format=json");
    assert_eq!(status, 200);
    assert_contains!(head, "content-type: application/json");
    let doc: serde_json::Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(doc["phase"], "ready");
    assert_eq!(doc["sentinel"]["queries"][0]["ok"], true);
    sidecar.signal("TERM");
    assert_eq!(sidecar.wait().0.code(), Some(0));
    let log = sidecar.full_stderr();
    assert_contains!(reason, "status 401: bad credentials");
    assert_contains!(starting, "\"phase\":\"starting\"");
    assert_hides(
        &["tok-old-5d2e", "tok-new-8c1f"],
        &[
            ("log", &log),
            ("reason", &reason),
            ("json", &starting),
            ("json", &ready),
        ],
    );
}

#[test]
fn notifies_the_service_manager_when_ready_and_when_stopping() {
    let scene = Scene::new();
    let socket_path = scene.path("notify.sock");
    let manager = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    manager.set_read_timeout(Some(PATIENCE)).unwrap();
    let config = scene
        .config("listen: \"127.0.0.1:0\"\ndrain: 100ms\nchecks:\n  k: {kind: secret, env: K}\n");
    let mut sidecar = scene.spawn(
        &["sidecar", "--config", config.to_str().unwrap()],
        &[("NOTIFY_SOCKET", socket_path.to_str().unwrap())],
    );
    let mut buf = [0u8; 1024];
    let n = manager.recv(&mut buf).expect("a READY notification");
    let ready = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(ready.starts_with("READY=1\nSTATUS=ready: "), "{ready}");
    sidecar.signal("TERM");
    let n = manager.recv(&mut buf).expect("a STOPPING notification");
    assert_eq!(
        String::from_utf8_lossy(&buf[..n]),
        "STOPPING=1\nSTATUS=draining: SIGTERM received"
    );
    assert_eq!(sidecar.wait().0.code(), Some(0));
}

#[test]
fn a_watched_secret_rotated_to_empty_turns_the_pod_unready_and_back() {
    let scene = Scene::new();
    let model = HttpServer::start(200, "ok");
    kubelet_secret(&scene.path("secrets/hf"), "token", "hf_first_value", 1);
    std::fs::write(scene.path("weights.bin"), b"weights").unwrap();
    let config = scene.config(&format!(
        r#"listen: "127.0.0.1:0"
drain: 100ms
checks:
  hf-token: {{kind: secret, file: '@/secrets/hf/token', watch: true}}
  weights: {{kind: file, path: '@/weights.bin', watch: true}}
{sentinel}"#,
        sentinel = fast_sentinel(
            "500ms",
            &format!(
                "{{name: health, url: \"http://127.0.0.1:{}/health\"}}",
                model.port
            )
        )
    ));
    let mut sidecar = scene.spawn(&["sidecar", "--config", config.to_str().unwrap()], &[]);
    let port = guard_port(&mut sidecar);
    sidecar.wait_for_line("readiness: starting -> ready");

    kubelet_secret(&scene.path("secrets/hf"), "token", "", 2);
    sidecar.wait_for_line("readiness: ready -> unready: hf-token failing");
    let (status, _, body) = get(port, "/readyz");
    assert_eq!(status, 503);
    assert_contains!(body, "[-]hf-token failed: reason withheld");
    assert_contains!(get(port, "/readyz/hf-token").2, "is empty");

    kubelet_secret(&scene.path("secrets/hf"), "token", "hf_second_value", 3);
    sidecar.wait_for_line("readiness: unready -> ready: hf-token passes again");

    std::fs::remove_file(scene.path("weights.bin")).unwrap();
    sidecar.wait_for_line("readiness: ready -> unready: weights failing");
    assert_eq!(
        metric(port, "bootgate_check_up{check=\"weights\"}"),
        Some(0.0)
    );

    sidecar.signal("TERM");
    assert_eq!(sidecar.wait().0.code(), Some(0));
    let log = sidecar.full_stderr();
    assert_hides(&["hf_first_value", "hf_second_value"], &[("log", &log)]);
}

fn sentinel_at(port: u16) -> String {
    format!(
        r#"listen: "127.0.0.1:0"
drain: 100ms
{sentinel}"#,
        sentinel = fast_sentinel(
            "500ms",
            &format!("{{name: health, url: \"http://127.0.0.1:{port}/health\"}}")
        )
    )
}

#[test]
fn a_configmap_update_is_applied_and_a_bad_one_rejected() {
    let scene = Scene::new();
    let broken = HttpServer::start(503, "down");
    let healthy = HttpServer::start(200, "ok");
    let volume = scene.path("config");
    kubelet_secret(&volume, "bootgate.yaml", &sentinel_at(broken.port), 1);
    let config = volume.join("bootgate.yaml");
    let mut sidecar = scene.spawn(&["sidecar", "--config", config.to_str().unwrap()], &[]);
    let port = guard_port(&mut sidecar);
    sidecar.wait_for_line("sentinel failing: health: status 503");

    // A typo in the new ConfigMap: rejected, the old config keeps running.
    kubelet_secret(&volume, "bootgate.yaml", "sentinel: {intervl: 1s}\n", 2);
    sidecar.wait_for_line("config reload (the file changed) rejected:");
    // Said as a load says it: file, line and column, and the key meant.
    assert_contains!(
        sidecar.stderr(),
        "bootgate.yaml:1:11: sentinel.queries: a sentinel needs a `preset` (vllm, sglang, tgi, triton, kserve, llamacpp, ollama, nim, openai) or at least one query (and 1 more)"
    );
    assert_eq!(get(port, "/readyz").0, 503);

    // The fix: the sentinel now asks the healthy server.
    kubelet_secret(&volume, "bootgate.yaml", &sentinel_at(healthy.port), 3);
    sidecar.wait_for_line("config reloaded (the file changed): 1 sentinel queries");
    sidecar.wait_for_line("readiness: starting -> ready");
    assert_eq!(get(port, "/readyz").0, 200);
    sidecar.signal("TERM");
    assert_eq!(sidecar.wait().0.code(), Some(0));
}

#[test]
fn sighup_reloads_the_config() {
    let scene = Scene::new();
    let broken = HttpServer::start(503, "down");
    let healthy = HttpServer::start(200, "ok");
    let config = scene.config(&sentinel_at(broken.port));
    let mut sidecar = scene.spawn(&["sidecar", "--config", config.to_str().unwrap()], &[]);
    guard_port(&mut sidecar);
    sidecar.wait_for_line("sentinel failing: health: status 503");
    // With nothing changed, only SIGHUP can prompt a reload, and it says so.
    sidecar.signal("HUP");
    sidecar.wait_for_line("config reload (SIGHUP): unchanged");
    std::fs::write(&config, sentinel_at(healthy.port)).unwrap();
    sidecar.signal("HUP");
    sidecar.wait_for_line("config reloaded");
    sidecar.wait_for_line("readiness: starting -> ready");
    sidecar.signal("TERM");
    assert_eq!(sidecar.wait().0.code(), Some(0));
}

#[test]
fn other_events_never_cancel_a_slow_round() {
    let scene = Scene::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let model_port = listener.local_addr().unwrap().port();
    let model = FakeModel::serve(listener, Behaviour::Delay(Duration::from_millis(600)));
    let neighbour = TcpListener::bind("127.0.0.1:0").unwrap();
    // The watched tcp check is re-evaluated every sentinel interval (50 ms), far more often
    // than the 600 ms round takes.
    let config = scene.config(&format!(
        r#"listen: "127.0.0.1:0"
drain: 100ms
checks:
  neighbour: {{kind: tcp, address: "127.0.0.1:{neighbour_port}", watch: true}}
{sentinel}"#,
        neighbour_port = neighbour.local_addr().unwrap().port(),
        // The pulse's looks would be counted with the rounds' queries.
        sentinel = without_pulse(&fast_sentinel(
            "3s",
            &format!("{{name: slow, url: \"http://127.0.0.1:{model_port}/health\"}}")
        )),
    ));
    let mut sidecar = scene.spawn(&["sidecar", "--config", config.to_str().unwrap()], &[]);
    sidecar.wait_for_line("readiness: starting -> ready");
    // The first round, plus at most the next one, due 50 ms after the first began. Cancelled
    // rounds would have sent one every 50 ms and never finished.
    let sent = model.requests.load(Ordering::SeqCst);
    assert!(sent <= 2, "the round was sent {sent} times");
    sidecar.signal("TERM");
    assert_eq!(sidecar.wait().0.code(), Some(0));
}

#[test]
fn a_token_file_that_is_a_fifo_fails_the_round_at_once_and_never_hangs_it() {
    let scene = Scene::new();
    let model_port = auth_server("tok-fifo-0b7e");
    std::fs::create_dir_all(scene.path("secrets")).unwrap();
    let fifo = scene.path("secrets/token");
    mkfifo(&fifo);
    let config = scene.config(&token_file_sentinel(model_port, "5s", "@/secrets/token"));
    let mut sidecar = scene.spawn(&["sidecar", "--config", config.to_str().unwrap()], &[]);
    let port = guard_port(&mut sidecar);
    // Read as any secret file is: a FIFO is refused at once, not waited on until the timeout.
    sidecar.wait_for_line("it is a FIFO, not a regular file");
    let (status, _, _) = get(port, "/livez");
    assert_eq!(status, 200);
    sidecar.signal("TERM");
    assert_eq!(sidecar.wait().0.code(), Some(0));
}

#[test]
fn a_probe_that_shuts_its_side_after_the_request_is_answered() {
    let scene = Scene::new();
    let (mut sidecar, port) = ready_sidecar(&scene, "100ms");
    // The server sees the request and the end of the client's side together; which it reads
    // first is a race, so ask many times.
    let unanswered = (0..2000)
        .filter(|_| {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream.set_read_timeout(Some(PATIENCE)).unwrap();
            stream
                .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            let mut answer = String::new();
            let _ = std::io::Read::read_to_string(&mut stream, &mut answer);
            !answer.ends_with("\r\n\r\nok")
        })
        .count();
    assert_eq!(unanswered, 0, "of 2000 half-closed probes");
    sidecar.signal("TERM");
    assert_eq!(sidecar.wait().0.code(), Some(0));
}
