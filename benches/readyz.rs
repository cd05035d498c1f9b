//! Measures the probe server of `bootgate sidecar` — the `/readyz` the kubelet asks every few
//! seconds for the life of the pod — and sets it beside a minimal Python readiness endpoint
//! measured in the same run, on the same cores.
//!
//! Run with `cargo bench --bench readyz`. The Markdown report goes to stdout as it is produced
//! and, whole, to `target/bench-readyz.md` (relative to the working directory, which
//! `cargo bench` sets to the package root). Progress notes go to stderr.
//!
//! Load comes from `wrk` (Debian's package: installed with apt-get when missing; when that fails
//! too, the load sections are skipped with a note). The server runs on CPU 0 and wrk on CPU 1
//! (`taskset`), so a figure is one core's worth of serving. Only 127.0.0.1 is used, and every
//! load run is bounded in time. Every process we start is checked for the exit code it must
//! have; a wrong one panics, because a benchmark that quietly times failures is worse than none.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

mod support;
use support::*;

/// Length of each throughput run (rows 1 and 2).
const RUN: Duration = Duration::from_secs(10);
/// Row 1: many kept-alive connections, as a busy scraper or a load test would hold.
const KEEP_ALIVE_CONNECTIONS: u32 = 64;
/// Row 2: a new connection per request, as the kubelet probes (it disables keep-alive).
const CLOSE_CONNECTIONS: u32 = 16;
/// Row 3: requests the RSS must survive without growing, and the time allowed to send them.
const RSS_REQUESTS: u64 = 1_000_000;
const RSS_TIME_CAP: Duration = Duration::from_secs(120);
/// Row 3 sends its load in wrk runs of this many requests, sized from the measured rate, and
/// reads RSS after each; this many runs at most.
const RSS_STEP: u64 = 250_000;
const RSS_MAX_RUNS: usize = 12;
/// Row 3's first run, after which connection buffers have reached their working size.
const RSS_WARM_UP: Duration = Duration::from_secs(2);
/// Row 4: the sentinel interval under test and the window the CPU is measured over.
const SENTINEL_INTERVAL: &str = "10s";
const IDLE_WINDOW: Duration = Duration::from_secs(30);
/// How long past its own `-d` a wrk run may take before we kill it and call the run broken.
const WRK_GRACE: Duration = Duration::from_secs(15);
/// apt-get fetches over the network; a stuck mirror must not hang the bench.
const APT_LIMIT: Duration = Duration::from_secs(240);
/// wrk's own request timeout: a request slower than this counts as a socket error.
const WRK_TIMEOUT: &str = "2s";
const SECRET_VAR: &str = "BENCH_TOKEN";
const SECRET_VALUE: &str = "abc123";
const MIB: f64 = 1024.0 * 1024.0;

/// Row 2b's gate and sentinel: a large gate, and a chart that fills within the first seconds.
const GATE_CHECKS: usize = 12;
const EVENTS_EACH: u32 = 16;
const STATUS_ROUNDS_EVERY: &str = "100ms";

/// Targets printed beside the results.
const TARGET_RATE: f64 = 20_000.0;
const TARGET_P99: Duration = Duration::from_millis(2);
const TARGET_RSS_GROWTH_MIB: f64 = 1.0;
const TARGET_IDLE_MS_PER_MIN: f64 = 20.0;

fn main() {
    let mut report = Report::new("bench-readyz.md");
    let tools = Tools::find();

    machine_facts(&mut report, &tools);
    match &tools.wrk {
        Ok(_) => {
            let keep_alive_rate = throughput_section(&mut report, &tools);
            rss_section(&mut report, &tools, keep_alive_rate);
        }
        Err(why) => {
            report.line("## 1–3. Throughput, latency, RSS under load: skipped");
            report.line("");
            report.line(format!("wrk is not available: {why}."));
            report.line("");
        }
    }
    idle_section(&mut report, &tools);
    report.finish();
}

// ---------------------------------------------------------------------------------------------
// Report

/// Latency the way wrk's figures deserve: µs below a millisecond, else ms.
fn lat(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

fn mib(kib: u64) -> String {
    format!("{:.2} MiB", kib as f64 * 1024.0 / MIB)
}

// ---------------------------------------------------------------------------------------------
// Tools and machine facts

/// The outside programs the bench leans on, found (or installed) once, before anything runs.
struct Tools {
    /// wrk's version line, or why there is no wrk.
    wrk: Result<String, String>,
    /// How wrk came to be there, for the report.
    wrk_origin: &'static str,
    /// Whether `taskset` can put the server and wrk on separate cores.
    pinned: bool,
    pin_note: String,
    /// The real interpreter behind `python3`, for the baseline endpoint.
    python: String,
}

impl Tools {
    fn find() -> Tools {
        let (wrk, wrk_origin) = match ensure_wrk() {
            Ok(origin) => (Ok(wrk_version()), origin),
            Err(why) => (Err(why), "missing"),
        };
        let (pinned, pin_note) = pinning();
        if !pinned {
            eprintln!("note: {pin_note}");
        }
        Tools {
            wrk,
            wrk_origin,
            pinned,
            pin_note,
            python: python_executable(),
        }
    }
}

/// Installs Debian's wrk when it is missing: the bench should run on a fresh machine unaided.
fn ensure_wrk() -> Result<&'static str, String> {
    if on_path("wrk").is_some() {
        return Ok("already installed");
    }
    eprintln!("wrk is not installed; installing Debian's package with `apt-get install -y wrk`");
    if apt_get(&["install", "-y", "wrk"]) && on_path("wrk").is_some() {
        return Ok("installed by this run (`apt-get install -y wrk`)");
    }
    eprintln!("`apt-get install -y wrk` failed; running `apt-get update` and trying once more");
    if apt_get(&["update"]) && apt_get(&["install", "-y", "wrk"]) && on_path("wrk").is_some() {
        return Ok("installed by this run (`apt-get update`, `apt-get install -y wrk`)");
    }
    eprintln!("wrk could not be installed: the load sections will be skipped");
    Err("it is not on PATH and `apt-get install -y wrk` failed, also after `apt-get update`".into())
}

/// Runs apt-get non-interactively, its output on our stderr so stdout stays pure Markdown.
fn apt_get(args: &[&str]) -> bool {
    let child = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .stdout(Stdio::from(io::stderr()))
        .spawn();
    match child {
        Ok(mut child) => wait_bounded(&mut child, APT_LIMIT).is_some_and(|s| s.success()),
        Err(e) => {
            eprintln!("cannot run apt-get: {e}");
            false
        }
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// `wrk -v` prints its version and then exits 1 for want of a URL: take the line, not the code.
fn wrk_version() -> String {
    Command::new("wrk")
        .arg("-v")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "(wrk -v printed nothing)".into())
}

/// Separate cores need `taskset` and at least two CPUs we may run on.
fn pinning() -> (bool, String) {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    if on_path("taskset").is_none() {
        return (
            false,
            "taskset is missing: server and wrk run unpinned and share the cores".into(),
        );
    }
    if cpus < 2 {
        return (
            false,
            format!("only {cpus} CPU available: server and wrk run unpinned on it"),
        );
    }
    (true, "server on CPU 0, wrk on CPU 1 (`taskset -c`)".into())
}

fn machine_facts(report: &mut Report, tools: &Tools) {
    let cpu = cpu_model();
    let loadavg = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let python_version = command_output(&tools.python, &["-c", "import sys; print(sys.version)"]);
    report.line("# bootgate `/readyz` benchmark");
    report.line("");
    report.line("Reproduce: `cargo bench --bench readyz`");
    report.line("");
    report.line(format!("- binary: `{BIN}`"));
    report.line(format!("- nproc: {}", command_output("nproc", &[])));
    report.line(format!("- loadavg at start: {}", loadavg.trim()));
    report.line(format!("- CPU: {cpu}"));
    report.line(format!("- kernel: {}", command_output("uname", &["-sr"])));
    match &tools.wrk {
        Ok(version) => report.line(format!("- load generator: {version}; {}", tools.wrk_origin)),
        Err(why) => report.line(format!("- load generator: none ({why})")),
    }
    report.line(format!("- pinning: {}", tools.pin_note));
    report.line(format!(
        "- baseline: `{}` ({}), `http.server.ThreadingHTTPServer`",
        tools.python,
        python_version.lines().next().unwrap_or("")
    ));
    report.line("");
}

#[derive(Clone, Copy)]
enum Core {
    Server,
    Load,
}

/// `program` on its core when we can pin, so server and load generator never share one.
fn on_core(tools: &Tools, core: Core, program: &str) -> Command {
    if !tools.pinned {
        return Command::new(program);
    }
    let cpu = match core {
        Core::Server => "0",
        Core::Load => "1",
    };
    let mut cmd = Command::new("taskset");
    // taskset execs the program: the pid we get is the server's own, for /proc and kill.
    cmd.args(["-c", cpu, program]);
    cmd
}

// ---------------------------------------------------------------------------------------------
// The endpoints under load

/// A readiness endpoint we started on 127.0.0.1:`port`, and what stops it cleanly.
struct Endpoint {
    label: &'static str,
    port: u16,
    proc: Watched,
    /// All its work on one long-lived thread (bootgate's current-thread runtime), so the live
    /// threads' schedstat covers it; python's per-connection threads take theirs when they exit.
    one_thread: bool,
    _dir: Option<TempDir>,
}

impl Endpoint {
    /// `bootgate sidecar` with the secret check and `extra` YAML, returned once it logs ready.
    fn sidecar(tools: &Tools, extra: &str) -> Endpoint {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        Endpoint::sidecar_in(tools, dir, extra, "bootgate sidecar")
    }

    /// [`Endpoint::sidecar`] with its state_dir in `dir`, which may hold the gate's status.json.
    fn sidecar_in(tools: &Tools, dir: TempDir, extra: &str, what: &'static str) -> Endpoint {
        let port = free_port();
        let text = format!(
            "listen: \"127.0.0.1:{port}\"\nstate_dir: {}\ndrain: 100ms\nchecks:\n  \
             k: {{kind: secret, env: {SECRET_VAR}}}\n{}",
            dir.path().join("state").display(),
            extra.replace("{port}", &port.to_string()),
        );
        let config = dir.path().join("bootgate.yaml");
        fs::write(&config, text).expect("write the sidecar config");
        let mut cmd = on_core(tools, Core::Server, BIN);
        cmd.arg("sidecar").arg("--config").arg(&config);
        cmd.env(SECRET_VAR, SECRET_VALUE);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("BOOTGATE_") {
                cmd.env_remove(name);
            }
        }
        let mut proc = Watched::spawn(cmd, what);
        proc.wait_for_line("readiness: starting -> ready");
        Endpoint {
            label: "bootgate",
            port,
            proc,
            one_thread: true,
            _dir: Some(dir),
        }
    }

    /// `bootgate sidecar` after a gate of [`GATE_CHECKS`] checks, each with [`EVENTS_EACH`]
    /// attempt events on its timeline (a status.json as the gate writes one), and a sentinel
    /// that asks the guard's own `/livez`: a `/status` page with everything on it.
    fn sidecar_after_a_gate(tools: &Tools) -> Endpoint {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let state = dir.path().join("state");
        fs::create_dir_all(&state).expect("create the state_dir");
        let checks: Vec<serde_json::Value> = (0..GATE_CHECKS)
            .map(|i| {
                let events: Vec<serde_json::Value> = (1..=EVENTS_EACH)
                    .map(|a| serde_json::json!({"at_ms": a as f64 * 50.0, "event": "failed", "attempt": a}))
                    .collect();
                serde_json::json!({
                    "name": format!("check-{i}"), "kind": "http",
                    "target": format!("GET http://dependency-{i}.internal:8080/health"),
                    "state": "passed", "on_fail": "require",
                    "after": if i > 0 { vec![format!("check-{}", i - 1)] } else { vec![] },
                    "attempts": EVENTS_EACH + 1, "stalls": 0,
                    "started_ms": i as f64 * 1000.0, "finished_ms": (i + 1) as f64 * 1000.0,
                    "last_error": "status 503: the dependency is still starting",
                    "events": events,
                })
            })
            .collect();
        let status = serde_json::json!({
            "started_at": "2026-12-05T07:00:00.000Z", "outcome": "passed",
            "deadline_ms": 600000, "elapsed_ms": GATE_CHECKS as f64 * 1000.0, "checks": checks,
        });
        fs::write(state.join("status.json"), status.to_string()).expect("write status.json");
        // `{port}` is the guard's own: its sentinel asks its `/livez`.
        let extra = format!(
            "pins: {{model: llama-3.1-8b-instruct, revision: 0e9e39f249a16976918f6564b8830bc894c89659}}\n\
             sentinel:\n  interval: {STATUS_ROUNDS_EVERY}\n  success_threshold: 1\n  hold: 0s\n  pulse: off\n  queries:\n    \
             - {{name: completion, url: \"http://127.0.0.1:{{port}}/livez\"}}\n"
        );
        Endpoint::sidecar_in(tools, dir, &extra, "bootgate sidecar after a gate")
    }

    /// The minimal Python endpoint, returned once it has bound its port.
    fn python(tools: &Tools) -> Endpoint {
        let port = free_port();
        let mut cmd = on_core(tools, Core::Server, &tools.python);
        cmd.args(["-c", PYTHON_ENDPOINT]).arg(port.to_string());
        let mut proc = Watched::spawn(cmd, "python3 ThreadingHTTPServer");
        proc.wait_for_line("listening");
        Endpoint {
            label: "python3",
            port,
            proc,
            one_thread: false,
            _dir: None,
        }
    }

    fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// SIGTERM, then exit 0: bootgate after its 100 ms drain, python through its handler.
    fn stop(mut self) {
        let status = self.proc.terminate();
        self.proc.expect_success(status);
    }
}

/// GET /readyz answers 200 "ok", HTTP/1.1 with Content-Length so keep-alive works, and no log
/// line per request. Three settings keep it from being timed for its defaults rather than for
/// python, each matching what bootgate does:
/// - TCP_NODELAY (bootgate sets it too): http.server sends the head and the body in two writes,
///   and with Nagle on the body waits for the client's delayed ACK, 40 ms on Linux;
/// - `Connection: close` echoed when asked: otherwise wrk takes the answer for keep-alive,
///   writes its next request into a closing socket and counts a read error on every request;
/// - a listen backlog of 128, not 5: 64 connections opening at once would drop SYNs.
///
/// SIGTERM exits 0, so the baseline's exit is checked like bootgate's.
const PYTHON_ENDPOINT: &str = r#"
import signal, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        code, body = (200, b"ok") if self.path == "/readyz" else (404, b"not found")
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

class Server(ThreadingHTTPServer):
    request_queue_size = 128

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
sys.stderr.write("listening\n")
sys.stderr.flush()
server.serve_forever()
"#;

/// The size of one `/status` page, asked from loopback (reasons included).
fn status_page_bytes(port: u16) -> usize {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect to the guard");
    conn.write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .expect("send GET /status");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("read the page");
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    assert!(
        body.contains("id=timeline"),
        "not the status page:\n{answer}"
    );
    body.len()
}

/// One plain GET before any load: a server that answers 503 or 404 would be timed for nothing.
fn expect_ok(endpoint: &Endpoint) {
    let mut conn =
        TcpStream::connect(("127.0.0.1", endpoint.port)).expect("connect to the endpoint");
    conn.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("set a read timeout");
    conn.write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .expect("send GET /readyz");
    let _ = conn.shutdown(Shutdown::Write);
    let mut answer = String::new();
    conn.read_to_string(&mut answer)
        .expect("read the /readyz answer");
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("\r\n\r\nok"),
        "{} did not answer GET /readyz with 200 ok:\n{answer}",
        endpoint.label
    );
}

// ---------------------------------------------------------------------------------------------
// wrk

/// One wrk run's shape.
struct Load {
    path: &'static str,
    connections: u32,
    duration: Duration,
    /// `Connection: close` on every request: a new TCP connection each time.
    close: bool,
}

/// What wrk reported.
struct WrkRun {
    requests: u64,
    rate: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// wrk's "Socket errors" line, when it printed one.
    socket_errors: Option<String>,
}

/// Runs wrk on its core against the load's path; panics on a non-2xx answer or a run that overstays.
fn run_wrk(tools: &Tools, port: u16, load: &Load) -> WrkRun {
    let mut cmd = on_core(tools, Core::Load, "wrk");
    cmd.args(["-t1", "--latency", "--timeout", WRK_TIMEOUT])
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.duration.as_secs()));
    if load.close {
        cmd.args(["-H", "Connection: close"]);
    }
    cmd.arg(format!("http://127.0.0.1:{port}{}", load.path));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start wrk ({cmd:?}): {e}"));
    // wrk prints a few hundred bytes at the very end: no pipe can fill before it exits.
    let status = wait_bounded(&mut child, load.duration + WRK_GRACE)
        .unwrap_or_else(|| panic!("wrk ran past {:?}; killed it", load.duration + WRK_GRACE));
    let mut out = String::new();
    let mut err = String::new();
    let _ = child.stdout.take().expect("piped").read_to_string(&mut out);
    let _ = child.stderr.take().expect("piped").read_to_string(&mut err);
    assert!(
        status.success(),
        "wrk ({cmd:?}) exited with {status}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
    );
    let run = parse_wrk(&out).unwrap_or_else(|| panic!("cannot read wrk's output:\n{out}"));
    let non_2xx = field_after(&out, "Non-2xx or 3xx responses:").unwrap_or(0.0);
    assert!(
        non_2xx == 0.0 && run.requests > 0,
        "wrk got {non_2xx} non-2xx answers out of {} requests:\n{out}",
        run.requests
    );
    run
}

/// Reads the figures out of wrk's `--latency` report.
fn parse_wrk(out: &str) -> Option<WrkRun> {
    let mut requests = None;
    let mut p50 = None;
    let mut p99 = None;
    let mut max = None;
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            // "Latency   635.91us  0.89ms  12.92ms  93.69%": avg, stdev, max, ± stdev.
            ["Latency", _avg, _stdev, top, _] => max = wrk_duration(top),
            ["50%", value] => p50 = wrk_duration(value),
            ["99%", value] => p99 = wrk_duration(value),
            // "1119375 requests in 10.01s, 132.31MB read"
            [count, "requests", "in", ..] => requests = count.parse().ok(),
            _ => {}
        }
    }
    Some(WrkRun {
        requests: requests?,
        rate: field_after(out, "Requests/sec:")?,
        p50: p50?,
        p99: p99?,
        max: max?,
        socket_errors: out
            .lines()
            .find_map(|l| l.trim().strip_prefix("Socket errors:"))
            .map(|e| e.trim().to_string()),
    })
}

/// The number after `label` on the line that holds it.
fn field_after(out: &str, label: &str) -> Option<f64> {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// wrk prints times as `250.00us`, `1.25ms`, `2.00s`, `1.00m`.
fn wrk_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let seconds = match unit {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}

// ---------------------------------------------------------------------------------------------
// 1 + 2. Throughput and latency

/// Rows 1 and 2 for both endpoints; returns bootgate's keep-alive rate, to size row 3's runs.
fn throughput_section(report: &mut Report, tools: &Tools) -> f64 {
    let keep_alive = Load {
        path: "/readyz",
        connections: KEEP_ALIVE_CONNECTIONS,
        duration: RUN,
        close: false,
    };
    let close = Load {
        path: "/readyz",
        connections: CLOSE_CONNECTIONS,
        duration: RUN,
        close: true,
    };
    // One endpoint at a time: each is stopped before the next starts, so neither steals CPU 0.
    let (gate_ka, gate_cl) = both_rows(tools, Endpoint::sidecar(tools, ""), &keep_alive, &close);
    let (py_ka, py_cl) = both_rows(tools, Endpoint::python(tools), &keep_alive, &close);
    let status_page = Load {
        path: "/status",
        ..close
    };
    let page = Endpoint::sidecar_after_a_gate(tools);
    expect_ok(&page);
    let page_cl = measured(tools, &page, &status_page);
    let page_bytes = status_page_bytes(page.port);
    page.stop();
    let results = [
        ("bootgate", &gate_ka, &gate_cl),
        ("python3", &py_ka, &py_cl),
    ];

    report.line("## 1 + 2. Throughput and latency of GET /readyz");
    report.line("");
    report.line(format!(
        "wrk, 1 thread, {} s per run. Row 1: {KEEP_ALIVE_CONNECTIONS} kept-alive connections. \
         Row 2: {CLOSE_CONNECTIONS} connections with `Connection: close`, i.e. a new TCP \
         connection per request, as the kubelet probes. Latency is wrk's, per request (row 2: \
         from request sent, after connect). Server pinned as stated above. `server CPU`: its \
         utime + stime during the run (10 s = its core saturated). `server waited for CPU`: \
         time it was runnable but not running (schedstat), i.e. other processes on its core on \
         this shared machine; bootgate only, as python's per-connection threads take theirs \
         with them when they exit.",
        RUN.as_secs()
    ));
    report.line("");
    report.line(
        "| row | server | req/s | p50 | p99 | max | requests | socket errors | server CPU | \
         server waited for CPU |",
    );
    report.line("|---|---|---|---|---|---|---|---|---|---|");
    for (label, ka, cl) in results {
        wrk_row(report, "1. keep-alive, 64 conns", label, ka);
        wrk_row(report, "2. new conn per request, 16 conns", label, cl);
    }
    wrk_row(
        report,
        "2b. GET /status, new conn per request, 16 conns",
        "bootgate",
        &page_cl,
    );
    report.line("");
    report.line(format!(
        "Row 2b asks for the operator's page instead: {GATE_CHECKS} gate checks with \
         {EVENTS_EACH} attempt events each, and the sentinel's latest rounds (it asks the \
         guard's own `/livez` every {STATUS_ROUNDS_EVERY}), {page_bytes} bytes a page."
    ));
    report.line("");
    report.line("| row | req/s, bootgate ÷ python | p99, bootgate ÷ python (< 1 is better) |");
    report.line("|---|---|---|");
    for (row, gate, py) in [
        ("1. keep-alive", &gate_ka, &py_ka),
        ("2. new conn", &gate_cl, &py_cl),
    ] {
        let (gate, py) = (&gate.wrk, &py.wrk);
        report.line(format!(
            "| {row} | {:.2}× | {:.2}× |",
            gate.rate / py.rate.max(1e-9),
            gate.p99.as_secs_f64() / py.p99.as_secs_f64().max(1e-9)
        ));
    }
    report.line("");
    little_note(report, &gate_ka);
    report.verdict(
        "/status p99, new conn per request, 16 conns",
        lat(page_cl.wrk.p99),
        &format!("< {}", lat(TARGET_P99)),
        page_cl.wrk.p99 < TARGET_P99,
    );
    report.verdict(
        "keep-alive req/s on one core",
        format!("{:.0}", gate_ka.wrk.rate),
        &format!("≥ {TARGET_RATE:.0}"),
        gate_ka.wrk.rate >= TARGET_RATE,
    );
    report.verdict(
        "p99 at 64 keep-alive connections",
        lat(gate_ka.wrk.p99),
        &format!("< {}", lat(TARGET_P99)),
        gate_ka.wrk.p99 < TARGET_P99,
    );
    gate_ka.wrk.rate
}

/// wrk keeps every connection busy (a closed loop), so by Little's law the mean latency is
/// connections ÷ rate whatever the server does: say so beside a p99 target at 64 connections.
fn little_note(report: &mut Report, keep_alive: &Row) {
    let c = f64::from(KEEP_ALIVE_CONNECTIONS);
    let mean = Duration::from_secs_f64(c / keep_alive.wrk.rate.max(1.0));
    let needed = c / TARGET_P99.as_secs_f64();
    report.line(format!(
        "Row 1 is a closed loop: each of the {KEEP_ALIVE_CONNECTIONS} connections sends its next \
         request as soon as the last is answered, so the mean latency is {KEEP_ALIVE_CONNECTIONS} \
         ÷ req/s (Little's law) = {} at bootgate's rate. A mean under {} alone needs more than \
         {needed:.0} req/s; a p99 under it needs more still, or a lighter, open-loop load.",
        lat(mean),
        lat(TARGET_P99)
    ));
    report.line("");
}

/// Rows 1 and 2 against one endpoint, which is checked first and stopped (exit 0) after.
fn both_rows(tools: &Tools, endpoint: Endpoint, keep_alive: &Load, close: &Load) -> (Row, Row) {
    expect_ok(&endpoint);
    let ka = measured(tools, &endpoint, keep_alive);
    let cl = measured(tools, &endpoint, close);
    endpoint.stop();
    (ka, cl)
}

/// One wrk run, and what the server used meanwhile.
struct Row {
    wrk: WrkRun,
    /// utime + stime, exited threads included.
    cpu: Duration,
    /// Time runnable but not running (schedstat's second field): on a shared machine, the part
    /// of the latency that other processes on the server's core caused.
    waited: Option<Duration>,
}

fn measured(tools: &Tools, endpoint: &Endpoint, load: &Load) -> Row {
    let how = if load.close {
        "Connection: close"
    } else {
        "keep-alive"
    };
    eprintln!(
        "load: {} {how}, {} connections, {} s",
        endpoint.label,
        load.connections,
        load.duration.as_secs()
    );
    let pid = endpoint.pid();
    let before = ServerSample::take(pid);
    let wrk = run_wrk(tools, endpoint.port, load);
    let after = ServerSample::take(pid);
    let ticks = after.ticks.saturating_sub(before.ticks);
    Row {
        wrk,
        cpu: Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64),
        waited: match (before.run_delay_ns, after.run_delay_ns) {
            (Some(a), Some(b)) if endpoint.one_thread => {
                Some(Duration::from_nanos(b.saturating_sub(a)))
            }
            _ => None,
        },
    }
}

struct ServerSample {
    ticks: u64,
    run_delay_ns: Option<u64>,
}

impl ServerSample {
    fn take(pid: u32) -> ServerSample {
        let [utime, stime, _, _] = stat_times(pid);
        ServerSample {
            ticks: utime + stime,
            run_delay_ns: schedstat_sum(pid, 1),
        }
    }
}

fn wrk_row(report: &mut Report, row: &str, label: &str, run: &Row) {
    let wrk = &run.wrk;
    report.line(format!(
        "| {row} | {label} | {:.0} | {} | {} | {} | {} | {} | {:.1} s | {} |",
        wrk.rate,
        lat(wrk.p50),
        lat(wrk.p99),
        lat(wrk.max),
        wrk.requests,
        wrk.socket_errors.as_deref().unwrap_or("none"),
        run.cpu.as_secs_f64(),
        run.waited.map_or("–".into(), |w| format!(
            "{:.0} ms",
            w.as_secs_f64() * 1000.0
        )),
    ));
}

// ---------------------------------------------------------------------------------------------
// 3. RSS over a million requests

/// VmRSS fresh, after a short warm-up, and after each step of ≥ RSS_REQUESTS more keep-alive
/// requests: the steps tell a one-time cost (a plateau) from a leak (a slope).
fn rss_section(report: &mut Report, tools: &Tools, rate_hint: f64) {
    eprintln!(
        "rss: {RSS_REQUESTS} keep-alive requests after a {} s warm-up, at most {} s in all",
        RSS_WARM_UP.as_secs(),
        RSS_TIME_CAP.as_secs()
    );
    let gate = Endpoint::sidecar(tools, "");
    expect_ok(&gate);
    let pid = gate.pid();
    let idle_fds = fd_count(pid);
    let fresh = vm_kib(pid, "VmRSS:");
    let began = Instant::now();

    let warm_up = run_wrk(tools, gate.port, &keep_alive_for(RSS_WARM_UP));
    settle(pid, idle_fds);
    let warm = vm_kib(pid, "VmRSS:");
    let steps = load_in_steps(tools, &gate, idle_fds, began, rate_hint.max(warm_up.rate));
    let peak = vm_kib(pid, "VmHWM:");
    let took = began.elapsed();
    gate.stop();

    let (sent, after) = steps.last().copied().unwrap_or((0, warm));
    let growth = (after as f64 - fresh as f64) / 1024.0;
    let warm_growth = (after as f64 - warm as f64) / 1024.0;
    let enough = sent >= RSS_REQUESTS;
    report.line("## 3. RSS of the sidecar over a million requests");
    report.line("");
    report.line(format!(
        "A fresh sidecar; VmRSS from /proc/PID/status, read after each wrk run once every \
         connection was closed again (fd count back to idle). Keep-alive, \
         {KEEP_ALIVE_CONNECTIONS} connections: a {} s warm-up, then {} runs of about {RSS_STEP} \
         requests, {:.0} s in all (cap {} s).",
        RSS_WARM_UP.as_secs(),
        steps.len(),
        took.as_secs_f64(),
        RSS_TIME_CAP.as_secs()
    ));
    report.line("");
    report.line("| point | requests after warm-up | VmRSS | change |");
    report.line("|---|---|---|---|");
    report.line(format!("| fresh, ready | – | {} | – |", mib(fresh)));
    report.line(format!(
        "| after warm-up ({} requests) | 0 | {} | {:+.3} MiB |",
        warm_up.requests,
        mib(warm),
        (warm as f64 - fresh as f64) / 1024.0
    ));
    let mut previous = warm;
    for (i, (count, rss)) in steps.iter().enumerate() {
        report.line(format!(
            "| after run {} | {count} | {} | {:+.3} MiB |",
            i + 1,
            mib(*rss),
            (*rss as f64 - previous as f64) / 1024.0
        ));
        previous = *rss;
    }
    report.line("");
    report.line(format!(
        "Growth fresh → end: {growth:+.3} MiB; after warm-up → end ({sent} requests): \
         {warm_growth:+.3} MiB; peak (VmHWM): {}.",
        mib(peak)
    ));
    report.line("");
    // A leak shows as growth while the same load goes on; the warm-up's burst of 64
    // simultaneous connections sets the allocator's working set once, and is shown beside it.
    report.verdict(
        "RSS growth over ≥ 1,000,000 requests (after warm-up → end)",
        if enough {
            format!("{warm_growth:+.3} MiB (from fresh, warm-up included: {growth:+.3} MiB)")
        } else {
            format!("only {sent} requests in {} s", RSS_TIME_CAP.as_secs())
        },
        &format!("< {TARGET_RSS_GROWTH_MIB} MiB"),
        enough && warm_growth < TARGET_RSS_GROWTH_MIB,
    );
}

fn keep_alive_for(duration: Duration) -> Load {
    Load {
        path: "/readyz",
        connections: KEEP_ALIVE_CONNECTIONS,
        duration,
        close: false,
    }
}

/// Keep-alive wrk runs of about RSS_STEP requests each (sized from the latest rate, 10 % to
/// spare) until RSS_REQUESTS are sent, the time cap (counted from `began`) is reached, or
/// RSS_MAX_RUNS have run. Returns (requests so far, VmRSS in KiB) after each run.
fn load_in_steps(
    tools: &Tools,
    gate: &Endpoint,
    idle_fds: usize,
    began: Instant,
    mut rate: f64,
) -> Vec<(u64, u64)> {
    let mut sent = 0;
    let mut steps = Vec::new();
    while sent < RSS_REQUESTS && steps.len() < RSS_MAX_RUNS {
        let left = RSS_TIME_CAP.saturating_sub(began.elapsed()).as_secs();
        if left < 1 {
            break;
        }
        let step = RSS_STEP.min(RSS_REQUESTS - sent) as f64;
        let secs = ((step / rate.max(1.0) * 1.1).ceil() as u64).clamp(1, left);
        eprintln!("rss: wrk for {secs} s ({sent} requests so far)");
        let run = run_wrk(tools, gate.port, &keep_alive_for(Duration::from_secs(secs)));
        sent += run.requests;
        rate = run.rate;
        settle(gate.pid(), idle_fds);
        steps.push((sent, vm_kib(gate.pid(), "VmRSS:")));
    }
    steps
}

/// Waits (at most 2 s) until the server holds no more fds than when idle: its connections, and
/// the buffers they hold, are gone, so what RSS remains is what stays.
fn settle(pid: u32, idle_fds: usize) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while fd_count(pid) > idle_fds {
        if Instant::now() >= deadline {
            eprintln!(
                "note: pid {pid} still holds {} fds (idle: {idle_fds})",
                fd_count(pid)
            );
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn fd_count(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("list /proc/{pid}/fd: {e}"))
        .count()
}

// ---------------------------------------------------------------------------------------------
// 4. Idle CPU with a sentinel

/// CPU the sidecar burns between probes while its sentinel asks a model every 10 s.
fn idle_section(report: &mut Report, tools: &Tools) {
    eprintln!(
        "idle: sentinel every {SENTINEL_INTERVAL}, CPU over {} s",
        IDLE_WINDOW.as_secs()
    );
    let model = LoopbackServer::start(0, MODEL_RESPONSE);
    let sentinel = format!(
        "sentinel:\n  interval: {SENTINEL_INTERVAL}\n  timeout: 1s\n  success_threshold: 1\n  \
         failure_threshold: 1\n  hold: 0s\n  queries:\n    \
         - {{name: ping, url: \"http://127.0.0.1:{}/health\"}}\n",
        model.port
    );
    let gate = Endpoint::sidecar(tools, &sentinel);
    let pid = gate.pid();
    let (start_ns, start_hits, start_at) = (schedstat_sum(pid, 0), model.hits(), Instant::now());
    thread::sleep(IDLE_WINDOW);
    let (end_ns, end_hits, window) = (schedstat_sum(pid, 0), model.hits(), start_at.elapsed());
    let threads = fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |tasks| tasks.count());
    let rss = vm_kib(pid, "VmRSS:");
    gate.stop();
    drop(model);

    let per_min = 60.0 / window.as_secs_f64();
    let cpu = match (start_ns, end_ns) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / 1e6 * per_min),
        _ => None,
    };
    report.line("## 4. Idle CPU with a sentinel");
    report.line("");
    report.line(format!(
        "A sidecar whose sentinel asks a loopback model (a Rust thread answering 200 \
         `{{\"ok\":true}}`) every {SENTINEL_INTERVAL}, no probes. CPU is the sum of the first \
         field of /proc/PID/task/*/schedstat (ns on CPU) over {:.1} s, scaled to a minute.",
        window.as_secs_f64()
    ));
    report.line("");
    report.line("| CPU ms/min | sentinel queries in window | threads | VmRSS |");
    report.line("|---|---|---|---|");
    report.line(format!(
        "| {} | {} | {threads} | {} |",
        cpu.map_or("schedstat unavailable".into(), |v| format!("{v:.2}")),
        end_hits - start_hits,
        mib(rss)
    ));
    report.line("");
    report.verdict(
        "idle CPU, sentinel every 10 s",
        cpu.map_or("unmeasured (no schedstat)".into(), |v| {
            format!("{v:.2} ms/min")
        }),
        &format!("< {TARGET_IDLE_MS_PER_MIN} ms/min"),
        cpu.is_some_and(|v| v < TARGET_IDLE_MS_PER_MIN),
    );
}

const MODEL_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
content-length: 11\r\nconnection: close\r\n\r\n{\"ok\":true}";

// ---------------------------------------------------------------------------------------------
// A child process whose stderr lines we watch
