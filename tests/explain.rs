//! `bootgate explain` on each state a pod can be in, each made for real: a gate waiting on a
//! check, stalled, failed, degraded, forced; a guard ready, with its sentinel failing, and
//! draining. Then what it cannot read (exit 2), a hostile status.json, and secrets.

mod common;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use common::*;

/// Until the gate's status.json says what `seen` looks for: the gate writes it within 100 ms of
/// news, and reading it costs a file read where running `explain` would cost a process.
fn await_status(scene: &Scene, what: &str, seen: impl Fn(&serde_json::Value) -> bool) {
    let path = scene.state_dir().join("status.json");
    await_that(what, || {
        std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .is_some_and(|status| seen(&status))
    });
}

fn explain(scene: &Scene) -> Finished {
    let config = scene.path("bootgate.yaml");
    scene.run(&["explain", "--config", config.to_str().unwrap()], &[])
}

#[test]
fn a_gate_waiting_on_a_check_says_what_it_waits_on_since_when_and_what_waits_behind_it() {
    let scene = Scene::new();
    let model = scene.path("model.bin");
    let mut gate = scene.spawn_init(
        &format!(
            // Port 0 names no guard to ask: the gate's word is the whole answer.
            "deadline: 30s\nlisten: \"127.0.0.1:0\"\nchecks:\n  weights: {{kind: file, path: {}}}\n  warmup: {{kind: exec, command: ['true'], after: [weights]}}\n",
            model.display()
        ),
        &[],
    );
    await_status(&scene, "status.json with weights' missing file", |status| {
        status["checks"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("does not exist"))
    });
    let done = explain(&scene);
    assert_eq!(done.code(), Some(1), "{}{}", done.stdout, done.stderr);
    let out = &done.stdout;
    assert_contains!(out, "Not ready: the gate is running, started 20");
    assert_contains!(out, "0 of 2 checks passed");
    assert_contains!(
        out,
        format!("- weights (file {}) is waiting since 20", model.display())
    );
    assert_contains!(out, " ago), attempt ");
    assert_contains!(out, "What to do: create it");
    assert_contains!(out, "docs/operations.md#checks-that-are-waiting");
    assert_contains!(
        out,
        "- warmup (exec true) is pending: it runs after weights, not finished yet"
    );

    // The same from the state_dir alone, as in the init container's scratch image.
    let state = scene.state_dir();
    let bare = scene.run(&["explain", "--state-dir", state.to_str().unwrap()], &[]);
    assert_eq!(bare.code(), Some(1));
    assert_contains!(bare.stdout, "weights (file");

    std::fs::write(&model, "w").unwrap();
    assert_eq!(gate.wait().0.code(), Some(0));
    let done = explain(&scene);
    assert_eq!(done.code(), Some(0), "{}", done.stdout);
    assert_contains!(done.stdout, "Ready: the gate passed");
    assert_contains!(done.stdout, "2 of 2 checks passed");
    assert_contains!(done.stdout, "Passed: weights, warmup");
    assert_contains!(
        done.stdout,
        "Readiness is now the guard's: bootgate explain --url"
    );
}

#[test]
fn a_stalled_check_says_so_and_what_to_look_at() {
    let scene = Scene::new();
    let mut gate = scene.spawn_init(
        "deadline: 20s\nchecks:\n  migrations: {kind: exec, command: [sleep, '30'], attempt_timeout: 30s, stall_after: 200ms}\n",
        &[],
    );
    await_status(&scene, "status.json with the stall", |status| {
        status["checks"][0]["stalls"].as_u64() >= Some(1)
    });
    let done = explain(&scene);
    assert_eq!(done.code(), Some(1), "{}", done.stdout);
    assert_contains!(done.stdout, "It stalled");
    assert_contains!(done.stdout, "- migrations (exec sleep 30) is waiting since");
    assert_contains!(
        done.stdout,
        "an attempt showed no sign of life for stall_after"
    );
    assert_contains!(done.stdout, "raise stall_after");
    gate.signal("TERM");
    assert_eq!(gate.wait().0.code(), Some(3));
    let done = explain(&scene);
    assert_eq!(done.code(), Some(1));
    assert_contains!(
        done.stdout,
        "Not ready: a signal stopped the gate before it decided"
    );
}

#[test]
fn a_gate_past_its_deadline_says_which_check_held_it_and_its_last_error() {
    let scene = Scene::new();
    let gate = scene.init(
        "deadline: 300ms\nchecks:\n  hf-token: {kind: secret, file: @/token}\n  after-it: {kind: secret, env: X, after: [hf-token]}\n",
        &[],
    );
    assert_eq!(gate.code(), Some(1), "{}", gate.stderr);
    let done = explain(&scene);
    assert_eq!(done.code(), Some(1), "{}", done.stdout);
    let out = &done.stdout;
    assert_contains!(out, "Not ready: the gate's deadline passed, started 20");
    assert_contains!(out, "- hf-token (secret file ");
    assert_contains!(out, " failed after ");
    assert_contains!(out, "  deadline 300ms passed\n  last error: file ");
    assert_contains!(out, "What to do: create it: the Secret or its key");
    assert_contains!(out, "- after-it (secret env X) was stopped");
}

#[test]
fn a_degraded_gate_is_ready_with_its_caveat() {
    let scene = Scene::new();
    let gate = scene.init(
        "listen: \"127.0.0.1:0\"\nchecks:\n  model: {kind: secret, env: M}\n  gpu: {kind: secret, env: GPU_KEY, on_fail: degrade}\n",
        &[("M", "real-value")],
    );
    assert_eq!(gate.code(), Some(0), "{}", gate.stderr);
    let done = explain(&scene);
    assert_eq!(done.code(), Some(0), "{}", done.stdout);
    assert_contains!(done.stdout, "Ready, with a caveat below: the gate passed");
    assert_contains!(
        done.stdout,
        "- gpu (secret env GPU_KEY) is degraded (on_fail: degrade): the gate goes on without it, and the server runs in its safe mode (state_dir/env tells it so)"
    );
    assert_contains!(done.stdout, "env GPU_KEY is not set");
    assert_contains!(done.stdout, "Passed: model\n");
}

#[test]
fn a_forced_check_is_ready_and_names_what_it_was_forced_past() {
    let scene = Scene::new();
    std::fs::create_dir(scene.path("model")).unwrap();
    std::fs::write(scene.path("model/weights.bin"), "original").unwrap();
    let made = scene.run(
        &["manifest", "generate", "model", "-o", "manifest.yaml"],
        &[],
    );
    assert_eq!(made.code(), Some(0), "{}", made.stderr);
    std::fs::write(scene.path("model/weights.bin"), "tampered").unwrap();
    let gate = scene.init(
        "listen: \"127.0.0.1:0\"\nchecks:\n  weights: {kind: manifest, manifest: @/manifest.yaml, root: @/model, force: true}\n",
        &[],
    );
    assert_eq!(gate.code(), Some(0), "{}", gate.stderr);
    let done = explain(&scene);
    assert_eq!(done.code(), Some(0), "{}", done.stdout);
    assert_contains!(done.stdout, "Ready, with a caveat below: the gate passed");
    assert_contains!(done.stdout, "- weights (manifest ");
    assert_contains!(
        done.stdout,
        "passed only because it is FORCED (force: true), past:\n  weights.bin"
    );
    assert_contains!(
        done.stdout,
        "What to do: remove force once the model matches"
    );
}

/// A model server whose status can be changed while it serves.
fn switchable(status: &Arc<AtomicU16>) -> HttpServer {
    let now = status.clone();
    HttpServer::answering(TcpListener::bind("127.0.0.1:0").unwrap(), move |_, _| {
        response(now.load(Ordering::SeqCst), b"{\"text\": \"fine\"}")
    })
}

#[test]
fn a_guard_ready_then_its_sentinel_failing() {
    let scene = Scene::new();
    let status = Arc::new(AtomicU16::new(200));
    let model = switchable(&status);
    let (mut guard, port) = start_guard(
        &scene,
        &format!(
            "listen: \"127.0.0.1:0\"\ndrain: 100ms\n{}",
            health_sentinel(&model)
        ),
    );
    let base = format!("http://127.0.0.1:{port}");
    // The guard publishes a turn before it logs it: once logged, /readyz says it.
    guard.wait_for_line("readiness: starting -> ready");
    let ready = scene.run(&["explain", "--url", &base], &[]);
    assert_eq!(ready.code(), Some(0), "{}", ready.stdout);
    assert_contains!(ready.stdout, "Ready: the guard's phase is ready.");
    assert_contains!(ready.stdout, "- sentinel query health passed in ");

    status.store(500, Ordering::SeqCst);
    let url = format!("{base}/readyz");
    guard.wait_for_line("readiness: ready -> unready");
    let failing = scene.run(&["explain", "--url", &url], &[]);
    assert_eq!(failing.code(), Some(1), "{}", failing.stdout);
    let out = &failing.stdout;
    assert_contains!(out, "Not ready: the guard's phase is unready.");
    assert_contains!(out, "- sentinel failing:\n");
    assert_contains!(out, "health: status 500");
    assert_contains!(out, "What to do: look at the model server if it repeats");
    assert_contains!(out, "docs/operations.md#how-readiness-is-decided");
    assert_contains!(out, "- sentinel query health failed in ");
    stop_guard(guard);
}

#[test]
fn past_a_passed_gate_the_bare_command_asks_the_guard_the_config_names() {
    let scene = Scene::new();
    let status = Arc::new(AtomicU16::new(500));
    let model = switchable(&status);
    // A fixed port: `explain` finds the guard through the config's `listen`.
    let port = free_port();
    let mut run = scene.spawn(
        &[
            "run",
            "--config",
            scene
                .config(&format!(
                    "listen: \"127.0.0.1:{port}\"\ndrain: 100ms\nchecks:\n  k: {{kind: secret, env: K}}\n{}",
                    health_sentinel(&model)
                ))
                .to_str()
                .unwrap(),
        ],
        &[("K", "a value")],
    );
    run.wait_for_line("sentinel failing");
    let done = explain(&scene);
    assert_eq!(done.code(), Some(1), "{}", done.stdout);
    assert_contains!(done.stdout, "Ready: the gate passed");
    assert_contains!(done.stdout, "The guard:\nNot ready");
    assert_contains!(done.stdout, "status 500");
    status.store(200, Ordering::SeqCst);
    run.wait_for_line("readiness: starting -> ready");
    let ready = explain(&scene);
    assert_contains!(ready.stdout, "The guard:\nReady");
    assert_eq!(ready.code(), Some(0), "{}", ready.stdout);
    stop_guard(run);
    // With the guard gone, the gate's word stands, and it says where the guard would be.
    let alone = explain(&scene);
    assert_eq!(alone.code(), Some(0), "{}", alone.stdout);
    assert_contains!(
        alone.stdout,
        format!(
            "Readiness is now the guard's: bootgate explain --url http://127.0.0.1:{port} from"
        )
    );
    assert_contains!(
        alone.stdout,
        format!("No guard answered here: GET http://127.0.0.1:{port}/readyz: ")
    );
}

#[test]
fn a_draining_guard_says_it_is_draining() {
    let scene = Scene::new();
    let model = HttpServer::start(200, "fine");
    let (mut guard, port) = start_guard(
        &scene,
        &format!(
            "listen: \"127.0.0.1:0\"\ndrain: 10s\n{}",
            health_sentinel(&model)
        ),
    );
    let base = format!("http://127.0.0.1:{port}");
    guard.wait_for_line("readiness: starting -> ready");
    assert_contains!(scene.run(&["explain", "--url", &base], &[]).stdout, "Ready");
    guard.signal("TERM");
    guard.wait_for_line("draining: answering 503");
    let done = scene.run(&["explain", "--url", &base], &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stdout);
    assert_contains!(done.stdout, "Not ready: the guard is draining");
    assert_contains!(
        done.stdout,
        "- shutdown failing:\n  the process is shutting down"
    );
    guard.signal("TERM");
    assert_eq!(guard.wait().0.code(), Some(0));
}

/// This machine's address on its default route: a client there is not on the loopback.
/// This machine's address on its route outward: a client off the loopback. `None` on a machine
/// with no route at all, where no such client exists.
fn outside_address() -> Option<std::net::IpAddr> {
    // A UDP connect only picks the route and its source address; nothing is sent.
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").expect("bind");
    socket
        .connect("192.0.2.1:9")
        .or_else(|_| socket.connect("8.8.8.8:53"))
        .ok()?;
    let ip = socket.local_addr().expect("local address").ip();
    assert!(!ip.is_loopback(), "{ip}");
    Some(ip)
}

#[test]
fn a_client_off_the_loopback_is_told_that_reasons_are_withheld() {
    let Some(outside) = outside_address() else {
        eprintln!("SKIPPED: no route off this machine, so no client off its loopback");
        return;
    };
    let scene = Scene::new();
    let status = Arc::new(AtomicU16::new(500));
    let model = switchable(&status);
    let (guard, port) = start_guard(
        &scene,
        &format!(
            "listen: \"0.0.0.0:0\"\ndrain: 100ms\n{}",
            health_sentinel(&model)
        ),
    );
    let url = format!("http://{outside}:{port}");
    let done = scene.run(&["explain", "--url", &url], &[]);
    assert_eq!(done.code(), Some(1), "{}{}", done.stdout, done.stderr);
    assert_contains!(
        done.stdout,
        "Not ready: the guard withholds its reasons from a client off the pod's loopback"
    );
    assert_contains!(done.stdout, "  [-]sentinel failed: reason withheld\n");
    assert!(!done.stdout.contains("status 500"), "{}", done.stdout);
    stop_guard(guard);
}

#[test]
fn what_cannot_be_read_is_exit_2_with_a_reason() {
    let scene = Scene::new();
    let state = scene.state_dir();
    let dir = state.to_str().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--state-dir".into(), dir.into()],
            "status.json: no such file or directory; the gate has not written it yet",
        ),
        (
            vec![
                "--config".into(),
                scene.path("none.yaml").to_str().unwrap().into(),
                "--state-dir".into(),
                dir.into(),
            ],
            "no such file",
        ),
    ];
    for (args, why) in &cases {
        let mut all = vec!["explain"];
        all.extend(args.iter().map(String::as_str));
        let done = scene.run(&all, &[]);
        assert_eq!(done.code(), Some(2), "{all:?}: {}", done.stderr);
        assert_contains!(done.stderr, why);
        assert!(done.stdout.is_empty(), "{}", done.stdout);
    }

    // No config, and no BOOTGATE_STATE_DIR to stand in for it.
    let mut cmd = scene.command(&["explain", "--config", "missing.yaml"], &[]);
    cmd.env_remove("BOOTGATE_STATE_DIR");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_contains!(
        String::from_utf8_lossy(&out.stderr),
        "cannot tell the state_dir from missing.yaml"
    );

    std::fs::create_dir(&state).unwrap();
    std::fs::write(state.join("status.json"), "{\"not\": \"the gate's\"}").unwrap();
    let done = scene.run(&["explain", "--state-dir", dir], &[]);
    assert_eq!(done.code(), Some(2));
    assert_contains!(done.stderr, "status.json is not the gate's status.json");

    // A FIFO is refused at once, never waited on for a writer.
    std::fs::remove_file(state.join("status.json")).unwrap();
    mkfifo(&state.join("status.json"));
    let done = scene.run(&["explain", "--state-dir", dir], &[]);
    assert_eq!(done.code(), Some(2));
    assert_contains!(done.stderr, "it is a FIFO, not a regular file");

    let refused = format!("http://127.0.0.1:{}", free_port());
    let done = scene.run(&["explain", "--url", &refused], &[]);
    assert_eq!(done.code(), Some(2));
    assert_contains!(
        done.stderr,
        format!("GET {refused}/readyz: connection refused")
    );

    let other = HttpServer::start(404, "404 page not found\n");
    let url = format!("http://127.0.0.1:{}/", other.port);
    let done = scene.run(&["explain", "--url", &url], &[]);
    assert_eq!(done.code(), Some(2));
    assert_contains!(done.stderr, "status 404, not a bootgate guard's answer");
    assert!(
        other.was_sent("accept: application/json"),
        "the guard is asked for JSON"
    );
}

#[test]
fn a_hostile_status_json_is_escaped_and_cut() {
    let scene = Scene::new();
    let state = scene.state_dir();
    std::fs::create_dir(&state).unwrap();
    let huge = "x".repeat(1 << 20);
    let many: String = (0..5000).map(|i| format!("line {i}\n")).collect();
    let status = serde_json::json!({
        "started_at": "2026-12-05T00:00:00.000Z",
        "outcome": "running",
        "checks": [
            {"name": "evil\u{1b}[2J\rgate passed", "state": "running", "on_fail": "require",
             "kind": "exec", "target": huge, "attempts": 3, "started_ms": 1e300,
             "last_error": format!("\u{1b}]0;title\u{7}{huge}")},
            {"name": "long", "state": "failed", "on_fail": "require", "reason": many},
            {"name": "odd", "state": "exploded", "on_fail": "require"}
        ]
    });
    std::fs::write(state.join("status.json"), status.to_string()).unwrap();
    let done = scene.run(&["explain", "--state-dir", state.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    let out = &done.stdout;
    assert!(
        !out.contains('\u{1b}') && !out.contains('\r') && !out.contains('\u{7}'),
        "{out}"
    );
    assert_contains!(out, "- evil\\u{1b}[2J\\rgate passed (exec ");
    assert_contains!(out, "\\u{1b}]0;title\\u{7}");
    assert_contains!(out, "bytes in all)");
    assert_contains!(out, "  line 11\n  … and 4988 more lines\n");
    assert_contains!(out, "1 entries of status.json do not read as checks");
    assert!(out.len() < 8192, "{} bytes", out.len());
}

#[test]
fn no_secret_is_ever_printed() {
    let canary = "canary-9f8e7d6c5b4a";
    let scene = Scene::new();
    // The gate redacts what its command echoes; explain shows only what the gate wrote.
    let gate = scene.init(
        "deadline: 300ms\nchecks:\n  token: {kind: secret, env: TOKEN}\n  leaky: {kind: exec, command: [sh, -c, 'echo \"bad $TOKEN\" >&2; exit 1'], after: [token]}\n",
        &[("TOKEN", canary)],
    );
    assert_eq!(gate.code(), Some(1));
    let done = explain(&scene);
    assert_eq!(done.code(), Some(1));
    assert_contains!(done.stdout, "exited with status 1");

    // Credentials in a URL are masked wherever it is shown.
    let refused = format!("http://user:{canary}@127.0.0.1:{}", free_port());
    let asked = scene.run(&["explain", "--url", &refused], &[]);
    assert_eq!(asked.code(), Some(2));
    assert_contains!(asked.stderr, "connection refused");
    let other = HttpServer::start(404, "nothing");
    let url = format!("http://user:{canary}@127.0.0.1:{}/x", other.port);
    let odd = scene.run(&["explain", "--url", &url], &[]);
    assert_eq!(odd.code(), Some(2));
    assert_hides(
        &[canary],
        &[
            ("explain of the gate", &done.stdout),
            ("its errors", &done.stderr),
            ("a refused URL", &asked.stderr),
            ("a URL that is no guard", &odd.stderr),
        ],
    );
}
