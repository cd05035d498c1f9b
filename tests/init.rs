//! `bootgate init` end to end: the real binary, real files, sockets, HTTP and signals.

#[macro_use]
mod common;

use std::time::Duration;

use common::*;

#[test]
fn timing_file_created_after_waiting_is_noticed_within_300ms() {
    let scene = Scene::new();
    let mut gate = scene.spawn_init("deadline: 30s\nchecks:\n  weights: {kind: file, path: '@/models/llama/model.safetensors', min_size: 4}\n", &[]);
    gate.wait_for_line("waiting for weights");
    std::fs::create_dir_all(scene.path("models/llama")).unwrap();
    std::fs::write(scene.path("models/llama/model.safetensors"), b"weights!").unwrap();
    let created = std::time::Instant::now();
    let (status, exited) = gate.wait();
    assert_eq!(status.code(), Some(0), "{}", gate.full_stderr());
    let reaction = exited - created;
    // A 1 s poller averages 500 ms here; inotify takes a few.
    assert!(
        reaction < Duration::from_millis(300),
        "reacted after {reaction:?}"
    );
}

#[test]
fn timing_secret_volume_data_swap_is_noticed_at_once() {
    let scene = Scene::new();
    let volume = scene.path("secrets/hf");
    // The volume starts with a placeholder, as a half-provisioned Secret would.
    kubelet_secret(&volume, "token", "changeme", 1);
    let config = scene
        .config("deadline: 30s\nchecks:\n  hf-token: {kind: secret, file: '@/secrets/hf/token'}\n");
    let mut gate = scene.spawn(&["init", "--config", config.to_str().unwrap()], &[]);
    gate.wait_for_line("waiting for hf-token");
    kubelet_secret(&volume, "token", "hf_real_token_value", 2);
    let swapped = std::time::Instant::now();
    let (status, exited) = gate.wait();
    let stderr = gate.full_stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    // Through inotify, not the 5 s safety re-check.
    assert!(
        exited - swapped < Duration::from_secs(1),
        "noticed after {:?}",
        exited - swapped
    );
    assert_contains!(stderr, "placeholder");
    assert!(!stderr.contains("hf_real_token_value"), "{stderr}");
}

#[test]
fn timing_independent_checks_run_at_once() {
    let scene = Scene::new();
    // Each command announces itself, then waits for the other's announcement: run one after
    // the other, neither could pass and the deadline would fail the gate.
    let config = scene.config(
        r#"deadline: 20s
checks:
  a: {kind: exec, command: [sh, -c, 'touch @/a.started; until [ -e @/b.started ]; do sleep 0.01; done; sleep 1'], attempt_timeout: 15s}
  b: {kind: exec, command: [sh, -c, 'touch @/b.started; until [ -e @/a.started ]; do sleep 0.01; done; sleep 1'], attempt_timeout: 15s}
"#,
    );
    let done = scene.run(&["init", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    // Both sleep 1 s: in series that is 2 s at least.
    assert!(
        done.elapsed < Duration::from_millis(1800),
        "took {:?}",
        done.elapsed
    );
    let status = scene.status();
    let checks = status["checks"].as_array().unwrap();
    let (a, b) = (&checks[0], &checks[1]);
    // Both started before either finished.
    assert!(a["started_ms"].as_f64() < b["finished_ms"].as_f64());
    assert!(b["started_ms"].as_f64() < a["finished_ms"].as_f64());
}

#[test]
fn dependencies_run_in_order() {
    let scene = Scene::new();
    let config = scene.config(
        r#"checks:
  second: {kind: exec, command: [sh, -c, 'test -e @/first.done'], after: [first]}
  first: {kind: exec, command: [sh, -c, 'sleep 0.2; touch @/first.done']}
"#,
    );
    let done = scene.run(&["init", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_contains!(done.stderr, "second passed (exit 0) after 1 attempt");
}

#[test]
fn cycle_is_rejected_naming_every_member_before_anything_runs() {
    let scene = Scene::new();
    let done = scene.init(
        r#"checks:
  a: {kind: exec, command: [touch, '@/ran'], after: [c]}
  b: {kind: secret, env: X, after: [a]}
  c: {kind: secret, env: X, after: [b]}
  d: {kind: secret, env: X}
"#,
        &[],
    );
    assert_eq!(done.code(), Some(2), "{}", done.stderr);
    assert_contains!(done.stderr, "dependency cycle: a -> c -> b -> a");
    assert!(!scene.path("ran").exists());
    assert!(!scene.state_dir().exists(), "nothing may be half-done");
}

#[test]
fn typo_keys_and_kinds_get_did_you_mean_with_position() {
    let scene = Scene::new();
    let done = scene.init("checks:\n  weights: {kind: file, path: /m, afer: [hf-token]}\n  hf-token: {kind: secert, file: /t}\n", &[]);
    assert_eq!(done.code(), Some(2), "{}", done.stderr);
    assert_contains!(
        done.stderr,
        "bootgate.yaml:2:35: checks.weights: unknown key `afer` (did you mean after?)"
    );
    assert_contains!(
        done.stderr,
        "bootgate.yaml:3:20: checks.hf-token.kind: unknown kind `secert` (did you mean secret?)"
    );
}

#[test]
fn unknown_dependency_gets_did_you_mean() {
    let scene = Scene::new();
    let config = scene.config("checks:\n  hf-token: {kind: secret, env: X}\n  w: {kind: secret, env: X, after: [hf-tokn]}\n");
    let done = scene.run(&["validate", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(2));
    assert_contains!(
        done.stderr,
        ":3:37: checks.w.after: no check named `hf-tokn` (did you mean hf-token?)"
    );
}

#[test]
fn missing_secret_past_the_deadline_exits_1_and_names_it_in_the_termination_log() {
    let scene = Scene::new();
    let (done, message) = scene.init_reporting(
        "deadline: 1s\nchecks:\n  openai-key: {kind: secret, env: OPENAI_API_KEY}\n  hf-token: {kind: secret, file: '@/secrets/hf/token'}\n",
        &[("OPENAI_API_KEY", "sk-test-value")],
    );
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    let last = message.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("hf-token: deadline 1.0s passed"),
        "{message}"
    );
    assert!(last.contains("does not exist"), "{message}");
    assert_contains!(message, "passed: openai-key");
    let status = scene.status();
    assert_eq!(status["outcome"], "deadline_exceeded");
    assert_eq!(status["checks"][1]["state"], "failed");
    assert!(!scene.state_dir().join("ready").exists());
}

#[test]
fn missing_env_secret_fails_at_once_with_a_suggestion() {
    let scene = Scene::new();
    let config =
        scene.config("deadline: 60s\nchecks:\n  openai-key: {kind: secret, env: OPENAI_API_KEY}\n");
    let done = scene.run(
        &["init", "--config", config.to_str().unwrap()],
        &[("OPEN_API_KEY", "x")],
    );
    assert_eq!(done.code(), Some(1));
    assert_contains!(
        done.stderr,
        "openai-key failed: env OPENAI_API_KEY is not set (did you mean OPEN_API_KEY?)"
    );
    // Judged once: no waiting for a deadline that is a minute away.
    assert!(done.elapsed < Duration::from_secs(30));
}

#[test]
fn unset_variable_in_config_is_a_missing_input() {
    let scene = Scene::new();
    let config =
        scene.config("checks:\n  registry: {kind: http, url: 'http://${REGISTRY_HOST}/health'}\n");
    let done = scene.run(
        &["init", "--config", config.to_str().unwrap()],
        &[("REGISTRY_HOSTNAME", "x")],
    );
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(
        done.stderr,
        "checks.registry.url uses ${REGISTRY_HOST}, which is not set (did you mean REGISTRY_HOSTNAME?)"
    );
}

#[test]
fn timing_sigterm_while_waiting_exits_3_within_a_second() {
    let scene = Scene::new();
    let mut gate = scene.spawn_init("deadline: 60s\nchecks:\n  vector-db: {kind: tcp, address: '127.0.0.1:1'}\n  slow: {kind: exec, command: [sleep, '30'], attempt_timeout: 40s, stall_after: 50s}\n", &[]);
    gate.wait_for_line("waiting for vector-db");
    gate.signal("TERM");
    let sent = std::time::Instant::now();
    let (status, exited) = gate.wait();
    assert_eq!(status.code(), Some(3), "{}", gate.full_stderr());
    assert!(
        exited - sent < Duration::from_secs(1),
        "took {:?}",
        exited - sent
    );
    let status = scene.status();
    assert_eq!(status["outcome"], "interrupted");
    // Nothing is left looking as if it still ran (`slow` may not have started yet).
    for check in status["checks"].as_array().unwrap() {
        assert_eq!(check["state"], "cancelled", "{check}");
        let reason = check["reason"].as_str().unwrap();
        assert!(
            reason == "stopped: the gate was interrupted"
                || reason == "not started: the gate was interrupted first",
            "{reason}"
        );
    }
    assert_eq!(
        status["checks"][0]["reason"],
        "stopped: the gate was interrupted"
    );
}

#[test]
fn canary_secret_never_appears_in_any_output() {
    const CANARY: &str = "canary-7f3a9c2e51";
    const FILE_CANARY: &str = "filecanary-0b8e44";
    const PEM_LINE_1: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC";
    const PEM_LINE_2: &str = "BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj";
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{PEM_LINE_1}\n{PEM_LINE_2}\n-----END PRIVATE KEY-----"
    );
    let scene = Scene::new();
    // A 401 page that echoes the token back, as many do.
    let server = HttpServer::start(401, &format!("invalid token {CANARY} / {FILE_CANARY}"));
    kubelet_secret(&scene.path("secrets/api"), "token", FILE_CANARY, 1);
    let config = scene.config(&format!(
        r#"deadline: 1s
checks:
  api-key: {{kind: secret, env: API_KEY}}
  tls-key: {{kind: secret, env: TLS_KEY}}
  db: {{kind: tcp, address: '127.0.0.1:1'}}
  # Runs only after db, which never passes: the file is never read by its own check.
  api-file: {{kind: secret, file: '@/secrets/api/token', after: [db]}}
  registry:
    kind: http
    url: http://127.0.0.1:{port}/v1/models
    headers: {{Authorization: "Bearer ${{API_KEY}}"}}
  echo: {{kind: exec, command: [sh, -c, 'echo "auth failed for $API_KEY"; cat @/secrets/api/token >&2; printf "%s\n" "$TLS_KEY" >&2; exit 4']}}
  # Enough output that the kept tail starts in the middle of the secret.
  cut: {{kind: exec, command: [sh, -c, 'head -c 5000 /dev/zero | tr "\0" x >&2; printf "%s" "$API_KEY" >&2; head -c 4090 /dev/zero | tr "\0" y >&2; exit 5']}}
  leak-name: {{kind: tcp, address: "127.0.0.1:${{API_KEY_PORT}}"}}
"#,
        port = server.port
    ));
    let termination = scene.path("termination-log");
    let env = [
        ("API_KEY", CANARY),
        ("API_KEY_PORT", "1"),
        ("TLS_KEY", pem.as_str()),
    ];
    let init = scene.run(
        &[
            "init",
            "--config",
            config.to_str().unwrap(),
            "--termination-log",
            termination.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(init.code(), Some(1), "{}", init.stderr);
    let check = scene.run(&["check", "--config", config.to_str().unwrap()], &env);
    let only = scene.run(
        &[
            "check",
            "--config",
            config.to_str().unwrap(),
            "--only",
            "echo",
        ],
        &env,
    );
    let json_log = scene.run(
        &[
            "--log-format",
            "json",
            "init",
            "--config",
            config.to_str().unwrap(),
        ],
        &env,
    );
    let status = std::fs::read_to_string(scene.state_dir().join("status.json")).unwrap();
    let termination = std::fs::read_to_string(&termination).unwrap();
    // A config error must not quote a filled-in URL either.
    let bad_url = scene.path("bad-url.yaml");
    std::fs::write(
        &bad_url,
        "checks:\n  r: {kind: http, url: 'ftp://user:${API_KEY}@host/'}\n",
    )
    .unwrap();
    let invalid = scene.run(&["validate", "--config", bad_url.to_str().unwrap()], &env);
    assert_eq!(invalid.code(), Some(2), "{}", invalid.stderr);

    // The secrets really went out and came back: the test can fail.
    assert!(
        server
            .requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.contains(CANARY))
    );
    assert_contains!(init.stderr, "status 401");
    assert_contains!(init.stderr, "[redacted]");
    assert_contains!(status, "exited with status 4");
    assert_contains!(status, "exited with status 5: ");
    assert!(
        serde_json::from_str::<serde_json::Value>(&status).is_ok(),
        "status.json stays JSON"
    );
    // Not even the end of a secret cut in half (`&CANARY[6..]`).
    assert_hides(
        &[CANARY, FILE_CANARY, PEM_LINE_1, PEM_LINE_2, &CANARY[6..]],
        &[
            ("init stdout", &init.stdout),
            ("init stderr", &init.stderr),
            ("check stdout", &check.stdout),
            ("check stderr", &check.stderr),
            ("check --only stdout", &only.stdout),
            ("json log", &json_log.stderr),
            ("status.json", &status),
            ("termination log", &termination),
            ("config error", &invalid.stderr),
        ],
    );
}

#[test]
fn a_fifo_is_not_a_secret_file_and_does_not_hang_the_gate() {
    let scene = Scene::new();
    let fifo = scene.path("token");
    mkfifo(&fifo);
    let done = scene.init(
        "deadline: 1s\nchecks:\n  token: {kind: secret, file: '@/token'}\n",
        &[],
    );
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(done.stderr, "is not a regular file");
}

#[test]
fn config_errors_reach_the_termination_log() {
    let scene = Scene::new();
    let config = scene.config("checks:\n  hf-token: {kind: secert, file: /t}\n");
    let termination = scene.path("termination-log");
    let done = scene.run(
        &[
            "init",
            "--config",
            config.to_str().unwrap(),
            "--termination-log",
            termination.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(done.code(), Some(2));
    let message = std::fs::read_to_string(&termination).unwrap();
    assert_contains!(message, "unknown kind `secert` (did you mean secret?)");
}

#[test]
fn variables_are_expanded_in_paths() {
    let scene = Scene::new();
    std::fs::create_dir_all(scene.path("models/llama")).unwrap();
    std::fs::write(scene.path("models/llama/w.bin"), b"weights").unwrap();
    let done = scene.init(
        "checks:\n  w: {kind: file, path: '@/models/${MODEL}/w.bin'}\n",
        &[("MODEL", "llama")],
    );
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    let config =
        scene.config("state_dir: '/run/${X}'\nchecks:\n  e: {kind: secret, env: '${X}'}\n");
    let done = scene.run(&["validate", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(2));
    assert_contains!(
        done.stderr,
        "set BOOTGATE_STATE_DIR in the environment instead"
    );
    assert_contains!(done.stderr, "is not a variable name");
}

#[test]
fn stalled_attempt_is_reported_cancelled_and_restarted() {
    let scene = Scene::new();
    let mut gate = scene.spawn_init("deadline: 2s\nchecks:\n  migrations: {kind: exec, command: [sleep, '10'], attempt_timeout: 10s, stall_after: 300ms}\n", &[]);
    gate.wait_for_line("migrations STALLED: attempt 1");
    gate.wait_for_line("migrations STALLED: attempt 2");
    let (status, _) = gate.wait();
    assert_eq!(status.code(), Some(1));
    let status = scene.status();
    assert!(
        status["checks"][0]["stalls"].as_u64().unwrap() >= 2,
        "{status}"
    );
}

#[test]
fn a_command_that_prints_progress_is_not_stalled() {
    let scene = Scene::new();
    let config = scene.config(
        "checks:\n  hash: {kind: exec, command: [sh, -c, 'for i in 1 2 3 4 5 6; do echo chunk $i; sleep 0.1; done'], stall_after: 300ms}\n",
    );
    let done = scene.run(&["init", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert!(!done.stderr.contains("STALLED"), "{}", done.stderr);
}

#[test]
fn http_check_waits_for_the_expected_status_and_body() {
    let scene = Scene::new();
    let port = free_port();
    let mut gate = scene.spawn_init(&format!(
        "deadline: 30s\nchecks:\n  registry: {{kind: http, url: 'http://127.0.0.1:{port}/health', expect: {{status: 200, body_contains: serving}}}}\n"
    ), &[]);
    gate.wait_for_line("waiting for registry: GET http://127.0.0.1");
    // The server comes up still loading, then says it serves.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let server = HttpServer::script(listener, &[(503, "loading"), (200, "model serving")]);
    gate.wait_for_line("waiting for registry: GET http://127.0.0.1");
    let (status, _) = gate.wait();
    let stderr = gate.full_stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_contains!(stderr, "status 503, want 200, body \"loading\"");
    assert!(server.requests.lock().unwrap()[0].starts_with("GET /health HTTP/1.1"));
}

#[test]
fn http_body_expectation_is_checked() {
    let scene = Scene::new();
    let healthy = HttpServer::start(202, "model serving");
    let wrong_body = HttpServer::start(200, "warming up");
    let config = scene.config(&format!(
        "checks:\n  ok: {{kind: http, url: 'http://127.0.0.1:{}/health', expect: {{status: [200, 202], body_contains: serving}}}}\n  body: {{kind: http, url: 'http://127.0.0.1:{}/health', expect: {{body_contains: serving}}, on_fail: warn}}\n",
        healthy.port, wrong_body.port
    ));
    let done = scene.run(&["check", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(0), "{}{}", done.stdout, done.stderr);
    assert_contains!(done.stdout, "✔ ok ");
    assert_contains!(
        done.stdout,
        "status 200 but the body lacks `serving`: \"warming up\" (warn only)"
    );
}

#[test]
fn warn_checks_do_not_block_the_gate() {
    let scene = Scene::new();
    let mut gate = scene.spawn_init("deadline: 30s\nchecks:\n  flag: {kind: file, path: '@/flag'}\n  optional-db: {kind: tcp, address: '127.0.0.1:1', on_fail: warn}\n", &[]);
    gate.wait_for_line("waiting for optional-db");
    std::fs::write(scene.path("flag"), "").unwrap();
    let (status, _) = gate.wait();
    assert_eq!(status.code(), Some(0), "{}", gate.full_stderr());
    let status = scene.status();
    assert_eq!(status["outcome"], "passed");
    assert_eq!(status["checks"][1]["state"], "cancelled");
    assert_eq!(
        status["checks"][1]["last_error"],
        "connect 127.0.0.1:1: connection refused"
    );
}

#[test]
fn stale_marker_is_removed_and_a_second_instance_waits_for_the_lock() {
    let scene = Scene::new();
    std::fs::create_dir_all(scene.state_dir()).unwrap();
    std::fs::write(scene.state_dir().join("ready"), "from a crashed run").unwrap();
    let mut first = scene.spawn_init(
        "deadline: 30s\nchecks:\n  flag: {kind: file, path: '@/flag'}\n",
        &[],
    );
    first.wait_for_line("waiting for flag");
    assert!(
        !scene.state_dir().join("ready").exists(),
        "the stale marker must go first"
    );
    // The same config, rewritten identically: a second instance of the same init container.
    let mut second = scene.spawn_init(
        "deadline: 30s\nchecks:\n  flag: {kind: file, path: '@/flag'}\n",
        &[],
    );
    second.wait_for_line(&format!("is locked by pid {}", first.child.id()));
    std::fs::write(scene.path("flag"), "").unwrap();
    assert_eq!(first.wait().0.code(), Some(0), "{}", first.full_stderr());
    assert_eq!(second.wait().0.code(), Some(0), "{}", second.full_stderr());
    assert!(scene.state_dir().join("ready").exists());
}

#[test]
fn json_log_lines_are_json() {
    let scene = Scene::new();
    let config = scene.config("checks:\n  key: {kind: secret, env: K}\n");
    let done = scene.run(
        &[
            "--log-format",
            "json",
            "init",
            "--config",
            config.to_str().unwrap(),
        ],
        &[("K", "v-123")],
    );
    assert_eq!(done.code(), Some(0));
    for line in done.stderr.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["message"].is_string(), "{line}");
    }
}

#[test]
fn config_comes_from_bootgate_config_and_deadline_from_the_environment() {
    let scene = Scene::new();
    let config = scene.config("deadline: 10m\nchecks:\n  flag: {kind: file, path: '@/never'}\n");
    let done = scene.run(
        &["init"],
        &[
            ("BOOTGATE_CONFIG", config.to_str().unwrap()),
            ("BOOTGATE_DEADLINE", "300ms"),
        ],
    );
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(done.stderr, "deadline 300ms passed");
}

#[test]
fn bad_arguments_and_unreadable_config_exit_2() {
    let scene = Scene::new();
    assert_eq!(scene.run(&["init", "--no-such-flag"], &[]).code(), Some(2));
    let done = scene.run(&["init", "--config", "/nonexistent/bootgate.yaml"], &[]);
    assert_eq!(done.code(), Some(2));
    assert_contains!(done.stderr, "cannot read config /nonexistent/bootgate.yaml");
}

#[test]
fn a_growing_file_logs_once() {
    let scene = Scene::new();
    let mut gate = scene.spawn_init(
        "deadline: 30s\nchecks:\n  weights: {kind: file, path: '@/model.bin', min_size: 64KiB}\n",
        &[],
    );
    gate.wait_for_line("waiting for weights");
    std::fs::write(scene.path("model.bin"), vec![0u8; 4096]).unwrap();
    // The file is created before it is written: the line may show 0 B or 4 KiB so far.
    gate.wait_for_line("is smaller than 64.0 KiB (");
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(scene.path("model.bin"))
        .unwrap();
    for _ in 0..15 {
        file.write_all(&[0u8; 4096]).unwrap();
        file.sync_data().unwrap();
    }
    let (status, _) = gate.wait();
    let stderr = gate.full_stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("smaller than").count(),
        1,
        "one line per change, not per write:\n{stderr}"
    );
}

#[test]
fn progress_of_an_unfinished_file_is_kept_in_status() {
    let scene = Scene::new();
    std::fs::write(scene.path("model.bin"), vec![0u8; 4096]).unwrap();
    let done = scene.init(
        "deadline: 500ms\nchecks:\n  weights: {kind: file, path: '@/model.bin', min_size: 64KiB}\n",
        &[],
    );
    assert_eq!(done.code(), Some(1));
    let status = scene.status();
    assert_eq!(status["checks"][0]["progress"], "4.0 KiB of 64.0 KiB");
}

#[test]
fn many_waiting_file_checks_share_one_inotify_instance() {
    // More waiting checks than a node's default of 128 inotify instances per user.
    const CHECKS: usize = 150;
    let scene = Scene::new();
    let mut config = String::from("deadline: 30s\nchecks:\n");
    for i in 0..CHECKS {
        config.push_str(&format!(
            "  f{i}: {{kind: file, path: '@/shard-{i}.bin'}}\n"
        ));
    }
    let mut gate = scene.spawn_init(&config, &[]);
    gate.wait_for_line(&format!("waiting for f{}:", CHECKS - 1));
    let inotify_fds = std::fs::read_dir(format!("/proc/{}/fd", gate.child.id()))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("inotify"))
        .count();
    assert_eq!(
        inotify_fds, 1,
        "one inotify instance for every waiting check"
    );
    for i in 0..CHECKS {
        std::fs::write(scene.path(&format!("shard-{i}.bin")), b"").unwrap();
    }
    let (status, _) = gate.wait();
    let stderr = gate.full_stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("polling instead"), "{stderr}");
}

#[test]
fn a_check_after_a_warn_check_that_keeps_failing_starts_after_its_first_failed_attempt() {
    let scene = Scene::new();
    let done = scene.init(
        "deadline: 20s\nchecks:\n  cache: {kind: tcp, address: '127.0.0.1:1', on_fail: warn}\n  model: {kind: secret, env: MODEL_KEY, after: [cache]}\n",
        &[("MODEL_KEY", "sk-model")],
    );
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    // The `after` only ordered: model waited for cache's first verdict, not for a pass.
    let waited = done
        .stderr
        .find("waiting for cache: connect 127.0.0.1:1: connection refused")
        .unwrap_or_else(|| panic!("{}", done.stderr));
    let passed = done
        .stderr
        .find("model passed")
        .unwrap_or_else(|| panic!("{}", done.stderr));
    assert!(waited < passed, "{}", done.stderr);
    assert!(done.elapsed < Duration::from_secs(15), "{:?}", done.elapsed);
    let status = scene.status();
    assert_eq!(status["outcome"], "passed");
    assert_eq!(status["checks"][1]["state"], "passed");
    assert_eq!(
        status["checks"][0]["last_error"],
        "connect 127.0.0.1:1: connection refused"
    );
}

#[test]
fn a_check_after_a_warn_check_that_timed_out_runs_and_its_own_result_decides() {
    let scene = Scene::new();
    let config = "deadline: 20s\nchecks:\n  cache: {kind: tcp, address: '127.0.0.1:1', on_fail: warn, timeout: 300ms}\n  model: {kind: secret, env: MODEL_KEY, after: [cache]}\n";
    let done = scene.init(config, &[("MODEL_KEY", "sk-model")]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    let status = scene.status();
    let (cache, model) = (&status["checks"][0], &status["checks"][1]);
    assert_eq!(cache["state"], "failed", "{status}");
    assert_contains!(cache["reason"].as_str().unwrap(), "timeout 300ms passed");
    assert_eq!(model["state"], "passed", "{status}");
    // It waited for cache's verdict.
    assert!(model["started_ms"].as_f64() >= cache["finished_ms"].as_f64());

    // Never skipped into a pass: it runs, and its failure fails the gate.
    let done = scene.init(config, &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    let status = scene.status();
    assert_eq!(status["checks"][1]["state"], "failed", "{status}");
    assert_eq!(status["checks"][1]["reason"], "env MODEL_KEY is not set");
}

#[test]
fn every_failure_known_when_the_gate_stops_is_recorded_and_reported() {
    let scene = Scene::new();
    // cache fails every attempt; `retried` passes once cache has failed twice, and then two
    // secrets fail together.
    let (done, message) = scene.init_reporting(
        r#"deadline: 20s
checks:
  cache: {kind: exec, command: [sh, -c, 'if [ -e @/tried ]; then touch @/retried; else touch @/tried; fi; echo cache is broken >&2; exit 1']}
  retried: {kind: file, path: '@/retried'}
  hf-token: {kind: secret, env: HF_TOKEN, after: [retried]}
  api-key: {kind: secret, env: API_KEY, after: [retried]}
"#,
        &[],
    );
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    let status = scene.status();
    for (i, name) in [(0, "cache"), (2, "hf-token"), (3, "api-key")] {
        let check = &status["checks"][i];
        assert_eq!(check["name"], name);
        assert_eq!(check["state"], "failed", "{status}");
    }
    assert_contains!(
        status["checks"][0]["last_error"].as_str().unwrap(),
        "cache is broken"
    );
    let lines: Vec<&str> = message.lines().collect();
    let n = lines.len();
    assert!(n >= 3, "{message}");
    // The failures are the last lines; the one still being retried comes before the two
    // whose verdicts were in.
    assert!(lines[n - 3].starts_with("cache: "), "{message}");
    assert_contains!(lines[n - 3], "cache is broken");
    let mut last_two = [lines[n - 2], lines[n - 1]];
    last_two.sort();
    assert_eq!(
        last_two,
        [
            "api-key: env API_KEY is not set",
            "hf-token: env HF_TOKEN is not set"
        ],
        "{message}"
    );
    assert!(
        !message.contains("cancelled") && !message.contains("stopped"),
        "{message}"
    );
}

/// A warn check skipped because a degrade check it runs after failed has still finished:
/// what runs after it runs, and the degraded gate passes.
#[test]
fn a_check_after_a_skipped_warn_check_runs_and_the_degraded_gate_passes() {
    let scene = Scene::new();
    let (done, message) = scene.init_reporting(
        "deadline: 20s\nchecks:\n  cache: {kind: secret, env: CACHE_KEY, on_fail: degrade, timeout: 5s}\n  warmup: {kind: secret, env: WARMUP_KEY, on_fail: warn, after: [cache]}\n  model: {kind: secret, env: MODEL_KEY, after: [warmup]}\n",
        &[("WARMUP_KEY", "sk-warmup"), ("MODEL_KEY", "sk-model")],
    );
    assert_eq!(done.code(), Some(0), "{}\n{message}", done.stderr);
    let status = scene.status();
    assert_eq!(status["outcome"], "passed", "{status}");
    let states: Vec<&str> = (0..3)
        .map(|i| status["checks"][i]["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["degraded", "skipped", "passed"], "{status}");
}
