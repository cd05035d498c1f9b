//! Each sentinel preset on the real binary, against its model server as a process of its own:
//! the real llama-cpp-python server (`openai`), the real llama.cpp `llama-server`
//! (`llamacpp`) and the real KServe model server (`kserve`), both built by
//! `scripts/model-servers`; and for the servers that cannot run here, the fakes in
//! `tests/fixtures/preset_servers.py`, each following its server's source.
//!
//! Every preset goes through one life: loading (not ready, "loading for …", while the server
//! itself refuses or answers 503), ready, asked for a model it does not serve (the reason
//! lists what it serves), stopped (SIGSTOP: unready within the timeout and 3 s; ready within
//! 3 s of SIGCONT), killed (unready within 3 s: "gone"), and started again (ready within 3 s
//! of its own readiness). The bounds are the guard's promises, measured at `/readyz`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const FAKES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/preset_servers.py"
);
const MODEL: &str = "tiny";
/// The sentinel's beat in these tests: the hang bounds follow from it.
const INTERVAL: Duration = Duration::from_secs(2);
const TIMEOUT: Duration = Duration::from_secs(2);
/// Loading lasts at least this long, so that the guard is seen to say so.
const LOADING: Duration = Duration::from_secs(3);
const WITHIN_3S: Duration = Duration::from_secs(3);

/// How a model server is started, again and again on the same port.
struct Launch {
    program: PathBuf,
    args: Vec<String>,
    /// The path that answers 200 once it serves (its readiness as it says it).
    ready_path: &'static str,
}

/// The model server, as a process: dropped, it is killed.
struct Server {
    process: ServerProcess,
    port: u16,
}

impl Server {
    fn start(launch: &Launch, port: u16) -> Server {
        let child = Command::new(&launch.program)
            .args(&launch.args)
            // The fakes import their neighbour: nothing is written beside them.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", launch.program.display()));
        Server {
            process: ServerProcess(child),
            port,
        }
    }

    fn signal(&self, name: &str) {
        self.process.signal(name);
    }

    /// What the server itself answers at `path`, asked as the guard would.
    fn probe(&self, path: &str) -> Probe {
        probe(self.port, "GET", path, "")
    }

    fn control(&self, words: &str) {
        let answer = probe(self.port, "POST", "/_fake/control", words);
        assert_eq!(answer, Probe::Status(200), "control {words}");
    }

    fn generations(&self) -> u64 {
        let (_, _, body) = get(self.port, "/_fake/stats");
        let stats: serde_json::Value = serde_json::from_str(&body).expect("stats");
        stats["generations"].as_u64().expect("a count")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Refused,
    Status(u16),
    /// Connected, and no answer in a second.
    Silent,
}

fn probe(port: u16, method: &str, path: &str, body: &str) -> Probe {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return Probe::Refused;
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let sent = write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if sent.is_err() {
        return Probe::Refused;
    }
    let mut head = [0u8; 12];
    match stream.read_exact(&mut head) {
        Ok(()) => String::from_utf8_lossy(&head[9..12])
            .parse()
            .map_or(Probe::Silent, Probe::Status),
        Err(_) => Probe::Silent,
    }
}

fn guard_config(preset: &str, port: u16, model: &str) -> String {
    format!(
        r#"listen: "127.0.0.1:0"
drain: 100ms
sentinel:
  preset: {preset}
  url: http://127.0.0.1:{port}
  model: {model}
  interval: {}s
  timeout: {}s
  hold: 0s
"#,
        INTERVAL.as_secs(),
        TIMEOUT.as_secs()
    )
}

fn start_guard(scene: &Scene, config: &str) -> (Running, u16) {
    let config = scene.config(config);
    let mut guard = scene.spawn(&["sidecar", "--config", config.to_str().unwrap()], &[]);
    let port = guard_port(&mut guard);
    (guard, port)
}

/// `/readyz`'s status, and why: the pulse's and the sentinel's lines, as a client on the
/// pod's loopback is told them.
fn verbose(port: u16) -> (u16, String) {
    let status = get(port, "/readyz").0;
    let lines = ["pulse", "sentinel"].map(|line| {
        let (_, _, body) = get(port, &format!("/readyz/{line}"));
        format!("{line}: {body}")
    });
    (status, lines.join("\n"))
}

/// How long until `/readyz` answers `status`, from `since`; fails after [`PATIENCE`], saying
/// why the guard thinks otherwise.
fn until_readyz(port: u16, status: u16, since: Instant) -> Duration {
    let deadline = Instant::now() + PATIENCE;
    while get(port, "/readyz").0 != status {
        assert!(
            Instant::now() < deadline,
            "/readyz not {status} within {PATIENCE:?}: {}",
            verbose(port).1
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    since.elapsed()
}

fn assert_within(what: &str, took: Duration, bound: Duration, port: u16) {
    assert!(
        took < bound,
        "{what} took {took:?}, over {bound:?}: {}",
        verbose(port).1
    );
}

/// Does `event`, then asserts `/readyz` answers `status` within `bound` of it.
fn turns(what: &str, port: u16, status: u16, bound: Duration, event: impl FnOnce()) {
    let at = Instant::now();
    event();
    assert_within(what, until_readyz(port, status, at), bound, port);
}

/// Waits for the server to say it serves (200 at its ready path); returns when it did.
fn until_serving(server: &Server, launch: &Launch) -> Instant {
    await_within("the model server serving", Duration::from_secs(120), || {
        server.probe(launch.ready_path) == Probe::Status(200)
    });
    Instant::now()
}

/// What a fake can be told to do (`POST /_fake/control`), besides what any process can.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Controls {
    /// A real server: only signals.
    None,
    /// Its generations can hang while its health answers.
    Hang,
    /// That, and its own "I am broken" answer, which the preset's pulse sees.
    HangAndDead,
}

/// A whole life of one preset against one server; `loading` is what the server itself must
/// be seen answering while it loads.
fn life(
    preset: &str,
    launch: impl Fn(u16, Duration) -> Launch,
    loading: &[Probe],
    controls: Controls,
) {
    let scene = Scene::new();
    let port = free_port();
    let first = launch(port, LOADING);
    let server = Server::start(&first, port);
    let (mut guard, guard_port) = start_guard(&scene, &guard_config(preset, port, MODEL));

    // Loading: the server refuses or says so, and the guard says "loading for …".
    let mut said_loading = None;
    let mut server_said = Vec::new();
    await_within("ready after loading", Duration::from_secs(120), || {
        let seen = server.probe(first.ready_path);
        if !server_said.contains(&seen) {
            server_said.push(seen);
        }
        let (status, body) = verbose(guard_port);
        if status == 503
            && said_loading.is_none()
            && let Some(line) = body.lines().find(|l| l.contains("loading for "))
        {
            said_loading = Some(line.to_string());
        }
        status == 200
    });
    let line = said_loading.unwrap_or_else(|| panic!("{preset}: never said loading"));
    assert!(
        line.split("loading for ")
            .nth(1)
            .is_some_and(|age| age.contains("s, since ")),
        "{line}"
    );
    assert!(
        loading.iter().any(|p| server_said.contains(p)),
        "{preset}: while loading the server answered {server_said:?}, none of {loading:?}"
    );

    // Asked for a model it does not serve: the reason lists the one it does.
    // A scene of its own: the first guard reloads its config file when it changes.
    let elsewhere = Scene::new();
    let (mut wrong, wrong_port) =
        start_guard(&elsewhere, &guard_config(preset, port, "no-such-model"));
    let mut reason = String::new();
    await_that("the reason for a model not served", || {
        reason = verbose(wrong_port).1;
        reason.contains("no-such-model")
    });
    assert_contains!(reason, "no-such-model");
    assert_contains!(reason, &format!("`{MODEL}"));
    wrong.signal("TERM");
    assert_eq!(wrong.wait().0.code(), Some(0));

    if controls != Controls::None {
        // Health answers, generation hangs: the production query sees it.
        turns(
            "unready after generation hung",
            guard_port,
            503,
            INTERVAL + TIMEOUT + Duration::from_secs(1),
            || server.control("hang"),
        );
        assert_contains!(verbose(guard_port).1, "no answer within");
        turns(
            "ready after generation went on",
            guard_port,
            200,
            WITHIN_3S,
            || server.control("ok"),
        );
    }

    // Stopped: the kernel accepts, nobody answers.
    turns(
        "unready after the server stopped",
        guard_port,
        503,
        TIMEOUT + WITHIN_3S,
        || server.signal("STOP"),
    );
    assert_contains!(verbose(guard_port).1, "no answer within");
    turns(
        "ready after the server went on",
        guard_port,
        200,
        WITHIN_3S,
        || server.signal("CONT"),
    );

    if controls == Controls::HangAndDead {
        // The server's own word that it is broken is definitive: no threshold waited out.
        turns(
            "unready after the server said it is broken",
            guard_port,
            503,
            WITHIN_3S,
            || server.control("dead"),
        );
        assert_contains!(verbose(guard_port).1, "definitive since");
        turns(
            "ready after the server mended",
            guard_port,
            200,
            WITHIN_3S,
            || server.control("ok"),
        );
    }

    // Killed: gone, said so at once.
    turns(
        "unready after the server died",
        guard_port,
        503,
        WITHIN_3S,
        || drop(server),
    );
    assert_contains!(
        verbose(guard_port).1,
        "the server had answered, and is gone"
    );

    // Started again: ready within 3 s of the server's own readiness.
    let again = launch(port, Duration::ZERO);
    let server = Server::start(&again, port);
    let serving = until_serving(&server, &again);
    assert_within(
        "ready after the server came back",
        until_readyz(guard_port, 200, serving),
        WITHIN_3S,
        guard_port,
    );
    guard.signal("TERM");
    assert_eq!(guard.wait().0.code(), Some(0));
}

fn fake(
    server: &'static str,
    ready_path: &'static str,
    extra: &[&str],
) -> impl Fn(u16, Duration) -> Launch {
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    move |port, load| {
        let mut args = vec![
            FAKES.to_string(),
            "--server".into(),
            server.into(),
            "--port".into(),
            port.to_string(),
            "--model".into(),
            MODEL.into(),
            "--load-seconds".into(),
            load.as_secs().to_string(),
        ];
        args.extend(extra.iter().cloned());
        Launch {
            program: "python3".into(),
            args,
            ready_path,
        }
    }
}

const REFUSED: &[Probe] = &[Probe::Refused];

#[test]
fn vllm_preset_against_a_vllm_fake() {
    let vllm = fake("vllm", "/health", &[]);
    life("vllm", vllm, REFUSED, Controls::HangAndDead);
}

#[test]
fn sglang_preset_against_an_sglang_fake() {
    let sglang = fake("sglang", "/health", &["--warmup-seconds", "1"]);
    let loading = &[Probe::Refused, Probe::Status(503)];
    life("sglang", sglang, loading, Controls::Hang);
}

#[test]
fn tgi_preset_against_a_tgi_fake() {
    life(
        "tgi",
        fake("tgi", "/health", &[]),
        REFUSED,
        Controls::HangAndDead,
    );
}

#[test]
fn triton_preset_against_a_triton_fake() {
    let triton = fake("triton", "/v2/health/ready", &[]);
    life("triton", triton, REFUSED, Controls::HangAndDead);
}

/// Ollama loads a model on its first request: the server answers all along, and the first
/// generation takes the load.
#[test]
fn ollama_preset_against_an_ollama_fake() {
    let ollama = fake("ollama", "/", &[]);
    life("ollama", ollama, &[Probe::Status(200)], Controls::Hang);
}

#[test]
fn nim_preset_against_a_nim_fake() {
    let nim = fake("nim", "/v1/health/ready", &[]);
    life("nim", nim, &[Probe::Status(503)], Controls::HangAndDead);
}

/// vLLM put to sleep: unready, sent no generation while it sleeps, never dead, and ready
/// again within 3 s of waking.
#[test]
fn a_sleeping_vllm_is_unready_and_sent_no_generation() {
    let scene = Scene::new();
    let port = free_port();
    let launch = fake("vllm", "/health", &["--dev-mode"])(port, Duration::ZERO);
    let server = Server::start(&launch, port);
    until_serving(&server, &launch);
    let (mut guard, guard_port) = start_guard(&scene, &guard_config("vllm", port, MODEL));
    until_readyz(guard_port, 200, Instant::now());

    turns(
        "unready after the server went to sleep",
        guard_port,
        503,
        INTERVAL + Duration::from_secs(1),
        || {
            assert_eq!(
                probe(port, "POST", "/sleep?level=1", ""),
                Probe::Status(200)
            )
        },
    );
    let (_, why) = verbose(guard_port);
    assert_contains!(why, "sentinel failed: sleeping for ");
    assert_contains!(why, "/is_sleeping says /is_sleeping is true");
    // Rounds go on (the sleep probe), and none of them generates: a request could wake the
    // server, or crash it.
    let asked = server.generations();
    let rounds = metric(
        guard_port,
        r#"bootgate_sentinel_rounds_total{result="sleeping"}"#,
    );
    await_that("two more rounds while it sleeps", || {
        metric(
            guard_port,
            r#"bootgate_sentinel_rounds_total{result="sleeping"}"#,
        ) >= rounds.map(|r| r + 2.0)
    });
    assert_eq!(
        server.generations(),
        asked,
        "a generation was sent to a sleeping server"
    );
    assert_eq!(get(guard_port, "/livez/model").0, 200);

    turns(
        "ready after the server woke",
        guard_port,
        200,
        WITHIN_3S,
        || assert_eq!(probe(port, "POST", "/wake_up", ""), Probe::Status(200)),
    );
    guard.signal("TERM");
    assert_eq!(guard.wait().0.code(), Some(0));
}
