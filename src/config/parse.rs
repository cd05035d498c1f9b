//! The config as a whole: the top level, `defaults`, and each check, its common keys and the
//! kinds with few keys of their own; every problem becomes a [`Diagnostic`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::env::Environment;
use super::fields::{
    Ctx, Expander, Fields, address_problem, boolean, duration, required, scalar, string_list,
    variable_name,
};
use super::units::{parse_duration, parse_size};
use super::yaml::{Node, Pos, Value};
use super::*;
use crate::{echo, suggest};

pub(super) const TOP_KEYS: &[&str] = &[
    "deadline",
    "state_dir",
    "placeholders",
    "defaults",
    "checks",
    "listen",
    "pins",
    "drain",
    "details",
    "sentinel",
];
pub(super) const DEFAULTS_KEYS: &[&str] = &["attempt_timeout", "max_interval", "stall_after"];
pub(super) const COMMON_KEYS: &[&str] = &[
    "kind",
    "after",
    "on_fail",
    "timeout",
    "attempt_timeout",
    "max_interval",
    "stall_after",
    "watch",
];
pub(super) const KINDS: &[(&str, &[&str])] = &[
    ("secret", &["env", "file"]),
    ("file", &["path", "min_size", "non_empty"]),
    ("tcp", &["address"]),
    ("http", super::http::KEYS),
    ("exec", &["command"]),
    ("gpu", super::gpu::KEYS),
    ("prompt", super::prompt::KEYS),
    ("manifest", super::manifest::KEYS),
];
/// The least `max_interval` and `attempt_timeout` a kind's own nature calls for, applied unless
/// the check sets its own.
pub(super) struct Floors {
    pub(super) max_interval: Duration,
    pub(super) attempt_timeout: Duration,
}

pub(super) fn floors(kind: &str) -> Floors {
    match kind {
        // NVML is slow to ask and a driver takes seconds to load: no point asking ten times a
        // second. Without persistence mode `nvmlInit` initialises every GPU, seconds each.
        "gpu" => Floors {
            max_interval: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(60),
        },
        // While the gate waits an attempt reports hashing progress every second, but under
        // `bootgate check` (one attempt) it hashes the whole model: tens of GB at storage speed.
        "manifest" => Floors {
            max_interval: Duration::ZERO,
            attempt_timeout: Duration::from_secs(30 * 60),
        },
        _ => Floors {
            max_interval: Duration::ZERO,
            attempt_timeout: Duration::ZERO,
        },
    }
}
/// The longest check name: it appears in URLs, metric labels and every log line.
pub(super) const MAX_CHECK_NAME: usize = 128;

pub(super) fn config(
    root: &Node,
    path: &Path,
    env: &dyn Environment,
) -> Result<Config, Vec<Diagnostic>> {
    let mut cx = Ctx::new(env);
    let mut top = match Fields::of(root, "", &mut cx) {
        Some(top) => top,
        None => return Err(cx.into_problems()),
    };

    let mut deadline = top
        .get("deadline")
        .and_then(|n| duration(n, "deadline", &mut cx))
        .unwrap_or(DEFAULT_DEADLINE);
    let mut state_dir = PathBuf::from(DEFAULT_STATE_DIR);
    if let Some(node) = top.get("state_dir")
        && let Some(dir) = scalar(node, "state_dir", &mut cx)
    {
        if dir.contains("${") {
            cx.problem(
                node.pos,
                "state_dir",
                "`${...}` is not expanded here; set BOOTGATE_STATE_DIR in the environment instead",
            );
        }
        state_dir = PathBuf::from(dir);
    }
    let placeholders = match top.get("placeholders") {
        Some(n) => string_list(n, "placeholders", &mut cx)
            .into_iter()
            .map(|(s, _)| s)
            .collect(),
        None => DEFAULT_PLACEHOLDERS.iter().map(|s| s.to_string()).collect(),
    };

    let mut defaults = Defaults {
        attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
        max_interval: DEFAULT_MAX_INTERVAL,
        stall_after: DEFAULT_STALL_AFTER,
    };
    if let Some(node) = top.get("defaults")
        && let Some(mut f) = Fields::of(node, "defaults", &mut cx)
    {
        defaults = read_defaults(&mut f, defaults, &mut cx);
        f.finish(DEFAULTS_KEYS, &mut cx);
    }

    // Read first: with a sentinel, a config may declare no gate checks at all.
    let guard = super::guard::read(&mut top, &mut cx);
    let needs_checks = guard.sentinel.is_none();
    let mut checks = Vec::new();
    match top.get("checks") {
        Some(node) => match &node.value {
            Value::Map(entries) if entries.is_empty() && needs_checks => cx.problem(
                node.pos,
                "checks",
                "no checks declared; a gate with nothing to check would pass anything",
            ),
            Value::Map(entries) => {
                for (name, pos, body) in entries.iter() {
                    if let Some(check) = check(name, *pos, body, &defaults, &mut cx) {
                        checks.push(check);
                    }
                }
            }
            _ => cx.problem(
                node.pos,
                "checks",
                "expected a mapping of check names to checks",
            ),
        },
        // Nothing in the file to point at: it goes after everything that has a place.
        None if needs_checks => cx.absent(
            "",
            "checks",
            Diagnostic {
                pos: None,
                field: "checks".into(),
                message:
                    "no checks declared; add e.g. `checks: {api-key: {kind: secret, env: API_KEY}}`"
                        .into(),
            },
        ),
        None => {}
    }
    top.allow_extensions();
    top.finish_noting(
        TOP_KEYS,
        &mut cx,
        " (keys starting with `x-` are left alone, a place for anchors to merge with `<<`)",
    );

    // Environment overrides are the last word: a pod spec can tighten a shared ConfigMap.
    if let Some(text) = env.var("BOOTGATE_DEADLINE") {
        match parse_duration(&text) {
            Ok(d) if !d.is_zero() => deadline = d,
            Ok(_) => env_problem(&mut cx, "BOOTGATE_DEADLINE", "must be longer than 0".into()),
            Err(e) => env_problem(&mut cx, "BOOTGATE_DEADLINE", e),
        }
    }
    if let Some(dir) = env.var("BOOTGATE_STATE_DIR") {
        if dir.is_empty() {
            env_problem(&mut cx, "BOOTGATE_STATE_DIR", "is empty".into());
        }
        state_dir = PathBuf::from(dir);
    }

    let sensitive = std::mem::take(&mut cx.sensitive);
    let problems = cx.into_problems();
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Config {
        source: path.to_path_buf(),
        text: String::new(),
        deadline,
        state_dir,
        placeholders,
        checks,
        guard,
        sensitive,
    })
}

fn env_problem(cx: &mut Ctx<'_>, var: &str, message: String) {
    cx.problems.push(Diagnostic {
        pos: None,
        field: format!("environment variable {var}"),
        message,
    });
}

#[derive(Clone, Copy)]
struct Defaults {
    attempt_timeout: Duration,
    max_interval: Duration,
    stall_after: Duration,
}

fn read_defaults(f: &mut Fields<'_>, base: Defaults, cx: &mut Ctx<'_>) -> Defaults {
    let mut read = |key: &str, fallback: Duration, cx: &mut Ctx<'_>| {
        let field = f.path(key);
        f.get(key)
            .and_then(|n| duration(n, &field, cx))
            .unwrap_or(fallback)
    };
    Defaults {
        attempt_timeout: read("attempt_timeout", base.attempt_timeout, cx),
        max_interval: read("max_interval", base.max_interval, cx),
        stall_after: read("stall_after", base.stall_after, cx),
    }
}

fn valid_check_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn check(
    name: &str,
    pos: Pos,
    body: &Node,
    defaults: &Defaults,
    cx: &mut Ctx<'_>,
) -> Option<CheckSpec> {
    let field = format!("checks.{name}");
    if !valid_check_name(name) {
        cx.problem(
            pos,
            &field,
            "a check name may use only letters, digits, `-`, `_` and `.` (it appears in URLs and metrics)",
        );
    } else if name.len() > MAX_CHECK_NAME {
        cx.problem(
            pos,
            &field,
            format!("a check name is at most {MAX_CHECK_NAME} characters (it appears in URLs and metrics)"),
        );
    }
    let mut f = Fields::of(body, &field, cx)?;
    let kind_name = match f.get("kind") {
        Some(node) => {
            let kind = scalar(node, &f.path("kind"), cx)?;
            if !KINDS.iter().any(|(k, _)| *k == kind) {
                let names = KINDS.iter().map(|(k, _)| *k);
                cx.problem(
                    node.pos,
                    &f.path("kind"),
                    format!(
                        "unknown kind `{}`{}; expected one of: {}",
                        echo::value(kind),
                        suggest::hint(kind, names.clone()),
                        names.collect::<Vec<_>>().join(", ")
                    ),
                );
                return None;
            }
            kind.to_string()
        }
        None => {
            missing_kind(&f, pos, cx);
            return None;
        }
    };

    let after = f
        .get("after")
        .map(|n| string_list(n, &f.path("after"), cx))
        .unwrap_or_default();
    let on_fail = f.choice_or(
        "on_fail",
        &[
            ("require", OnFail::Require),
            ("degrade", OnFail::Degrade),
            ("warn", OnFail::Warn),
        ],
        OnFail::Require,
        cx,
    );
    let watch = match f.get("watch") {
        Some(node) => boolean(node, &f.path("watch"), cx).unwrap_or(false),
        None => false,
    };
    let timeout = f
        .get("timeout")
        .and_then(|n| duration(n, &f.path("timeout"), cx));
    let own = |key: &str| f.entries.iter().any(|(k, _, _)| k == key);
    let (own_max_interval, own_attempt_timeout) = (own("max_interval"), own("attempt_timeout"));
    let mut tuned = read_defaults(&mut f, *defaults, cx);
    let floor = floors(&kind_name);
    if !own_max_interval {
        tuned.max_interval = tuned.max_interval.max(floor.max_interval);
    }
    if !own_attempt_timeout {
        tuned.attempt_timeout = tuned.attempt_timeout.max(floor.attempt_timeout);
    }

    let mut missing_input = None;
    let mut ex = Expander {
        check_field: field.clone(),
        missing: &mut missing_input,
    };
    let known = cx.reported();
    let kind = match kind_name.as_str() {
        "secret" => secret(&mut f, pos, &mut ex, cx),
        "file" => file(&mut f, pos, &mut ex, cx),
        "tcp" => tcp(&mut f, pos, &mut ex, cx),
        "http" => super::http::read(&mut f, pos, &mut ex, cx),
        "gpu" => super::gpu::read(&mut f, &mut ex, cx),
        "prompt" => super::prompt::read(&mut f, pos, &mut ex, cx),
        "manifest" => super::manifest::read(&mut f, pos, &mut ex, cx),
        _ => exec(&mut f, pos, &mut ex, cx),
    };
    let allowed: Vec<&str> = COMMON_KEYS
        .iter()
        .chain(
            KINDS
                .iter()
                .find(|(k, _)| *k == kind_name)
                .map(|(_, keys)| *keys)
                .unwrap_or(&[]),
        )
        .copied()
        .collect();
    f.finish_placing(&allowed, cx, |key| {
        let owner = KINDS
            .iter()
            .find(|(_, keys)| keys.contains(&key))
            .map(|(k, _)| *k)?;
        (owner != kind_name).then(|| {
            format!(
                "`{}` is not a field of a {kind_name} check (it belongs to kind {owner})",
                echo::value(key)
            )
        })
    });
    // A check is never dropped in silence: a reader that gave up has said why, or this does.
    if kind.is_none() && cx.reported() == known {
        cx.problem(
            pos,
            &format!("checks.{name}"),
            "incomplete: a key it needs has no usable value",
        );
    }
    Some(CheckSpec {
        name: name.to_string(),
        pos,
        kind: kind?,
        after,
        on_fail,
        timeout,
        attempt_timeout: tuned.attempt_timeout,
        max_interval: tuned.max_interval,
        stall_after: tuned.stall_after,
        missing_input,
        watch,
    })
}

/// Without a kind the check's other keys cannot be judged, except a misspelt `kind` itself:
/// that is the problem to report.
fn missing_kind(f: &Fields<'_>, pos: Pos, cx: &mut Ctx<'_>) {
    let known =
        |key: &str| COMMON_KEYS.contains(&key) || KINDS.iter().any(|(_, keys)| keys.contains(&key));
    for (key, key_pos, _) in f.entries {
        if !known(key) && suggest::closest(key, ["kind"]).is_some() {
            cx.problem(
                *key_pos,
                &f.field,
                format!("unknown key `{}` (did you mean kind?)", echo::value(key)),
            );
            cx.misspelt(&f.field, "kind");
        }
    }
    let problem = Diagnostic {
        pos: Some(pos),
        field: f.field.clone(),
        message: "missing `kind` (secret, file, tcp, http, exec, gpu, prompt or manifest)".into(),
    };
    cx.absent(&f.field, "kind", problem);
}

fn secret(f: &mut Fields<'_>, pos: Pos, ex: &mut Expander<'_>, cx: &mut Ctx<'_>) -> Option<Kind> {
    let env = f.get("env");
    let file = f.get("file");
    match (env, file) {
        (Some(node), None) => {
            let var = variable_name(node, &f.path("env"), "OPENAI_API_KEY", cx)?;
            if let Some(value) = cx.env.var(&var).filter(|v| !v.is_empty()) {
                cx.sensitive.push(value);
            }
            Some(Kind::Secret(SecretSource::Env(var)))
        }
        (None, Some(node)) => Some(Kind::Secret(SecretSource::File(ex.text(node, "file", cx)?))),
        (Some(_), Some(node)) => {
            cx.problem(node.pos, &f.field, "give either `env` or `file`, not both");
            None
        }
        (None, None) => {
            cx.problem(
                pos,
                &f.field,
                "a secret needs `env: VAR_NAME` or `file: /path`",
            );
            None
        }
    }
}

fn file(f: &mut Fields<'_>, pos: Pos, ex: &mut Expander<'_>, cx: &mut Ctx<'_>) -> Option<Kind> {
    let path = required(f, "path", pos, cx).and_then(|n| ex.text(n, "path", cx));
    let min_size = f.parsed("min_size", cx, parse_size);
    let non_empty = match f.get("non_empty") {
        Some(node) => boolean(node, &f.path("non_empty"), cx)?,
        None => false,
    };
    Some(Kind::File(FileSpec {
        path: path?,
        min_size,
        non_empty,
    }))
}

fn tcp(f: &mut Fields<'_>, pos: Pos, ex: &mut Expander<'_>, cx: &mut Ctx<'_>) -> Option<Kind> {
    let node = required(f, "address", pos, cx)?;
    let address = ex.text(node, "address", cx)?;
    if !address.value.is_empty()
        && let Some(problem) = address_problem(&address.value, 1)
    {
        cx.problem(
            node.pos,
            &f.path("address"),
            format!(
                "`{}` {problem}: host:port, e.g. 127.0.0.1:6333",
                echo::value(&address.written)
            ),
        );
        return None;
    }
    Some(Kind::Tcp { address })
}

fn exec(f: &mut Fields<'_>, pos: Pos, ex: &mut Expander<'_>, cx: &mut Ctx<'_>) -> Option<Kind> {
    let node = required(f, "command", pos, cx)?;
    let field = f.path("command");
    let Value::Seq(items) = &node.value else {
        cx.problem(
            node.pos,
            &field,
            "an argv list is run without a shell: write command: [/bin/check, --flag]",
        );
        return None;
    };
    if items.is_empty() {
        cx.problem(node.pos, &field, "the command is empty");
        return None;
    }
    let mut command = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        command.push(ex.text(item, &format!("command[{i}]"), cx)?);
    }
    Some(Kind::Exec { command })
}

#[cfg(test)]
mod tests {
    use super::super::load_with;
    use super::*;

    fn load(text: &str) -> Result<Config, Vec<Diagnostic>> {
        load_with(text, &[])
    }

    const ISSUE_EXAMPLE: &str = include_str!("../../tests/fixtures/example.yaml");

    #[test]
    fn reads_the_documented_example() {
        let c = load(ISSUE_EXAMPLE).unwrap();
        assert_eq!(c.deadline, Duration::from_secs(600));
        assert_eq!(c.checks.len(), 6);
        let weights = &c.checks[2];
        assert_eq!(weights.after[0].0, "hf-token");
        assert!(matches!(&weights.kind, Kind::File(f) if f.min_size == Some(1 << 30)));
        assert_eq!(c.checks[1].timeout, Some(Duration::from_secs(90)));
        assert_eq!(c.checks[3].max_interval, DEFAULT_MAX_INTERVAL);
    }

    #[test]
    fn typo_key_gets_position_and_suggestion() {
        let errs = load("checks:\n  a: {kind: tcp, address: 'x:1', afer: [b]}\n").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].pos, Some(Pos { line: 2, col: 34 }));
        assert!(
            errs[0].message.contains("did you mean after?"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn typo_kind_gets_suggestion() {
        let errs = load("checks:\n  a: {kind: secert, env: X}\n").unwrap_err();
        assert!(errs[0].message.contains("did you mean secret?"), "{errs:?}");
        assert_eq!(errs[0].field, "checks.a.kind");
    }

    #[test]
    fn key_of_another_kind_is_named() {
        let errs = load("checks:\n  a: {kind: tcp, address: 'h:1', path: /x}\n").unwrap_err();
        assert!(errs[0].message.contains("belongs to kind file"), "{errs:?}");
    }

    #[test]
    fn collects_every_problem() {
        let errs = load(
            "deadlin: 5m\nchecks:\n  a: {kind: tcp}\n  b: {kind: file, path: /x, min_size: big}\n",
        )
        .unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
    }

    #[test]
    fn environment_overrides_top_level_scalars() {
        let c = load_with(
            ISSUE_EXAMPLE,
            &[
                ("BOOTGATE_DEADLINE", "5m"),
                ("BOOTGATE_STATE_DIR", "/tmp/s"),
            ],
        )
        .unwrap();
        assert_eq!(c.deadline, Duration::from_secs(300));
        assert_eq!(c.state_dir, PathBuf::from("/tmp/s"));
        let errs = load_with(ISSUE_EXAMPLE, &[("BOOTGATE_DEADLINE", "soon")]).unwrap_err();
        assert!(errs[0].field.contains("BOOTGATE_DEADLINE"));
    }

    #[test]
    fn unset_variable_is_a_missing_input_not_a_config_error() {
        let c = load_with(
            "checks:\n  r: {kind: http, url: 'http://${REGISTRY_HOST}/health'}\n",
            &[("REGISTRY_HOSTNAME", "x")],
        )
        .unwrap();
        let missing = c.checks[0].missing_input.as_deref().unwrap();
        assert!(
            missing.contains("checks.r.url uses ${REGISTRY_HOST}"),
            "{missing}"
        );
        assert!(
            missing.contains("did you mean REGISTRY_HOSTNAME?"),
            "{missing}"
        );
    }

    #[test]
    fn expanded_and_env_secret_values_are_sensitive() {
        let c = load_with(
            "checks:\n  k: {kind: secret, env: KEY}\n  h: {kind: http, url: 'http://h:1/', headers: {Authorization: 'Bearer ${TOK}'}}\n",
            &[("KEY", "canary-1"), ("TOK", "canary-2")],
        )
        .unwrap();
        assert_eq!(c.sensitive, ["canary-1", "canary-2"]);
        let Kind::Http(h) = &c.checks[1].kind else {
            panic!()
        };
        assert_eq!(h.headers[0].1.written, "Bearer ${TOK}");
        assert_eq!(h.headers[0].1.value, "Bearer canary-2");
    }

    #[test]
    fn exec_needs_an_argv_and_tcp_a_port() {
        let errs = load(
            "checks:\n  e: {kind: exec, command: 'ls -l'}\n  t: {kind: tcp, address: localhost}\n",
        )
        .unwrap_err();
        assert!(errs[0].message.contains("without a shell"));
        assert!(errs[1].message.contains("needs a port"));
    }

    #[test]
    fn bad_names_and_missing_checks() {
        assert!(
            load("deadline: 1m\n").unwrap_err()[0]
                .message
                .contains("no checks")
        );
        let errs = load("checks:\n  'a b': {kind: secret, env: X}\n").unwrap_err();
        assert!(errs[0].message.contains("check name"));
    }

    /// `cuda:` with nothing after it, or an empty source, used to read as absent: the gpu
    /// check then asked for no CUDA at all, and the manifest check vanished from the config.
    #[test]
    fn a_key_left_empty_is_named_and_no_check_is_dropped() {
        let errs = load(
            "checks:\n  g: {kind: gpu, cuda: }\n  m:\n    kind: manifest\n    manifest: m.yaml\n    effective:\n      tok: {sha256_of: }\n",
        )
        .unwrap_err();
        let text: Vec<String> = errs
            .iter()
            .map(|d| format!("{}: {d}", d.pos.unwrap_or_default()))
            .collect();
        assert_eq!(
            text,
            [
                "2:18: checks.g.cuda: has no value; give one, or remove the key",
                "7:13: checks.m.effective.tok.sha256_of: has no value; give one, or remove the key",
            ]
        );
    }
}
