//! An exec check's command, and every process it starts, ends with its attempt — by exit,
//! attempt timeout, stall, the end of the gate or SIGTERM — including one that `setsid()`s
//! away; the stderr of a failed command survives the cleanup; and under `run` the server's own
//! processes are never touched.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::*;

/// A `sleep` that can be told apart from every other process on the machine by its argument,
/// and found in /proc. Whatever is left of it is killed when the test ends, pass or fail.
struct Marked {
    argument: String,
}

impl Marked {
    fn new() -> Marked {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        Marked {
            argument: format!(
                "300.{}{:04}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    /// The command, for a shell script.
    fn sleep(&self) -> String {
        format!("sleep {}", self.argument)
    }

    /// The marked processes still alive (zombies, which hold no argument, are not).
    fn alive(&self) -> Vec<u32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
                let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
                cmdline
                    .split(|b| *b == 0)
                    .any(|arg| arg == self.argument.as_bytes())
                    .then_some(pid)
            })
            .collect()
    }

    /// Waits until `n` marked processes run.
    fn await_running(&self, n: usize) {
        await_that(&format!("{} running {n} times", self.sleep()), || {
            self.alive().len() >= n
        });
    }

    /// Asserts that every marked process is gone, allowing a moment for a SIGKILL to land.
    fn assert_gone(&self, when: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let alive = self.alive();
            if alive.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{when}: {} still running as {alive:?}",
                self.sleep()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Marked {
    fn drop(&mut self) {
        for pid in self.alive() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// `sh -c SCRIPT` as a YAML flow sequence, for an exec check's `command`.
fn sh(script: &str) -> String {
    format!("[sh, -c, '{}']", script.replace('\'', "''"))
}

/// A background grandchild, one that `setsid()`s, and one that double-forks and `setsid()`s,
/// all marked; then `rest`.
fn leaves_three(marked: &Marked, rest: &str) -> String {
    let sleep = marked.sleep();
    format!("{sleep} & setsid {sleep} & (setsid {sleep} &); {rest}")
}

#[test]
fn a_command_that_exits_takes_what_it_started_with_it() {
    let scene = Scene::new();
    let marked = Marked::new();
    let done = scene.init(
        &format!(
            "deadline: 20s\nchecks:\n  daemon: {{kind: exec, command: {}}}\n",
            sh(&leaves_three(&marked, "exit 0"))
        ),
        &[],
    );
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    marked.assert_gone("after the gate passed");
}

#[test]
fn a_failed_command_keeps_its_stderr_in_the_reason() {
    let scene = Scene::new();
    let marked = Marked::new();
    let config = scene.config(&format!(
        "checks:\n  probe: {{kind: exec, command: {}}}\n",
        sh(&leaves_three(&marked, "echo model not loaded >&2; exit 3"))
    ));
    let done = scene.run(&["check", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(done.stdout, "sh exited with status 3: model not loaded");
    marked.assert_gone("after the check");
}

/// A check whose first attempt starts processes and then hangs silently, ended by `limit`
/// (an `attempt_timeout` or a `stall_after` of 1s); its second attempt passes at once. The log
/// says `said`, and nothing of the first attempt survives.
fn first_attempt_cut_short(limit: &str, said: &str) {
    let scene = Scene::new();
    let marked = Marked::new();
    let script = format!(
        "if [ -e {once} ]; then exit 0; fi; touch {once}; {}",
        leaves_three(&marked, &marked.sleep()),
        once = scene.path("once").display()
    );
    let done = scene.init(
        &format!(
            "deadline: 20s\nchecks:\n  slow: {{kind: exec, {limit}, command: {}}}\n",
            sh(&script)
        ),
        &[],
    );
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_contains!(done.stderr, said);
    marked.assert_gone(said);
}

#[test]
fn an_attempt_that_times_out_ends_its_processes() {
    first_attempt_cut_short("attempt_timeout: 1s", "waiting for slow: attempt timed out");
}

#[test]
fn a_stalled_attempt_ends_its_processes() {
    first_attempt_cut_short("stall_after: 1s, attempt_timeout: 15s", "slow STALLED");
}

#[test]
fn a_warn_check_still_running_when_the_gate_passes_ends_its_processes() {
    let scene = Scene::new();
    let marked = Marked::new();
    // The required check passes once the warn check's processes are all running.
    let started = scene.path("started");
    let script = leaves_three(
        &marked,
        &format!("touch {}; {}", started.display(), marked.sleep()),
    );
    let done = scene.init(
        &format!(
            "deadline: 20s\nchecks:\n  started: {{kind: file, path: '{}'}}\n  background: {{kind: exec, on_fail: warn, attempt_timeout: 60s, command: {}}}\n",
            started.display(),
            sh(&script)
        ),
        &[],
    );
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    marked.assert_gone("after the gate passed");
}

#[test]
fn sigterm_ends_every_process_of_a_running_attempt() {
    let scene = Scene::new();
    let marked = Marked::new();
    let mut gate = scene.spawn_init(
        &format!(
            "deadline: 60s\nchecks:\n  slow: {{kind: exec, attempt_timeout: 60s, command: {}}}\n",
            sh(&leaves_three(&marked, &marked.sleep()))
        ),
        &[],
    );
    marked.await_running(4);
    gate.signal("TERM");
    assert_eq!(gate.wait().0.code(), Some(3), "{}", gate.full_stderr());
    marked.assert_gone("after SIGTERM");
}

#[test]
fn under_run_the_servers_own_orphans_are_left_alone() {
    let scene = Scene::new();
    std::fs::write(scene.path("flag"), "").unwrap();
    let model = HttpServer::start(200, "ok");
    let checked = Marked::new();
    let served = Marked::new();
    let runs = scene.path("runs");
    // Every evaluation of the watched check leaves processes behind.
    let watched = leaves_three(&checked, &format!("echo ran >> {}", runs.display()));
    let config = scene.config(&format!(
        "listen: \"127.0.0.1:0\"\ndrain: 100ms\nchecks:\n  flag: {{kind: file, path: '@/flag'}}\n  alive: {{kind: exec, watch: true, command: {}}}\n{}",
        sh(&watched),
        health_sentinel(&model)
    ));
    // The server daemonizes a worker that must outlive every check (away from the log pipe,
    // as daemons go, so that the test sees bootgate's own end).
    let server = format!(
        "(setsid {} >/dev/null 2>&1 &); exec {}",
        served.sleep(),
        served.sleep()
    );
    let mut run = scene.spawn(
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            &server,
        ],
        &[],
    );
    run.wait_for_line("readiness: starting -> ready");
    await_that("five runs of the watched check", || {
        std::fs::read_to_string(&runs)
            .unwrap_or_default()
            .lines()
            .count()
            >= 5
    });
    assert_eq!(
        served.alive().len(),
        2,
        "the server's processes were touched"
    );
    run.signal("TERM");
    run.wait();
    checked.assert_gone("after the watched check's evaluations");
}
