//! No secret in any output, however outside text carries it: a secret file that appears after
//! start, a value echoed trimmed, decoded, re-encoded or inside base64, a body or a command's
//! output cut in the middle of one; and no control character from outside text reaches an
//! output raw.

mod common;

use std::net::TcpListener;

use common::*;

/// A request as the fake server saw it.
struct Asked {
    path: String,
    query: String,
    authorization: String,
}

/// A loopback HTTP server answering each request with `answer(request)`, and recording the
/// request heads it got.
fn server_answering(answer: impl Fn(&Asked) -> (u16, Vec<u8>) + Send + 'static) -> HttpServer {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    HttpServer::answering(listener, move |head, _| {
        let target = head.split(' ').nth(1).unwrap_or("/");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let authorization = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            // As HTTP reads a header: without the whitespace around its value.
            .map(|(_, value)| value.trim().to_string())
            .unwrap_or_default();
        let (status, body) = answer(&Asked {
            path: path.to_string(),
            query: query.to_string(),
            authorization,
        });
        response(status, &body)
    })
}

/// `t=…` from a query, decoded as a web framework decodes it: `%XX`, and `+` for a space.
fn query_value(query: &str) -> String {
    let raw = query
        .split('&')
        .find_map(|p| p.strip_prefix("t="))
        .unwrap_or_default()
        .as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < raw.len() => {
                let hex = std::str::from_utf8(&raw[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn json_escaped(text: &str) -> String {
    text.chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        out.push_str(&"=".repeat(3 - chunk.len()));
    }
    out
}

/// Answers 401 with the token it was sent, written the way the path asks.
fn echo(asked: &Asked) -> (u16, Vec<u8>) {
    let token = query_value(&asked.query);
    let body = match asked.path.as_str() {
        "/decoded" => format!("no such key: {token}"),
        "/percent" => format!("GET /v1?t={}", percent_encoded(&token)),
        "/json" => format!(r#"{{"error":"bad key","key":"{}"}}"#, json_escaped(&token)),
        "/base64" => format!("key {}", base64(token.as_bytes())),
        "/basic" => format!(
            "Authorization: Basic {}",
            base64(format!("user:{token}").as_bytes())
        ),
        _ => format!("you sent {}", asked.authorization),
    };
    (401, body.into_bytes())
}

/// Writes `config` and runs `init` on it to a failed gate: what it printed, its termination
/// message, and the config's path.
fn failed_gate(
    scene: &Scene,
    config: &str,
    env: &[(&str, &str)],
) -> (Finished, String, std::path::PathBuf) {
    let (init, message) = scene.init_reporting(config, env);
    assert_eq!(init.code(), Some(1), "{}", init.stderr);
    assert!(!message.is_empty(), "no termination message");
    (init, message, scene.path("bootgate.yaml"))
}

/// A config of `checks` for a gate that decides within a second, and a guard whose sentinel
/// asks `queries` every 50 ms and turns at once.
fn gate_and_guard(checks: &str, queries: &str) -> String {
    format!(
        r#"deadline: 1s
listen: "127.0.0.1:0"
drain: 100ms
checks:
{checks}sentinel:
  interval: 50ms
  timeout: 2s
  success_threshold: 1
  failure_threshold: 1
  hold: 0s
  queries:
{queries}"#
    )
}

/// Everything a failed gate, `check` and a guard show of one config whose checks and sentinel
/// queries fail, each output named.
struct Shown(Vec<(&'static str, String)>);

impl Shown {
    fn of_failing(scene: &Scene, config: &str, env: &[(&str, &str)]) -> Shown {
        let (init, termination, config) = failed_gate(scene, config, env);
        let config_arg = config.to_str().unwrap();
        let status = std::fs::read_to_string(scene.state_dir().join("status.json")).unwrap();
        let check = scene.run(&["check", "--config", config_arg], env);
        let mut sidecar = scene.spawn(&["sidecar", "--config", config_arg], env);
        let port = guard_port(&mut sidecar);
        sidecar.wait_for_line("sentinel failing: ");
        let (_, _, sentinel) = get(port, "/readyz/sentinel");
        let (_, _, json) = get(port, "/readyz?format=json");
        sidecar.signal("TERM");
        assert_eq!(sidecar.wait().0.code(), Some(0));
        Shown(vec![
            ("gate log", init.stderr),
            ("status.json", status),
            ("termination log", termination),
            ("check report", check.stdout),
            ("guard log", sidecar.full_stderr()),
            ("/readyz/sentinel", sentinel),
            ("/readyz?format=json", json),
        ])
    }

    fn named(&self) -> Vec<(&str, &str)> {
        self.0
            .iter()
            .map(|(name, text)| (*name, text.as_str()))
            .collect()
    }

    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, text)| text.as_str())
    }
}

#[test]
fn a_secret_file_that_appears_after_start_is_hidden_wherever_a_command_shows_it() {
    const LATE: &str = "late-canary-4e1f9a";
    // The volume is mounted empty (an `optional` Secret not there yet) and filled once the gate
    // waits; the secret's own check runs only after the command, so only the command has
    // read the file when its output is stored.
    let config = |on_fail: &str| {
        format!(
            r#"deadline: 30s
checks:
  volume: {{kind: file, path: '@/late/token'}}
  show:
    kind: exec
    command: [sh, -c, 'cat @/late/token >&2; exit 3']
    after: [volume]
    timeout: 2s
    on_fail: {on_fail}
  token: {{kind: secret, file: '@/late/token', after: [show], on_fail: warn}}
"#
        )
    };
    let fill_late = |scene: &Scene, args: &[&str]| {
        std::fs::create_dir_all(scene.path("late")).unwrap();
        let mut run = scene.spawn(args, &[]);
        run.wait_for_line("waiting for volume");
        kubelet_secret(&scene.path("late"), "token", LATE, 1);
        let (status, _) = run.wait();
        (status.code(), run.full_stderr(), run.stdout())
    };

    // A degraded gate passes and names the command in `state_dir/env`.
    let degraded = Scene::new();
    let path = degraded.config(&config("degrade"));
    let (code, degraded_log, _) =
        fill_late(&degraded, &["init", "--config", path.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{degraded_log}");
    let env = std::fs::read_to_string(degraded.state_dir().join("env")).unwrap();
    let degraded_status =
        std::fs::read_to_string(degraded.state_dir().join("status.json")).unwrap();

    // A failed gate says why in the termination log.
    let failed = Scene::new();
    let path = failed.config(&config("require"));
    let termination = failed.path("termination-log");
    let (code, failed_log, _) = fill_late(
        &failed,
        &[
            "init",
            "--config",
            path.to_str().unwrap(),
            "--termination-log",
            termination.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(1), "{failed_log}");
    let termination = std::fs::read_to_string(&termination).unwrap();
    let failed_status = std::fs::read_to_string(failed.state_dir().join("status.json")).unwrap();

    let checked = Scene::new();
    let path = checked.config(&config("require"));
    let (code, check_log, report) = fill_late(
        &checked,
        &["check", "--wait", "--config", path.to_str().unwrap()],
    );
    assert_eq!(code, Some(1), "{check_log}");

    assert_hides(
        &[LATE],
        &[
            ("degraded gate's log", &degraded_log),
            ("degraded gate's status.json", &degraded_status),
            ("state_dir/env", &env),
            ("failed gate's log", &failed_log),
            ("failed gate's status.json", &failed_status),
            ("termination log", &termination),
            ("check log", &check_log),
            ("check report", &report),
        ],
    );
    // The command really printed the file, and what it printed was hidden.
    assert_contains!(env, "# Degraded: show: ");
    assert_contains!(env, "exited with status 3: [redacted]");
    assert_contains!(termination, "exited with status 3: [redacted]");
    assert_contains!(report, "exited with status 3: [redacted]");
}

#[test]
fn a_variable_with_surrounding_whitespace_is_hidden_as_a_server_echoes_it_trimmed() {
    const PADDED: &str = " \ttrail-canary-8d2c  ";
    let server = server_answering(echo);
    let scene = Scene::new();
    let config = scene.config(&format!(
        r#"deadline: 1s
checks:
  api:
    kind: http
    url: http://127.0.0.1:{}/header
    headers: {{Authorization: "Bearer ${{TOKEN}}"}}
"#,
        server.port
    ));
    let env = [("TOKEN", PADDED)];
    let init = scene.run(&["init", "--config", config.to_str().unwrap()], &env);
    assert_eq!(init.code(), Some(1), "{}", init.stderr);
    let check = scene.run(&["check", "--config", config.to_str().unwrap()], &env);
    let status = std::fs::read_to_string(scene.state_dir().join("status.json")).unwrap();
    assert_hides(
        &[PADDED.trim()],
        &[
            ("log", &init.stderr),
            ("status.json", &status),
            ("check report", &check.stdout),
        ],
    );
    assert!(server.was_sent(PADDED));
    assert_contains!(check.stdout, "you sent Bearer [redacted]");
}

#[test]
fn a_secret_echoed_decoded_re_encoded_or_in_base64_is_hidden_in_the_gate_and_the_guard() {
    // `+` and `/` make every encoding differ from the value as sent.
    const TOKEN: &str = "Cn+ry/7f3a9Qk2xW";
    let forms = [
        TOKEN.to_string(),
        TOKEN.replace('+', " "),
        percent_encoded(TOKEN),
        json_escaped(TOKEN),
        base64(TOKEN.as_bytes()),
        base64(format!("user:{TOKEN}").as_bytes()),
        // What any of them shows of the token, at the least.
        "7f3a9Qk2".to_string(),
    ];
    let server = server_answering(echo);
    let paths = ["decoded", "percent", "json", "base64", "basic"];
    let mut checks = String::new();
    let mut queries = String::new();
    for path in paths {
        let url = format!("http://127.0.0.1:{}/{path}?t=${{TOKEN}}", server.port);
        checks.push_str(&format!("  {path}: {{kind: http, url: \"{url}\"}}\n"));
        queries.push_str(&format!("    - {{name: {path}, url: \"{url}\"}}\n"));
    }
    let header = format!("http://127.0.0.1:{}/header", server.port);
    checks.push_str(&format!(
        "  header: {{kind: http, url: \"{header}\", headers: {{Authorization: \"Bearer ${{TOKEN}}\"}}}}\n"
    ));
    queries.push_str(&format!(
        "    - {{name: header, url: \"{header}\", headers: {{Authorization: \"Bearer ${{TOKEN}}\"}}}}\n"
    ));
    let scene = Scene::new();
    let config = gate_and_guard(&checks, &queries);
    let shown = Shown::of_failing(&scene, &config, &[("TOKEN", TOKEN)]);

    let forms: Vec<&str> = forms.iter().map(String::as_str).collect();
    assert_hides(&forms, &shown.named());
    assert!(server.was_sent(TOKEN), "the token went out");
    let report = shown.get("check report");
    assert!(
        report.matches("[redacted]").count() >= 6,
        "every echo was seen and hidden:\n{report}"
    );
    assert_contains!(shown.get("/readyz/sentinel"), "[redacted]");
}

/// Copies of `key`, 40 bytes apart with spaces between, across `span` bytes.
fn copies(key: &str, span: usize) -> String {
    format!("{key:40}").repeat(span / 40)
}

#[test]
fn text_cut_inside_a_secret_shows_no_part_of_it() {
    const KEY: &str = "QzXq-cutcanary-0a1b-XqZj";
    // A reason quotes 4 KiB of outside text from the end it shows, and a secret's reach beyond
    // (a few hundred bytes here). Whitespace flattens away in an excerpt, so what lies at that
    // cut is what a reason shows. Copies of the key run across the 800 bytes around it, so one
    // of them straddles the cut; in one of the two phases, 20 bytes apart, at least 4 of its
    // bytes lie on the side shown. And where an answer is read only up to a bound (64 KiB for
    // an excerpt, 1 MiB for `max_body`), a key straddling that bound is cut there too.
    const WINDOW: usize = 4096;
    let body = |phase: usize| {
        let lead = " ".repeat(WINDOW - 100 + phase);
        format!("{lead}{}end", copies(KEY, 800)).into_bytes()
    };
    let at_bound = |bound: usize| {
        let mut body = vec![b' '; bound - 12];
        body.extend_from_slice(KEY.as_bytes());
        body.extend_from_slice(b" end");
        body
    };
    let server = server_answering(move |asked| {
        let answer = match asked.path.as_str() {
            "/a" => body(0),
            "/b" => body(20),
            "/64k" => at_bound(64 << 10),
            _ => at_bound(1 << 20),
        };
        (401, answer)
    });
    let scene = Scene::new();
    let mut checks = String::new();
    let mut queries = String::new();
    for phase in ["a", "b"] {
        let fields = format!(
            "url: \"http://127.0.0.1:{}/{phase}\", headers: {{X-Key: \"${{KEY}}\"}}",
            server.port
        );
        checks.push_str(&format!("  head-{phase}: {{kind: http, {fields}}}\n"));
        queries.push_str(&format!("    - {{name: {phase}, {fields}}}\n"));
        // A command's output is quoted from its end.
        let trail = " ".repeat(WINDOW - 200 + if phase == "a" { 0 } else { 20 });
        let printed = format!("{}{trail}", copies(KEY, 800));
        std::fs::write(scene.path(&format!("printed-{phase}")), printed).unwrap();
        checks.push_str(&format!(
            "  tail-{phase}: {{kind: exec, command: [sh, -c, 'cat @/printed-{phase} >&2; exit 1']}}\n"
        ));
    }
    for bound in ["64k", "1m"] {
        let fields = format!(
            "url: \"http://127.0.0.1:{}/{bound}\", headers: {{X-Key: \"${{KEY}}\"}}",
            server.port
        );
        checks.push_str(&format!("  bound-{bound}: {{kind: http, {fields}}}\n"));
        queries.push_str(&format!("    - {{name: bound-{bound}, {fields}}}\n"));
    }
    let config = gate_and_guard(&checks, &queries);
    let shown = Shown::of_failing(&scene, &config, &[("KEY", KEY)]);

    assert_hides(&[&KEY[..4], &KEY[KEY.len() - 4..]], &shown.named());
    let report = shown.get("check report");
    assert_contains!(report, "status 401");
    assert_contains!(report, "exited with status 1: [redacted]");
    assert_contains!(shown.get("/readyz/sentinel"), "status 401: [redacted]");
}

#[test]
fn control_characters_a_command_prints_reach_no_output_raw() {
    let scene = Scene::new();
    // Up a line, erase it, and write a verdict of its own.
    let (init, termination, config) = failed_gate(
        &scene,
        r#"deadline: 1s
checks:
  forge: {kind: exec, command: [sh, -c, 'printf "boom\033[1A\033[2K\rOK gate passed\n" >&2; exit 1']}
"#,
        &[],
    );
    let status = scene.status();
    let last_error = status["checks"][0]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let check = scene.run(&["check", "--config", config.to_str().unwrap()], &[]);

    for (name, text) in [
        ("check report", &check.stdout),
        ("termination log", &termination),
        ("status.json", &last_error),
        ("log", &init.stderr),
    ] {
        assert!(
            !text.contains(['\x1b', '\r']),
            "{name} carries a raw control character: {text:?}"
        );
    }
    assert_contains!(check.stdout, r"boom\u{1b}[1A\u{1b}[2K OK gate passed");
}
