//! Typed validation of the position-keeping tree: every problem becomes a [`Diagnostic`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::env::Environment;
use super::expand::{ExpandError, expand};
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
    ("http", &["url", "method", "headers", "expect"]),
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
pub(super) const EXPECT_KEYS: &[&str] = &["status", "body_contains", "max_body"];
/// An answer judged on its JSON is held whole while it is read; past this, the guard's own
/// memory limit is at stake.
const MAX_BODY_CEILING: u64 = 64 << 20;
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The longest check name: it appears in URLs, metric labels and every log line.
pub(super) const MAX_CHECK_NAME: usize = 128;

pub(super) struct Ctx<'a> {
    pub(super) env: &'a dyn Environment,
    pub(super) problems: Vec<Diagnostic>,
    pub(super) sensitive: Vec<String>,
    /// Keys a mapping lacks. One the mapping has a misspelling of is no problem of its own:
    /// the misspelling is, and it is reported with a "did you mean".
    absent: Vec<Absent>,
    /// [`slot`] of each unknown key's mapping and the key it reads as a misspelling of.
    misspelt: HashSet<String>,
    /// The environment's variable names, read once for every "did you mean".
    env_names: Option<Vec<String>>,
}

struct Absent {
    mapping: String,
    key: String,
    problem: Diagnostic,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(env: &'a dyn Environment) -> Self {
        Ctx {
            env,
            problems: Vec::new(),
            sensitive: Vec::new(),
            absent: Vec::new(),
            misspelt: HashSet::new(),
            env_names: None,
        }
    }

    pub(super) fn problem(&mut self, pos: Pos, field: &str, message: impl Into<String>) {
        self.problems.push(Diagnostic {
            pos: Some(pos),
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// `key` is missing from the mapping at `mapping`.
    pub(super) fn absent(&mut self, mapping: &str, key: &str, problem: Diagnostic) {
        self.absent.push(Absent {
            mapping: mapping.to_string(),
            key: key.to_string(),
            problem,
        });
    }

    /// How many problems have been found so far, missing keys included.
    fn reported(&self) -> usize {
        self.problems.len() + self.absent.len()
    }

    fn env_hint(&mut self, var: &str) -> String {
        let names = self.env_names.get_or_insert_with(|| self.env.names());
        suggest::hint(var, names.iter().map(String::as_str))
    }

    /// Every problem in the order of the file, root causes first: a key missing because it is
    /// misspelt is reported once, as the misspelling; at one position, what is wrong comes
    /// before what is missing; problems without a position (the environment's) come last.
    fn into_problems(self) -> Vec<Diagnostic> {
        let Ctx {
            mut problems,
            absent,
            misspelt,
            ..
        } = self;
        problems.extend(
            absent
                .into_iter()
                .filter(|a| !misspelt.contains(&slot(&a.mapping, &a.key)))
                .map(|a| a.problem),
        );
        in_file_order(&mut problems);
        problems
    }
}

/// A key of one mapping, as one string: the mapping's dotted path and the key.
fn slot(mapping: &str, key: &str) -> String {
    format!("{mapping}\0{key}")
}

/// A mapping being read: remembers which keys were used so the rest can be reported.
pub(super) struct Fields<'n> {
    pub(super) entries: &'n [(String, Pos, Node)],
    pub(super) used: Vec<bool>,
    pub(super) field: String,
}

/// Where the top level lets a file keep anchors for `<<` merges: keys starting with `x-`.
const EXTENSION_PREFIX: &str = "x-";

impl<'n> Fields<'n> {
    pub(super) fn of(node: &'n Node, field: &str, cx: &mut Ctx<'_>) -> Option<Self> {
        match &node.value {
            Value::Map(entries) => Some(Fields {
                entries,
                used: vec![false; entries.len()],
                field: field.to_string(),
            }),
            Value::Null => Some(Fields {
                entries: &[],
                used: Vec::new(),
                field: field.to_string(),
            }),
            _ => {
                cx.problem(
                    node.pos,
                    field,
                    format!("expected a mapping, found {}", node.type_name()),
                );
                None
            }
        }
    }

    pub(super) fn get(&mut self, key: &str) -> Option<&'n Node> {
        let i = self.entries.iter().position(|(k, _, _)| k == key)?;
        self.used[i] = true;
        match &self.entries[i].2.value {
            Value::Null => None,
            _ => Some(&self.entries[i].2),
        }
    }

    pub(super) fn path(&self, key: &str) -> String {
        if self.field.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.field)
        }
    }

    /// An optional single value read through `parse`. What `parse` refuses is a problem at the
    /// value, and `None`: the config is refused as a whole, so no default is ever used.
    pub(super) fn parsed<T>(
        &mut self,
        key: &str,
        cx: &mut Ctx<'_>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let node = self.get(key)?;
        let field = self.path(key);
        match parse(scalar(node, &field, cx)?) {
            Ok(value) => Some(value),
            Err(message) => {
                cx.problem(node.pos, &field, message);
                None
            }
        }
    }

    /// An optional key with a fixed set of values; `default` when absent (or refused, which
    /// refuses the config).
    pub(super) fn choice_or<T: Copy>(
        &mut self,
        key: &str,
        options: &[(&str, T)],
        default: T,
        cx: &mut Ctx<'_>,
    ) -> T {
        let Some(node) = self.get(key) else {
            return default;
        };
        let field = self.path(key);
        scalar(node, &field, cx)
            .and_then(|text| choice(text, node.pos, &field, options, "", cx))
            .unwrap_or(default)
    }

    /// Keys starting with `x-` are the file's own (anchors to merge from), not bootgate's.
    fn allow_extensions(&mut self) {
        for ((key, _, _), used) in self.entries.iter().zip(&mut self.used) {
            if key.starts_with(EXTENSION_PREFIX) {
                *used = true;
            }
        }
    }

    /// Reports every key not read, with the closest allowed key and, when the key belongs to
    /// another kind of check, which one.
    pub(super) fn finish(self, allowed: &[&str], cx: &mut Ctx<'_>, kind: Option<&str>) {
        self.finish_noting(allowed, cx, kind, "");
    }

    fn finish_noting(self, allowed: &[&str], cx: &mut Ctx<'_>, kind: Option<&str>, note: &str) {
        for ((key, pos, node), &used) in self.entries.iter().zip(&self.used) {
            if used {
                // `cuda:` with nothing after it reads as absent; it is a value left out.
                if matches!(node.value, Value::Null) {
                    cx.problem(
                        *pos,
                        &self.path(key),
                        "has no value; give one, or remove the key",
                    );
                }
                continue;
            }
            let owner = KINDS
                .iter()
                .find(|(_, keys)| keys.contains(&key.as_str()))
                .map(|(k, _)| *k);
            let message = match (kind, owner) {
                (Some(kind), Some(owner)) if owner != kind => format!(
                    "`{}` is not a field of a {kind} check (it belongs to kind {owner})",
                    echo::value(key)
                ),
                _ => {
                    let closest = suggest::closest(key, allowed.iter().copied());
                    if let Some(meant) = closest {
                        cx.misspelt.insert(slot(&self.field, meant));
                    }
                    // The note is for a key that is no misspelling: one the user meant as theirs.
                    let (hint, note) = match closest {
                        Some(meant) => (format!(" (did you mean {meant}?)"), ""),
                        None => (String::new(), note),
                    };
                    format!(
                        "unknown key `{}`{hint}; expected one of: {}{note}",
                        echo::value(key),
                        allowed.join(", ")
                    )
                }
            };
            cx.problem(*pos, &self.field, message);
        }
    }
}

pub(super) fn scalar<'n>(node: &'n Node, field: &str, cx: &mut Ctx<'_>) -> Option<&'n str> {
    match &node.value {
        Value::Scalar(s) => Some(s),
        _ => {
            cx.problem(
                node.pos,
                field,
                format!("expected a single value, found {}", node.type_name()),
            );
            None
        }
    }
}

/// A whole number from 1 to `max` (`u32::MAX`: no bound worth saying).
pub(super) fn count(node: &Node, field: &str, max: u32, cx: &mut Ctx<'_>) -> Option<u32> {
    let text = scalar(node, field, cx)?;
    match text.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Some(n),
        _ => {
            let range = if max == u32::MAX {
                "of at least 1".to_string()
            } else {
                format!("from 1 to {max}")
            };
            cx.problem(
                node.pos,
                field,
                format!(
                    "expected a whole number {range}, found `{}`",
                    echo::value(text)
                ),
            );
            None
        }
    }
}

pub(super) fn duration(node: &Node, field: &str, cx: &mut Ctx<'_>) -> Option<Duration> {
    let text = scalar(node, field, cx)?;
    match parse_duration(text) {
        Ok(d) if d.is_zero() => {
            cx.problem(node.pos, field, "must be longer than 0");
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            cx.problem(node.pos, field, e);
            None
        }
    }
}

pub(super) fn boolean(node: &Node, field: &str, cx: &mut Ctx<'_>) -> Option<bool> {
    match scalar(node, field, cx)? {
        "true" => Some(true),
        "false" => Some(false),
        other => {
            cx.problem(
                node.pos,
                field,
                format!("expected true or false, found `{}`", echo::value(other)),
            );
            None
        }
    }
}

/// `env:` takes a variable's name, not `${VAR}` or `VAR=value`; `example` shows one.
pub(super) fn variable_name(
    node: &Node,
    field: &str,
    example: &str,
    cx: &mut Ctx<'_>,
) -> Option<String> {
    let var = scalar(node, field, cx)?;
    if var.is_empty() || var.contains(['$', '{', '}', '=']) {
        cx.problem(
            node.pos,
            field,
            format!(
                "`{}` is not a variable name: write the name itself, e.g. env: {example}",
                echo::value(var)
            ),
        );
        return None;
    }
    Some(var.to_string())
}

/// One of a fixed set of words; anything else is reported with the closest word and the whole
/// set (`expected a, b or c`), followed by `note`.
pub(super) fn choice<T: Copy>(
    text: &str,
    pos: Pos,
    field: &str,
    options: &[(&str, T)],
    note: &str,
    cx: &mut Ctx<'_>,
) -> Option<T> {
    if let Some((_, value)) = options.iter().find(|(word, _)| *word == text) {
        return Some(*value);
    }
    let words: Vec<&str> = options.iter().map(|(word, _)| *word).collect();
    let expected = match words.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    cx.problem(
        pos,
        field,
        format!(
            "unknown value `{}`{}; expected {expected}{note}",
            echo::value(text),
            suggest::hint(text, words.iter().copied())
        ),
    );
    None
}

pub(super) fn string_list(node: &Node, field: &str, cx: &mut Ctx<'_>) -> Vec<(String, Pos)> {
    match &node.value {
        Value::Scalar(s) => vec![(s.clone(), node.pos)],
        Value::Seq(items) => items
            .iter()
            .filter_map(|item| scalar(item, field, cx).map(|s| (s.to_string(), item.pos)))
            .collect(),
        _ => {
            cx.problem(node.pos, field, "expected a list of names");
            Vec::new()
        }
    }
}

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
        f.finish(DEFAULTS_KEYS, &mut cx, None);
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
        None,
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

/// Expands `${VAR}`s in one string field; an unset variable is recorded as the check's missing
/// input rather than a config error.
pub(super) struct Expander<'a> {
    pub(super) check_field: String,
    pub(super) missing: &'a mut Option<String>,
}

impl Expander<'_> {
    pub(super) fn text(&mut self, node: &Node, key: &str, cx: &mut Ctx<'_>) -> Option<Text> {
        let field = format!("{}.{key}", self.check_field);
        let written = scalar(node, &field, cx)?.to_string();
        match expand(&written, cx.env) {
            Ok(e) => {
                cx.sensitive.extend(e.substituted);
                Some(Text {
                    written,
                    value: e.value,
                })
            }
            Err(ExpandError::Unset(var)) => {
                if self.missing.is_none() {
                    let hint = cx.env_hint(&var);
                    *self.missing = Some(format!(
                        "{} uses ${{{}}}, which is not set{hint}",
                        echo::value(&field),
                        echo::value(&var)
                    ));
                }
                Some(Text {
                    written,
                    value: String::new(),
                })
            }
            Err(ExpandError::Syntax(message)) => {
                cx.problem(node.pos, &field, message);
                None
            }
        }
    }
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
        "http" => http(&mut f, pos, &mut ex, cx),
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
    f.finish(&allowed, cx, Some(&kind_name));
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
            cx.misspelt.insert(slot(&f.field, "kind"));
        }
    }
    let problem = Diagnostic {
        pos: Some(pos),
        field: f.field.clone(),
        message: "missing `kind` (secret, file, tcp, http, exec, gpu, prompt or manifest)".into(),
    };
    cx.absent(&f.field, "kind", problem);
}

pub(super) fn required<'n>(
    f: &mut Fields<'n>,
    key: &str,
    pos: Pos,
    cx: &mut Ctx<'_>,
) -> Option<&'n Node> {
    let node = f.get(key);
    if node.is_none() {
        let problem = Diagnostic {
            pos: Some(pos),
            field: f.field.clone(),
            message: format!("missing `{key}`"),
        };
        cx.absent(&f.field, key, problem);
    }
    node
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

/// What is wrong with `address` as `host:port` with a port from `lowest` to 65535. The port is
/// not echoed: it may come from a `${VAR}`.
pub(super) fn address_problem(address: &str, lowest: u16) -> Option<String> {
    let Some((host, port)) = address
        .rsplit_once(':')
        .filter(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
    else {
        return Some("needs a port".into());
    };
    if host.is_empty() {
        return Some("needs a host".into());
    }
    match port.parse::<u16>() {
        Ok(p) if p >= lowest => None,
        _ => Some(format!(
            "has a port out of range (a port is {lowest} to 65535)"
        )),
    }
}

fn http(f: &mut Fields<'_>, pos: Pos, ex: &mut Expander<'_>, cx: &mut Ctx<'_>) -> Option<Kind> {
    let url_node = required(f, "url", pos, cx)?;
    let url = credentials_hidden(ex.text(url_node, "url", cx)?, cx);
    if !url.value.is_empty()
        && let Err(message) = crate::checks::http::validate_url(&url.value)
    {
        cx.problem(
            url_node.pos,
            &f.path("url"),
            format!("`{}`: {message}", echo::value(&url.written)),
        );
        return None;
    }
    let method = match f.get("method") {
        Some(node) => {
            let m = scalar(node, &f.path("method"), cx)?.to_ascii_uppercase();
            if !METHODS.contains(&m.as_str()) {
                cx.problem(
                    node.pos,
                    &f.path("method"),
                    format!(
                        "unknown method `{}`; expected one of: {}",
                        echo::value(&m),
                        METHODS.join(", ")
                    ),
                );
                return None;
            }
            m
        }
        None => "GET".to_string(),
    };
    let mut headers = Vec::new();
    if let Some(node) = f.get("headers") {
        let mut hf = Fields::of(node, &f.path("headers"), cx)?;
        for (name, name_pos, value) in hf.entries {
            if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                cx.problem(
                    *name_pos,
                    &hf.field,
                    format!("`{}` is not a valid header name", echo::value(name)),
                );
                continue;
            }
            if let Some(text) = ex.text(value, &format!("headers.{name}"), cx) {
                headers.push((name.clone(), text));
            }
        }
        hf.used.iter_mut().for_each(|u| *u = true);
        hf.finish(&[], cx, None);
    }
    let mut status = Vec::new();
    let mut body_contains = None;
    let mut max_body = DEFAULT_MAX_BODY;
    if let Some(node) = f.get("expect") {
        let mut ef = Fields::of(node, &f.path("expect"), cx)?;
        if let Some(s) = ef.get("status") {
            let field = ef.path("status");
            for (code, code_pos) in string_list(s, &field, cx) {
                match code.parse::<u16>() {
                    Ok(c) if (100..=599).contains(&c) => status.push(c),
                    _ => cx.problem(
                        code_pos,
                        &field,
                        format!("`{}` is not an HTTP status code", echo::value(&code)),
                    ),
                }
            }
        }
        if let Some(b) = ef.get("body_contains") {
            body_contains = ex.text(b, "expect.body_contains", cx);
        }
        max_body = body_bound(&mut ef, cx);
        ef.finish(EXPECT_KEYS, cx, None);
    }
    Some(Kind::Http(HttpSpec {
        url,
        method,
        headers,
        status,
        body_contains,
        max_body,
    }))
}

/// A URL's userinfo is a credential: shown masked, and hidden wherever a server echoes it.
pub(super) fn credentials_hidden(mut url: Text, cx: &mut Ctx<'_>) -> Text {
    url.written = crate::userinfo::masked(&url.written);
    cx.sensitive.extend(url_secrets(&url.value));
    url
}

/// `expect.max_body`: how much of an answer may be read to judge it.
pub(super) fn body_bound(expect: &mut Fields<'_>, cx: &mut Ctx<'_>) -> u64 {
    expect
        .parsed("max_body", cx, |text| match parse_size(text)? {
            bytes @ 1..=MAX_BODY_CEILING => Ok(bytes),
            _ => Err(format!(
                "`{text}` is out of range: from 1 byte to 64MiB; an answer is read up to it"
            )),
        })
        .unwrap_or(DEFAULT_MAX_BODY)
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
