//! `/status`, the operator's page: rendered by a real browser (Debian's `chromium`, headless)
//! from a real guard after a real gate, and checked in the DOM the browser built.

mod common;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Without a browser the page cannot be seen; under CI (`BROWSER_TESTS_STRICT=1`, set by
/// `.ci/run`, which installs it) that fails instead of skipping.
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        let out = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .ok()?;
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
    });
    if found.is_none() {
        assert!(
            std::env::var_os("BROWSER_TESTS_STRICT").is_none(),
            "chromium is not installed (apt-get install chromium)"
        );
        eprintln!("SKIPPED: chromium is not installed");
    }
    found
}

/// Runs headless Chromium on `url` with `what` (`--dump-dom`, `--screenshot=…`); its stdout.
fn browse(chromium: &Path, profile: &Path, what: &str, url: &str) -> String {
    let out = Command::new(chromium)
        .args([
            "--headless",
            // As root, Chromium will not start its sandbox; the page is our own.
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,1000",
            &format!("--user-data-dir={}", profile.display()),
            what,
            url,
        ])
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium {what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 DOM")
}

/// The serialized element that starts at the first `opening` in `dom`, through its end tag.
fn element<'a>(dom: &'a str, opening: &str, tag: &str) -> &'a str {
    let start = dom
        .find(opening)
        .unwrap_or_else(|| panic!("no {opening} in the DOM:\n{dom}"));
    let end = dom[start..]
        .find(&format!("</{tag}>"))
        .unwrap_or_else(|| panic!("{opening} never closes"));
    &dom[start..start + end]
}

fn five_check_gate(scene: &Scene, db_port: u16, model_port: u16) -> String {
    fs::write(scene.path("tokenizer.json"), "{}").unwrap();
    fs::write(scene.path("weights.safetensors"), "w").unwrap();
    let flag = scene.path("provisioned");
    format!(
        r#"deadline: 20s
listen: "127.0.0.1:0"
pins: {{model: llama-3.1-8b}}
checks:
  # Fails its first attempt and passes its second: one retry on the timeline.
  provision:
    kind: exec
    command: [sh, -c, 'test -e "$0" || {{ : > "$0"; echo "not provisioned yet" >&2; exit 1; }}', "{flag}"]
  tokenizer: {{kind: file, path: "{tokenizer}"}}
  weights: {{kind: file, path: "{weights}", after: [provision]}}
  vector-db: {{kind: tcp, address: "127.0.0.1:{db_port}"}}
  cuda:
    kind: exec
    command: [sh, -c, 'echo "no CUDA device" >&2; exit 3']
    on_fail: degrade
    timeout: 300ms
sentinel:
  interval: 200ms
  timeout: 1s
  success_threshold: 1
  failure_threshold: 1
  hold: 0s
  pulse: off
  queries:
    - {{name: completion, url: "http://127.0.0.1:{model_port}/v1/models"}}
"#,
        flag = flag.display(),
        tokenizer = scene.path("tokenizer.json").display(),
        weights = scene.path("weights.safetensors").display(),
    )
}

#[test]
fn a_real_browser_draws_the_gate_timeline_and_the_sentinel_rounds() {
    let Some(chromium) = chromium() else { return };
    let scene = Scene::new();
    let db = TcpListener::bind("127.0.0.1:0").unwrap();
    // The model's first answer fails, every later one passes: one failing round on the chart.
    let model = HttpServer::script(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        &[(500, "model warming up"), (200, "{}")],
    );
    let config = scene.config(&five_check_gate(
        &scene,
        db.local_addr().unwrap().port(),
        model.port,
    ));
    let mut run = scene.spawn(&["run", "--config", config.to_str().unwrap()], &[]);
    let port = guard_port(&mut run);
    run.wait_for_line("readiness: starting -> ready");
    // Asked first: the chart keeps the latest 60 rounds, 12 s of them here, and the browser
    // takes its time.
    let (json_status, _, json) = get(port, "/status?format=json");

    let url = format!("http://127.0.0.1:{port}/status");
    let profile = scene.path("chromium-profile");
    let dom = browse(&chromium, &profile, "--dump-dom", &url);

    // Five rows, one a check each, drawn in the state the gate left it.
    let timeline = element(&dom, "<ol id=\"timeline\">", "ol");
    assert_eq!(
        timeline.matches("<li class=\"check\"").count(),
        5,
        "{timeline}"
    );
    for (name, state) in [
        ("provision", "passed"),
        ("tokenizer", "passed"),
        ("weights", "passed"),
        ("vector-db", "passed"),
        ("cuda", "degraded"),
    ] {
        let row = element(
            timeline,
            &format!("<li class=\"check\" data-check=\"{name}\" data-state=\"{state}\">"),
            "li",
        );
        // A label, and a bar the colour of its state, inside its track.
        assert_contains!(row, &format!(">{name} <small>"));
        assert_contains!(row, &format!("<i class=\"bar {state}\" style=\"left:"));
    }
    let provision = element(timeline, "data-check=\"provision\"", "li");
    assert_contains!(provision, "<i class=\"ev failed\"");
    assert_contains!(provision, "title=\"attempt 1 failed at");
    assert_contains!(provision, "passed in ");
    assert_contains!(provision, "2 attempts");
    // What runs after another waits for it, and the wait is drawn.
    let weights = element(timeline, "data-check=\"weights\"", "li");
    assert_contains!(weights, "<i class=\"wait\"");
    assert_contains!(weights, "for provision");
    // The degraded check says why, to the pod's own eyes (this is loopback).
    let cuda = element(timeline, "data-check=\"cuda\"", "li");
    assert_contains!(cuda, "no CUDA device");

    // The sentinel's chart: a failing round, then passing ones.
    let chart = element(&dom, "<svg id=\"rounds\"", "svg");
    assert!(
        chart.matches("<rect class=\"fail\"").count() >= 1,
        "{chart}"
    );
    assert!(
        chart.matches("<rect class=\"pass\"").count() >= 1,
        "{chart}"
    );
    assert_contains!(element(&dom, "<p id=\"streak\">", "p"), "passing, ");
    // The verdict, its lines, the pins and the build.
    assert_contains!(element(&dom, "<span id=\"verdict\"", "span"), "Ready");
    let readiness = element(&dom, "<ol class=\"lines\" id=\"readiness\">", "ol");
    assert_contains!(readiness, "[+]cuda ok (degraded)");
    assert_contains!(readiness, "[+]sentinel ok");
    let build = element(&dom, "<table id=\"build\">", "table");
    assert_contains!(build, "llama-3.1-8b");
    assert_contains!(build, env!("CARGO_PKG_VERSION"));

    // The picture of it, for the docs.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    browse(
        &chromium,
        &profile,
        &format!("--screenshot={}", shot.display()),
        &url,
    );
    let png = fs::read(&shot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(png.len() > 10_000, "a blank page? {} bytes", png.len());

    // The page is small and whole, and the same facts come as JSON.
    let (status, headers, page) = get(port, "/status");
    assert_eq!(status, 200);
    assert_contains!(headers.to_lowercase(), "content-type: text/html");
    assert_contains!(
        headers.to_lowercase(),
        "content-security-policy: default-src 'none'"
    );
    assert!(page.len() < 50 * 1024, "{} bytes", page.len());
    assert!(!page.contains("<script"), "no script");
    assert!(!page.contains("src="), "no external asset");
    assert_eq!(json_status, 200);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["ready"], true);
    let checks = json["gate"]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 5);
    assert_eq!(checks[0]["events"][0]["event"], "failed");
    assert_eq!(checks[2]["after"][0], "provision");
    assert!(
        checks[2]["could_start_ms"].as_f64().unwrap() >= checks[0]["finished_ms"].as_f64().unwrap()
    );
    let rounds = json["sentinel"]["rounds"].as_array().unwrap();
    assert_eq!(rounds[0]["passed"], false);
    stop_guard(run);
}

#[test]
fn the_status_page_never_shows_a_secret() {
    const CANARY: &str = "canary-status-5d1e9b";
    let scene = Scene::new();
    // A registry and a model that echo the token back in their errors, as many do.
    let registry = HttpServer::start(401, &format!("invalid token {CANARY}"));
    let model = HttpServer::script(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        &[(500, &format!("bad key {CANARY}"))],
    );
    let config = scene.config(&format!(
        r#"deadline: 5s
listen: "127.0.0.1:0"
checks:
  api-key: {{kind: secret, env: API_KEY}}
  registry:
    kind: http
    url: http://127.0.0.1:{registry}/v1/models
    headers: {{Authorization: "Bearer ${{API_KEY}}"}}
    on_fail: degrade
    timeout: 300ms
sentinel:
  interval: 100ms
  timeout: 1s
  failure_threshold: 1
  pulse: off
  queries:
    - name: completion
      url: http://127.0.0.1:{model}/v1/models
      headers: {{Authorization: "Bearer ${{API_KEY}}"}}
"#,
        registry = registry.port,
        model = model.port,
    ));
    let mut run = scene.spawn(
        &["run", "--config", config.to_str().unwrap()],
        &[("API_KEY", CANARY)],
    );
    let port = guard_port(&mut run);
    run.wait_for_line("sentinel failing");
    let (_, _, page) = get(port, "/status");
    let (_, _, json) = get(port, "/status?format=json");
    // The secret went out, and its echo came back into reasons the page shows.
    assert!(registry.was_sent(CANARY) && model.was_sent(CANARY));
    // The registry's echo on the timeline, the model's on the verdict and the query.
    assert_eq!(page.matches("[redacted]").count(), 3, "{page}");
    assert_eq!(json.matches("[redacted]").count(), 3, "{json}");
    assert_hides(
        &[CANARY],
        &[("/status", &page), ("/status?format=json", &json)],
    );
    stop_guard(run);
}
