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
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const FAKES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/preset_servers.py"
);
const TINY_GGUF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny_gguf.py");
const KSERVE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/kserve_server.py"
);
/// What scripts/model-servers installs the real servers into.
const MODEL_SERVERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/model-servers");
/// Set in CI: a model server that is not installed is a failure there, not a skip.
const STRICT: &str = "MODEL_SERVERS_STRICT";
/// A vocabulary this large makes llama.cpp's loading itself last over 3 s here (indexing its
/// tokens), while a generated token stays cheap.
const SLOW_VOCAB: u32 = 2_000_000;
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
    /// A server that hangs its generations while this file exists (else a fake's control).
    hang_file: Option<PathBuf>,
}

/// The model server, as a process: dropped, it is killed, and if the test failed, what it
/// said is shown.
struct Server {
    process: ServerProcess,
    port: u16,
    hang_file: Option<PathBuf>,
    log: PathBuf,
}

impl Server {
    /// Starts it, its output appended to `log`.
    fn start(launch: &Launch, port: u16, log: PathBuf) -> Server {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open the server's log");
        let child = Command::new(&launch.program)
            .args(&launch.args)
            // The fakes import their neighbour: nothing is written beside them.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", launch.program.display()));
        Server {
            process: ServerProcess(child),
            port,
            hang_file: launch.hang_file.clone(),
            log,
        }
    }

    fn signal(&self, name: &str) {
        self.process.signal(name);
    }

    /// Fails at once, rather than at a wait's patience, when the server has already exited.
    fn assert_running(&mut self) {
        if let Some(status) = self.process.0.try_wait().expect("wait on the model server") {
            panic!("the model server exited before it served: {status}");
        }
    }

    /// What the server itself answers at `path`, asked as the guard would.
    fn probe(&self, path: &str) -> Probe {
        probe(self.port, "GET", path, "")
    }

    fn control(&self, words: &str) {
        match (&self.hang_file, words) {
            (Some(file), "hang") => std::fs::write(file, "").expect("write the hang file"),
            (Some(file), "ok") => std::fs::remove_file(file).expect("remove the hang file"),
            _ => {
                let answer = probe(self.port, "POST", "/_fake/control", words);
                assert_eq!(answer, Probe::Status(200), "control {words}");
            }
        }
    }

    fn generations(&self) -> u64 {
        let (_, _, body) = get(self.port, "/_fake/stats");
        let stats: serde_json::Value = serde_json::from_str(&body).expect("stats");
        stats["generations"].as_u64().expect("a count")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let said = std::fs::read_to_string(&self.log).unwrap_or_default();
            // The end says the most: what it said last, as it failed.
            let start = said.len().saturating_sub(4000);
            let from = (start..said.len()).find(|&i| said.is_char_boundary(i));
            let tail = &said[from.unwrap_or(said.len())..];
            eprintln!(
                "the model server's output ({}):\n{tail}",
                self.log.display()
            );
        }
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

/// Waits for the server to say it serves (200 at its ready path); returns when it did.
fn until_serving(server: &mut Server, launch: &Launch) -> Instant {
    await_within("the model server serving", Duration::from_secs(60), || {
        server.assert_running();
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
    let started = Instant::now();
    let mut server = Server::start(&first, port, scene.path("server.log"));
    let (guard, guard_port) = start_guard(&scene, &guard_config(preset, port, MODEL));

    // Loading: the server refuses or says so, and the guard says "loading for …".
    let mut said_loading = None;
    let mut server_said = Vec::new();
    await_within("ready after loading", Duration::from_secs(60), || {
        server.assert_running();
        let seen = server.probe(first.ready_path);
        if !server_said.contains(&seen) {
            server_said.push(seen);
        }
        let (status, body) = readyz_why(guard_port);
        if status == 503
            && said_loading.is_none()
            && let Some(line) = body.lines().find(|l| l.contains("loading for "))
        {
            said_loading = Some(line.to_string());
        }
        status == 200
    });
    let loaded = started.elapsed();
    eprintln!("figure: ready after the server started: {loaded:.2?}");
    assert!(
        loaded >= LOADING,
        "{preset}: ready {loaded:?} after the server started"
    );
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
    let (wrong, wrong_port) = start_guard(&elsewhere, &guard_config(preset, port, "no-such-model"));
    let mut reason = String::new();
    await_that("the reason for a model not served", || {
        reason = get(wrong_port, "/readyz/sentinel").2;
        reason.contains("no-such-model")
    });
    assert_contains!(reason, "no-such-model");
    assert_contains!(reason, &format!("`{MODEL}"));
    stop_guard(wrong);

    if controls != Controls::None {
        // Health answers, generation hangs: the production query sees it.
        turns(
            "unready after generation hung",
            guard_port,
            503,
            INTERVAL + TIMEOUT + Duration::from_secs(1),
            || server.control("hang"),
        );
        assert_contains!(readyz_why(guard_port).1, "no answer within");
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
    assert_contains!(readyz_why(guard_port).1, "no answer within");
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
        assert_contains!(readyz_why(guard_port).1, "definitive since");
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
        readyz_why(guard_port).1,
        "the server had answered, and is gone"
    );

    // Started again: ready within 3 s of the server's own readiness.
    let again = launch(port, Duration::ZERO);
    let mut server = Server::start(&again, port, scene.path("server.log"));
    let serving = until_serving(&mut server, &again);
    let back = until_readyz(guard_port, 200, serving);
    eprintln!("figure: ready after the server came back: {back:.2?}");
    assert_within(
        "ready after the server came back",
        back,
        WITHIN_3S,
        guard_port,
    );
    stop_guard(guard);
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
            hang_file: None,
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
    let mut server = Server::start(&launch, port, scene.path("server.log"));
    until_serving(&mut server, &launch);
    let (guard, guard_port) = start_guard(&scene, &guard_config("vllm", port, MODEL));
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
    let (_, why) = readyz_why(guard_port);
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
    stop_guard(guard);
}

/// The real servers' installation, or `None` (the test skipped) where scripts/model-servers
/// has not run; under [`STRICT`] that is a failure.
fn installed() -> Option<PathBuf> {
    let venv = PathBuf::from(MODEL_SERVERS);
    if venv.join("bin/python").exists() && venv.join("bin/llama-server").exists() {
        return Some(venv);
    }
    let why = format!("{MODEL_SERVERS} lacks the model servers: run scripts/model-servers");
    if std::env::var(STRICT).as_deref() == Ok("1") {
        panic!("{why}");
    }
    eprintln!("SKIPPED: {why} ({STRICT}=1 makes this a failure)");
    None
}

/// The tiny GGUF model with a vocabulary of `vocab` tokens, written once per build folder.
fn gguf(venv: &Path, vocab: u32) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tiny-{vocab}.gguf"));
    if !path.exists() {
        let written = Command::new(venv.join("bin/python"))
            .args([
                TINY_GGUF,
                "--out",
                path.to_str().unwrap(),
                "--vocab",
                &vocab.to_string(),
            ])
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .status()
            .expect("run tiny_gguf.py");
        assert!(written.success(), "tiny_gguf.py --vocab {vocab}");
    }
    path
}

/// The model that loads slowly at first, and the quick one for a restart.
fn model_for(venv: &Path, load: Duration) -> PathBuf {
    gguf(venv, if load.is_zero() { 259 } else { SLOW_VOCAB })
}

/// llama-cpp-python's OpenAI-compatible server: it loads the model before it listens.
#[test]
fn openai_preset_against_the_real_llama_cpp_python_server() {
    let Some(venv) = installed() else { return };
    let launch = |port: u16, load: Duration| Launch {
        program: venv.join("bin/python"),
        args: [
            "-m",
            "llama_cpp.server",
            "--model",
            model_for(&venv, load).to_str().unwrap(),
            "--model_alias",
            MODEL,
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--use_mmap",
            "false",
            "--n_ctx",
            "512",
        ]
        .map(String::from)
        .to_vec(),
        ready_path: "/v1/models",
        hang_file: None,
    };
    life("openai", launch, REFUSED, Controls::None);
}

/// llama.cpp's own server: it listens at once and answers 503 "Loading model" meanwhile.
#[test]
fn llamacpp_preset_against_the_real_llama_server() {
    let Some(venv) = installed() else { return };
    let launch = |port: u16, load: Duration| Launch {
        program: venv.join("bin/llama-server"),
        args: [
            "-m",
            model_for(&venv, load).to_str().unwrap(),
            "--alias",
            MODEL,
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            // Read, not mapped: what loading a model from a network volume costs.
            "--load-mode",
            "none",
            "-c",
            "512",
        ]
        .map(String::from)
        .to_vec(),
        ready_path: "/health",
        hang_file: None,
    };
    life("llamacpp", launch, &[Probe::Status(503)], Controls::None);
}

/// llama-server that sleeps when idle (`--sleep-idle-seconds`): a request wakes it, so it is
/// woken to pass first, then left asleep — ready, said so, and sent no generation — and ready
/// still once traffic wakes it.
#[test]
fn a_sleeping_llama_server_stays_ready_and_is_not_woken() {
    let Some(venv) = installed() else { return };
    let scene = Scene::new();
    let port = free_port();
    let model = gguf(&venv, 259);
    let args = [
        "-m",
        model.to_str().unwrap(),
        "--alias",
        MODEL,
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "-c",
        "512",
        "--sleep-idle-seconds",
        "1",
        "--metrics",
    ];
    let launch = Launch {
        program: venv.join("bin/llama-server"),
        args: args.map(String::from).to_vec(),
        ready_path: "/health",
        hang_file: None,
    };
    let mut server = Server::start(&launch, port, scene.path("server.log"));
    until_serving(&mut server, &launch);
    // Asleep before the guard's first round: it is woken to pass, or it would never be ready.
    await_that("llama-server asleep", || {
        get(port, "/props").2.contains(r#""is_sleeping":true"#)
    });
    let (guard, guard_port) = start_guard(&scene, &guard_config("llamacpp", port, MODEL));
    until_readyz(guard_port, 200, Instant::now());

    // Idle a second, it sleeps again; the guard says so and stays ready.
    await_that("the sentinel saying the server sleeps", || {
        get(guard_port, "/readyz/sentinel").2 == "ok (sleeping)"
    });
    let predicted = || {
        let (_, _, body) = get(port, "/metrics");
        body.lines()
            .find_map(|l| l.strip_prefix("llamacpp:tokens_predicted_total "))
            .map(|v| v.trim().parse::<f64>().expect("a number"))
            .expect("tokens_predicted_total")
    };
    let before = predicted();
    let sleeping = || {
        metric(
            guard_port,
            r#"bootgate_sentinel_rounds_total{result="sleeping"}"#,
        )
    };
    let rounds = sleeping().unwrap_or(0.0);
    await_that("two more rounds while it sleeps", || {
        sleeping().unwrap_or(0.0) >= rounds + 2.0
    });
    assert_eq!(predicted(), before, "a generation woke the sleeping server");
    assert_eq!(get(guard_port, "/readyz").0, 200);
    let (_, _, sentinel) = get(guard_port, "/readyz?verbose");
    assert_contains!(sentinel, "[+]sentinel ok (sleeping)");

    // Traffic wakes it; the guard goes on as before.
    let answer = probe(
        port,
        "POST",
        "/v1/completions",
        r#"{"prompt":"Hi","max_tokens":1}"#,
    );
    assert_eq!(answer, Probe::Status(200));
    assert_eq!(get(guard_port, "/readyz").0, 200);
    stop_guard(guard);
    drop(server);
}

/// KServe's own model server, v2 protocol: the model is not ready (503) while it loads.
#[test]
fn kserve_preset_against_the_real_kserve_server() {
    let Some(venv) = installed() else { return };
    let scratch = tempfile::tempdir().expect("scratch");
    let hang_file = scratch.path().join("hang");
    let launch = |port: u16, load: Duration| Launch {
        program: venv.join("bin/python"),
        args: [
            KSERVE,
            "--model",
            MODEL,
            "--http-port",
            &port.to_string(),
            "--load-seconds",
            &load.as_secs().to_string(),
            "--hang-file",
            hang_file.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec(),
        ready_path: "/v2/models/tiny/ready",
        hang_file: Some(hang_file.clone()),
    };
    life("kserve", launch, &[Probe::Status(503)], Controls::Hang);
}
