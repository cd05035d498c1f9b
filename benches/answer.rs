//! Measures what a large answer costs the guard: the resident memory and CPU of `bootgate
//! sidecar` while its sentinel judges a 1 MiB answer every round, beside the same sidecar
//! judging a small one.
//!
//! Run with `cargo bench --bench answer` (about 30 s once built). The Markdown report goes to
//! stdout as it is produced and, whole, to `target/bench-answer.md`. Progress notes go to stderr.
//!
//! Each row is a fresh sidecar whose one query asks a loopback server (a Rust thread writing a
//! fixed response) every 50 ms. RSS is read from /proc/PID/status after a fixed number of
//! rounds; VmHWM is the peak over the sidecar's whole life. Every row must reach the verdict
//! it is built for (ready, or failing for the reason given), or the bench panics.

use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

mod support;
use support::*;

/// Rounds measured per row, after the verdict is reached.
const ROUNDS: u64 = 100;
const ROUND_LIMIT: Duration = Duration::from_secs(60);
const MIB: usize = 1 << 20;
const SECRET_VAR: &str = "BENCH_TOKEN";
/// The most a 1 MiB JSON answer may add to the peak over a small answer: its bytes once, and
/// the reading buffers; a parsed tree alone would be several times that.
const TARGET_PEAK_GROWTH_MIB: f64 = 2.0;

struct Row {
    answer: &'static str,
    expectation: &'static str,
    response: &'static [u8],
    /// The query's `expect:` in YAML flow style.
    expect: &'static str,
    /// The log line that says the row reached its verdict.
    verdict: &'static str,
}

struct Measured {
    rounds: u64,
    rss_kib: u64,
    peak_kib: u64,
    cpu_per_round: Option<Duration>,
}

fn main() {
    let mut report = Report::new("bench-answer.md");
    report.line("# What a large answer costs the guard");
    report.line("");
    report.line(format!(
        "Machine: {}, {} CPUs. One sidecar per row; its sentinel asks a loopback server every \
         50 ms, and the figures are read after {ROUNDS} further rounds.",
        cpu_model(),
        thread::available_parallelism().map_or(0, |n| n.get())
    ));
    report.line("");
    let json_1mib = leak(http_ok(&models_json(MIB - 1024)));
    let page_1mib = leak(http_ok(&format!("{}model serving", "x".repeat(MIB - 1024))));
    let json_2mib = leak(http_ok(&models_json(2 * MIB)));
    let small = leak(http_ok(r#"{"choices":[{"text":" 4"}]}"#));
    let json_expect = r#"{json: {"/choices/0/text": {contains: "4"}}}"#;
    let rows = [
        Row {
            answer: "27 B JSON",
            expectation: "`json` (baseline)",
            response: small,
            expect: json_expect,
            verdict: "readiness: starting -> ready",
        },
        Row {
            answer: "1 MiB JSON",
            expectation: "`json`: read whole, values found while parsing",
            response: json_1mib,
            expect: r#"{json: {"/choices/0/text": {contains: "4"}, "/data/5000/id": {equals: "model-005000"}}}"#,
            verdict: "readiness: starting -> ready",
        },
        Row {
            answer: "1 MiB page",
            expectation: "`body_contains` at its end: searched as it streams",
            response: page_1mib,
            expect: r#"{body_contains: "model serving"}"#,
            verdict: "readiness: starting -> ready",
        },
        Row {
            answer: "2 MiB JSON",
            expectation: "`json`, over the 1 MiB `max_body`: refused by its length",
            response: json_2mib,
            expect: json_expect,
            verdict: "the answer is larger than 1.0 MiB (max_body)",
        },
    ];
    report.line("| answer | expectation | rounds | VmRSS after | VmHWM (peak) | CPU per round |");
    report.line("|---|---|---|---|---|---|");
    let mut peaks = Vec::new();
    for row in &rows {
        eprintln!("answer: {} with {}", row.answer, row.expectation);
        let m = measure(row);
        report.line(format!(
            "| {} | {} | {} | {} | {} | {} |",
            row.answer,
            row.expectation,
            m.rounds,
            mib(m.rss_kib),
            mib(m.peak_kib),
            m.cpu_per_round.map_or("schedstat unavailable".into(), ms)
        ));
        peaks.push(m.peak_kib);
    }
    report.line("");
    let growth = (peaks[1] as f64 - peaks[0] as f64) / 1024.0;
    report.verdict(
        "peak RSS, 1 MiB JSON answer over a small one",
        format!("+{growth:.2} MiB"),
        &format!("< {TARGET_PEAK_GROWTH_MIB} MiB"),
        growth < TARGET_PEAK_GROWTH_MIB,
    );
    report.finish();
}

/// One fresh sidecar judging `row`'s answer: its verdict reached, then ROUNDS more rounds.
fn measure(row: &Row) -> Measured {
    let model = LoopbackServer::start(0, row.response);
    let dir = TempDir::new().expect("create a temporary directory");
    let config = dir.path().join("bootgate.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: \"127.0.0.1:{}\"\nstate_dir: {}\ndrain: 100ms\nchecks:\n  \
             k: {{kind: secret, env: {SECRET_VAR}}}\nsentinel:\n  interval: 50ms\n  \
             timeout: 2s\n  success_threshold: 1\n  failure_threshold: 1\n  hold: 0s\n  \
             queries:\n    - {{name: q, url: \"http://127.0.0.1:{}/v1/models\", expect: {}}}\n",
            free_port(),
            dir.path().join("state").display(),
            model.port,
            row.expect
        ),
    )
    .expect("write the sidecar config");
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("sidecar").arg("--config").arg(&config);
    cmd.env(SECRET_VAR, "abc123");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("BOOTGATE_") {
            cmd.env_remove(name);
        }
    }
    let mut sidecar = Watched::spawn(cmd, "bootgate sidecar");
    sidecar.wait_for_line(row.verdict);
    let pid = sidecar.pid();
    let (start_hits, start_cpu) = (model.hits(), schedstat_sum(pid, 0));
    let deadline = Instant::now() + ROUND_LIMIT;
    // Rounds come every 50 ms; the count is only read, so polling it costs the sidecar nothing.
    while model.hits() < start_hits + ROUNDS {
        if Instant::now() > deadline {
            sidecar.fail(&format!("fewer than {ROUNDS} rounds in {ROUND_LIMIT:?}"));
        }
        thread::sleep(Duration::from_millis(20));
    }
    let rounds = model.hits() - start_hits;
    let (rss_kib, peak_kib) = (vm_kib(pid, "VmRSS:"), vm_kib(pid, "VmHWM:"));
    let cpu_per_round = match (start_cpu, schedstat_sum(pid, 0)) {
        (Some(a), Some(b)) => Some(Duration::from_nanos(b.saturating_sub(a) / rounds)),
        _ => None,
    };
    let status = sidecar.terminate();
    sidecar.expect_success(status);
    Measured {
        rounds,
        rss_kib,
        peak_kib,
        cpu_per_round,
    }
}

/// A JSON list of models of at least `size` bytes, the values the expectations read last.
fn models_json(size: usize) -> String {
    let mut out = String::from(r#"{"object":"list","data":["#);
    let mut i = 0;
    while out.len() < size - 64 {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"id":"model-{i:06}","object":"model","owned_by":"bench"}}"#
        ));
        i += 1;
    }
    out.push_str(r#"],"choices":[{"text":" 4"}]}"#);
    out
}

fn http_ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The loopback server answers from a `'static` response for the whole bench.
fn leak(bytes: Vec<u8>) -> &'static [u8] {
    Box::leak(bytes.into_boxed_slice())
}

fn mib(kib: u64) -> String {
    format!("{:.2} MiB", kib as f64 / 1024.0)
}
