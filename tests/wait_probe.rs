//! `bootgate probe` and `bootgate wait` end to end: the real binary, loopback servers, files
//! and signals.

#[macro_use]
mod common;

use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

fn url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

/// A server that accepts connections and holds them open without ever answering.
fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => held.push(stream),
                Err(_) => continue,
            }
        }
    });
    port
}

/// `bootgate wait --marker PATH --timeout T`, started.
fn wait_for_marker(scene: &Scene, marker: &std::path::Path, timeout: &str) -> Running {
    scene.spawn(
        &[
            "wait",
            "--marker",
            marker.to_str().unwrap(),
            "--timeout",
            timeout,
        ],
        &[],
    )
}

#[test]
fn probe_200_exits_0_silently() {
    let scene = Scene::new();
    let server = HttpServer::start(200, "ok");
    let done = scene.run(&["probe", &url(server.port, "/readyz")], &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_eq!(done.stdout, "");
    assert_eq!(done.stderr, "");
    let requests = server.requests.lock().unwrap();
    assert_eq!(requests.len(), 1, "one GET");
    assert!(
        requests[0].starts_with("GET /readyz HTTP/1.1\r\n"),
        "{}",
        requests[0]
    );
    assert!(
        !scene.state_dir().exists(),
        "a probe writes nothing to disk"
    );
}

#[test]
fn probe_302_counts_as_success_as_with_the_kubelet() {
    let scene = Scene::new();
    let server = HttpServer::start(302, "");
    let done = scene.run(&["probe", &url(server.port, "/")], &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_eq!(done.stderr, "");
}

#[test]
fn probe_503_exits_1_with_the_status_and_body_on_one_line() {
    let scene = Scene::new();
    let server = HttpServer::start(503, "model still loading\n");
    let target = url(server.port, "/readyz");
    let done = scene.run(&["probe", &target], &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_eq!(done.stdout, "");
    assert_eq!(
        done.stderr,
        format!("probe {target}: status 503, want 200–399, body \"model still loading\"\n")
    );
}

#[test]
fn probe_quotes_the_body_so_that_it_never_reads_as_a_verdict() {
    let scene = Scene::new();
    let server = HttpServer::start(404, "ok");
    let target = url(server.port, "/healthz");
    let done = scene.run(&["probe", &target], &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_eq!(
        done.stderr,
        format!("probe {target}: status 404, want 200–399, body \"ok\"\n")
    );
}

#[test]
fn probe_connection_refused_exits_1() {
    let scene = Scene::new();
    let target = url(free_port(), "/readyz");
    let done = scene.run(&["probe", &target], &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    let said = format!("probe {target}: ");
    assert_contains!(done.stderr, said);
    assert_contains!(done.stderr, "refused");
    assert_eq!(done.stderr.lines().count(), 1, "{}", done.stderr);
}

#[test]
fn timing_probe_of_a_server_that_never_answers_ends_at_its_timeout() {
    let scene = Scene::new();
    let target = url(silent_server(), "/readyz");
    let done = scene.run(&["probe", &target, "--timeout", "300ms"], &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    let said = format!("probe {target}: ");
    assert_contains!(done.stderr, said);
    assert_contains!(done.stderr, "timed out after 300ms");
    assert_eq!(done.stderr.lines().count(), 1, "{}", done.stderr);
    assert!(
        done.elapsed < Duration::from_secs(2),
        "took {:?}",
        done.elapsed
    );
}

#[test]
fn probe_of_a_url_that_is_not_http_exits_2() {
    let scene = Scene::new();
    let done = scene.run(&["probe", "ftp://x/"], &[]);
    assert_eq!(done.code(), Some(2), "{}", done.stderr);
    assert_contains!(done.stderr, "ftp://x/: must start with http:// or https://");
}

#[test]
fn wait_marker_created_later_exits_0() {
    let scene = Scene::new();
    let marker = scene.path("state/ready");
    let mut wait = wait_for_marker(&scene, &marker, "30s");
    wait.wait_for_line("waiting for marker");
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    std::fs::write(&marker, "2026-01-01T00:00:00Z\n").unwrap();
    let (status, _) = wait.wait();
    let stderr = wait.full_stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_contains!(stderr, "marker passed");
}

#[test]
fn timing_wait_marker_that_never_appears_exits_1_naming_the_path() {
    let scene = Scene::new();
    let marker = scene.path("ready");
    let done = scene.run(
        &[
            "wait",
            "--marker",
            marker.to_str().unwrap(),
            "--timeout",
            "300ms",
        ],
        &[],
    );
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(done.stderr, "timeout 300ms passed");
    let said = format!("{} does not exist", marker.display());
    assert_contains!(done.stderr, said);
    assert!(
        done.elapsed < Duration::from_secs(2),
        "took {:?}",
        done.elapsed
    );
}

#[test]
fn wait_url_retries_until_the_server_answers_200() {
    let scene = Scene::new();
    let port = free_port();
    let target = url(port, "/healthz");
    let mut wait = scene.spawn(&["wait", "--url", &target, "--timeout", "30s"], &[]);
    // Nothing listens yet: refused, then the server comes up loading, then ready.
    wait.wait_for_line("waiting for url");
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the waited-for port");
    let server = HttpServer::script(listener, &[(503, "loading"), (200, "ok")]);
    let (status, _) = wait.wait();
    let stderr = wait.full_stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_contains!(stderr, "status 503, want 200–399, body \"loading\"");
    assert_contains!(stderr, "url passed (status 200)");
    assert_eq!(server.requests.lock().unwrap().len(), 2, "{stderr}");
}

#[test]
fn timing_wait_url_with_nothing_listening_exits_1_at_the_timeout() {
    let scene = Scene::new();
    let target = url(free_port(), "/");
    let done = scene.run(&["wait", "--url", &target, "--timeout", "300ms"], &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(done.stderr, "timeout 300ms passed");
    let said = format!("GET {target}: connection refused");
    assert_contains!(done.stderr, said);
    assert!(
        done.elapsed < Duration::from_secs(2),
        "took {:?}",
        done.elapsed
    );
}

#[test]
fn wait_url_that_is_not_http_exits_2() {
    let scene = Scene::new();
    let done = scene.run(&["wait", "--url", "ftp://x/"], &[]);
    assert_eq!(done.code(), Some(2), "{}", done.stderr);
    assert_contains!(
        done.stderr,
        "--url ftp://x/: must start with http:// or https://"
    );
}

#[test]
fn timing_sigterm_while_waiting_exits_3_within_a_second() {
    let scene = Scene::new();
    let marker = scene.path("ready");
    let mut wait = wait_for_marker(&scene, &marker, "60s");
    wait.wait_for_line("waiting for marker");
    wait.signal("TERM");
    let sent = Instant::now();
    let (status, exited) = wait.wait();
    assert_eq!(status.code(), Some(3), "{}", wait.full_stderr());
    assert!(
        exited - sent < Duration::from_secs(1),
        "took {:?}",
        exited - sent
    );
    let stderr = wait.full_stderr();
    assert_contains!(stderr, "SIGTERM received");
}

#[test]
fn wait_needs_a_url_or_a_marker() {
    let scene = Scene::new();
    let neither = scene.run(&["wait", "--timeout", "1s"], &[]);
    assert_eq!(neither.code(), Some(2), "{}", neither.stderr);
    assert_contains!(neither.stderr, "--url");
}

/// `bootgate wait` for a URL and two markers, as for a server with two children that each
/// write their own ready marker.
fn wait_for_three(scene: &Scene, port: u16, timeout: &str) -> Running {
    let first = scene.path("one/ready");
    let second = scene.path("two/ready");
    let target = url(port, "/healthz");
    scene.spawn(
        &[
            "wait",
            "--url",
            &target,
            "--marker",
            first.to_str().unwrap(),
            "--marker",
            second.to_str().unwrap(),
            "--timeout",
            timeout,
        ],
        &[],
    )
}

fn mark_ready(scene: &Scene, rel: &str) {
    let marker = scene.path(rel);
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    std::fs::write(&marker, "2026-01-01T00:00:00Z\n").unwrap();
}

#[test]
fn wait_for_a_url_and_two_markers_exits_0_only_once_all_are_ready() {
    let scene = Scene::new();
    let server = HttpServer::start(200, "ok");
    let mut wait = wait_for_three(&scene, server.port, "30s");
    wait.wait_for_all(&["url passed", "waiting for marker1", "waiting for marker2"]);
    mark_ready(&scene, "one/ready");
    wait.wait_for_line("marker1 passed");
    // Two of three are ready: still waiting, not done.
    assert!(
        wait.child.try_wait().expect("try_wait").is_none(),
        "exited before marker2 existed: {}",
        wait.stderr()
    );
    mark_ready(&scene, "two/ready");
    let (status, _) = wait.wait();
    let stderr = wait.full_stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_contains!(stderr, "marker2 passed");
    assert!(!stderr.contains("still missing"), "{stderr}");
}

#[test]
fn timing_wait_with_one_marker_missing_exits_1_at_the_timeout_naming_it() {
    let scene = Scene::new();
    let server = HttpServer::start(200, "ok");
    mark_ready(&scene, "one/ready");
    let mut wait = wait_for_three(&scene, server.port, "300ms");
    let (status, _) = wait.wait();
    let stderr = wait.full_stderr();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_contains!(stderr, "marker2 failed: timeout 300ms passed");
    let missing = format!(
        "bootgate wait: still missing: marker2 ({})\n",
        scene.path("two/ready").display()
    );
    assert_contains!(stderr, missing);
    assert!(
        wait.started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        wait.started.elapsed()
    );
}

#[test]
fn timing_sigterm_while_waiting_for_several_exits_3_within_a_second() {
    let scene = Scene::new();
    let mut wait = wait_for_three(&scene, free_port(), "60s");
    wait.wait_for_all(&[
        "waiting for url",
        "waiting for marker1",
        "waiting for marker2",
    ]);
    wait.signal("TERM");
    let sent = Instant::now();
    let (status, exited) = wait.wait();
    let stderr = wait.full_stderr();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(
        exited - sent < Duration::from_secs(1),
        "took {:?}",
        exited - sent
    );
    assert_contains!(stderr, "SIGTERM received");
    assert!(!stderr.contains("still missing"), "{stderr}");
}
