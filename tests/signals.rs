//! A SIGTERM at any moment of a gate's life means "stop": exit 3, never death by the signal.

#[macro_use]
mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use common::*;

/// A gate that can only wait: the file never appears.
const WAITING: &str = "deadline: 60s\nlisten: \"127.0.0.1:0\"\ndrain: 1ms\nchecks:\n  flag: {kind: file, path: '@/never'}\n";

/// Whether the Rust runtime of `pid` has started: it ignores SIGPIPE before `main`. Until then
/// the dynamic loader is still mapping the binary, and a signal ends any program, since none
/// of its code has run.
fn runtime_started(pid: u32) -> bool {
    const SIGPIPE_BIT: u64 = 1 << 12;
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        // Gone already: the caller's wait says how it ended.
        return true;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & SIGPIPE_BIT != 0)
}

/// A small spread of delays, different on every run (no clock is needed to be exact).
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
        eprintln!("jitter seed {seed}");
        Jitter(seed)
    }

    /// Up to `max`, uniformly enough.
    fn next(&mut self, max: Duration) -> Duration {
        // xorshift64
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        max.mul_f64((self.0 % 10_000) as f64 / 10_000.0)
    }
}

/// Starts `bootgate ARGS` `times` times, each time sends SIGTERM a moment after its runtime
/// started, and asserts the exit code (and the outcome in status.json) of every run.
fn stop_early(args: &[&str], times: usize, expect: i32, status: Option<&str>) {
    let mut jitter = Jitter::new();
    for round in 0..times {
        let scene = Scene::new();
        let config = scene.config(WAITING);
        let mut full: Vec<&str> = args.to_vec();
        let config = config.to_str().unwrap().to_string();
        full.extend(["--config", &config]);
        let child = scene
            .command(&full, &[])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bootgate");
        let pid = Pid::from_raw(child.id() as i32).unwrap();
        let started = Instant::now();
        while !runtime_started(child.id()) {
            assert!(started.elapsed() < PATIENCE, "bootgate never started");
            std::hint::spin_loop();
        }
        let delay = jitter.next(Duration::from_millis(1));
        let until = Instant::now() + delay;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        kill_process(pid, Signal::TERM).expect("kill");
        let out = child.wait_with_output().expect("wait");
        assert_eq!(
            out.status.code(),
            Some(expect),
            "{args:?}, round {round}, SIGTERM {delay:?} after the runtime started: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(outcome) = status {
            assert_eq!(
                scene.status()["outcome"],
                outcome,
                "{args:?}, round {round}"
            );
        }
    }
}

#[test]
fn sigterm_in_the_first_milliseconds_of_init_exits_3_with_status() {
    stop_early(&["init"], 50, 3, Some("interrupted"));
}

#[test]
fn sigterm_in_the_first_milliseconds_of_check_and_run_exits_3() {
    stop_early(&["check", "--wait"], 20, 3, None);
    stop_early(&["run"], 20, 3, Some("interrupted"));
}

#[test]
fn sigterm_in_the_first_milliseconds_of_a_sidecar_drains_and_exits_0() {
    stop_early(&["sidecar"], 20, 0, None);
}
