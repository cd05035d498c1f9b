//! The `manifest` check's part of the config: which manifest, which model directory, where each
//! pin's runtime value comes from, and how much version drift is tolerated.

use std::path::Path;

use super::fields::{
    Ctx, Expander, Fields, boolean, choice, required, scalar, string_list, variable_name,
};
use super::yaml::{Pos, Value};
use super::{Discovery, Drift, EffectiveSource, Kind, ManifestSpec, Text};
use crate::echo;

pub const KEYS: &[&str] = &[
    "manifest",
    "root",
    "effective",
    "ignore_versions",
    "exact",
    "cache",
    "force",
];
/// The ways to say where a pin's runtime value comes from.
pub const SOURCE_KEYS: &[&str] = &[
    "sha256_of",
    "env",
    "json",
    "pointer",
    "file",
    "check",
    "fact",
];

/// The model directory a manifest describes when none is named: the one it sits in.
pub fn default_root(manifest: &Path) -> &Path {
    manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

pub(super) fn read(
    f: &mut Fields<'_>,
    pos: Pos,
    ex: &mut Expander<'_>,
    cx: &mut Ctx<'_>,
) -> Option<Kind> {
    let manifest = required(f, "manifest", pos, cx).and_then(|n| ex.text(n, "manifest", cx));
    let root = match f.get("root") {
        Some(node) => ex.text(node, "root", cx),
        None => None,
    };
    // What is refused is a problem, and a problem refuses the config: everything is still read,
    // so one run names every mistake.
    let mut effective = Vec::new();
    if let Some(node) = f.get("effective")
        && let Some(ef) = Fields::of(node, &f.path("effective"), cx)
    {
        for (name, _, body) in ef.entries {
            let field = format!("{}.{name}", ef.field);
            if let Some(s) = source(name, body, &field, ex, cx) {
                effective.push((name.clone(), s));
            }
        }
    }
    let mut drift = Drift::None;
    if let Some(node) = f.get("ignore_versions") {
        let field = f.path("ignore_versions");
        let options = [("patch", Drift::Patch), ("minor", Drift::Minor)];
        for (text, at) in string_list(node, &field, cx) {
            let note = " (a major drift is never tolerated)";
            if let Some(named) = choice(&text, at, &field, &options, note, cx) {
                drift = drift.max(named);
            }
        }
    }
    let mut flag = |key: &str, cx: &mut Ctx<'_>| {
        f.get(key)
            .and_then(|node| boolean(node, &f.path(key), cx))
            .unwrap_or(false)
    };
    let exact = flag("exact", cx);
    let cache = flag("cache", cx);
    let force = flag("force", cx);
    let manifest = manifest?;
    // The manifest usually sits in the model directory it describes.
    let root = root.unwrap_or_else(|| {
        let parent = |s: &str| default_root(Path::new(s)).to_string_lossy().into_owned();
        Text {
            written: parent(&manifest.written),
            value: parent(&manifest.value),
        }
    });
    Some(Kind::Manifest(ManifestSpec {
        manifest,
        root,
        effective,
        drift,
        exact,
        cache,
        force,
    }))
}

fn source(
    name: &str,
    body: &super::yaml::Node,
    field: &str,
    ex: &mut Expander<'_>,
    cx: &mut Ctx<'_>,
) -> Option<EffectiveSource> {
    let Value::Map(entries) = &body.value else {
        cx.problem(
            body.pos,
            field,
            format!(
                "expected one of {{sha256_of: FILE}}, {{env: VAR}}, {{json: FILE, pointer: /key}}, {{file: FILE}}, {{check: NAME}}; found {}",
                body.type_name()
            ),
        );
        return None;
    };
    // Every key of a source is a single value: an empty one is a value left out.
    if let Some((key, at, _)) = entries
        .iter()
        .find(|(_, _, node)| matches!(node.value, Value::Null))
    {
        cx.problem(
            *at,
            &format!("{field}.{key}"),
            "has no value; give one, or remove the key",
        );
        return None;
    }
    let mut sf = Fields {
        entries,
        used: vec![false; entries.len()],
        field: field.to_string(),
    };
    let key = |k: &str| format!("effective.{name}.{k}");
    let given: Vec<&str> = ["sha256_of", "env", "json", "file", "check"]
        .into_iter()
        .filter(|k| entries.iter().any(|(e, _, _)| e == k))
        .collect();
    let found = match given.as_slice() {
        ["sha256_of"] => {
            let node = sf.get("sha256_of")?;
            Some(EffectiveSource::Sha256Of(ex.text(
                node,
                &key("sha256_of"),
                cx,
            )?))
        }
        ["env"] => {
            let node = sf.get("env")?;
            let var = variable_name(node, &sf.path("env"), "MODEL_VERSION", cx)?;
            Some(EffectiveSource::Env(var))
        }
        ["json"] => {
            let node = sf.get("json")?;
            let path = ex.text(node, &key("json"), cx)?;
            let pointer = match sf.get("pointer") {
                Some(p) => scalar(p, &sf.path("pointer"), cx)?.to_string(),
                None => {
                    cx.problem(
                        body.pos,
                        field,
                        "missing `pointer` (a JSON pointer, e.g. /transformers_version)",
                    );
                    return None;
                }
            };
            if !pointer.starts_with('/') {
                cx.problem(
                    body.pos,
                    &sf.path("pointer"),
                    format!(
                        "`{0}` is not a JSON pointer; it starts with `/`, e.g. /{0}",
                        echo::value(&pointer)
                    ),
                );
                return None;
            }
            Some(EffectiveSource::Json { path, pointer })
        }
        ["file"] => {
            let node = sf.get("file")?;
            Some(EffectiveSource::File(ex.text(node, &key("file"), cx)?))
        }
        ["check"] => {
            let node = sf.get("check")?;
            let check = scalar(node, &sf.path("check"), cx)?.to_string();
            let fact = match sf.get("fact") {
                Some(f) => {
                    let text = scalar(f, &sf.path("fact"), cx)?;
                    choice(text, f.pos, &sf.path("fact"), &Discovery::ALL, "", cx)?
                }
                // `cuda: {check: gpu}` says it all: the pin is named for the value.
                None => match Discovery::ALL.iter().find(|(w, _)| *w == name) {
                    Some((_, fact)) => *fact,
                    None => {
                        cx.problem(
                            body.pos,
                            field,
                            format!(
                                "say which value {} discovered: add `fact:` (one of cuda, driver, gpus, gpu_name)",
                                echo::value(&check)
                            ),
                        );
                        return None;
                    }
                },
            };
            Some(EffectiveSource::Check {
                check,
                fact,
                pos: node.pos,
            })
        }
        [] => {
            cx.problem(
                body.pos,
                field,
                "say where the value comes from: sha256_of, env, json (with pointer), file or check",
            );
            return None;
        }
        _ => {
            cx.problem(
                body.pos,
                field,
                format!("give one source, not {}", given.join(" and ")),
            );
            return None;
        }
    };
    // Each source has its own keys: `pointer` beside `env` is a mistake, not a no-op.
    let allowed: &[&str] = match &found {
        Some(EffectiveSource::Json { .. }) => &["json", "pointer"],
        Some(EffectiveSource::Check { .. }) => &["check", "fact"],
        _ => &given,
    };
    sf.finish(allowed, cx);
    found
}

#[cfg(test)]
mod tests {
    use super::super::{EffectiveSource, Kind, load_with as load};
    use super::*;

    #[test]
    fn reads_every_field() {
        let config = load(
            "checks:\n  m:\n    kind: manifest\n    manifest: ${MODELS}/llama/bootgate-manifest.yaml\n    effective:\n      tokenizer_sha256: {sha256_of: tokenizer.json}\n      model_version: {env: MODEL_VER}\n      transformers: {json: config.json, pointer: /transformers_version}\n      build: {file: /etc/build-id}\n    ignore_versions: [patch, minor]\n    exact: true\n    cache: true\n",
            &[("MODELS", "/models")],
        )
        .unwrap();
        let Kind::Manifest(m) = &config.checks[0].kind else {
            panic!("not a manifest check")
        };
        assert_eq!(m.manifest.value, "/models/llama/bootgate-manifest.yaml");
        assert_eq!(m.root.value, "/models/llama");
        assert_eq!(m.root.written, "${MODELS}/llama");
        assert_eq!(m.drift, Drift::Minor);
        assert!(m.exact && m.cache && !m.force);
        assert_eq!(m.effective.len(), 4);
        assert!(matches!(&m.effective[1].1, EffectiveSource::Env(v) if v == "MODEL_VER"));
        assert!(
            matches!(&m.effective[2].1, EffectiveSource::Json { pointer, .. } if pointer == "/transformers_version")
        );
        assert_eq!(
            config.checks[0].target(),
            "${MODELS}/llama/bootgate-manifest.yaml"
        );
    }

    #[test]
    fn bad_sources_are_named() {
        let problems = load(
            "checks:\n  m:\n    kind: manifest\n    manifest: m.yaml\n    effective:\n      cuda: {check: gpu, fact: cudaa}\n      gpu_memory: {check: gpu}\n      a: {env: X, file: y}\n      b: {json: c.json}\n      c: {json: c.json, pointer: v}\n      d: {sha256_of: t, pointr: x}\n      e: 1\n    ignore_versions: [pach]\n    exact: yes\n",
            &[],
        )
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "checks.m.effective.cuda.fact: unknown value `cudaa` (did you mean cuda?); expected cuda, driver, gpus or gpu_name",
                "checks.m.effective.gpu_memory: say which value gpu discovered: add `fact:` (one of cuda, driver, gpus, gpu_name)",
                "checks.m.effective.a: give one source, not env and file",
                "checks.m.effective.b: missing `pointer` (a JSON pointer, e.g. /transformers_version)",
                "checks.m.effective.c.pointer: `v` is not a JSON pointer; it starts with `/`, e.g. /v",
                "checks.m.effective.d: unknown key `pointr`; expected one of: sha256_of",
                "checks.m.effective.e: expected one of {sha256_of: FILE}, {env: VAR}, {json: FILE, pointer: /key}, {file: FILE}, {check: NAME}; found a scalar",
                "checks.m.ignore_versions: unknown value `pach` (did you mean patch?); expected patch or minor (a major drift is never tolerated)",
                "checks.m.exact: expected true or false, found `yes`",
            ]
        );
    }
}
