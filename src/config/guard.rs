//! The guard's part of the config: where to listen, the pins to show, the drain, and the
//! sentinel — the production-path query whose answers decide readiness.

use std::collections::HashSet;
use std::time::Duration;

use super::fields::{
    Ctx, Expander, Fields, address_problem, count, duration, required, scalar, string_list,
};
use super::http::{body_bound, credentials_hidden, header_map, usable_url};
use super::units::{human_duration, parse_duration};
use super::yaml::{Node, Pos, Value};
use super::{
    GuardSpec, HeaderSource, JsonExpect, PresetUse, PulseSpec, QuerySpec, SentinelSpec, Text,
    preset,
};
use crate::echo;

pub const DEFAULT_LISTEN: &str = "[::]:8081";
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(2);
/// The shortest pulse beat.
pub const MIN_PULSE: Duration = Duration::from_millis(100);

pub(super) const SENTINEL_KEYS: &[&str] = &[
    "interval",
    "timeout",
    "success_threshold",
    "failure_threshold",
    "hold",
    "min_pass",
    "pulse",
    "dead_after",
    "load_timeout",
    "queries",
    "preset",
    "url",
    "model",
    "headers",
    "body",
    "expect",
];
/// What a preset takes from the config, and only with one.
const PRESET_KEYS: &[&str] = &["url", "model", "headers", "body", "expect"];
pub(super) const QUERY_KEYS: &[&str] = &[
    "name",
    "method",
    "url",
    "headers",
    "body",
    "body_from",
    "expect",
];
pub(super) const EXPECT_KEYS: &[&str] = &[
    "status",
    "fatal_status",
    "loading_status",
    "body_contains",
    "json",
    "max_body",
    "max_latency",
];
pub(super) const PULSE_KEYS: &[&str] = &["every", "path", "fatal_status", "loading_status"];
pub(super) const JSON_KEYS: &[&str] = &["equals", "contains", "exists", "includes"];

pub(super) fn read(top: &mut Fields<'_>, cx: &mut Ctx<'_>) -> GuardSpec {
    let mut listen = DEFAULT_LISTEN.to_string();
    if let Some(node) = top.get("listen")
        && let Some(text) = scalar(node, "listen", cx)
    {
        // Port 0 is a port the kernel picks: useful to tests, harmless elsewhere.
        if let Some(problem) = address_problem(text, 0) {
            cx.problem(
                node.pos,
                "listen",
                format!(
                    "`{}` {problem}: e.g. \"[::]:8081\" or \"0.0.0.0:8081\"",
                    echo::value(text)
                ),
            );
        }
        listen = text.to_string();
    }
    let drain = top
        .get("drain")
        .and_then(|n| duration(n, "drain", cx))
        .unwrap_or(DEFAULT_DRAIN);
    let mut pins = Vec::new();
    if let Some(node) = top.get("pins")
        && let Some(mut f) = Fields::of(node, "pins", cx)
    {
        for (key, pos, value) in f.entries {
            // Pins become labels on bootgate_build_info: a bad name would break every scrape.
            let label_ok = key
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && key != "version";
            if !label_ok {
                cx.problem(
                    *pos,
                    "pins",
                    format!(
                        "`{}` cannot be a metric label: use letters, digits and _ (and not `version`)",
                        echo::value(key)
                    ),
                );
                continue;
            }
            if let Some(v) = scalar(value, &format!("pins.{key}"), cx) {
                pins.push((key.clone(), v.to_string()));
            }
        }
        f.used.iter_mut().for_each(|u| *u = true);
        f.finish(&[], cx);
    }
    let mut details_for_all = false;
    if let Some(node) = top.get("details") {
        match scalar(node, "details", cx) {
            Some("local") => {}
            Some("all") => details_for_all = true,
            Some(other) => cx.problem(
                node.pos,
                "details",
                format!(
                    "unknown value `{}`; expected local (the default) or all",
                    echo::value(other)
                ),
            ),
            None => {}
        }
    }
    let sentinel = top.get("sentinel").and_then(|n| sentinel(n, cx));
    GuardSpec {
        listen,
        pins,
        drain,
        details_for_all,
        sentinel,
    }
}

fn sentinel(node: &Node, cx: &mut Ctx<'_>) -> Option<SentinelSpec> {
    let mut f = Fields::of(node, "sentinel", cx)?;
    let mut spec = SentinelSpec::default();
    if let Some(n) = f.get("interval") {
        spec.interval = duration(n, &f.path("interval"), cx).unwrap_or(spec.interval);
    }
    if let Some(n) = f.get("timeout") {
        spec.timeout = duration(n, &f.path("timeout"), cx).unwrap_or(spec.timeout);
    }
    if let Some(n) = f.get("hold") {
        // Zero is a valid hold: no wait beyond the success threshold.
        let field = f.path("hold");
        spec.hold = match scalar(n, &field, cx) {
            Some("0") | Some("0s") => Duration::ZERO,
            _ => duration(n, &field, cx).unwrap_or(spec.hold),
        };
    }
    if let Some(n) = f.get("success_threshold") {
        spec.success_threshold = count(n, &f.path("success_threshold"), u32::MAX, cx).unwrap_or(1);
    }
    if let Some(n) = f.get("failure_threshold") {
        spec.failure_threshold = count(n, &f.path("failure_threshold"), u32::MAX, cx).unwrap_or(1);
    }
    if let Some(n) = f.get("min_pass") {
        let field = f.path("min_pass");
        match scalar(n, &field, cx).map(str::parse::<f64>) {
            Some(Ok(share)) if (0.0..=1.0).contains(&share) && share > 0.0 => spec.min_pass = share,
            Some(_) => cx.problem(
                n.pos,
                &field,
                "expected a share between 0 (exclusive) and 1, e.g. 1.0 or 0.5",
            ),
            None => {}
        }
    }
    if let Some(n) = f.get("pulse") {
        spec.pulse = pulse(n, &f.path("pulse"), cx);
    }
    if let Some(n) = f.get("load_timeout") {
        spec.load_timeout = duration(n, &f.path("load_timeout"), cx);
    }
    if let Some(n) = f.get("dead_after")
        && let Some(dead_after) = duration_or_off(n, &f.path("dead_after"), cx)
    {
        spec.dead_after = dead_after;
    }
    let preset = preset(&mut f, node, cx);
    let given = f.get("queries");
    let mut names = HashSet::new();
    if preset.is_some() {
        names.insert(preset::MODELS.to_string());
    }
    match given {
        Some(Node {
            value: Value::Seq(items),
            ..
        }) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(q) = query(item, i, cx) {
                    if !names.insert(q.name.clone()) {
                        let why = if q.name == preset::MODELS && preset.is_some() {
                            "is the preset's model check: name this query otherwise".to_string()
                        } else {
                            "is used twice".to_string()
                        };
                        cx.problem(
                            item.pos,
                            &format!("sentinel.queries[{i}].name"),
                            format!("`{}` {why}", echo::value(&q.name)),
                        );
                    }
                    spec.queries.push(q);
                }
            }
        }
        Some(other) => cx.problem(other.pos, "sentinel.queries", "expected a list of queries"),
        None => {}
    }
    match preset {
        Some((used, expansion, overrides)) => {
            if given.is_some()
                && let Some((pos, key)) = overrides.replaces
            {
                cx.problem(
                    pos,
                    &format!("sentinel.{key}"),
                    format!(
                        "changes the preset's query, which `queries` replaces: write `{key}` in each query"
                    ),
                );
            }
            // A given list stands in for the preset's production query; its model check stays.
            let mut queries = Vec::new();
            for mut q in expansion.queries {
                if given.is_some() && q.name == preset::PRODUCTION {
                    continue;
                }
                overrides.apply(&mut q, true);
                queries.push(q);
            }
            for mut q in std::mem::take(&mut spec.queries) {
                overrides.apply(&mut q, false);
                queries.push(q);
            }
            spec.queries = queries;
            spec.pulse = match f.get("pulse") {
                None => Some(expansion.pulse),
                // A beat alone changes the preset's pulse only in its beat.
                Some(Node {
                    value: Value::Scalar(_),
                    ..
                }) => spec.pulse.map(|given| PulseSpec {
                    every: given.every,
                    ..expansion.pulse
                }),
                Some(_) => spec.pulse,
            };
            if spec.load_timeout.is_none() {
                spec.load_timeout = expansion.load_timeout;
            }
            spec.sleep = expansion.sleep.map(|mut sleep| {
                sleep.headers = overrides.headers.clone();
                sleep
            });
            spec.preset = Some(used);
        }
        // A preset named but not known is the one problem: what needs it follows from it.
        None if f.get("preset").is_some() => PRESET_KEYS.iter().for_each(|key| {
            f.get(key);
        }),
        None => {
            for key in PRESET_KEYS {
                if let Some(n) = f.get(key) {
                    cx.problem(
                        n.pos,
                        &f.path(key),
                        "only with a `preset`, which it changes; without one, write it in each of `queries`",
                    );
                }
            }
            if spec.queries.is_empty() {
                cx.problem(
                    node.pos,
                    "sentinel.queries",
                    format!(
                        "a sentinel needs a `preset` ({}) or at least one query",
                        preset::NAMES.join(", ")
                    ),
                );
            }
        }
    }
    f.finish(SENTINEL_KEYS, cx);
    Some(spec)
}

/// What the config changes of a preset's queries.
#[derive(Default)]
struct Overrides {
    headers: Vec<(String, HeaderSource)>,
    /// The production query's expectations, in place of the preset's.
    expect: Option<QuerySpec>,
    body: Option<Text>,
    /// The first key given that changes the preset's production query, and where.
    replaces: Option<(Pos, &'static str)>,
}

impl Overrides {
    /// `from_preset`: a query the preset made, whose headers the config's replace by name; a
    /// query the config lists keeps its own.
    fn apply(&self, query: &mut QuerySpec, from_preset: bool) {
        for (name, value) in &self.headers {
            let has = query
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name));
            if from_preset {
                query.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            }
            if from_preset || !has {
                query.headers.push((name.clone(), value.clone()));
            }
        }
        if !from_preset || query.name != preset::PRODUCTION {
            return;
        }
        if let Some(e) = &self.expect {
            query.status = e.status.clone();
            query.fatal_status = e.fatal_status.clone();
            query.loading_status = e.loading_status.clone();
            query.body_contains = e.body_contains.clone();
            query.json = e.json.clone();
            query.max_body = e.max_body;
            query.max_latency = e.max_latency;
        }
        if let Some(body) = &self.body {
            query.body = Some(body.clone());
            query.body_from_v2_metadata = false;
        }
    }
}

/// `preset`, with the `url` and `model` it needs and what the config changes of it.
fn preset(
    f: &mut Fields<'_>,
    node: &Node,
    cx: &mut Ctx<'_>,
) -> Option<(PresetUse, preset::Expansion, Overrides)> {
    let name_node = f.get("preset")?;
    let field = f.path("preset");
    let name = scalar(name_node, &field, cx)?;
    let Some(&name) = preset::NAMES.iter().find(|n| **n == name) else {
        cx.problem(
            name_node.pos,
            &field,
            format!(
                "unknown preset `{}`{}; expected one of: {}",
                echo::value(name),
                crate::suggest::hint(name, preset::NAMES.iter().copied()),
                preset::NAMES.join(", ")
            ),
        );
        return None;
    };
    let mut missing = None;
    let mut ex = Expander {
        check_field: "sentinel".into(),
        missing: &mut missing,
    };
    let url_node = required(f, "url", node.pos, cx);
    let model_node = required(f, "model", node.pos, cx);
    let url = credentials_hidden(ex.text(url_node?, "url", cx)?, cx);
    let model = ex.text(model_node?, "model", cx)?;
    if !usable_url(&url, url_node?.pos, &f.path("url"), cx) {
        return None;
    }
    let mut overrides = Overrides::default();
    if let Some(n) = f.get("headers") {
        overrides.headers = headers(n, "sentinel", &mut ex, cx);
    }
    if let Some(n) = f.get("expect") {
        let mut scratch = QuerySpec::new(preset::PRODUCTION, "GET", url.clone());
        expect(n, &f.path("expect"), &mut scratch, &mut ex, cx);
        overrides.expect = Some(scratch);
        overrides.replaces.get_or_insert((n.pos, "expect"));
    }
    if let Some(n) = f.get("body") {
        overrides.body = ex.text(n, "body", cx);
        overrides.replaces.get_or_insert((n.pos, "body"));
    }
    let mut expansion = preset::expand(name, &url, &model)?;
    for q in &mut expansion.queries {
        q.missing_input = missing.clone();
    }
    let used = PresetUse { name, url, model };
    Some((used, expansion, overrides))
}

fn query(node: &Node, index: usize, cx: &mut Ctx<'_>) -> Option<QuerySpec> {
    let field = format!("sentinel.queries[{index}]");
    let mut f = Fields::of(node, &field, cx)?;
    let name = match f.get("name") {
        Some(n) => scalar(n, &f.path("name"), cx)?.to_string(),
        None => format!("query-{}", index + 1),
    };
    let mut missing = None;
    let mut ex = Expander {
        check_field: field.clone(),
        missing: &mut missing,
    };
    let url_node = required(&mut f, "url", node.pos, cx)?;
    let url = credentials_hidden(ex.text(url_node, "url", cx)?, cx);
    // A query with a bad URL is read on, so one run names its other problems too.
    usable_url(&url, url_node.pos, &f.path("url"), cx);
    let method = f
        .get("method")
        .and_then(|n| scalar(n, &f.path("method"), cx))
        .map_or_else(|| "GET".to_string(), str::to_ascii_uppercase);
    let mut spec = QuerySpec::new(&name, &method, url);
    if let Some(n) = f.get("headers") {
        spec.headers = headers(n, &field, &mut ex, cx);
    }
    spec.body = f.get("body").and_then(|n| ex.text(n, "body", cx));
    if let Some(n) = f.get("body_from") {
        let field = f.path("body_from");
        match scalar(n, &field, cx) {
            Some("v2-metadata") if spec.body.is_some() => {
                cx.problem(n.pos, &field, "a query has a `body` or a `body_from`, not both")
            }
            Some("v2-metadata") => spec.body_from_v2_metadata = true,
            Some(other) => cx.problem(
                n.pos,
                &field,
                format!(
                    "unknown value `{}`; expected v2-metadata (the body built from the model's inputs)",
                    echo::value(other)
                ),
            ),
            None => {}
        }
    }
    if let Some(n) = f.get("expect") {
        expect(n, &f.path("expect"), &mut spec, &mut ex, cx);
    }
    f.finish(QUERY_KEYS, cx);
    spec.missing_input = missing;
    Some(spec)
}

/// A query's `headers`: each a text, or a file read each round.
fn headers(
    node: &Node,
    field: &str,
    ex: &mut Expander<'_>,
    cx: &mut Ctx<'_>,
) -> Vec<(String, HeaderSource)> {
    header_map(
        node,
        &format!("{field}.headers"),
        cx,
        |name, value, cx| match &value.value {
            Value::Map(_) => header_file(value, &format!("{field}.headers.{name}"), ex, cx),
            _ => ex
                .text(value, &format!("headers.{name}"), cx)
                .map(HeaderSource::Text),
        },
    )
}

/// A query's `expect`, into `spec`.
fn expect(node: &Node, field: &str, spec: &mut QuerySpec, ex: &mut Expander<'_>, cx: &mut Ctx<'_>) {
    let Some(mut ef) = Fields::of(node, field, cx) else {
        return;
    };
    if let Some(s) = ef.get("status") {
        spec.status = status_codes(s, &ef.path("status"), cx);
    }
    if let Some(s) = ef.get("fatal_status") {
        let field = ef.path("fatal_status");
        spec.fatal_status = status_codes(s, &field, cx);
        never_passing(&spec.fatal_status, &spec.status, "fatal", s, &field, cx);
    }
    if let Some(s) = ef.get("loading_status") {
        let field = ef.path("loading_status");
        spec.loading_status = status_codes(s, &field, cx);
        never_passing(&spec.loading_status, &spec.status, "loading", s, &field, cx);
        never_both(&spec.fatal_status, &spec.loading_status, s, &field, cx);
    }
    spec.body_contains = ef
        .get("body_contains")
        .and_then(|b| ex.text(b, "expect.body_contains", cx));
    if let Some(m) = ef.get("max_latency") {
        spec.max_latency = duration(m, &ef.path("max_latency"), cx);
    }
    if let Some(j) = ef.get("json") {
        spec.json = json_expectations(j, &ef.path("json"), cx);
    }
    spec.max_body = body_bound(&mut ef, cx);
    ef.finish(EXPECT_KEYS, cx);
}

/// A status code or a list of them, each one HTTP could send.
fn status_codes(node: &Node, field: &str, cx: &mut Ctx<'_>) -> Vec<u16> {
    let mut codes = Vec::new();
    for (code, pos) in string_list(node, field, cx) {
        match code.parse::<u16>() {
            Ok(c) if (100..=599).contains(&c) => codes.push(c),
            _ => cx.problem(
                pos,
                field,
                format!("`{}` is not an HTTP status code", echo::value(&code)),
            ),
        }
    }
    codes
}

/// `pulse: 1s`, `pulse: off`, or `pulse: {every: 1s, path: /health}`.
fn pulse(node: &Node, field: &str, cx: &mut Ctx<'_>) -> Option<PulseSpec> {
    let mut spec = PulseSpec::default();
    if let Value::Map(_) = node.value {
        let mut f = Fields::of(node, field, cx)?;
        if let Some(n) = f.get("every")
            && let Some(every) = duration(n, &f.path("every"), cx)
        {
            spec.every = pulse_every(every, n, &f.path("every"), cx);
        }
        if let Some(n) = f.get("path")
            && let Some(path) = scalar(n, &f.path("path"), cx)
        {
            if path.starts_with('/') && !path.chars().any(|c| c.is_ascii_control() || c == ' ') {
                spec.path = Some(path.to_string());
            } else {
                cx.problem(
                    n.pos,
                    &f.path("path"),
                    format!(
                        "`{}` is not a request path: write it like /health",
                        echo::value(path)
                    ),
                );
            }
        }
        for (key, meaning) in [("fatal_status", "fatal"), ("loading_status", "loading")] {
            let Some(n) = f.get(key) else {
                continue;
            };
            let field = f.path(key);
            if spec.path.is_none() {
                cx.problem(
                    n.pos,
                    &field,
                    "needs a `path`: without one, any answer to `HEAD /` passes",
                );
            }
            let codes = status_codes(n, &field, cx);
            never_passing(&codes, &[], meaning, n, &field, cx);
            match key {
                "fatal_status" => spec.fatal_status = codes,
                _ => {
                    never_both(&spec.fatal_status, &codes, n, &field, cx);
                    spec.loading_status = codes;
                }
            }
        }
        f.finish(PULSE_KEYS, cx);
        return Some(spec);
    }
    let every = duration_or_off(node, field, cx)??;
    spec.every = pulse_every(every, node, field, cx);
    Some(spec)
}

/// The pulse's beat, at least [`MIN_PULSE`]: each beat is a request to the model server.
fn pulse_every(every: Duration, node: &Node, field: &str, cx: &mut Ctx<'_>) -> Duration {
    if every < MIN_PULSE {
        cx.problem(
            node.pos,
            field,
            format!(
                "at least {}: every look is a request to the model server",
                human_duration(MIN_PULSE)
            ),
        );
    }
    every
}

/// A duration, or `off`: `Some(None)` for off; `None` once a problem is said.
fn duration_or_off(node: &Node, field: &str, cx: &mut Ctx<'_>) -> Option<Option<Duration>> {
    let text = scalar(node, field, cx)?;
    if text == "off" {
        return Some(None);
    }
    match parse_duration(text) {
        Ok(d) if !d.is_zero() => Some(Some(d)),
        Ok(_) => {
            cx.problem(node.pos, field, "must be longer than 0, or off");
            None
        }
        Err(e) => {
            cx.problem(node.pos, field, format!("{e}; or off"));
            None
        }
    }
}

/// A status both fatal and loading would mean two things at once: said, not decided silently.
fn never_both(fatal: &[u16], loading: &[u16], node: &Node, field: &str, cx: &mut Ctx<'_>) {
    if let Some(code) = loading.iter().find(|c| fatal.contains(c)) {
        cx.problem(
            node.pos,
            field,
            format!("{code} is also in fatal_status: an answer is fatal or loading, not both"),
        );
    }
}

/// A fatal or loading status that a passing answer has (a 2xx when `status` is not given, or
/// one it lists) could never be seen as such: said, not silently ignored.
fn never_passing(
    listed: &[u16],
    wanted: &[u16],
    meaning: &str,
    node: &Node,
    field: &str,
    cx: &mut Ctx<'_>,
) {
    let passes = |c: &u16| {
        if wanted.is_empty() {
            (200..300).contains(c)
        } else {
            wanted.contains(c)
        }
    };
    if let Some(code) = listed.iter().find(|c| passes(c)) {
        cx.problem(
            node.pos,
            field,
            format!("{code} is a passing answer: it cannot also be {meaning}"),
        );
    }
}

/// `{file: /var/run/secrets/api/token, prefix: "Bearer "}`.
fn header_file(
    node: &Node,
    field: &str,
    ex: &mut Expander<'_>,
    cx: &mut Ctx<'_>,
) -> Option<HeaderSource> {
    let mut f = Fields::of(node, field, cx)?;
    let path = ex.text(required(&mut f, "file", node.pos, cx)?, "file", cx)?;
    let prefix = f
        .get("prefix")
        .and_then(|n| scalar(n, &f.path("prefix"), cx))
        .unwrap_or_default()
        .to_string();
    f.finish(&["file", "prefix"], cx);
    Some(HeaderSource::File { path, prefix })
}

fn json_expectations(node: &Node, field: &str, cx: &mut Ctx<'_>) -> Vec<(String, JsonExpect)> {
    let Some(mut f) = Fields::of(node, field, cx) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (pointer, pos, rule) in f.entries {
        if !pointer.is_empty() && !pointer.starts_with('/') {
            cx.problem(
                *pos,
                field,
                format!(
                    "`{}` is not a JSON pointer: write it like /choices/0/text",
                    echo::value(pointer)
                ),
            );
            continue;
        }
        let rf = format!("{field}.{pointer}");
        let Some(mut r) = Fields::of(rule, &rf, cx) else {
            continue;
        };
        let expect = if let Some(n) = r.get("equals") {
            scalar(n, &r.path("equals"), cx).map(|v| JsonExpect::Equals(v.to_string()))
        } else if let Some(n) = r.get("contains") {
            scalar(n, &r.path("contains"), cx).map(|v| JsonExpect::Contains(v.to_string()))
        } else if let Some(n) = r.get("exists") {
            super::fields::boolean(n, &r.path("exists"), cx).map(JsonExpect::Exists)
        } else if let Some(n) = r.get("includes") {
            scalar(n, &r.path("includes"), cx).map(|v| JsonExpect::Includes(v.to_string()))
        } else {
            cx.problem(
                rule.pos,
                &rf,
                format!("expected one of: {}", JSON_KEYS.join(", ")),
            );
            None
        };
        r.finish(JSON_KEYS, cx);
        // `*` stands for every element of a list: what `includes` looks through, and only it.
        let stars = pointer.split('/').filter(|t| *t == "*").count();
        let includes = matches!(expect, Some(JsonExpect::Includes(_)));
        match (includes, stars) {
            (true, 1) | (false, 0) => {}
            (true, _) => {
                cx.problem(
                    *pos,
                    field,
                    format!(
                        "`{}`: `includes` needs one `*` in the pointer, for the list's elements: e.g. /data/*/id",
                        echo::value(pointer)
                    ),
                );
                continue;
            }
            (false, _) => {
                cx.problem(
                    *pos,
                    field,
                    format!(
                        "`{}`: a `*` in a pointer is only for `includes`",
                        echo::value(pointer)
                    ),
                );
                continue;
            }
        }
        if let Some(expect) = expect {
            out.push((pointer.clone(), expect));
        }
    }
    f.used.iter_mut().for_each(|u| *u = true);
    f.finish(&[], cx);
    out
}
