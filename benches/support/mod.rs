//! What the benchmarks share: a Markdown report with verdicts, a child process whose stderr
//! lines are awaited as events, and a few machine facts.

#![allow(dead_code)]

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The release binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_bootgate");

/// `<target>/<profile>/bootgate` → `<target>`: where cargo put the build, and so where a bench
/// keeps what it builds or generates.
pub fn target_dir() -> std::path::PathBuf {
    Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .expect("the binary lives in a target directory")
        .to_path_buf()
}

/// A `kB` line of /proc/PID/status, e.g. `VmRSS:`.
pub fn vm_kib(pid: u32, key: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} in /proc/{pid}/status"))
}

/// One field of /proc/PID/task/*/schedstat summed over the live threads, in ns (0: time on
/// CPU, 1: time runnable but waiting for a CPU); `None` on kernels without schedstat.
pub fn schedstat_sum(pid: u32, field: usize) -> Option<u64> {
    let mut total = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let text = fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += text.split_whitespace().nth(field)?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// How long a child may take to print the line we wait for, or to go after SIGTERM.
pub const STARTUP_LIMIT: Duration = Duration::from_secs(10);

/// The Markdown report: printed line by line as it grows, plus a verdict table at the end.
pub struct Report {
    /// The file under `target/` the whole report is written to at the end.
    file: &'static str,
    text: String,
    verdicts: Vec<Verdict>,
}

pub struct Verdict {
    figure: String,
    result: String,
    target: String,
    met: bool,
}

impl Report {
    pub fn new(file: &'static str) -> Report {
        Report {
            file,
            text: String::new(),
            verdicts: Vec::new(),
        }
    }

    pub fn line(&mut self, line: impl AsRef<str>) {
        let line = line.as_ref();
        println!("{line}");
        self.text.push_str(line);
        self.text.push('\n');
    }

    pub fn verdict(&mut self, figure: &str, result: String, target: &str, met: bool) {
        self.verdicts.push(Verdict {
            figure: figure.to_string(),
            result,
            target: target.to_string(),
            met,
        });
    }

    /// Writes the whole report to `target/<file>`, relative to the working directory (the
    /// package root under `cargo bench`).
    pub fn finish(self) {
        self.finish_in(Path::new("target"));
    }

    /// Like [`Report::finish`], into `dir`: for a bench that follows the binary's target
    /// directory (`CARGO_TARGET_DIR`) rather than the working directory's.
    pub fn finish_in(mut self, dir: &Path) {
        let loadavg = fs::read_to_string("/proc/loadavg").unwrap_or_default();
        self.line(format!("loadavg at end: {}", loadavg.trim()));
        self.line("");
        self.line("## Targets");
        self.line("");
        self.line("| figure | result | target | met |");
        self.line("|---|---|---|---|");
        let verdicts = std::mem::take(&mut self.verdicts);
        for v in &verdicts {
            let mark = if v.met { "yes" } else { "**NO**" };
            self.line(format!(
                "| {} | {} | {} | {mark} |",
                v.figure, v.result, v.target
            ));
        }
        let path = dir.join(self.file);
        fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("create {} for the report: {e}", dir.display()));
        fs::write(&path, &self.text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        eprintln!("report written to {}", path.display());
    }
}

/// A running child whose stderr is read line by line on a thread, so that "it is ready now"
/// is an event we block on rather than a guess, and so a chatty child never fills its pipe.
pub struct Watched {
    what: &'static str,
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    reader: Option<JoinHandle<()>>,
}

impl Watched {
    pub fn spawn(mut cmd: Command, what: &'static str) -> Watched {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} ({cmd:?}): {e}"));
        let stderr = child.stderr.take().expect("stderr was piped");
        Watched::reading(child, stderr, what)
    }

    /// Like [`Watched::spawn`], for a child that announces itself on stdout: both streams are
    /// read as one, in the order the child wrote them.
    pub fn spawn_merged(mut cmd: Command, what: &'static str) -> Watched {
        let (output, input) = io::pipe().expect("create a pipe");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(input.try_clone().expect("duplicate a pipe's writing end"))
            .stderr(input)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} ({cmd:?}): {e}"));
        // The command holds the pipe's writing ends: only once they are gone does the reader
        // see the end of the stream when the child goes.
        drop(cmd);
        Watched::reading(child, output, what)
    }

    fn reading(child: Child, output: impl Read + Send + 'static, what: &'static str) -> Watched {
        let (tx, lines) = mpsc::channel();
        let reader = thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                // The receiver may be gone once we stop caring; keep draining the pipe anyway.
                let _ = tx.send(line);
            }
        });
        Watched {
            what,
            child,
            lines,
            seen: Vec::new(),
            reader: Some(reader),
        }
    }

    /// Waits for a child that is expected to end by itself.
    pub fn wait(&mut self) -> ExitStatus {
        self.child
            .wait()
            .unwrap_or_else(|e| panic!("waiting for {} failed: {e}", self.what))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Blocks until a stderr line contains `needle` and returns it; panics with the log if it
    /// never comes.
    pub fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + STARTUP_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.seen.push(line);
                    if found {
                        return self.seen.last().expect("the line just kept").clone();
                    }
                }
                Err(RecvTimeoutError::Timeout) => self.fail(&format!(
                    "no stderr line containing {needle:?} within {STARTUP_LIMIT:?}"
                )),
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().ok();
                    self.fail(&format!(
                        "it exited ({status:?}) before printing a line containing {needle:?}"
                    ))
                }
            }
        }
    }

    /// Sends SIGTERM through `kill(1)` (the crate forbids unsafe code, so no libc) and reaps it,
    /// giving it STARTUP_LIMIT to go: a server that ignores SIGTERM must not hang the bench.
    pub fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill(1)");
        assert!(sent.success(), "kill -TERM {} failed", self.pid());
        match wait_bounded(&mut self.child, STARTUP_LIMIT) {
            Some(status) => status,
            None => self.fail(&format!(
                "it was still running {STARTUP_LIMIT:?} after SIGTERM"
            )),
        }
    }

    /// SIGKILL, and reaped: once this returns the child is gone and its sockets are closed.
    pub fn kill(&mut self) {
        if let Err(e) = self.child.kill() {
            self.fail(&format!("SIGKILL failed: {e}"));
        }
        let _ = self.child.wait();
    }

    pub fn expect_success(&mut self, status: ExitStatus) {
        if !status.success() {
            self.fail(&format!("it exited with {status}, not 0"));
        }
    }

    /// Panics with everything the child wrote to stderr, since that is where its reason is.
    pub fn fail(&mut self, problem: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.seen.extend(self.lines.try_iter());
        panic!(
            "{} (pid {}): {problem}\n--- its stderr ---\n{}",
            self.what,
            self.child.id(),
            self.seen.join("\n")
        );
    }
}

/// A bench that stops half-way, on a panic, must not leave its servers running.
impl Drop for Watched {
    fn drop(&mut self) {
        // Errors mean it is already gone: reaped, or never more than a zombie.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child` at most `limit`; past that it is killed and `None` comes back.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("poll a child process") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The trimmed stdout of a small helper command, or a note that it failed.
pub fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| format!("({program} failed)"))
}

/// A port nothing listens on: the kernel picks a free one, and we let it go again.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to pick a port");
    listener
        .local_addr()
        .expect("local address of a bound listener")
        .port()
}

pub fn clock_ticks() -> u64 {
    command_output("getconf", &["CLK_TCK"])
        .parse()
        .expect("`getconf CLK_TCK` prints a number")
}

/// The real interpreter behind `python3`: a pyenv shim would put bash in front of the baseline.
pub fn python_executable() -> String {
    let path = command_output("python3", &["-c", "import sys; print(sys.executable)"]);
    assert!(
        Path::new(&path).is_file(),
        "python3 is needed for the comparison; asking it for its executable gave {path:?}"
    );
    path
}

/// Fields 14–17 of /proc/PID/stat: utime, stime, cutime, cstime (clock ticks).
pub fn stat_times(pid: u32) -> [u64; 4] {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/stat: {e}"));
    // The command name (field 2) may hold spaces; fields after its closing paren are plain.
    let rest = &stat[stat.rfind(')').expect("/proc/PID/stat has `(comm)`") + 1..];
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11) // fields 3..=13
        .take(4)
        .map(|f| f.parse().expect("numeric time field in /proc/PID/stat"))
        .collect();
    fields
        .try_into()
        .expect("/proc/PID/stat has fields 14 to 17")
}

/// A sample's median, 90th percentile and worst.
pub struct Stats {
    pub median: Duration,
    pub p90: Duration,
    pub max: Duration,
}

impl Stats {
    pub fn of(mut samples: Vec<Duration>) -> Stats {
        assert!(!samples.is_empty(), "no samples to summarise");
        samples.sort();
        let n = samples.len();
        let median = if n % 2 == 1 {
            samples[n / 2]
        } else {
            (samples[n / 2 - 1] + samples[n / 2]) / 2
        };
        // Nearest rank: the smallest sample with at least 90 % of samples at or below it.
        let p90 = samples[(n * 9).div_ceil(10) - 1];
        Stats {
            median,
            p90,
            max: samples[n - 1],
        }
    }
}

/// The CPU's model name, from /proc/cpuinfo.
pub fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Milliseconds, with two decimals below 10 ms, where a tenth would hide the difference.
pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// Spawn → exit wall time and the output; panics unless it exits 0.
pub fn timed(mut cmd: Command, what: &str) -> (Duration, Output) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what} ({cmd:?}): {e}"));
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {what} failed: {e}"));
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{what} exited with {}, not 0\n--- its stdout ---\n{}\n--- its stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (took, out)
}

/// A stand-in dependency or model server: answers every request on 127.0.0.1 with one fixed
/// response, one thread per connection, counting the requests it answered, until dropped.
pub struct LoopbackServer {
    pub port: u16,
    hits: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl LoopbackServer {
    /// Binds `port` (0: any) before returning: once this returns the server is listening, and
    /// the port is ours with no window for another to take it.
    pub fn start(port: u16, response: &'static [u8]) -> LoopbackServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind a loopback server");
        let port = listener.local_addr().expect("its local address").port();
        let hits = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (counting, stopping) = (Arc::clone(&hits), Arc::clone(&stop));
        let acceptor = thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(conn) = conn {
                    let counting = Arc::clone(&counting);
                    thread::spawn(move || {
                        if answer(conn, response) {
                            counting.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                }
            }
        });
        LoopbackServer {
            port,
            hits,
            stop,
            acceptor: Some(acceptor),
        }
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

/// Reads one request head (a tcp check sends nothing and just closes) and answers it; false
/// when the client left before asking.
fn answer(mut conn: TcpStream, response: &[u8]) -> bool {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = conn.set_nodelay(true);
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    conn.write_all(response).is_ok()
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // accept() has no timeout: one last connection wakes it to see the stop flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// xorshift64*: random phases need spread, not quality, and the crate takes no `rand` dependency.
pub struct Rng {
    pub seed: u64,
    state: u64,
}

impl Rng {
    /// Seeded from `BENCH_SEED`, which replays a run, or else from the clock.
    pub fn from_env_or_clock() -> Rng {
        let seed = match std::env::var("BENCH_SEED") {
            Ok(text) => text
                .parse()
                .expect("BENCH_SEED must be an unsigned integer"),
            Err(_) => {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("the clock is after 1970")
                    .as_nanos() as u64
                    ^ u64::from(std::process::id())
            }
        };
        Rng::seeded(seed)
    }

    pub fn seeded(seed: u64) -> Rng {
        Rng {
            seed,
            state: seed | 1,
        }
    }

    pub fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A uniformly random delay in 0..=max, in whole milliseconds.
    pub fn up_to(&mut self, max: Duration) -> Duration {
        let max_ms = max.as_millis() as u64;
        Duration::from_millis(self.next() % (max_ms + 1))
    }
}
