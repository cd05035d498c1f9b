//! The HTTP client as `http` checks and the sentinel use it, against loopback servers that
//! record what they were sent: credentials written into a URL, and answers far larger than a
//! health page.

#[macro_use]
mod common;

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;

use common::*;

const PASS: &str = "s3cret-Pass-9f2c";
/// `printf %s 'bootgate:s3cret-Pass-9f2c' | base64`
const BOOTGATE_BASIC: &str = "Ym9vdGdhdGU6czNjcmV0LVBhc3MtOWYyYw==";
/// The literal userinfo `us%40er:lit%3Aeral-pw-77`, percent-decoded as curl does:
/// `printf %s 'us@er:lit:eral-pw-77' | base64`
const LITERAL_BASIC: &str = "dXNAZXI6bGl0OmVyYWwtcHctNzc=";
const LITERAL_PW: &str = "lit%3Aeral-pw-77";
const LITERAL_PW_DECODED: &str = "lit:eral-pw-77";

/// One header's value in a recorded request head, by name in any case.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Writes `bootgate.yaml` as given: [`Scene::config`] would read the `@` of a URL's userinfo
/// as the scene's directory.
fn config_as_is(scene: &Scene, text: &str) -> std::path::PathBuf {
    let path = scene.path("bootgate.yaml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The request reached `port` naming it alone as the host, its credentials as Basic auth.
fn assert_sent_as_basic(head: &str, port: u16, basic: &str) {
    assert_eq!(
        header(head, "host"),
        Some(format!("127.0.0.1:{port}").as_str())
    );
    assert_eq!(
        header(head, "authorization"),
        Some(format!("Basic {basic}").as_str())
    );
}

fn only_request(server: &HttpServer) -> String {
    let requests = server.requests.lock().unwrap();
    assert!(!requests.is_empty(), "the server was never asked");
    requests[0].clone()
}

#[test]
fn url_credentials_go_as_basic_auth_never_in_host_and_are_never_shown() {
    let scene = Scene::new();
    let api = HttpServer::start(401, "denied");
    let literal = HttpServer::start(401, "denied");
    let bearer = HttpServer::start(401, "denied");
    let config = config_as_is(
        &scene,
        &format!(
            r#"deadline: 1s
checks:
  api: {{kind: http, url: "http://bootgate:${{API_PASS}}@127.0.0.1:{}/health?x=1"}}
  literal: {{kind: http, url: "http://us%40er:{LITERAL_PW}@127.0.0.1:{}/health"}}
  bearer:
    kind: http
    url: "http://bootgate:${{API_PASS}}@127.0.0.1:{}/health"
    headers: {{Authorization: "Bearer configured-wins"}}
"#,
            api.port, literal.port, bearer.port
        ),
    );
    let termination = scene.path("termination-log");
    let init = scene.run(
        &[
            "init",
            "--config",
            config.to_str().unwrap(),
            "--termination-log",
            termination.to_str().unwrap(),
        ],
        &[("API_PASS", PASS)],
    );
    assert_eq!(init.code(), Some(1), "{}", init.stderr);

    let head = only_request(&api);
    assert!(head.starts_with("GET /health?x=1 HTTP/1.1\r\n"), "{head}");
    assert_sent_as_basic(&head, api.port, BOOTGATE_BASIC);
    let head = only_request(&literal);
    assert!(head.starts_with("GET /health HTTP/1.1\r\n"), "{head}");
    assert_sent_as_basic(&head, literal.port, LITERAL_BASIC);
    // A configured Authorization header wins; the URL's credentials are then not sent at all.
    let head = only_request(&bearer);
    assert_eq!(
        header(&head, "authorization"),
        Some("Bearer configured-wins")
    );
    assert_eq!(head.matches("uthorization").count(), 1, "{head}");
    assert!(!head.contains(PASS), "{head}");

    let status = std::fs::read_to_string(scene.state_dir().join("status.json")).unwrap();
    let log = std::fs::read_to_string(&termination).unwrap();
    // Reasons name the URL with its userinfo masked, whether a `${VAR}` or a literal.
    assert_contains!(
        init.stderr,
        format!(
            "GET http://[redacted]@127.0.0.1:{}/health?x=1: status 401",
            api.port
        )
    );
    assert_contains!(
        status,
        format!("GET http://[redacted]@127.0.0.1:{}/health", literal.port)
    );
    let check = scene.run(
        &["check", "--config", config.to_str().unwrap()],
        &[("API_PASS", PASS)],
    );
    assert_contains!(check.stdout, "http://[redacted]@127.0.0.1:");
    assert_hides(
        &[
            PASS,
            LITERAL_PW,
            LITERAL_PW_DECODED,
            BOOTGATE_BASIC,
            LITERAL_BASIC,
            "us%40er",
        ],
        &[
            ("stderr", &init.stderr),
            ("status.json", &status),
            ("termination log", &log),
            ("check", &check.stdout),
            ("check stderr", &check.stderr),
        ],
    );
}

#[test]
fn a_literal_password_in_an_invalid_url_is_not_echoed_by_validate() {
    let scene = Scene::new();
    let config = config_as_is(
        &scene,
        &format!("checks:\n  api: {{kind: http, url: 'htp://admin:{LITERAL_PW}@127.0.0.1:1/'}}\n"),
    );
    let done = scene.run(&["validate", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(2), "{}", done.stderr);
    assert_contains!(done.stderr, "`htp://[redacted]@127.0.0.1:1/`");
    assert_hides(
        &[LITERAL_PW, "admin"],
        &[("stdout", &done.stdout), ("stderr", &done.stderr)],
    );
}

#[test]
fn probe_and_wait_send_url_credentials_as_basic_auth_and_never_show_them() {
    let scene = Scene::new();
    // The 401 page echoes the credential back.
    let server = HttpServer::start(401, &format!("denied Basic {LITERAL_BASIC}"));
    let target = format!(
        "http://us%40er:{LITERAL_PW}@127.0.0.1:{}/readyz",
        server.port
    );
    let probe = scene.run(&["probe", &target], &[]);
    assert_eq!(probe.code(), Some(1), "{}", probe.stderr);
    let wait = scene.run(&["wait", "--url", &target, "--timeout", "300ms"], &[]);
    assert_eq!(wait.code(), Some(1), "{}", wait.stderr);
    let bad = scene.run(&["probe", &target.replace("http:", "htp:")], &[]);
    assert_eq!(bad.code(), Some(2), "{}", bad.stderr);

    let head = only_request(&server);
    assert_sent_as_basic(&head, server.port, LITERAL_BASIC);
    let shown = format!("http://[redacted]@127.0.0.1:{}/readyz", server.port);
    assert_contains!(probe.stderr, shown);
    assert_contains!(wait.stderr, shown);
    assert_contains!(bad.stderr, "htp://[redacted]@127.0.0.1:");
    assert_hides(
        &[LITERAL_PW, LITERAL_PW_DECODED, LITERAL_BASIC, "us%40er"],
        &[
            ("probe", &probe.stderr),
            ("wait", &wait.stderr),
            ("bad probe", &bad.stderr),
        ],
    );
}

#[test]
fn a_token_written_as_the_user_name_alone_is_never_shown() {
    const TOKEN: &str = "ghp-user-token-5e1d";
    /// `printf %s 'ghp-user-token-5e1d:' | base64`
    const TOKEN_BASIC: &str = "Z2hwLXVzZXItdG9rZW4tNWUxZDo=";
    let scene = Scene::new();
    let server = HttpServer::start(401, &format!("unknown token {TOKEN}"));
    let target = format!("http://{TOKEN}@127.0.0.1:{}/", server.port);
    let probe = scene.run(&["probe", &target], &[]);
    assert_eq!(probe.code(), Some(1), "{}", probe.stderr);
    let config = config_as_is(
        &scene,
        &format!("deadline: 1s\nchecks:\n  api: {{kind: http, url: \"{target}\"}}\n"),
    );
    let init = scene.run(&["init", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(init.code(), Some(1), "{}", init.stderr);
    let status = std::fs::read_to_string(scene.state_dir().join("status.json")).unwrap();

    assert_sent_as_basic(&only_request(&server), server.port, TOKEN_BASIC);
    assert_contains!(probe.stderr, "unknown token [redacted]");
    assert_contains!(init.stderr, "unknown token [redacted]");
    assert_hides(
        &[TOKEN],
        &[
            ("probe", &probe.stderr),
            ("log", &init.stderr),
            ("status.json", &status),
        ],
    );
}

/// A model server that refuses the first request with a 401 page echoing the Authorization
/// header it got, as many do, then answers 200; every request head is recorded.
fn echoing_auth_server() -> HttpServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    HttpServer::answering(listener, |head, served| {
        if served == 0 {
            let auth = header(head, "authorization").unwrap_or("none");
            response(401, format!("bad credentials: {auth}").as_bytes())
        } else {
            response(200, br#"{"object":"list","data":[]}"#)
        }
    })
}

#[test]
fn the_sentinel_sends_url_credentials_as_basic_auth_and_never_shows_them() {
    let scene = Scene::new();
    let model = echoing_auth_server();
    let model_port = model.port;
    let config = config_as_is(
        &scene,
        &format!(
            "listen: \"127.0.0.1:0\"\ndrain: 100ms\n{}",
            without_pulse(&fast_sentinel(
                "1s",
                &format!(
                    "{{name: models, url: \"http://bootgate:${{API_PASS}}@127.0.0.1:{model_port}/v1/models\"}}"
                )
            )),
        ),
    );
    let mut sidecar = scene.spawn(
        &["sidecar", "--config", config.to_str().unwrap()],
        &[("API_PASS", PASS)],
    );
    let port = guard_port(&mut sidecar);
    sidecar
        .wait_for_line("sentinel failing: models: status 401: bad credentials: Basic [redacted]");
    let (_, _, reason) = get(port, "/readyz/sentinel");
    sidecar.wait_for_line("readiness: starting -> ready");
    sidecar.signal("TERM");
    assert_eq!(sidecar.wait().0.code(), Some(0));
    let log = sidecar.full_stderr();

    let head = model.requests.lock().unwrap()[0].clone();
    assert!(head.starts_with("GET /v1/models HTTP/1.1\r\n"), "{head}");
    assert_sent_as_basic(&head, model_port, BOOTGATE_BASIC);
    assert_contains!(reason, "bad credentials: Basic [redacted]");
    assert_hides(
        &[PASS, BOOTGATE_BASIC],
        &[("log", &log), ("reason", &reason)],
    );
}

/// A JSON list of models at least `size` bytes long, whose last members are the ones the
/// expectations look at: a reader that stops early never sees them.
fn large_json(size: usize) -> String {
    let mut out = String::from(r#"{"object":"list","data":["#);
    let mut i = 0;
    while out.len() < size {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"id":"model-{i:06}","object":"model","owned_by":"bootgate-test"}}"#
        ));
        i += 1;
    }
    out.push_str(r#"],"a/b":{"c~d":"escaped keys"},"choices":[{"text":" 4"}]}"#);
    out
}

const JSON_EXPECT: &str = r#"json: {"/choices/0/text": {contains: "4"}, "/a~1b/c~0d": {equals: "escaped keys"}, "/data/2000/id": {equals: "model-002000"}}"#;

fn json_sentinel(port: u16, max_body: &str) -> String {
    format!(
        "listen: \"127.0.0.1:0\"\ndrain: 100ms\n{}",
        fast_sentinel(
            "10s",
            &format!(
                "{{name: models, url: \"http://127.0.0.1:{port}/v1/models\", expect: {{{JSON_EXPECT}{max_body}}}}}"
            )
        )
    )
}

#[test]
fn a_json_answer_of_200_kib_is_judged_whole() {
    let scene = Scene::new();
    let model = HttpServer::start(200, &large_json(200 * 1024));
    let config = scene.config(&json_sentinel(model.port, ""));
    let mut sidecar = scene.spawn(&["sidecar", "--config", config.to_str().unwrap()], &[]);
    let port = guard_port(&mut sidecar);
    sidecar.wait_for_line("readiness: starting -> ready");
    assert_eq!(get(port, "/readyz").0, 200);
    sidecar.signal("TERM");
    assert_eq!(sidecar.wait().0.code(), Some(0));
    assert!(!sidecar.full_stderr().contains("sentinel failing"));
}

#[test]
fn a_json_answer_over_max_body_says_so_and_a_larger_bound_lets_it_pass() {
    let scene = Scene::new();
    let model = HttpServer::start(200, &large_json(2 * 1024 * 1024));
    let config = scene.config(&json_sentinel(model.port, ""));
    let mut sidecar = scene.spawn(&["sidecar", "--config", config.to_str().unwrap()], &[]);
    let port = guard_port(&mut sidecar);
    sidecar.wait_for_line("sentinel failing: models: the answer is larger than 1.0 MiB (max_body)");
    let (status, _, reason) = get(port, "/readyz/sentinel");
    assert_eq!(status, 503);
    assert_contains!(reason, "the answer is larger than 1.0 MiB (max_body)");
    std::fs::write(&config, json_sentinel(model.port, ", max_body: 4MiB")).unwrap();
    sidecar.signal("HUP");
    sidecar.wait_for_line("config reloaded");
    sidecar.wait_for_line("readiness: starting -> ready");
    sidecar.signal("TERM");
    assert_eq!(sidecar.wait().0.code(), Some(0));
}

/// Answers every request with `body`, its end marked only by closing the connection (no
/// `content-length`), as a streaming server does.
fn until_close_server(body: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body: Arc<str> = body.into();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let body = body.clone();
            thread::spawn(move || {
                read_head(&mut stream);
                let _ = write!(stream, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{body}");
            });
        }
    });
    port
}

#[test]
fn body_contains_reads_past_64_kib_up_to_max_body() {
    let scene = Scene::new();
    let marker = "model serving";
    let page = |size: usize| format!("{}{marker}", "x".repeat(size));
    let small = until_close_server(page(200 * 1024));
    let large = until_close_server(page(2 * 1024 * 1024));
    let config = scene.config(&format!(
        r#"checks:
  small: {{kind: http, url: 'http://127.0.0.1:{small}/', expect: {{body_contains: "{marker}"}}}}
  large: {{kind: http, url: 'http://127.0.0.1:{large}/', expect: {{body_contains: "{marker}"}}, on_fail: warn}}
  allowed: {{kind: http, url: 'http://127.0.0.1:{large}/', expect: {{body_contains: "{marker}", max_body: 4MiB}}}}
"#
    ));
    let done = scene.run(&["check", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(0), "{}{}", done.stdout, done.stderr);
    assert_contains!(done.stdout, "✔ small ");
    assert_contains!(done.stdout, "✔ allowed ");
    assert_contains!(
        done.stdout,
        format!(
            "status 200 but the answer is larger than 1.0 MiB (max_body) and its first 1.0 MiB lack `{marker}` (warn only)"
        )
    );
}

#[test]
fn max_body_out_of_range_is_a_config_error() {
    let scene = Scene::new();
    let config = scene.config(
        "checks:\n  a: {kind: http, url: 'http://127.0.0.1:1/', expect: {max_body: 0}}\n  b: {kind: http, url: 'http://127.0.0.1:1/', expect: {max_body: 1GiB}}\n",
    );
    let done = scene.run(&["validate", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(2), "{}", done.stderr);
    assert_contains!(done.stderr, "checks.a.expect.max_body: `0` is out of range");
    assert_contains!(
        done.stderr,
        "checks.b.expect.max_body: `1GiB` is out of range"
    );
}
