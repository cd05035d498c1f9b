//! `bootgate run`: the gate, the guard and the server's process in one, against live processes.

#[macro_use]
mod common;

use std::io::{BufRead, BufReader};

use common::*;

const CONFIG: &str = "listen: \"127.0.0.1:0\"\ndrain: 100ms\ndeadline: 30s\nchecks:\n  flag: {kind: file, path: '@/flag'}\n";

/// `bootgate run -- sh -c SCRIPT` with the gate already satisfied.
fn run_script(scene: &Scene, script: &str) -> Running {
    std::fs::write(scene.path("flag"), "").unwrap();
    let config = scene.config(CONFIG);
    scene.spawn(
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            script,
        ],
        &[],
    )
}

#[test]
fn exits_with_the_commands_code() {
    let scene = Scene::new();
    std::fs::write(scene.path("flag"), "").unwrap();
    let config = scene.config(CONFIG);
    let done = scene.run(
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "echo child-ran >&2; exit 7",
        ],
        &[],
    );
    assert_eq!(done.code(), Some(7), "{}", done.stderr);
    assert_contains!(done.stderr, "child-ran");
}

#[test]
fn starts_the_command_only_after_the_gate_and_answers_startupz_meanwhile() {
    let scene = Scene::new();
    let config = scene.config(CONFIG);
    let marker = scene.path("child-started");
    let mut run = scene.spawn(
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            &format!("touch {}; exit 0", marker.display()),
        ],
        &[],
    );
    let port = guard_port(&mut run);
    run.wait_for_line("waiting for flag");
    assert_eq!(get(port, "/livez").0, 200);
    assert_eq!(get(port, "/startupz").0, 503);
    assert_eq!(get(port, "/readyz").0, 503);
    assert!(!marker.exists(), "the command must wait for the gate");
    std::fs::write(scene.path("flag"), "").unwrap();
    let (status, _) = run.wait();
    assert_eq!(status.code(), Some(0), "{}", run.full_stderr());
    assert!(marker.exists());
}

#[test]
fn a_failed_gate_never_starts_the_command() {
    let scene = Scene::new();
    let config =
        scene.config("listen: \"127.0.0.1:0\"\nchecks:\n  key: {kind: secret, env: MISSING_KEY}\n");
    let marker = scene.path("child-started");
    let done = scene.run(
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--",
            "touch",
            marker.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert!(!marker.exists());
}

#[test]
fn timing_sigterm_is_forwarded_and_the_commands_code_returned() {
    let scene = Scene::new();
    let mut run = run_script(
        &scene,
        "trap 'echo got-term >&2; exit 143' TERM; echo child-ready >&2; while :; do sleep 0.05; done",
    );
    let port = guard_port(&mut run);
    run.wait_for_all(&["child-ready", "readiness: starting -> ready"]);
    assert_eq!(get(port, "/readyz").0, 200);
    run.signal("TERM");
    run.wait_for_line("got-term");
    let (status, _) = run.wait();
    assert_eq!(status.code(), Some(143), "{}", run.full_stderr());
    assert_contains!(
        run.full_stderr(),
        "readiness: ready -> draining: SIGTERM received"
    );
}

#[test]
fn other_signals_are_forwarded_too() {
    let scene = Scene::new();
    let mut run = run_script(
        &scene,
        "trap 'echo got-hup >&2; exit 11' HUP; echo child-ready >&2; while :; do sleep 0.05; done",
    );
    run.wait_for_line("child-ready");
    run.signal("HUP");
    run.wait_for_line("got-hup");
    assert_eq!(run.wait().0.code(), Some(11));
}

/// `(state, parent pid)` of every process, from /proc.
fn processes() -> Vec<(u32, char, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let entry = e.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let (_, rest) = stat.rsplit_once(')')?;
            let mut fields = rest.split_whitespace();
            let state = fields.next()?.chars().next()?;
            let parent = fields.next()?.to_string();
            Some((pid, state, parent))
        })
        .collect()
}

#[test]
fn orphans_of_the_command_are_reaped() {
    let scene = Scene::new();
    // The outer subshell exits at once, orphaning the inner one, which sleeps a little (its
    // workload), announces its end and exits; the command itself lingers.
    let mut run = run_script(
        &scene,
        "( (sh -c 'echo orphan-pid $$ >&2; sleep 0.5; echo orphan-exiting >&2') & ); echo child-ready >&2; while :; do sleep 0.05; done",
    );
    run.wait_for_all(&["child-ready", "orphan-pid "]);
    let log = run.stderr();
    let orphan: u32 = log
        .lines()
        .find_map(|l| l.strip_prefix("orphan-pid "))
        .and_then(|pid| pid.trim().parse().ok())
        .expect("the orphan's pid");
    let bootgate = run.child.id().to_string();
    // The orphan now belongs to bootgate (a subreaper), not to the machine's init.
    let adopted = processes()
        .into_iter()
        .any(|(pid, _, parent)| pid == orphan && parent == bootgate);
    assert!(adopted, "the orphan was not re-parented onto bootgate");
    run.wait_for_line("orphan-exiting");
    run.wait_for_line(&format!("reaped orphan process {orphan}"));
    // Reaped means gone from /proc altogether, not a zombie.
    assert!(
        !std::path::Path::new(&format!("/proc/{orphan}")).exists(),
        "the orphan is still in /proc"
    );
    run.signal("TERM");
    assert_eq!(run.wait().0.code(), Some(143));
}

#[test]
fn without_a_command_it_guards_until_a_signal() {
    let scene = Scene::new();
    std::fs::write(scene.path("flag"), "").unwrap();
    let config = scene.config(CONFIG);
    let mut run = scene.spawn(&["run", "--config", config.to_str().unwrap()], &[]);
    let port = guard_port(&mut run);
    run.wait_for_line("readiness: starting -> ready");
    assert_eq!(get(port, "/startupz").0, 200);
    run.signal("TERM");
    assert_eq!(run.wait().0.code(), Some(0));
}

#[test]
fn sigterm_during_the_gate_exits_3() {
    let scene = Scene::new();
    let config = scene.config(CONFIG);
    let mut run = scene.spawn(
        &["run", "--config", config.to_str().unwrap(), "--", "true"],
        &[],
    );
    run.wait_for_line("waiting for flag");
    run.signal("TERM");
    assert_eq!(run.wait().0.code(), Some(3));
}

#[test]
fn secret_files_the_gate_learned_stay_hidden_in_the_guard() {
    let scene = Scene::new();
    kubelet_secret(&scene.path("secrets/hf"), "token", "hf_RunCanary98765", 1);
    // A model server whose error page repeats the token it was configured with.
    let model = HttpServer::start(500, "invalid HF token hf_RunCanary98765");
    let config = scene.config(&format!(
        r#"listen: "127.0.0.1:0"
drain: 100ms
checks:
  hf-token: {{kind: secret, file: '@/secrets/hf/token'}}
{sentinel}"#,
        sentinel = fast_sentinel(
            "1s",
            &format!(
                "{{name: completion, url: \"http://127.0.0.1:{}/v1/models\"}}",
                model.port
            )
        )
    ));
    let mut run = scene.spawn(&["run", "--config", config.to_str().unwrap()], &[]);
    let port = guard_port(&mut run);
    run.wait_for_line("sentinel failing: completion: status 500");
    let (_, _, reason) = get(port, "/readyz/sentinel");
    let (_, _, json) = get(port, "/readyz?format=json");
    run.signal("TERM");
    assert_eq!(run.wait().0.code(), Some(0));
    assert_contains!(reason, "invalid HF token [redacted]");
    assert_hides(
        &["hf_RunCanary98765"],
        &[
            ("log", &run.full_stderr()),
            ("reason", &reason),
            ("json", &json),
        ],
    );
}

#[test]
fn the_reaper_leaves_watched_exec_checks_to_tokio() {
    let scene = Scene::new();
    std::fs::write(scene.path("flag"), "").unwrap();
    let model = HttpServer::start(200, "ok");
    // Each evaluation writes a line to a FIFO: the test counts them as they come.
    let runs = scene.path("runs");
    mkfifo(&runs);
    // Held open for writing too, so a read waits for the next line instead of seeing EOF
    // between two evaluations.
    let fifo = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&runs)
        .unwrap();
    let (tx, evaluations) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(fifo).lines() {
            if line.is_err() || tx.send(()).is_err() {
                break;
            }
        }
    });
    let config = scene.config(&format!(
        r#"listen: "127.0.0.1:0"
drain: 100ms
checks:
  flag: {{kind: file, path: '@/flag'}}
  alive: {{kind: exec, command: [sh, -c, 'echo ran >> @/runs'], watch: true}}
{sentinel}"#,
        sentinel = fast_sentinel(
            "1s",
            &format!(
                "{{name: health, url: \"http://127.0.0.1:{}/health\"}}",
                model.port
            )
        )
    ));
    let mut run = scene.spawn(
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "while :; do sleep 0.05; done",
        ],
        &[],
    );
    run.wait_for_line("readiness: starting -> ready");
    // Many evaluations, each a child that exits while bootgate reaps orphans on SIGCHLD.
    for _ in 0..30 {
        evaluations
            .recv_timeout(PATIENCE)
            .expect("the exec check stopped running");
    }
    run.signal("TERM");
    run.wait();
    let log = run.full_stderr();
    assert!(!log.contains("alive failing"), "{log}");
}
