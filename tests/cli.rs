//! `bootgate check` and `bootgate validate`.

#[macro_use]
mod common;

use common::*;

const EXAMPLE: &str = include_str!("fixtures/example.yaml");

#[test]
fn validate_prints_levels_that_run_at_once() {
    let scene = Scene::new();
    let config = scene.config(EXAMPLE);
    let done = scene.run(&["validate", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_contains!(done.stdout, "valid — 6 checks, deadline 10m00s");
    assert_contains!(
        done.stdout,
        "  1. openai-key, hf-token, vector-db, registry, migrations\n  2. weights\n"
    );
}

#[test]
fn check_reports_each_check_once_and_exits_1_on_a_failure() {
    let scene = Scene::new();
    let server = HttpServer::start(200, "ok");
    std::fs::write(scene.path("weights.bin"), vec![0u8; 2048]).unwrap();
    let config = scene.config(&format!(
        r#"checks:
  key: {{kind: secret, env: OPENAI_API_KEY}}
  weights: {{kind: file, path: '@/weights.bin', min_size: 1KiB}}
  registry: {{kind: http, url: 'http://127.0.0.1:{}/health'}}
  vector-db: {{kind: tcp, address: '127.0.0.1:{}'}}
  after-db: {{kind: secret, env: OPENAI_API_KEY, after: [vector-db]}}
"#,
        server.port,
        free_port()
    ));
    let done = scene.run(
        &["check", "--config", config.to_str().unwrap()],
        &[("OPENAI_API_KEY", "sk-abc")],
    );
    assert_eq!(done.code(), Some(1), "{}{}", done.stdout, done.stderr);
    let out = &done.stdout;
    assert_contains!(out, "✔ key        env OPENAI_API_KEY — 6 bytes");
    assert!(
        out.contains(
            "✔ weights    @/weights.bin — 2.0 KiB"
                .replace('@', scene.dir.path().to_str().unwrap())
                .as_str()
        ),
        "{out}"
    );
    assert_contains!(out, "✔ registry");
    assert_contains!(out, "✖ vector-db  connect 127.0.0.1:");
    assert_contains!(out, "- after-db   not run: it runs after vector-db");
    assert_contains!(out, "3 passed, 1 failed, 1 not run");
    assert_eq!(
        server.requests.lock().unwrap().len(),
        1,
        "once each, no retries"
    );
    assert!(
        !scene.state_dir().exists(),
        "check leaves the state directory alone"
    );
}

#[test]
fn check_only_runs_the_named_checks() {
    let scene = Scene::new();
    let config =
        scene.config("checks:\n  alpha: {kind: secret, env: A}\n  beta: {kind: secret, env: B}\n");
    let done = scene.run(
        &[
            "check",
            "--config",
            config.to_str().unwrap(),
            "--only",
            "alpha",
        ],
        &[("A", "x1")],
    );
    assert_eq!(done.code(), Some(0), "{}", done.stdout);
    assert_contains!(done.stdout, "✔ alpha");
    assert!(!done.stdout.contains("beta"), "{}", done.stdout);
    let done = scene.run(
        &[
            "check",
            "--config",
            config.to_str().unwrap(),
            "--only",
            "betta",
        ],
        &[],
    );
    assert_eq!(done.code(), Some(2));
    assert_contains!(done.stderr, "did you mean beta?");
}

#[test]
fn check_wait_retries_until_ready() {
    let scene = Scene::new();
    let config = scene.config("deadline: 30s\nchecks:\n  flag: {kind: file, path: '@/flag'}\n");
    let mut run = scene.spawn(
        &["check", "--wait", "--config", config.to_str().unwrap()],
        &[],
    );
    run.wait_for_line("waiting for flag");
    std::fs::write(scene.path("flag"), "").unwrap();
    let (status, _) = run.wait();
    assert_eq!(status.code(), Some(0));
    assert!(run.stdout().contains("✔ flag"));
}

#[test]
fn https_without_the_tls_feature_is_a_config_error() {
    if cfg!(feature = "tls") {
        return;
    }
    let scene = Scene::new();
    let config =
        scene.config("checks:\n  r: {kind: http, url: 'https://example.invalid/health'}\n");
    let done = scene.run(&["validate", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(2));
    assert_contains!(done.stderr, "`tls` feature");
}

#[test]
fn a_thousand_check_chain_and_a_hundred_independent_checks_validate_and_pass() {
    let scene = Scene::new();
    let mut chain = String::from("checks:\n  c0: {kind: secret, env: TOKEN}\n");
    for i in 1..1000 {
        chain.push_str(&format!(
            "  c{i}: {{kind: secret, env: TOKEN, after: [c{}]}}\n",
            i - 1
        ));
    }
    let config = scene.config(&chain);
    let validated = scene.run(&["validate", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(validated.code(), Some(0), "{}", validated.stderr);
    assert_contains!(validated.stdout, "  1000. c999\n");
    let done = scene.run(
        &["init", "--config", config.to_str().unwrap()],
        &[("TOKEN", "t0k3n")],
    );
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert!(done.stderr.contains("c999 passed"));

    let mut wide = String::from("checks:\n");
    for i in 0..100 {
        wide.push_str(&format!("  w{i}: {{kind: secret, env: TOKEN}}\n"));
    }
    let config = scene.config(&wide);
    let validated = scene.run(&["validate", "--config", config.to_str().unwrap()], &[]);
    assert_contains!(validated.stdout, "  1. w0, w1, w2");
    assert!(!validated.stdout.contains("  2. "), "{}", validated.stdout);
    let done = scene.run(
        &["init", "--config", config.to_str().unwrap()],
        &[("TOKEN", "t0k3n")],
    );
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
}

#[test]
fn validate_refuses_an_alias_bomb_and_an_empty_gate_and_notes_long_timeouts() {
    let scene = Scene::new();
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 10].join(", ")
        ));
    }
    let config = scene.config(&bomb);
    let done = scene.run(&["validate", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(2), "{}", done.stderr);
    assert_contains!(done.stderr, "aliases expand to more than");

    let config = scene.config("checks: {}\n");
    let done = scene.run(&["validate", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(2));
    assert_contains!(done.stderr, "no checks declared");

    let config = scene.config("deadline: 1m\nchecks:\n  s: {kind: secret, env: X, timeout: 5m}\n");
    let done = scene.run(&["validate", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(0));
    assert_contains!(
        done.stdout,
        "note: checks.s.timeout 5m00s is longer than the deadline 1m00s"
    );
}

#[test]
fn check_runs_what_comes_after_a_failed_warn_check() {
    let scene = Scene::new();
    let config = scene.config(
        "checks:\n  cache: {kind: tcp, address: '127.0.0.1:1', on_fail: warn}\n  model: {kind: secret, env: MODEL_KEY, after: [cache]}\n  tokenizer: {kind: secret, env: TOKENIZER_KEY, after: [cache]}\n",
    );
    let done = scene.run(
        &["check", "--config", config.to_str().unwrap()],
        &[("MODEL_KEY", "sk-model")],
    );
    assert_eq!(done.code(), Some(1), "{}{}", done.stdout, done.stderr);
    let out = &done.stdout;
    assert_contains!(
        out,
        "! cache      connect 127.0.0.1:1: connection refused (warn only)"
    );
    assert_contains!(out, "✔ model      env MODEL_KEY");
    assert_contains!(out, "✖ tokenizer  env TOKENIZER_KEY is not set");
    assert_contains!(out, "1 passed, 1 failed, 1 warning");
}

#[test]
fn validate_says_an_after_on_a_warn_check_only_orders() {
    let scene = Scene::new();
    let config = scene.config(
        "deadline: 1m\nchecks:\n  cache: {kind: tcp, address: '127.0.0.1:1', on_fail: warn}\n  slow-cache: {kind: tcp, address: '127.0.0.1:1', on_fail: warn, timeout: 2m}\n  model: {kind: secret, env: M, after: [cache, slow-cache]}\n",
    );
    let done = scene.run(&["validate", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_contains!(done.stdout, "  1. cache, slow-cache\n  2. model\n");
    assert_contains!(
        done.stdout,
        "note: checks.cache is on_fail: warn, so an `after` on it only orders: model starts once cache has passed or failed an attempt (it has no timeout), and runs either way\n"
    );
    assert_contains!(
        done.stdout,
        "note: checks.slow-cache is on_fail: warn, so an `after` on it only orders: model starts once slow-cache has passed or its timeout 2m00s has passed, and runs either way\n"
    );
    assert_contains!(
        done.stdout,
        "note: checks.slow-cache.timeout 2m00s is not shorter than the deadline 1m00s: while slow-cache keeps failing, model waits for it and the gate fails at the deadline; shorten the timeout, or drop it to start model after slow-cache's first failed attempt\n"
    );
}
