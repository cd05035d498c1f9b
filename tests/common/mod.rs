//! Runs the real `bootgate` binary against real files, sockets and signals.

#![allow(dead_code)]

/// Asserts that `haystack` contains `needle`, and shows the whole haystack when it does not.
#[macro_export]
macro_rules! assert_contains {
    ($haystack:expr, $needle:expr) => {{
        // Bound by `match` so temporaries (a `format!` needle) live through the assertion.
        match (&$haystack, &$needle) {
            (haystack, needle) => {
                let haystack: &str = haystack.as_ref();
                let needle: &str = needle.as_ref();
                assert!(
                    haystack.contains(needle),
                    "expected to find {needle:?} in:\n{haystack}"
                );
            }
        }
    }};
}

pub mod fake_nvml;
pub mod py_tools;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_bootgate");
/// Upper bound on anything a test waits for; only reached when the behaviour is broken.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A scratch directory with a config file in it.
pub struct Scene {
    pub dir: tempfile::TempDir,
}

impl Scene {
    pub fn new() -> Scene {
        Scene {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `bootgate.yaml`; `@` in the text stands for the scene's directory.
    pub fn config(&self, text: &str) -> PathBuf {
        let path = self.path("bootgate.yaml");
        let text = text.replace('@', self.dir.path().to_str().expect("utf-8 path"));
        std::fs::write(&path, text).expect("write config");
        path
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path("state")
    }

    /// The gate's `status.json`, parsed.
    pub fn status(&self) -> serde_json::Value {
        let text =
            std::fs::read_to_string(self.state_dir().join("status.json")).expect("status.json");
        serde_json::from_str(&text).expect("status.json is JSON")
    }

    /// A command for the binary with a clean environment: the test runner's own never leaks in.
    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args);
        self.clean_env(cmd, env)
    }

    /// Like [`Scene::command`], but `sh -c SCRIPT` runs first and then execs the binary in its
    /// place, with the same pid: for a limit the shell applies to itself (a cgroup, a ulimit).
    pub fn command_after(&self, script: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("{script}\nexec \"$@\""))
            .arg("sh")
            .arg(BIN)
            .args(args);
        self.clean_env(cmd, env)
    }

    fn clean_env(&self, mut cmd: Command, env: &[(&str, &str)]) -> Command {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("BOOTGATE_STATE_DIR", self.state_dir())
            .current_dir(self.dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Writes the config and runs `bootgate init` on it to the end.
    pub fn init(&self, config: &str, env: &[(&str, &str)]) -> Finished {
        let path = self.config(config);
        self.run(
            &["init", "--config", path.to_str().expect("utf-8 path")],
            env,
        )
    }

    /// Writes the config, runs `bootgate init` on it to the end with a termination log of its
    /// own, and returns that message too (empty when none was written).
    pub fn init_reporting(&self, config: &str, env: &[(&str, &str)]) -> (Finished, String) {
        let path = self.config(config);
        let termination = self.path("termination-log");
        let _ = std::fs::remove_file(&termination);
        let done = self.run(
            &[
                "init",
                "--config",
                path.to_str().expect("utf-8 path"),
                "--termination-log",
                termination.to_str().expect("utf-8 path"),
            ],
            env,
        );
        (
            done,
            std::fs::read_to_string(&termination).unwrap_or_default(),
        )
    }

    /// Writes the config and starts `bootgate init` on it.
    pub fn spawn_init(&self, config: &str, env: &[(&str, &str)]) -> Running {
        let path = self.config(config);
        self.spawn(
            &["init", "--config", path.to_str().expect("utf-8 path")],
            env,
        )
    }

    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Finished {
        let started = Instant::now();
        let out = self.command(args, env).output().expect("run bootgate");
        Finished {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: started.elapsed(),
        }
    }

    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> Running {
        self.start(self.command(args, env))
    }

    /// Starts a command from [`Scene::command`] or [`Scene::command_after`], its stderr watched.
    pub fn start(&self, mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bootgate");
        let (tx, rx) = channel();
        let stderr = child.stderr.take().expect("stderr");
        let seen = Arc::new(Mutex::new(String::new()));
        let seen_writer = seen.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let at = Instant::now();
                seen_writer.lock().unwrap().push_str(&format!("{line}\n"));
                if tx.send((at, line)).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines: rx,
            stderr: seen,
            started: Instant::now(),
        }
    }
}

pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Finished {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

pub struct Running {
    pub child: Child,
    lines: Receiver<(Instant, String)>,
    stderr: Arc<Mutex<String>>,
    pub started: Instant,
}

impl Running {
    /// Blocks until a stderr line contains `needle`; returns when it was read.
    pub fn wait_for_line(&mut self, needle: &str) -> Instant {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) if line.contains(needle) => return at,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.child.kill();
                    panic!(
                        "no stderr line containing {needle:?}; stderr so far:\n{}",
                        self.stderr()
                    );
                }
            }
        }
    }

    /// Blocks until each needle has appeared in some stderr line, in any order: output from
    /// two processes (bootgate and its child) interleaves freely.
    pub fn wait_for_all(&mut self, needles: &[&str]) {
        let mut missing: Vec<&str> = needles.to_vec();
        let deadline = Instant::now() + PATIENCE;
        while !missing.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((_, line)) => missing.retain(|needle| !line.contains(needle)),
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "no stderr lines containing {missing:?}; stderr so far:\n{}",
                        self.stderr()
                    );
                }
            }
        }
    }

    /// Waits for the exit, seen as the end of stderr: the pipe closes when the process ends.
    pub fn wait(&mut self) -> (ExitStatus, Instant) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(_) => {}
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("bootgate did not exit; stderr:\n{}", self.stderr());
                }
            }
        }
        let ended = Instant::now();
        (self.child.wait().expect("wait"), ended)
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{name} failed");
    }

    pub fn stdout(&mut self) -> String {
        let mut out = String::new();
        if let Some(mut s) = self.child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        out
    }

    /// Everything read from stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// All of stderr once the process has exited: the reader thread ends at EOF.
    pub fn full_stderr(&mut self) -> String {
        while self.lines.recv_timeout(PATIENCE).is_ok() {}
        self.stderr()
    }
}

/// A test that fails must not leave bootgate running: the process goes with the handle.
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port the guard of a `run` or `sidecar` with `listen: "127.0.0.1:0"` bound.
pub fn guard_port(running: &mut Running) -> u16 {
    running.wait_for_line("guard listening on");
    let log = running.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("guard listening on"))
        .expect("the line just seen");
    listening_port(line).expect("a port in the line just seen")
}

/// The port in the guard's `guard listening on ADDR, serving URL…` line.
pub fn listening_port(line: &str) -> Option<u16> {
    let (_, rest) = line.split_once("guard listening on ")?;
    let address = rest.split(',').next()?;
    address.rsplit(':').next()?.trim().parse().ok()
}

/// Asserts that no secret appears in any of the named outputs, naming the one that leaks.
pub fn assert_hides(secrets: &[&str], outputs: &[(&str, &str)]) {
    for (name, text) in outputs {
        for secret in secrets {
            assert!(!text.contains(secret), "{name} leaks {secret:?}:\n{text}");
        }
    }
}

/// A `sentinel:` block that decides fast: 50 ms rounds, one round to turn, no hold.
pub fn fast_sentinel(timeout: &str, query: &str) -> String {
    format!(
        "sentinel:\n  interval: 50ms\n  timeout: {timeout}\n  success_threshold: 1\n  failure_threshold: 1\n  hold: 0s\n  queries:\n    - {query}\n"
    )
}

/// `sentinel` (a config's `sentinel:` section) without the pulse: for a test that counts or
/// scripts every request its model server gets, which the pulse's looks would join.
pub fn without_pulse(sentinel: &str) -> String {
    sentinel.replace("sentinel:\n", "sentinel:\n  pulse: off\n")
}

/// A fast sentinel whose one query asks `model` for `/`: a guard that decides in a round.
pub fn health_sentinel(model: &HttpServer) -> String {
    fast_sentinel(
        "1s",
        &format!(
            "{{name: health, url: \"http://127.0.0.1:{}/\"}}",
            model.port
        ),
    )
}

/// Reads a request up to the end of its head; what it read, short if the client went away.
pub fn read_head(stream: &mut impl Read) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    seen
}

/// A loopback HTTP/1.1 server answering every request with the same response, and recording
/// the requests it got.
pub struct HttpServer {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl HttpServer {
    pub fn start(status: u16, body: &str) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        HttpServer::serve(listener, status, body)
    }

    pub fn serve(listener: TcpListener, status: u16, body: &str) -> HttpServer {
        HttpServer::script(listener, &[(status, body)])
    }

    /// Answers with each response in turn, repeating the last one.
    pub fn script(listener: TcpListener, responses: &[(u16, &str)]) -> HttpServer {
        let responses: Vec<Vec<u8>> = responses
            .iter()
            .map(|(status, body)| response(*status, body.as_bytes()))
            .collect();
        HttpServer::answering(listener, move |_, served| {
            responses[served.min(responses.len() - 1)].clone()
        })
    }

    /// Answers each request, one connection at a time, with `respond(its head, how many came
    /// before it)`: the whole response.
    pub fn answering(
        listener: TcpListener,
        respond: impl Fn(&str, usize) -> Vec<u8> + Send + 'static,
    ) -> HttpServer {
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        thread::spawn(move || {
            for (served, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let head = String::from_utf8_lossy(&read_head(&mut stream)).into_owned();
                seen.lock().unwrap().push(head.clone());
                let _ = stream.write_all(&respond(&head, served));
            }
        });
        HttpServer { port, requests }
    }

    /// Whether any request it got carries `text`.
    pub fn was_sent(&self, text: &str) -> bool {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.contains(text))
    }
}

/// An HTTP/1.1 response with `body`, its length given, closing the connection.
pub fn response(status: u16, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    [head.as_bytes(), body].concat()
}

/// Checks `done` every 10 ms until it holds; fails after [`PATIENCE`]. For a state no event
/// announces (a process gone from /proc, a counter on `/metrics`).
pub fn await_that(what: &str, done: impl FnMut() -> bool) {
    await_within(what, PATIENCE, done);
}

/// [`await_that`] with a patience of its own.
pub fn await_within(what: &str, patience: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + patience;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {patience:?}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// A FIFO at `path`: what a hostile writer plants where a regular file belongs.
pub fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo {}", path.display());
}

/// A port nothing listens on (bound, then released).
///
/// Taken below Linux's ephemeral range (32768–60999 by default): a port the kernel handed out
/// for `:0` is handed out again to the next outgoing connection of any test running beside
/// this one, and a server started on it a moment later then finds it taken. Below that range
/// only another test choosing the same port at random could clash.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static DRAWN: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id()
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.subsec_nanos());
    for _ in 0..1000 {
        let draw = DRAWN.fetch_add(1, Ordering::Relaxed);
        let mixed = (seed ^ draw.wrapping_mul(0x9E37_79B9)).wrapping_mul(0x85EB_CA6B);
        let port = 20_000 + (mixed >> 16) % 12_000;
        let port = u16::try_from(port).expect("a port");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below the ephemeral range in 1000 draws");
}

/// Lays out a Secret volume the way the kubelet does: `key -> ..data/key`, `..data -> ..<ts>`.
pub fn kubelet_secret(dir: &Path, key: &str, value: &str, generation: u32) {
    use std::os::unix::fs::symlink;
    std::fs::create_dir_all(dir).expect("mkdir");
    let versioned = format!("..2026_11_23_00_00_0{generation}.000");
    std::fs::create_dir(dir.join(&versioned)).expect("mkdir version");
    std::fs::write(dir.join(&versioned).join(key), value).expect("write key");
    let tmp = dir.join("..data_tmp");
    symlink(&versioned, &tmp).expect("symlink tmp");
    // The atomic swap: rename over the old `..data`.
    std::fs::rename(&tmp, dir.join("..data")).expect("rename ..data");
    let visible = dir.join(key);
    if std::fs::symlink_metadata(&visible).is_err() {
        symlink(format!("..data/{key}"), &visible).expect("symlink key");
    }
}

/// The value of one series on the guard's `/metrics`, its name and labels as rendered
/// (`bootgate_transitions_total{to="ready"}`); `None` when it was never set.
pub fn metric(port: u16, series: &str) -> Option<f64> {
    let (_, _, body) = get(port, "/metrics");
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().expect("a number"))
}

/// A GET over a fresh connection, as the kubelet probes: status, headers and body.
pub fn get(port: u16, path: &str) -> (u16, String, String) {
    request(port, "GET", path)
}

pub fn request(port: u16, method: &str, path: &str) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read the answer");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// A model server as a process of its own, signalled as a crash or a stop would; dropped, it is
/// woken (a stopped process must be, to die quickly and leave no zombie) and killed.
pub struct ServerProcess(pub std::process::Child);

impl ServerProcess {
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{name}");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.id().to_string()])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `sidecar` on `config` (which must listen on `127.0.0.1:0`), and the port it bound.
pub fn start_guard(scene: &Scene, config: &str) -> (Running, u16) {
    let config = scene.config(config);
    let mut guard = scene.spawn(&["sidecar", "--config", config.to_str().unwrap()], &[]);
    let port = guard_port(&mut guard);
    (guard, port)
}

/// Stops the guard as the kubelet does; it must drain and exit 0.
pub fn stop_guard(mut guard: Running) {
    guard.signal("TERM");
    assert_eq!(guard.wait().0.code(), Some(0));
}

/// `/readyz`'s status, and why: the pulse's and the sentinel's lines, as a client on the
/// pod's loopback is told them.
pub fn readyz_why(port: u16) -> (u16, String) {
    let status = get(port, "/readyz").0;
    let lines = ["pulse", "sentinel"].map(|line| {
        let (_, _, body) = get(port, &format!("/readyz/{line}"));
        format!("{line}: {body}")
    });
    (status, lines.join("\n"))
}

/// How long until `/readyz` answers `status`, from `since`; fails after [`PATIENCE`], saying
/// why the guard thinks otherwise.
pub fn until_readyz(port: u16, status: u16, since: Instant) -> Duration {
    let deadline = Instant::now() + PATIENCE;
    while get(port, "/readyz").0 != status {
        assert!(
            Instant::now() < deadline,
            "/readyz not {status} within {PATIENCE:?}: {}",
            readyz_why(port).1
        );
        thread::sleep(Duration::from_millis(10));
    }
    since.elapsed()
}

/// Asserts that a turn of the guard at `port` took less than `bound`, saying why it stands as
/// it does when not.
pub fn assert_within(what: &str, took: Duration, bound: Duration, port: u16) {
    assert!(
        took < bound,
        "{what} took {took:?}, over {bound:?}: {}",
        readyz_why(port).1
    );
}

/// Does `event`, then asserts `/readyz` answers `status` within `bound` of it; the time it
/// took is printed, for the figures the docs quote.
pub fn turns(what: &str, port: u16, status: u16, bound: Duration, event: impl FnOnce()) {
    let at = Instant::now();
    event();
    let took = until_readyz(port, status, at);
    eprintln!("figure: {what}: {took:.2?}");
    assert_within(what, took, bound, port);
}
