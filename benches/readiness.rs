//! Measures how the guard's `/readyz` follows a model server that dies, hangs, comes back and
//! blips, and what the guard costs while all is well: for the binary under test and a previous
//! one, side by side in the same run, beside the kubelet's default probe as a computed reference.
//!
//! Run with `cargo bench --bench readiness`. `BOOTGATE_PREVIOUS_BIN=/path/to/bootgate` adds the
//! previous binary's columns (without it they are left out, and the report says so);
//! `BOOTGATE_BIN` replaces the binary under test (default: this build's release binary);
//! `BENCH_SEED` replays the same random phases. The Markdown report goes to stdout as it is
//! produced and, whole, to `target/bench-readiness.md`; progress notes go to stderr.
//!
//! The model server is `tests/fixtures/model_server.py`, a process of its own on 127.0.0.1, so
//! that what happens to real ones can be done to it: SIGKILL (the kernel closes its sockets),
//! SIGSTOP (the kernel still accepts, nobody answers), completions that hang while the rest
//! answers, and isolated failures. Every guard runs the same config, the sentinel's defaults with
//! one completion query, so a difference in a row is a difference in the binaries. Every event
//! is preceded by a 200 from `/readyz`, every process is killed when the bench ends however it
//! ends, and a guard that never reacts stops the bench with its log.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use tempfile::TempDir;

mod support;
use support::*;

const MODEL_SERVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/model_server.py"
);

/// Trials per event and binary.
const TRIALS: usize = 20;
/// Lanes per binary, run side by side: each a model server and a guard of its own, taking its
/// share of the trials one after another. With the sentinel's defaults one trial of the three
/// events takes about 150 s, so 20 in a row would take 50 minutes.
const LANES: usize = 5;
/// The sentinel's defaults, which every config here keeps: the events fall at a random moment
/// within one interval, since the time to notice depends on where in its schedule the guard is.
const INTERVAL: Duration = Duration::from_secs(10);
const TIMEOUT: Duration = Duration::from_secs(5);
/// Between two `/readyz` asks while a reaction is timed, and while one is only awaited.
const POLL: Duration = Duration::from_millis(5);
const SLOW_POLL: Duration = Duration::from_millis(50);
/// The longest any verdict may take before the bench calls the guard broken: past the defaults'
/// worst case (a hang seen after 35 s, recovery after 20 s).
const VERDICT_LIMIT: Duration = Duration::from_secs(120);
/// The first ready waits for the default 30 s hold, and on a loaded machine for its rounds.
const FIRST_READY_LIMIT: Duration = Duration::from_secs(120);
/// An event the guard was not ready for is tried again, at most this many times in a row.
const REDOS: usize = 3;
/// Flaps: rounds counted at the model server, the sentinel's interval for them (the default
/// would take three hours), and the share of rounds that fail, never two in a row.
const FLAP_ROUNDS: u64 = 1000;
const FLAP_INTERVAL: &str = "100ms";
const FLAP_RATE: &str = "0.1";
const FLAP_LIMIT: Duration = Duration::from_secs(600);
const IDLE_WINDOW: Duration = Duration::from_secs(60);
/// What an answer from 127.0.0.1 may take before the bench calls the server broken.
const ANSWER_LIMIT: Duration = Duration::from_secs(2);

/// The kubelet's readinessProbe defaults: periodSeconds, failureThreshold, timeoutSeconds.
const KUBELET_PERIOD: Duration = Duration::from_secs(10);
const KUBELET_FAILURES: u32 = 3;
const KUBELET_TIMEOUT: Duration = Duration::from_secs(1);

/// Targets for the binary under test, each on the worst trial.
const DEFINITIVE_TARGET: Duration = Duration::from_secs(3);
const HANG_ALL_TARGET: Duration = TIMEOUT.saturating_add(Duration::from_secs(3));
const HANG_TARGET: Duration = INTERVAL
    .saturating_add(TIMEOUT)
    .saturating_add(Duration::from_secs(1));
const RECOVERY_TARGET: Duration = Duration::from_secs(3);
const TARGET_IDLE_MS_PER_MIN: f64 = 30.0;

fn main() {
    let began = Instant::now();
    let mut report = Report::new("bench-readiness.md");
    let mut rng = Rng::from_env_or_clock();
    let python = python_executable();
    let (new, previous) = binaries();
    let binaries: Vec<&Binary> = std::iter::once(&new).chain(previous.as_ref()).collect();

    machine_facts(&mut report, &rng, &python, &new, previous.as_ref());
    let detection = detect_all(&binaries, &python, &mut rng);
    detection_section(&mut report, &detection);

    // The idle guards start now so that their first ready's hold passes during the flaps.
    let idle_ports = quiet_ports(binaries.len(), &mut rng);
    let idlers: Vec<Idler<'_>> = binaries
        .iter()
        .zip(idle_ports)
        .map(|(bin, port)| Idler::start(bin, &python, port))
        .collect();
    let flaps = flap_all(&binaries, &python, &mut rng);
    flap_section(&mut report, &flaps);
    let idle = measure_idle(idlers);
    idle_section(&mut report, &idle);

    report.line(format!(
        "The whole bench took {:.1} min.",
        began.elapsed().as_secs_f64() / 60.0
    ));
    report.line("");
    report.finish();
}

// ---------------------------------------------------------------------------------------------
// The binaries and the machine

struct Binary {
    /// `new` or `previous`, as the report's columns say.
    name: &'static str,
    path: PathBuf,
}

/// The binary under test and, when `BOOTGATE_PREVIOUS_BIN` names one, the previous binary.
fn binaries() -> (Binary, Option<Binary>) {
    let named = |var: &str| std::env::var_os(var).map(PathBuf::from);
    let new = Binary {
        name: "new",
        path: named("BOOTGATE_BIN").unwrap_or_else(|| PathBuf::from(BIN)),
    };
    let previous = named("BOOTGATE_PREVIOUS_BIN").map(|path| Binary {
        name: "previous",
        path,
    });
    for bin in std::iter::once(&new).chain(previous.as_ref()) {
        assert!(
            bin.path.is_file(),
            "the {} binary {} is not a file (BOOTGATE_BIN, BOOTGATE_PREVIOUS_BIN)",
            bin.name,
            bin.path.display()
        );
    }
    (new, previous)
}

fn machine_facts(
    report: &mut Report,
    rng: &Rng,
    python: &str,
    new: &Binary,
    previous: Option<&Binary>,
) {
    let loadavg = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    report.line("# bootgate readiness benchmark");
    report.line("");
    report.line(
        "Reproduce: `BOOTGATE_PREVIOUS_BIN=/path/to/previous/bootgate cargo bench --bench \
         readiness` (`BOOTGATE_BIN` replaces the binary under test; `BENCH_SEED` replays the \
         same random phases)",
    );
    report.line("");
    report.line(format!("- new binary: `{}`", new.path.display()));
    match previous {
        Some(bin) => report.line(format!("- previous binary: `{}`", bin.path.display())),
        None => report.line(
            "- previous binary: none (`BOOTGATE_PREVIOUS_BIN` is not set): its columns are left \
             out",
        ),
    }
    report.line(format!("- nproc: {}", command_output("nproc", &[])));
    report.line(format!("- loadavg at start: {}", loadavg.trim()));
    report.line(format!("- CPU: {}", cpu_model()));
    report.line(format!("- kernel: {}", command_output("uname", &["-sr"])));
    report.line(format!(
        "- model server: `tests/fixtures/model_server.py` on `{python}` ({})",
        command_output(python, &["-c", "import sys; print(sys.version.split()[0])"])
    ));
    report.line(format!("- random seed: {}", rng.seed));
    report.line("");
}

// ---------------------------------------------------------------------------------------------
// The model server

/// The fixture's model server as a child process, on a port that stays its own across restarts.
struct Model {
    port: u16,
    proc: Watched,
    python: String,
}

impl Model {
    /// Returns once it accepts connections.
    fn start(python: &str, port: u16) -> Model {
        let mut cmd = Command::new(python);
        cmd.arg(MODEL_SERVER).arg("--port").arg(port.to_string());
        let mut proc = Watched::spawn_merged(cmd, "model server");
        let line = proc.wait_for_line("listening ");
        let said: Option<u16> = line.rsplit(' ').next().and_then(|p| p.parse().ok());
        if said != Some(port) {
            proc.fail(&format!("asked for port {port}, it said {line:?}"));
        }
        Model {
            port,
            proc,
            python: python.to_string(),
        }
    }

    /// A new server on the same port, after [`Model::kill`]; returns the moment it accepts.
    fn restart(&mut self) -> Instant {
        *self = Model::start(&self.python, self.port);
        Instant::now()
    }

    fn kill(&mut self) {
        self.proc.kill();
    }

    fn signal(&mut self, signal: Signal) {
        let pid = Pid::from_raw(self.proc.pid() as i32).expect("a child's pid is positive");
        if let Err(e) = kill_process(pid, signal) {
            self.proc.fail(&format!("sending {signal:?} failed: {e}"));
        }
    }

    /// `POST /control`: `ok`, `hang`, `flaky P SEED`, as the fixture's docstring says.
    fn control(&mut self, words: &str) {
        match http(self.port, "POST", "/control", words) {
            Ok((200, _)) => {}
            other => self
                .proc
                .fail(&format!("POST /control {words:?} answered {other:?}")),
        }
    }

    /// Requests seen so far: (completions, any other request, this one included).
    fn stats(&mut self) -> (u64, u64) {
        let answer = http(self.port, "GET", "/stats", "");
        let counts = answer.as_ref().ok().and_then(|(status, body)| {
            let json: serde_json::Value = serde_json::from_str(body).ok()?;
            let count = |key: &str| json.get(key).and_then(serde_json::Value::as_u64);
            (*status == 200).then_some((count("completions")?, count("other")?))
        });
        counts.unwrap_or_else(|| {
            self.proc
                .fail(&format!("GET /stats answered {answer:?}, not the counts"))
        })
    }
}

/// Free ports below the kernel's ephemeral range, one for each model server. A dead model's
/// port stays unbound until the restart, and meanwhile the guard keeps dialling it: an
/// ephemeral port could be handed to one of those dials as its own source (a TCP self-connect)
/// or to any other outgoing connection, and the restart would find it taken.
fn quiet_ports(n: usize, rng: &mut Rng) -> Vec<u16> {
    let low: u16 = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let floor = low.saturating_sub(16384).max(1024);
    assert!(
        low > floor,
        "the ephemeral port range starts at {low}: no room below it for the model servers"
    );
    // Held until all are chosen, so that no two lanes get the same one.
    let mut held = Vec::new();
    for _ in 0..n * 100 {
        if held.len() == n {
            break;
        }
        let port = floor + (rng.next() % u64::from(low - floor)) as u16;
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            held.push(listener);
        }
    }
    assert_eq!(held.len(), n, "no {n} free ports found in {floor}..{low}");
    held.iter()
        .map(|l| l.local_addr().expect("a bound listener's address").port())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The guard

/// `bootgate sidecar` whose sentinel asks one model server, on a port the kernel picked.
struct Guard {
    port: u16,
    proc: Watched,
    _dir: TempDir,
}

impl Guard {
    /// The same config for every binary: the sentinel's defaults and one completion query;
    /// `tuning` adds sentinel keys (the flaps' interval).
    fn start(bin: &Binary, model_port: u16, tuning: &str) -> Guard {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let text = format!(
            "listen: \"127.0.0.1:0\"\nstate_dir: {}\ndrain: 100ms\nsentinel:\n{tuning}  queries:\n    \
             - name: completion\n      method: POST\n      \
             url: \"http://127.0.0.1:{model_port}/v1/completions\"\n      \
             body: '{{\"prompt\":\"2+2=\",\"max_tokens\":1}}'\n      expect: {{status: 200}}\n",
            dir.path().join("state").display()
        );
        let config = dir.path().join("bootgate.yaml");
        fs::write(&config, text).expect("write the guard's config");
        let mut cmd = Command::new(&bin.path);
        cmd.arg("sidecar").arg("--config").arg(&config);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("BOOTGATE_") {
                cmd.env_remove(name);
            }
        }
        let mut proc = Watched::spawn(cmd, "bootgate sidecar");
        let line = proc.wait_for_line("guard listening on");
        // `… guard listening on ADDR, serving URL…`
        let port = line
            .split_once("guard listening on ")
            .and_then(|(_, rest)| rest.split(',').next())
            .and_then(|address| address.rsplit(':').next())
            .and_then(|p| p.trim().parse().ok());
        let Some(port) = port else {
            proc.fail(&format!("no port at the end of {line:?}"))
        };
        Guard {
            port,
            proc,
            _dir: dir,
        }
    }

    fn readyz(&mut self) -> u16 {
        match http(self.port, "GET", "/readyz", "") {
            Ok((status, _)) => status,
            Err(e) => self.proc.fail(&format!("GET /readyz failed: {e}")),
        }
    }

    fn metrics(&mut self) -> String {
        match http(self.port, "GET", "/metrics", "") {
            Ok((200, body)) => body,
            other => self.proc.fail(&format!("GET /metrics answered {other:?}")),
        }
    }

    /// Asks `/readyz` every `poll` until it answers `want`; returns the time from `since` to that
    /// answer. Panics with the guard's log past `limit`.
    fn await_status(
        &mut self,
        want: u16,
        since: Instant,
        poll: Duration,
        limit: Duration,
        abort: &AtomicBool,
        after: &str,
    ) -> Duration {
        loop {
            stop_if_aborted(abort);
            let status = self.readyz();
            let took = since.elapsed();
            if status == want {
                return took;
            }
            if took > limit {
                self.proc.fail(&format!(
                    "/readyz still answered {status}, not {want}, {limit:?} after {after}"
                ));
            }
            thread::sleep(poll);
        }
    }

    /// Waits for the first 200, which the default hold puts 30 s after the first passing round.
    fn first_ready(&mut self, abort: &AtomicBool) {
        let started = Instant::now();
        self.await_status(
            200,
            started,
            SLOW_POLL,
            FIRST_READY_LIMIT,
            abort,
            "the guard started with a healthy model",
        );
    }

    /// SIGTERM, and the exit 0 a drained guard owes.
    fn stop(mut self) {
        let status = self.proc.terminate();
        self.proc.expect_success(status);
    }
}

/// One request on a connection of its own (`Connection: close`), as the kubelet probes: the
/// status and the body.
fn http(port: u16, method: &str, path: &str, body: &str) -> io::Result<(u16, String)> {
    let mut conn =
        TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), ANSWER_LIMIT)?;
    conn.set_read_timeout(Some(ANSWER_LIMIT))?;
    conn.set_write_timeout(Some(ANSWER_LIMIT))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3)?.parse().ok())
        .ok_or_else(|| io::Error::other(format!("not an HTTP answer: {head:?}")))?;
    Ok((status, body.to_string()))
}

/// The sum of a counter's samples whose labels include `label`, from a /metrics text; `None`
/// when no sample of a counter whose name contains `name` is there at all.
fn counter(metrics: &str, name: &str, label: &str) -> Option<u64> {
    let samples: Vec<&str> = metrics
        .lines()
        .filter(|line| {
            !line.starts_with('#')
                && line
                    .split(['{', ' '])
                    .next()
                    .is_some_and(|metric| metric.contains(name))
        })
        .collect();
    if samples.is_empty() {
        return None;
    }
    let sum = samples
        .iter()
        .filter(|line| line.contains(label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>();
    Some(sum as u64)
}

// ---------------------------------------------------------------------------------------------
// Lanes run side by side

/// Set by a lane that fails, so that the others stop at their next step instead of running on.
fn stop_if_aborted(abort: &AtomicBool) {
    if abort.load(Ordering::Relaxed) {
        panic!("stopped: another part of the bench failed (its message is above)");
    }
}

/// Raises the abort flag when the thread that holds it unwinds from a panic.
struct AbortOthersOnPanic<'a>(&'a AtomicBool);

impl Drop for AbortOthersOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// Sleeps `d`, waking every 100 ms to see whether the bench is stopping.
fn pause(d: Duration, abort: &AtomicBool) {
    let until = Instant::now() + d;
    loop {
        stop_if_aborted(abort);
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// Runs `work` for each item on a thread of its own and returns the results in order. A panic
/// in one stops the others (their processes are killed as they unwind) and then the bench.
fn side_by_side<T: Send, R: Send>(
    items: Vec<T>,
    work: impl Fn(T, &AtomicBool) -> R + Sync,
) -> Vec<R> {
    let abort = AtomicBool::new(false);
    let results: Vec<thread::Result<R>> = thread::scope(|s| {
        let handles: Vec<_> = items
            .into_iter()
            .map(|item| {
                let (abort, work) = (&abort, &work);
                s.spawn(move || {
                    let _flag = AbortOthersOnPanic(abort);
                    work(item, abort)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|_| panic!("a part of the bench failed: its message is above")))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Detection and recovery

#[derive(Default)]
struct Detection {
    name: &'static str,
    death: Vec<Duration>,
    hang_all: Vec<Duration>,
    hang: Vec<Duration>,
    recovery: Vec<Duration>,
    /// Events put off because `/readyz` was not 200 at their moment.
    redone: usize,
}

impl Detection {
    fn absorb(&mut self, other: Detection) {
        self.death.extend(other.death);
        self.hang_all.extend(other.hang_all);
        self.hang.extend(other.hang);
        self.recovery.extend(other.recovery);
        self.redone += other.redone;
    }
}

struct LanePlan<'a> {
    bin: &'a Binary,
    name: String,
    port: u16,
    trials: usize,
    rng: Rng,
}

/// Every binary's trials, its lanes and the other binary's side by side; one result per binary.
fn detect_all(binaries: &[&Binary], python: &str, rng: &mut Rng) -> Vec<Detection> {
    let ports = quiet_ports(binaries.len() * LANES, rng);
    let mut plans = Vec::new();
    for (b, bin) in binaries.iter().enumerate() {
        for lane in 0..LANES {
            plans.push(LanePlan {
                bin,
                name: format!("{} lane {}", bin.name, lane + 1),
                port: ports[b * LANES + lane],
                // Trials lane, lane + LANES, …: the first lanes take the remainder.
                trials: (TRIALS + LANES - 1 - lane) / LANES,
                rng: Rng::seeded(rng.next()),
            });
        }
    }
    eprintln!(
        "detection: {TRIALS} trials of each event per binary, {LANES} lanes per binary side by \
         side (a few minutes with a fast guard, about 10 with the sentinel's defaults)"
    );
    let mut lanes = side_by_side(plans, |plan, abort| run_lane(plan, python, abort)).into_iter();
    binaries
        .iter()
        .map(|bin| {
            let mut total = Detection {
                name: bin.name,
                ..Detection::default()
            };
            for lane in lanes.by_ref().take(LANES) {
                total.absorb(lane);
            }
            total
        })
        .collect()
}

/// One lane: a model server and a guard, and its trials one after another, each of the three
/// events and the recovery from death.
fn run_lane(mut plan: LanePlan<'_>, python: &str, abort: &AtomicBool) -> Detection {
    let mut model = Model::start(python, plan.port);
    let mut guard = Guard::start(plan.bin, model.port, "");
    guard.first_ready(abort);
    let mut got = Detection::default();
    let name = plan.name.clone();
    let mut lane = Lane {
        guard: &mut guard,
        rng: &mut plan.rng,
        abort,
        redone: 0,
    };
    for trial in 1..=plan.trials {
        lane.ready_at_random_moment();
        let killed = Instant::now();
        model.kill();
        let death = lane.react(503, killed, "SIGKILL of the model server");
        pause(lane.rng.up_to(INTERVAL), abort);
        let back = model.restart();
        let recovery = lane.react(200, back, "the model server's restart");

        lane.ready_at_random_moment();
        let stopped = Instant::now();
        model.signal(Signal::STOP);
        let hang_all = lane.react(503, stopped, "SIGSTOP of the model server");
        model.signal(Signal::CONT);
        lane.restored("SIGCONT of the model server");

        lane.ready_at_random_moment();
        let hung = Instant::now();
        model.control("hang");
        let hang = lane.react(503, hung, "POST /control hang");
        model.control("ok");
        lane.restored("POST /control ok");

        eprintln!(
            "{name}: trial {trial}/{}: death {}, recovery {}, hang-all {}, completions hang {}",
            plan.trials,
            secs(death),
            secs(recovery),
            secs(hang_all),
            secs(hang)
        );
        got.death.push(death);
        got.recovery.push(recovery);
        got.hang_all.push(hang_all);
        got.hang.push(hang);
    }
    got.redone = lane.redone;
    guard.stop();
    got
}

/// What a lane's trials share: its guard, its random phases, the bench's abort flag.
struct Lane<'a> {
    guard: &'a mut Guard,
    rng: &'a mut Rng,
    abort: &'a AtomicBool,
    redone: usize,
}

impl Lane<'_> {
    /// Waits a random part of the sentinel's interval and returns at a moment `/readyz`
    /// answered 200: an event the guard was not ready for would time nothing.
    fn ready_at_random_moment(&mut self) {
        for _ in 0..=REDOS {
            pause(self.rng.up_to(INTERVAL), self.abort);
            if self.guard.readyz() == 200 {
                return;
            }
            self.redone += 1;
            eprintln!("note: /readyz was not 200 at an event's moment; trying it again");
            self.restored("a 503 before the event");
        }
        self.guard.proc.fail(&format!(
            "/readyz was not 200 at the moment of an event {} times in a row, with a healthy \
             model server",
            REDOS + 1
        ));
    }

    /// The time from `since` to `/readyz` answering `want`, asked every POLL.
    fn react(&mut self, want: u16, since: Instant, after: &str) -> Duration {
        self.guard
            .await_status(want, since, POLL, VERDICT_LIMIT, self.abort, after)
    }

    /// Waits, untimed, until `/readyz` is 200 again.
    fn restored(&mut self, after: &str) {
        let now = Instant::now();
        self.guard
            .await_status(200, now, SLOW_POLL, VERDICT_LIMIT, self.abort, after);
    }
}

/// A row of the detection table.
#[derive(Clone, Copy)]
enum Event {
    Death,
    HangAll,
    Hang,
    Recovery,
}

impl Event {
    const ALL: [Event; 4] = [Event::Death, Event::HangAll, Event::Hang, Event::Recovery];

    fn name(self) -> &'static str {
        match self {
            Event::Death => "death (SIGKILL)",
            Event::HangAll => "hang-all (SIGSTOP)",
            Event::Hang => "completions hang, health answers",
            Event::Recovery => "recovery after death",
        }
    }

    fn samples(self, d: &Detection) -> &[Duration] {
        match self {
            Event::Death => &d.death,
            Event::HangAll => &d.hang_all,
            Event::Hang => &d.hang,
            Event::Recovery => &d.recovery,
        }
    }

    /// The target for the binary under test, on its worst trial.
    fn target(self) -> Duration {
        match self {
            Event::Death => DEFINITIVE_TARGET,
            Event::HangAll => HANG_ALL_TARGET,
            Event::Hang => HANG_TARGET,
            Event::Recovery => RECOVERY_TARGET,
        }
    }

    /// The kubelet's default probe on `/health`; `None`: it never sees the event.
    fn kubelet(self) -> Option<Kubelet> {
        match self {
            Event::Death => Some(Kubelet::unready(Duration::ZERO)),
            Event::HangAll => Some(Kubelet::unready(KUBELET_TIMEOUT)),
            Event::Hang => None,
            Event::Recovery => Some(Kubelet::ready()),
        }
    }
}

/// What the kubelet's default readinessProbe would take, probing the model server itself: an
/// event falls uniformly within a period; unready on the third failing probe, a hung server's
/// probe failing at its timeout; ready again on the first passing probe.
struct Kubelet {
    median: Duration,
    max: Duration,
}

impl Kubelet {
    /// The first failing probe comes 0 to one period after the event, the last of
    /// `failureThreshold` that many periods minus one later, plus what each probe waits.
    fn unready(wait: Duration) -> Kubelet {
        let rest = KUBELET_PERIOD * (KUBELET_FAILURES - 1) + wait;
        Kubelet {
            median: KUBELET_PERIOD / 2 + rest,
            max: KUBELET_PERIOD + rest,
        }
    }

    fn ready() -> Kubelet {
        Kubelet {
            median: KUBELET_PERIOD / 2,
            max: KUBELET_PERIOD,
        }
    }
}

fn detection_section(report: &mut Report, results: &[Detection]) {
    report.line("## 1. Detection and recovery at `/readyz`");
    report.line("");
    report.line(format!(
        "Every guard runs the same config: a sentinel with one query, `POST /v1/completions` \
         expecting 200, and every other key at its default (interval {} s, timeout {} s, \
         thresholds 2 and 3, hold 30 s). {TRIALS} trials per event and binary, run in {LANES} \
         lanes per binary side by side (each its own model server and guard, the binaries' lanes \
         at the same time). Each event comes a random 0–{} s after the guard is ready again \
         (the time to notice depends on where in its interval the sentinel is), at a moment \
         `/readyz` answered 200; the time runs from the event to the first answer that shows it, \
         asking `/readyz` every {} ms on a new connection. Death: SIGKILL of the model server. Hang-all: SIGSTOP (the \
         kernel still accepts connections). Completions hang: `POST /control hang`, `/` and \
         `/health` still answer. Recovery: the model server started again on the same port a \
         random 0–{} s after the death was seen, timed from the moment it accepts connections. \
         The kubelet row is computed, not measured: its default readinessProbe (periodSeconds \
         {}, failureThreshold {KUBELET_FAILURES}, timeoutSeconds {}, successThreshold 1) probing \
         the model server's `/health` itself, the event uniform within a period: unready at the \
         third failing probe, {}–{} s after a death and a second more for a hang; a completion \
         that hangs while `/health` answers is never seen; ready again at the next probe.",
        INTERVAL.as_secs(),
        TIMEOUT.as_secs(),
        INTERVAL.as_secs(),
        POLL.as_millis(),
        INTERVAL.as_secs(),
        KUBELET_PERIOD.as_secs(),
        KUBELET_TIMEOUT.as_secs(),
        (KUBELET_PERIOD * (KUBELET_FAILURES - 1)).as_secs(),
        (KUBELET_PERIOD * KUBELET_FAILURES).as_secs(),
    ));
    report.line("");
    let stats = |d: &Detection| Event::ALL.map(|event| Stats::of(event.samples(d).to_vec()));
    let new = stats(&results[0]);
    let previous = results.get(1).map(stats);
    let cells = |cell: &dyn Fn(usize, Event) -> String| -> String {
        Event::ALL
            .iter()
            .enumerate()
            .map(|(i, &event)| format!(" {} |", cell(i, event)))
            .collect()
    };
    let median_max = |s: &Stats| format!("{} ({})", secs(s.median), secs(s.max));
    report.line(format!(
        "| |{}",
        cells(&|_, event| event.name().to_string())
    ));
    report.line(format!("|---|{}", "---|".repeat(Event::ALL.len())));
    report.line(format!(
        "| new: median (max) |{}",
        cells(&|i, _| median_max(&new[i]))
    ));
    if let Some(previous) = &previous {
        report.line(format!(
            "| previous: median (max) |{}",
            cells(&|i, _| median_max(&previous[i]))
        ));
        report.line(format!(
            "| previous ÷ new, medians |{}",
            cells(&|i, _| ratio(previous[i].median, new[i].median))
        ));
    }
    report.line(format!(
        "| kubelet default probe, computed: median (max) |{}",
        cells(&|_, event| match event.kubelet() {
            Some(k) => format!("{} ({})", secs(k.median), secs(k.max)),
            None => "never (it asks `/health`)".to_string(),
        })
    ));
    report.line(format!(
        "| kubelet ÷ new, medians |{}",
        cells(&|i, event| event
            .kubelet()
            .map_or("–".into(), |k| ratio(k.median, new[i].median)))
    ));
    report.line(format!(
        "| target (new, worst trial) |{}",
        cells(&|_, event| format!("≤ {}", secs(event.target())))
    ));
    report.line("");
    for (event, n) in Event::ALL.iter().zip(&new) {
        report.verdict(
            &format!("{}, worst of {TRIALS}", event.name()),
            format!("{} (median {})", secs(n.max), secs(n.median)),
            &format!("≤ {}", secs(event.target())),
            n.max <= event.target(),
        );
    }
    let redone: Vec<String> = results
        .iter()
        .map(|d| format!("{} {}", d.name, d.redone))
        .collect();
    report.line(format!(
        "Events put off because `/readyz` was not 200 at their moment (then tried again): {}.",
        redone.join(", ")
    ));
    report.line("");
}

// ---------------------------------------------------------------------------------------------
// 2. Flaps

struct Flaps {
    name: &'static str,
    rounds: u64,
    /// As the guard counted them, when its /metrics says.
    failed: Option<u64>,
    flaps: u64,
    took: Duration,
}

fn flap_all(binaries: &[&Binary], python: &str, rng: &mut Rng) -> Vec<Flaps> {
    let ports = quiet_ports(binaries.len(), rng);
    // The same seed for every binary: the model fails the same completions, by their order.
    let seed = rng.next() % 1_000_000;
    eprintln!(
        "flaps: {FLAP_ROUNDS} rounds every {FLAP_INTERVAL} with isolated failures, binaries side \
         by side (about 3 minutes)"
    );
    let work: Vec<(&Binary, u16)> = binaries.iter().copied().zip(ports).collect();
    side_by_side(work, |(bin, port), abort| {
        flap_run(bin, python, port, seed, abort)
    })
}

fn flap_run(bin: &Binary, python: &str, port: u16, seed: u64, abort: &AtomicBool) -> Flaps {
    let mut model = Model::start(python, port);
    let tuning = format!("  interval: {FLAP_INTERVAL}\n");
    let mut guard = Guard::start(bin, model.port, &tuning);
    guard.first_ready(abort);
    let (unready_before, failed_before) = flap_counts(&mut guard);
    let (first, _) = model.stats();
    model.control(&format!("flaky {FLAP_RATE} {seed}"));
    let began = Instant::now();
    let rounds = loop {
        pause(Duration::from_millis(100), abort);
        let rounds = model.stats().0 - first;
        if rounds >= FLAP_ROUNDS {
            break rounds;
        }
        if began.elapsed() > FLAP_LIMIT {
            guard.proc.fail(&format!(
                "only {rounds} rounds reached the model in {FLAP_LIMIT:?} at {FLAP_INTERVAL}"
            ));
        }
    };
    model.control("ok");
    let took = began.elapsed();
    let (unready_after, failed_after) = flap_counts(&mut guard);
    eprintln!(
        "{}: {rounds} rounds, {} ready → unready",
        bin.name,
        unready_after - unready_before
    );
    guard.stop();
    Flaps {
        name: bin.name,
        rounds,
        failed: failed_before.zip(failed_after).map(|(a, b)| b - a),
        flaps: unready_after - unready_before,
        took,
    }
}

/// Transitions into unready, and failed rounds when the guard counts them.
fn flap_counts(guard: &mut Guard) -> (u64, Option<u64>) {
    let metrics = guard.metrics();
    let Some(unready) = counter(&metrics, "transitions_total", "to=\"unready\"") else {
        guard.proc.fail(&format!(
            "its /metrics has no `*transitions_total` counter to count flaps by:\n{metrics}"
        ))
    };
    let failed = counter(&metrics, "sentinel_rounds_total", "result=\"fail\"");
    (unready, failed)
}

fn flap_section(report: &mut Report, results: &[Flaps]) {
    report.line("## 2. Flaps under isolated failures");
    report.line("");
    report.line(format!(
        "The same config as above but for `interval: {FLAP_INTERVAL}` (at the default {} s, \
         {FLAP_ROUNDS} rounds would take {:.1} hours), the binaries side by side. Once \
         the guard is ready the model server fails each completion with probability \
         {FLAP_RATE}, never two in a row (`POST /control flaky {FLAP_RATE} SEED`, the same seed \
         for every binary, so each sees the same sequence of answers), until it has answered \
         {FLAP_ROUNDS} completions. Flaps: the guard's count of transitions into unready \
         (`*transitions_total{{to=\"unready\"}}` on `/metrics`). Every round here is a counted \
         failure or a pass: none may flip Ready.",
        INTERVAL.as_secs(),
        (INTERVAL * FLAP_ROUNDS as u32).as_secs_f64() / 3600.0
    ));
    report.line("");
    report.line(
        "| binary | completions answered | failed rounds (the guard's count) | ready → unready | \
         took |",
    );
    report.line("|---|---|---|---|---|");
    for flaps in results {
        report.line(format!(
            "| {} | {} | {} | **{}** | {:.1} s |",
            flaps.name,
            flaps.rounds,
            flaps.failed.map_or("–".into(), |f| format!(
                "{f} ({:.1} %)",
                percent(f, flaps.rounds)
            )),
            flaps.flaps,
            flaps.took.as_secs_f64()
        ));
    }
    report.line("");
    let new = &results[0];
    report.verdict(
        &format!("flaps over {} rounds, isolated failures", new.rounds),
        new.flaps.to_string(),
        "0",
        new.flaps == 0,
    );
}

fn percent(part: u64, whole: u64) -> f64 {
    part as f64 * 100.0 / whole.max(1) as f64
}

// ---------------------------------------------------------------------------------------------
// 3. Idle cost

/// A guard with the default config beside a healthy model server, left alone.
struct Idler<'a> {
    bin: &'a Binary,
    model: Model,
    guard: Guard,
}

impl<'a> Idler<'a> {
    fn start(bin: &'a Binary, python: &str, port: u16) -> Idler<'a> {
        let model = Model::start(python, port);
        let guard = Guard::start(bin, model.port, "");
        Idler { bin, model, guard }
    }
}

struct Idle {
    name: &'static str,
    /// Per minute: the guard's CPU in ms (schedstat when the kernel has it, and in ticks).
    cpu_sched: Option<f64>,
    cpu_ticks: f64,
    /// Per minute: requests the model server received.
    completions: f64,
    other: f64,
}

struct IdleSample {
    at: Instant,
    sched_ns: Option<u64>,
    ticks: u64,
    completions: u64,
    other: u64,
}

impl IdleSample {
    fn take(idler: &mut Idler<'_>) -> IdleSample {
        let pid = idler.guard.proc.pid();
        let (completions, other) = idler.model.stats();
        let [utime, stime, _, _] = stat_times(pid);
        IdleSample {
            at: Instant::now(),
            sched_ns: schedstat_sum(pid, 0),
            ticks: utime + stime,
            completions,
            other,
        }
    }
}

fn measure_idle(mut idlers: Vec<Idler<'_>>) -> Vec<Idle> {
    let never = AtomicBool::new(false);
    for idler in &mut idlers {
        idler.guard.first_ready(&never);
    }
    eprintln!(
        "idle: {} s with a healthy model, binaries side by side",
        IDLE_WINDOW.as_secs()
    );
    let starts: Vec<IdleSample> = idlers.iter_mut().map(IdleSample::take).collect();
    thread::sleep(IDLE_WINDOW);
    let tck = clock_ticks() as f64;
    let mut results = Vec::new();
    for (mut idler, start) in idlers.into_iter().zip(starts) {
        let end = IdleSample::take(&mut idler);
        let per_min = 60.0 / (end.at - start.at).as_secs_f64();
        results.push(Idle {
            name: idler.bin.name,
            cpu_sched: start
                .sched_ns
                .zip(end.sched_ns)
                .map(|(a, b)| b.saturating_sub(a) as f64 / 1e6 * per_min),
            cpu_ticks: (end.ticks - start.ticks) as f64 * 1000.0 / tck * per_min,
            completions: (end.completions - start.completions) as f64 * per_min,
            // The closing GET /stats counted itself.
            other: (end.other - start.other).saturating_sub(1) as f64 * per_min,
        });
        idler.guard.stop();
    }
    results
}

fn idle_section(report: &mut Report, results: &[Idle]) {
    report.line("## 3. Idle cost with a healthy model");
    report.line("");
    report.line(format!(
        "The config of section 1 (one completion query, every interval {} s), the guards side \
         by side over the same {} s window, well after their first ready. Guard CPU: the sum of \
         the first field of /proc/PID/task/*/schedstat (ns on CPU, live threads), and utime + \
         stime from /proc/PID/stat (ticks of {:.0} ms, exited threads too), scaled to a minute. \
         Requests: what the model server counted (`GET /stats`), completions apart from all \
         else (the guard's cheap requests), the bench's own `/stats` asks left out. The kubelet \
         row is computed: its default probe on `/health` every {} s.",
        INTERVAL.as_secs(),
        IDLE_WINDOW.as_secs(),
        1000.0 / clock_ticks() as f64,
        KUBELET_PERIOD.as_secs()
    ));
    report.line("");
    report.line(
        "| binary | guard CPU ms/min (schedstat) | guard CPU ms/min (ticks) | completions/min at \
         the model | other requests/min at the model | all requests/min |",
    );
    report.line("|---|---|---|---|---|---|");
    // One tick over the window, per minute: what a zero in ticks means.
    let tick = 1000.0 / clock_ticks() as f64 * 60.0 / IDLE_WINDOW.as_secs_f64();
    for idle in results {
        report.line(format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} |",
            idle.name,
            idle.cpu_sched
                .map_or("schedstat unavailable".into(), |v| format!("{v:.2}")),
            if idle.cpu_ticks == 0.0 {
                format!("< {tick:.0} (not one tick)")
            } else {
                format!("{:.1}", idle.cpu_ticks)
            },
            idle.completions,
            idle.other,
            idle.completions + idle.other
        ));
    }
    report.line(format!(
        "| kubelet default probe on `/health` (computed) | – | – | 0 | {:.1} | {:.1} |",
        60.0 / KUBELET_PERIOD.as_secs_f64(),
        60.0 / KUBELET_PERIOD.as_secs_f64()
    ));
    report.line("");
    let new = &results[0];
    if let Some(previous) = results.get(1) {
        report.line(format!(
            "New ÷ previous: CPU {} (schedstat), completions {}, all requests {}; the model \
             server receives {:+.1} requests per minute more with the new binary.",
            previous
                .cpu_sched
                .zip(new.cpu_sched)
                .map_or("–".into(), |(p, n)| ratio_f(n, p)),
            ratio_f(new.completions, previous.completions),
            ratio_f(
                new.completions + new.other,
                previous.completions + previous.other
            ),
            (new.completions + new.other) - (previous.completions + previous.other)
        ));
        report.line("");
    }
    report.verdict(
        "idle CPU of the guard, healthy model",
        new.cpu_sched
            .map_or("unmeasured (no schedstat)".into(), |v| {
                format!("{v:.2} ms/min")
            }),
        &format!("< {TARGET_IDLE_MS_PER_MIN} ms/min"),
        new.cpu_sched.is_some_and(|v| v < TARGET_IDLE_MS_PER_MIN),
    );
    // One completion per interval, and one more where the window's edges catch an extra round.
    let allowed = 60.0 / INTERVAL.as_secs_f64() + 1.0;
    report.verdict(
        "completions per minute at the model while all is well",
        format!("{:.1}", new.completions),
        &format!("≤ {allowed:.0} (one per interval)"),
        new.completions <= allowed,
    );
}

// ---------------------------------------------------------------------------------------------
// Figures

/// Seconds with two decimals from a second up, milliseconds below.
fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        ms(d)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// `a ÷ b` as the report writes it.
fn ratio(a: Duration, b: Duration) -> String {
    ratio_f(a.as_secs_f64(), b.as_secs_f64())
}

fn ratio_f(a: f64, b: f64) -> String {
    if b <= 0.0 {
        return "–".into();
    }
    let r = a / b;
    if r >= 10.0 {
        format!("{r:.0}×")
    } else {
        format!("{r:.2}×")
    }
}
