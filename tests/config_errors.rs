//! What `bootgate validate` says about a config, run on the real binary: where each problem is,
//! in what order, how a value from the file is echoed, and how long a large file takes.

#[macro_use]
mod common;

use std::fs::File;
use std::net::TcpListener;
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc::channel;
use std::thread;
use std::time::Duration;

use common::*;

fn validate(scene: &Scene, config: &str) -> Finished {
    let path = scene.config(config);
    scene.run(&["validate", "--config", path.to_str().unwrap()], &[])
}

/// The problem lines of a refused config, each without the file's path.
fn problems(done: &Finished) -> Vec<String> {
    assert_eq!(done.code(), Some(2), "{}", done.stderr);
    done.stderr
        .lines()
        .map(|l| {
            l.split_once("bootgate.yaml:")
                .map_or(l, |(_, rest)| rest)
                .to_string()
        })
        .collect()
}

/// Runs `validate` to its end or kills it after `limit`; stdout goes to a file, so a long
/// report never blocks on a full pipe.
fn validate_within(scene: &Scene, config: &str, limit: Duration) -> ExitStatus {
    let path = scene.config(config);
    let out = File::create(scene.path("validate.out")).unwrap();
    let mut child = scene
        .command(&["validate", "--config", path.to_str().unwrap()], &[])
        .stdout(out)
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(limit) {
        Ok(status) => status.unwrap(),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("validate still running after {limit:?}");
        }
    }
}

/// Quadratic steps (every `after` against every check, every pair of dependencies) took
/// minutes here; linear ones take seconds even in a debug build on a loaded machine. The
/// figures are in the `validate` bench, not here: this bound only catches a return to n².
#[test]
fn a_50000_check_chain_and_a_50000_wide_graph_validate() {
    const N: usize = 50_000;
    const LIMIT: Duration = Duration::from_secs(120);
    let scene = Scene::new();
    let mut chain = String::from("checks:\n  c0: {kind: secret, env: X}\n");
    for i in 1..N {
        chain.push_str(&format!(
            "  c{i}: {{kind: secret, env: X, after: [c{}]}}\n",
            i - 1
        ));
    }
    assert!(validate_within(&scene, &chain, LIMIT).success());
    let out = std::fs::read_to_string(scene.path("validate.out")).unwrap();
    assert_contains!(out, "valid — 50000 checks");
    assert_contains!(out, "  50000. c49999\n");

    let mut wide = String::from("checks:\n  root: {kind: secret, env: X}\n");
    let mut all = Vec::with_capacity(N);
    for i in 0..N {
        wide.push_str(&format!(
            "  w{i}: {{kind: secret, env: X, after: [root]}}\n"
        ));
        all.push(format!("w{i}"));
    }
    wide.push_str(&format!(
        "  sink: {{kind: secret, env: X, after: [{}]}}\n",
        all.join(", ")
    ));
    assert!(validate_within(&scene, &wide, LIMIT).success());
    let out = std::fs::read_to_string(scene.path("validate.out")).unwrap();
    assert_contains!(out, "valid — 50002 checks");
    assert_contains!(out, "  3. sink\n");
}

#[test]
fn a_second_yaml_document_is_refused_where_it_starts() {
    let scene = Scene::new();
    let done = validate(
        &scene,
        "checks:\n  a: {kind: secret, env: A}\n---\nchecks:\n  b: {kind: secret, env: B}\n",
    );
    assert_eq!(
        problems(&done),
        [
            "3:1: YAML syntax: a second YAML document starts here; bootgate reads one document per file, so remove the `---` line or give this document a file of its own"
        ]
    );
}

/// `<<` merges a mapping in (YAML 1.1): what the check writes itself wins, and the merged
/// address is the one a real connection goes to.
#[test]
fn merge_keys_share_settings_and_own_keys_win() {
    let scene = Scene::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = scene.config(&format!(
        "x-tcp: &tcp {{kind: tcp, address: \"127.0.0.1:1\", attempt_timeout: 2s}}\nchecks:\n  db:\n    <<: *tcp\n    address: \"127.0.0.1:{port}\"\n  cache: {{<<: [{{address: \"127.0.0.1:{port}\"}}, *tcp]}}\n"
    ));
    let done = scene.run(&["check", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(0), "{}\n{}", done.stdout, done.stderr);
    assert_contains!(done.stdout, "db");
    assert_contains!(done.stdout, "cache");

    let done = validate(
        &scene,
        "checks:\n  a: &a {kind: secret, env: A}\n  b: {<<: [*a, x], env: B}\n",
    );
    assert_eq!(
        problems(&done),
        [
            "3:16: YAML syntax: `<<` merges mappings, and this is a scalar; write `<<: *anchor` or `<<: [*a, *b]`"
        ]
    );
}

#[test]
fn a_listen_port_out_of_range_is_named_with_its_position() {
    let scene = Scene::new();
    let done = validate(
        &scene,
        "checks:\n  a: {kind: secret, env: A}\nlisten: 0.0.0.0:99999\n",
    );
    assert_eq!(
        problems(&done),
        [
            "3:9: listen: `0.0.0.0:99999` has a port out of range (a port is 0 to 65535): e.g. \"[::]:8081\" or \"0.0.0.0:8081\""
        ]
    );
}

#[test]
fn a_url_without_a_scheme_says_it_must_start_with_http() {
    let scene = Scene::new();
    let done = validate(
        &scene,
        "checks:\n  api: {kind: http, url: \"localhost:8000/health\"}\n",
    );
    assert_eq!(
        problems(&done),
        ["2:26: checks.api.url: `localhost:8000/health`: must start with http:// or https://"]
    );
}

#[test]
fn durations_in_words_get_the_spelling_that_works() {
    let scene = Scene::new();
    let done = validate(
        &scene,
        "deadline: 5 minutes\nchecks:\n  a: {kind: secret, env: A, timeout: 1 hour 30 mins}\n  b: {kind: secret, env: B, timeout: 2 days}\n  c: {kind: secret, env: C, timeout: 1h 30m}\n",
    );
    assert_eq!(
        problems(&done),
        [
            "1:11: deadline: unknown duration unit `minutes` in `5 minutes`; write 5m",
            "3:38: checks.a.timeout: unknown duration unit `hour` in `1 hour 30 mins`; write 1h30m",
            "4:38: checks.b.timeout: unknown duration unit `days` in `2 days`; write 48h",
            "5:38: checks.c.timeout: `1h 30m` has a space in it; write 1h30m",
        ]
    );
}

/// Problems come in the order of the file, whatever order they are found in.
#[test]
fn problems_are_sorted_by_line_and_column() {
    let scene = Scene::new();
    let done = validate(
        &scene,
        "checks:\n  a: {kind: tcp, address: nowhere}\n  b: {kind: file, path: /x, min_size: big}\ndeadline: soon\ndefaults: {stall_after: never}\n",
    );
    assert_eq!(
        problems(&done),
        [
            "2:27: checks.a.address: `nowhere` needs a port: host:port, e.g. 127.0.0.1:6333",
            "3:39: checks.b.min_size: `big` is not a size; write e.g. 512MiB, 1GiB, 4096",
            "4:11: deadline: `soon` is not a duration; write e.g. 90s, 10m, 500ms",
            "5:25: defaults.stall_after: `never` is not a duration; write e.g. 90s, 10m, 500ms",
        ]
    );
}

/// A misspelt key is the problem; the key it leaves missing is its consequence, not a second
/// problem, and a problem of the whole file comes after those with a place.
#[test]
fn root_causes_come_first_and_their_consequences_are_not_repeated() {
    let scene = Scene::new();
    let done = validate(
        &scene,
        "dedline: 5m\nchecsk:\n  a: {kind: secret, env: A}\n",
    );
    let expected_keys = "expected one of: deadline, state_dir, placeholders, defaults, checks, listen, pins, drain, details, sentinel";
    assert_eq!(
        problems(&done),
        [
            format!("1:1: unknown key `dedline` (did you mean deadline?); {expected_keys}"),
            format!("2:1: unknown key `checsk` (did you mean checks?); {expected_keys}"),
        ]
    );

    let done = validate(&scene, "dedline: 5m\n");
    assert_eq!(
        problems(&done),
        [
            format!("1:1: unknown key `dedline` (did you mean deadline?); {expected_keys}"),
            " checks: no checks declared; add e.g. `checks: {api-key: {kind: secret, env: API_KEY}}`".to_string(),
        ]
    );

    let done = validate(
        &scene,
        "checks:\n  a: {knd: tcp, address: \"h:1\"}\n  b: {kind: tcp, adress: \"h:1\"}\n",
    );
    assert_eq!(
        problems(&done),
        [
            "2:7: checks.a: unknown key `knd` (did you mean kind?)",
            "3:18: checks.b: unknown key `adress` (did you mean address?); expected one of: kind, after, on_fail, timeout, attempt_timeout, max_interval, stall_after, watch, address",
        ]
    );
}

#[test]
fn a_missing_default_config_says_how_to_name_another() {
    let default = std::path::Path::new("/etc/bootgate/bootgate.yaml");
    if default.exists() {
        eprintln!(
            "{} exists on this machine; nothing to show",
            default.display()
        );
        return;
    }
    let scene = Scene::new();
    let done = scene.run(&["validate"], &[]);
    assert_eq!(done.code(), Some(2), "{}", done.stderr);
    assert_contains!(
        done.stderr,
        "cannot read config /etc/bootgate/bootgate.yaml: No such file or directory (os error 2); pass --config PATH or set BOOTGATE_CONFIG"
    );
}

/// A value from the file is echoed escaped and capped: a 1 MiB value does not come back whole,
/// and a cursor-up in one cannot rewrite the line above.
#[test]
fn echoed_values_are_escaped_and_capped() {
    let scene = Scene::new();
    let huge = "9".repeat(1 << 20);
    // A key is at most 1024 characters; these are as long as that allows.
    let long = "9".repeat(1024);
    let done = validate(
        &scene,
        &format!(
            "deadline: \"\\e[1A\\rgate passed {huge}\"\nchecks:\n  a:\n    kind: secret\n    env: A\n    {long}: 1\n  {long}: {{kind: secret, env: B}}\n"
        ),
    );
    let lines = problems(&done);
    assert!(done.stderr.len() < 8 << 10, "{} bytes", done.stderr.len());
    assert!(!done.stderr.contains('\u{1b}') && !done.stderr.contains('\r'));
    assert!(
        lines[0].starts_with("1:11: deadline: `\\u{1b}[1A\\rgate passed 999"),
        "{}",
        lines[0]
    );
    assert_contains!(lines[0], "… (1048593 bytes in all)");
    assert_contains!(lines[1], "… (1024 bytes in all)`; expected one of:");
    assert_contains!(
        lines[2],
        "… (1031 bytes in all): a check name is at most 128 characters"
    );

    // What validate prints of a valid config is capped the same way.
    let state_dir = format!("/tmp/\u{1b}[2J{}", "d".repeat(100_000));
    let config = scene.config("checks:\n  a: {kind: secret, env: A}\n");
    let done = scene.run(
        &["validate", "--config", config.to_str().unwrap()],
        &[("BOOTGATE_STATE_DIR", &state_dir)],
    );
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert!(done.stdout.len() < 8 << 10, "{} bytes", done.stdout.len());
    assert_contains!(done.stdout, "state_dir /tmp/\\u{1b}[2Jddd");
    assert_contains!(done.stdout, "… (100009 bytes in all)");
}

/// Every problem under a key names it in its field: a key of a megabyte over thousands of
/// problems would take gigabytes. A key is held to YAML's own limit for plain keys, also when
/// written `? key`, and refused where it stands.
#[test]
fn a_key_longer_than_yaml_allows_is_refused_before_its_problems_multiply() {
    let scene = Scene::new();
    let unknown: Vec<String> = (0..3000).map(|i| format!("k{i}: 1")).collect();
    let config = scene.config(&format!(
        "checks:\n  ? {}\n  : {{kind: secret, env: A, {}}}\n",
        "n".repeat(1 << 20),
        unknown.join(", ")
    ));
    let started = std::time::Instant::now();
    let out = scene
        .command_after(
            "ulimit -v 2097152",
            &["validate", "--config", config.to_str().unwrap()],
            &[],
        )
        .output()
        .unwrap();
    let done = Finished {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    };
    assert_eq!(
        problems(&done),
        ["2:5: YAML syntax: a mapping key is at most 1024 characters; this one has 1048576"]
    );
}

#[test]
fn the_readiness_keys_say_what_they_take() {
    let scene = Scene::new();
    let done = validate(
        &scene,
        "sentinel:\n  pulse: on\n  dead_after: 0s\n  queries:\n    - {url: \"http://127.0.0.1:8000/v1/models\", expect: {status: 503, fatal_status: [503]}}\n    - {name: b, url: \"http://127.0.0.1:8000/\", expect: {fatal_status: [204]}}\n",
    );
    assert_eq!(
        problems(&done),
        [
            "2:10: sentinel.pulse: `on` is not a duration; write e.g. 90s, 10m, 500ms; or off",
            "3:15: sentinel.dead_after: must be longer than 0, or off",
            "5:84: sentinel.queries[0].expect.fatal_status: 503 is a passing answer: it cannot also be fatal",
            "6:71: sentinel.queries[1].expect.fatal_status: 204 is a passing answer: it cannot also be fatal",
        ]
    );
    let done = validate(
        &scene,
        "sentinel:\n  pulse: {every: 10ms, fatal_status: [503]}\n  queries: [{url: \"http://127.0.0.1:8000/\"}]\n",
    );
    assert_eq!(
        problems(&done),
        [
            "2:18: sentinel.pulse.every: at least 100ms: every look is a request to the model server",
            "2:38: sentinel.pulse.fatal_status: needs a `path`: without one, any answer to `HEAD /` passes",
        ]
    );
}

const PRESET_CHECKS: &str = "checks:\n  weights: {kind: file, path: /etc/hostname}\n";

/// What `validate` prints of a preset: the sentinel as one would write it by hand.
fn written_out(scene: &Scene, config: &str) -> String {
    let done = validate(scene, config);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    let (_, sentinel) = done
        .stdout
        .split_once("as written out in full:\n")
        .unwrap_or_else(|| panic!("no expansion in {}", done.stdout));
    sentinel.to_string()
}

#[test]
fn validate_prints_what_a_preset_expands_to_and_it_reads_back_the_same() {
    let scene = Scene::new();
    let config = format!(
        "{PRESET_CHECKS}sentinel:\n  preset: vllm\n  url: http://127.0.0.1:8000/\n  model: llama\n  headers:\n    Authorization: {{file: /var/run/secrets/api/token, prefix: \"Bearer \"}}\n    content-type: application/json; charset=utf-8\n"
    );
    let expanded = written_out(&scene, &config);
    for expected in [
        r#"pulse: {every: 1.0s, path: "/health", fatal_status: [503]}"#,
        "no query while GET http://127.0.0.1:8000/is_sleeping has true at /is_sleeping; unready while it sleeps",
        r#"url: "http://127.0.0.1:8000/v1/models""#,
        r#""/data/*/id": {includes: "llama"}"#,
        r#"url: "http://127.0.0.1:8000/v1/completions""#,
        r#"body: "{\"model\":\"llama\",\"prompt\":\"Hi\",\"max_tokens\":1,\"temperature\":0}""#,
        r#""/choices/0": {exists: true}"#,
    ] {
        assert_contains!(expanded, expected);
    }
    // Headers merge by name: the given content-type replaces the preset's Content-Type.
    assert!(!expanded.contains("Content-Type"), "{expanded}");
    assert_eq!(expanded.matches("content-type").count(), 2, "{expanded}");
    assert_eq!(expanded.matches("Authorization").count(), 2, "{expanded}");

    // A beat given changes the preset's pulse in its beat only.
    let beat = written_out(
        &scene,
        &format!(
            "{PRESET_CHECKS}sentinel:\n  preset: vllm\n  url: http://h:8000\n  model: m\n  pulse: 2s\n"
        ),
    );
    assert_contains!(
        beat,
        r#"pulse: {every: 2.0s, path: "/health", fatal_status: [503]}"#
    );

    // Written by hand, the expansion is the same sentinel.
    let by_hand = format!("{PRESET_CHECKS}{expanded}");
    let reread = validate(&scene, &by_hand);
    assert_eq!(reread.code(), Some(0), "{}\n{by_hand}", reread.stderr);
}

#[test]
fn what_is_given_replaces_the_presets_query_predictably() {
    let scene = Scene::new();
    // A given `expect` replaces the production query's whole; `body` its body.
    let expanded = written_out(
        &scene,
        &format!(
            "{PRESET_CHECKS}sentinel:\n  preset: kserve\n  url: http://127.0.0.1:8080\n  model: iris\n  body: '{{\"inputs\": []}}'\n  expect: {{status: [200], json: {{/outputs/0/data/0: {{equals: \"1\"}}}}}}\n"
        ),
    );
    assert_contains!(
        expanded,
        r#"pulse: {every: 1.0s, path: "/v2/models/iris/ready", loading_status: [503]}"#
    );
    assert_contains!(expanded, r#"body: "{\"inputs\": []}""#);
    assert!(!expanded.contains("body_from"), "{expanded}");
    assert_contains!(expanded, "status: [200]");
    assert!(!expanded.contains("\"/outputs/0\": {exists"), "{expanded}");

    // A given `queries` list replaces the production query; the model check stays.
    let expanded = written_out(
        &scene,
        &format!(
            "{PRESET_CHECKS}sentinel:\n  preset: llamacpp\n  url: http://127.0.0.1:8080\n  model: tiny\n  queries:\n    - {{name: chat, method: POST, url: http://127.0.0.1:8080/v1/chat/completions, body: '{{}}'}}\n"
        ),
    );
    let names: Vec<&str> = expanded
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- name: "))
        .collect();
    assert_eq!(names, ["\"model\"", "\"chat\""], "{expanded}");
    assert_contains!(expanded, "loading_status: [503]");
}

#[test]
fn preset_mistakes_are_named_where_they_are() {
    let scene = Scene::new();
    let cases = [
        (
            "sentinel:\n  preset: vlm\n  url: http://x:8000\n  model: m\n",
            "4:11: sentinel.preset: unknown preset `vlm` (did you mean vllm?); expected one of: vllm, sglang, tgi, triton, kserve, llamacpp, ollama, nim, openai",
        ),
        (
            "sentinel:\n  preset: tgi\n  url: http://x:8000\n",
            "4:3: sentinel: missing `model`",
        ),
        (
            "sentinel:\n  url: http://x:8000\n  queries: [{url: http://x:8000/health}]\n",
            "4:8: sentinel.url: only with a `preset`, which it changes; without one, write it in each of `queries`",
        ),
        (
            "sentinel:\n  preset: nim\n  url: x:8000\n  model: m\n",
            "5:8: sentinel.url: `x:8000`: must start with http:// or https://",
        ),
        (
            "sentinel:\n  preset: vllm\n  url: http://x:8000\n  model: m\n  expect: {status: 200}\n  queries: [{url: http://x:8000/v1/chat/completions}]\n",
            "sentinel.expect: changes the preset's query, which `queries` replaces: write `expect` in each query",
        ),
        (
            "sentinel:\n  preset: vllm\n  url: http://x:8000\n  model: m\n  queries: [{name: model, url: http://x:8000/v1/models}]\n",
            "sentinel.queries[0].name: `model` is the preset's model check: name this query otherwise",
        ),
        (
            "sentinel:\n  queries: [{url: http://x/v1/models, expect: {json: {/data/id: {includes: m}}}}]\n",
            "`/data/id`: `includes` needs one `*` in the pointer, for the list's elements: e.g. /data/*/id",
        ),
        (
            "sentinel:\n  queries: [{url: http://x/h, expect: {loading_status: [200]}}]\n",
            "200 is a passing answer: it cannot also be loading",
        ),
        (
            "sentinel:\n  pulse: {path: /health, fatal_status: [503], loading_status: [503]}\n  queries: [{url: http://x/h}]\n",
            "503 is also in fatal_status: an answer is fatal or loading, not both",
        ),
    ];
    for (sentinel, expected) in cases {
        let done = validate(&scene, &format!("{PRESET_CHECKS}{sentinel}"));
        let said = problems(&done).join("\n");
        assert_contains!(said, expected);
        // One mistake, one problem: nothing said of what follows from it.
        assert_eq!(said.lines().count(), 1, "{said}");
    }
}

#[test]
fn a_presets_expansion_never_shows_a_secret() {
    let scene = Scene::new();
    let canary = "canary-3f9c1e7a5b";
    let config = scene.config(&format!(
        "{PRESET_CHECKS}sentinel:\n  preset: nim\n  url: http://user:${{PASSWORD}}@127.0.0.1:8000\n  model: llama\n  headers:\n    Authorization: Bearer ${{TOKEN}}\n"
    ));
    let done = scene.run(
        &["validate", "--config", config.to_str().unwrap()],
        &[("TOKEN", canary), ("PASSWORD", canary)],
    );
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_contains!(done.stdout, r#""Authorization": "Bearer ${TOKEN}""#);
    assert_hides(
        &[canary],
        &[("stdout", &done.stdout), ("stderr", &done.stderr)],
    );

    // A model named by a variable is shown as the variable wherever the preset put it: the
    // pulse path, the model check, the body.
    for preset in ["kserve", "ollama", "tgi"] {
        let config = scene.config(&format!(
            "{PRESET_CHECKS}sentinel:\n  preset: {preset}\n  url: http://127.0.0.1:8000\n  model: ${{MODEL_NAME}}\n"
        ));
        let done = scene.run(
            &["validate", "--config", config.to_str().unwrap()],
            &[("MODEL_NAME", canary)],
        );
        assert_eq!(done.code(), Some(0), "{}", done.stderr);
        assert_contains!(done.stdout, "${MODEL_NAME}");
        assert_hides(&[canary], &[(preset, &done.stdout)]);
    }
}
