//! `bootgate validate`: is the config sound, and in what order will the checks run?

use std::fmt::Write;
use std::time::Duration;

use super::{load, print};
use crate::cli::ConfigArg;
use crate::config::{
    self, Config, HeaderSource, JsonExpect, SentinelSpec, Text, preset, units::human_duration,
};
use crate::exit::Exit;
use crate::graph::Graph;

pub fn run(args: ConfigArg) -> Exit {
    let Ok((config, graph)) = load(&args.config) else {
        return Exit::BadInput;
    };
    print(&report(&config, &graph));
    Exit::Passed
}

/// What `validate` prints of a sound config: its summary, the order the checks run in, and a
/// note for each setting that is valid but probably not what was meant.
pub fn report(config: &Config, graph: &Graph) -> String {
    let mut out = format!(
        "{}: valid — {} check{}, deadline {}, state_dir {}\norder (checks on one line run at once):\n",
        config::shown(&config.source),
        config.checks.len(),
        if config.checks.len() == 1 { "" } else { "s" },
        human_duration(config.deadline),
        config::shown(&config.state_dir)
    );
    for (depth, level) in graph.levels().iter().enumerate() {
        let names: Vec<&str> = level.iter().map(|&i| graph.names[i].as_str()).collect();
        let _ = writeln!(out, "  {}. {}", depth + 1, names.join(", "));
    }
    let notes = config.notes().into_iter().chain(
        graph
            .warn_orderings(&config.checks)
            .into_iter()
            .chain(graph.warn_waits_past(&config.checks, config.deadline)),
    );
    for note in notes {
        let _ = writeln!(out, "note: {note}");
    }
    if let Some(spec) = &config.guard.sentinel
        && let Some(preset) = &spec.preset
    {
        let _ = writeln!(
            out,
            "sentinel: preset {} for {} serving {}, as written out in full:",
            preset.name,
            preset.url.written,
            quoted(&preset.model.written)
        );
        out.push_str(&sentinel_yaml(spec, &preset.model));
    }
    out
}

/// The sentinel as it would be written by hand, to copy and change: every value as written
/// (never a `${VAR}`'s value), strings quoted.
fn sentinel_yaml(spec: &SentinelSpec, model: &Text) -> String {
    // Where a preset put the model's value (a pulse path, an expectation), its `${VAR}` is
    // shown as written instead.
    let as_written = |text: &str| -> String {
        if model.value == model.written || model.value.is_empty() {
            return text.to_string();
        }
        if text == model.value {
            return model.written.clone();
        }
        if let Some(tag) = text
            .strip_prefix(model.value.as_str())
            .filter(|t| t.starts_with(':'))
        {
            return format!("{}{tag}", model.written);
        }
        let segment = |m: &str| format!("/v2/models/{}/", preset::path_segment(m));
        text.replace(&segment(&model.value), &segment(&model.written))
    };
    let mut out = String::from("sentinel:\n");
    let d = |d: Duration| human_duration(d);
    let _ = writeln!(out, "  interval: {}", d(spec.interval));
    let _ = writeln!(out, "  timeout: {}", d(spec.timeout));
    let _ = writeln!(out, "  success_threshold: {}", spec.success_threshold);
    let _ = writeln!(out, "  failure_threshold: {}", spec.failure_threshold);
    let _ = writeln!(out, "  hold: {}", d(spec.hold));
    let _ = writeln!(out, "  min_pass: {}", spec.min_pass);
    let _ = writeln!(
        out,
        "  dead_after: {}",
        spec.dead_after.map_or_else(|| "off".into(), d)
    );
    if let Some(load) = spec.load_timeout {
        let _ = writeln!(out, "  load_timeout: {}", d(load));
    }
    match &spec.pulse {
        None => out.push_str("  pulse: off\n"),
        Some(p) => {
            let _ = write!(out, "  pulse: {{every: {}", d(p.every));
            if let Some(path) = &p.path {
                let _ = write!(out, ", path: {}", quoted(&as_written(path)));
            }
            for (key, codes) in [
                ("fatal_status", &p.fatal_status),
                ("loading_status", &p.loading_status),
            ] {
                if !codes.is_empty() {
                    let _ = write!(out, ", {key}: {codes:?}");
                }
            }
            out.push_str("}\n");
        }
    }
    if let Some(sleep) = &spec.sleep {
        let _ = writeln!(
            out,
            "  # and, from the preset alone: no query while GET {} has true at {}; {} while it sleeps",
            sleep.url.written,
            sleep.pointer,
            if sleep.serves {
                "ready (a request wakes it)"
            } else {
                "unready"
            }
        );
    }
    out.push_str("  queries:\n");
    for q in &spec.queries {
        let _ = writeln!(out, "    - name: {}", quoted(&q.name));
        let _ = writeln!(out, "      method: {}", q.method);
        let _ = writeln!(out, "      url: {}", quoted(&q.url.written));
        if !q.headers.is_empty() {
            out.push_str("      headers:\n");
            for (name, source) in &q.headers {
                let value = match source {
                    HeaderSource::Text(t) => quoted(&t.written),
                    HeaderSource::File { path, prefix } => format!(
                        "{{file: {}, prefix: {}}}",
                        quoted(&path.written),
                        quoted(prefix)
                    ),
                };
                let _ = writeln!(out, "        {}: {value}", quoted(name));
            }
        }
        if let Some(body) = &q.body {
            let _ = writeln!(out, "      body: {}", quoted(&body.written));
        }
        if q.body_from_v2_metadata {
            out.push_str("      body_from: v2-metadata\n");
        }
        out.push_str("      expect:\n");
        if !q.status.is_empty() {
            let _ = writeln!(out, "        status: {:?}", q.status);
        }
        for (key, codes) in [
            ("fatal_status", &q.fatal_status),
            ("loading_status", &q.loading_status),
        ] {
            if !codes.is_empty() {
                let _ = writeln!(out, "        {key}: {codes:?}");
            }
        }
        if let Some(needle) = &q.body_contains {
            let _ = writeln!(out, "        body_contains: {}", quoted(&needle.written));
        }
        if let Some(max) = q.max_latency {
            let _ = writeln!(out, "        max_latency: {}", d(max));
        }
        if !q.json.is_empty() {
            out.push_str("        json:\n");
            for (pointer, expect) in &q.json {
                let rule = match expect {
                    JsonExpect::Equals(v) => format!("equals: {}", quoted(&as_written(v))),
                    JsonExpect::Contains(v) => format!("contains: {}", quoted(v)),
                    JsonExpect::Exists(v) => format!("exists: {v}"),
                    JsonExpect::Includes(v) => format!("includes: {}", quoted(&as_written(v))),
                };
                let _ = writeln!(out, "          {}: {{{rule}}}", quoted(pointer));
            }
        }
    }
    out
}

/// A YAML double-quoted string (JSON's escapes are YAML's), escaped for the terminal too.
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.into()).to_string()
}
