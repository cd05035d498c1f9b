//! The `manifest` check's part of the config: which manifest, which model directory, where each
//! pin's runtime value comes from, and how much version drift is tolerated.

use std::path::Path;

use super::fields::{Ctx, Expander, Fields, boolean, choice, scalar, string_list, variable_name};
use super::units::parse_size;
use super::yaml::{Pos, Value};
use super::{
    Diagnostic, Discovery, Drift, EffectiveSource, Kind, ManifestSpec, ModelSource, Text, TrustSpec,
};
use crate::echo;

pub const KEYS: &[&str] = &[
    "manifest",
    "signature",
    "huggingface",
    "root",
    "public_key",
    "ca_roots",
    "revision",
    "effective",
    "ignore_versions",
    "exact",
    "cache",
    "force",
    "max_safetensors_header",
];
/// The keys that say where the expected digests come from: exactly one is given.
const SOURCE_KEYS_OF_FILES: [&str; 3] = ["manifest", "signature", "huggingface"];
/// The largest safetensors header read before hashing, unless `max_safetensors_header` says
/// otherwise. An entry costs about 110 bytes a tensor: 8 MiB holds some 80,000 tensors, and
/// real headers are tens of KiB (Llama 3.2 1B's: 14 KiB). A bigger one is not worth reading into
/// memory before the hash would refuse it.
pub const DEFAULT_MAX_SAFETENSORS_HEADER: u64 = 8 << 20;
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

/// A relative, `/`-separated path that stays below where it starts: no empty, `.` or `..`
/// part, and no NUL. A Hub ref, an index's shard name.
pub fn stays_below(path: &str) -> bool {
    path.split('/')
        .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\0'))
}

/// The model directory a manifest or a signature describes when none is named: the one it
/// sits in.
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
    let given: Vec<&str> = SOURCE_KEYS_OF_FILES
        .into_iter()
        .filter(|k| f.entries.iter().any(|(e, _, _)| e == k))
        .collect();
    let mut text_of = |key: &str, f: &mut Fields<'_>, cx: &mut Ctx<'_>| {
        let node = f.get(key)?;
        ex.text(node, key, cx)
    };
    let from = match given.as_slice() {
        ["manifest"] => text_of("manifest", f, cx).map(ModelSource::Manifest),
        ["signature"] => {
            let bundle = text_of("signature", f, cx);
            let trust = match (f.get("public_key"), f.get("ca_roots")) {
                (Some(_), None) => text_of("public_key", f, cx).map(TrustSpec::PublicKey),
                (None, Some(_)) => text_of("ca_roots", f, cx).map(TrustSpec::CaRoots),
                (Some(_), Some(_)) => {
                    cx.problem(
                        pos,
                        &f.field,
                        "give `public_key` (the key method) or `ca_roots` (the certificate method), not both",
                    );
                    None
                }
                (None, None) => {
                    cx.problem(
                        pos,
                        &f.field,
                        "missing `public_key` or `ca_roots`: a signature proves nothing until it says whose key must have made it",
                    );
                    None
                }
            };
            bundle
                .zip(trust)
                .map(|(bundle, trust)| ModelSource::Signature { bundle, trust })
        }
        ["huggingface"] => {
            let dir = text_of("huggingface", f, cx);
            let revision = match f.get("revision") {
                Some(node) => {
                    let text = scalar(node, &f.path("revision"), cx).map(str::to_string);
                    text.filter(|r| {
                        let fine = !r.trim().is_empty() && stays_below(r);
                        if !fine {
                            cx.problem(
                                node.pos,
                                &f.path("revision"),
                                format!("`{}` is not a ref name or a commit hash", echo::value(r)),
                            );
                        }
                        fine
                    })
                }
                None => None,
            };
            dir.map(|dir| ModelSource::HuggingFace { dir, revision })
        }
        [] => {
            let problem = Diagnostic {
                pos: Some(pos),
                field: f.field.clone(),
                message: "missing `manifest`, `signature` or `huggingface`: say where the files' digests come from".into(),
            };
            cx.absent(&f.field, "manifest", problem);
            None
        }
        _ => {
            for key in &given {
                f.get(key);
            }
            cx.problem(
                pos,
                &f.field,
                format!(
                    "give one of manifest, signature and huggingface, not {}",
                    given.join(" and ")
                ),
            );
            None
        }
    };
    // Each source has its own keys: a key of another is a mistake, not a no-op.
    let only_with = |key: &str, owner: &str, f: &mut Fields<'_>, cx: &mut Ctx<'_>| {
        if given.first().is_some_and(|g| *g != owner)
            && let Some((_, at, _)) = f.entries.iter().find(|(k, _, _)| k == key)
        {
            cx.problem(
                *at,
                &f.path(key),
                format!(
                    "belongs with `{owner}`, and this check reads `{}`",
                    given[0]
                ),
            );
            f.get(key);
        }
    };
    only_with("public_key", "signature", f, cx);
    only_with("ca_roots", "signature", f, cx);
    only_with("revision", "huggingface", f, cx);
    only_with("effective", "manifest", f, cx);
    only_with("ignore_versions", "manifest", f, cx);
    if given == ["huggingface"]
        && let Some((_, at, _)) = f.entries.iter().find(|(k, _, _)| k == "root")
    {
        cx.problem(
            *at,
            &f.path("root"),
            "a Hub source's files are where its snapshot is; `huggingface` names the folder",
        );
        f.get("root");
    }
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
    let mut flag =
        |key: &str, cx: &mut Ctx<'_>| f.get(key).and_then(|node| boolean(node, &f.path(key), cx));
    let exact = flag("exact", cx);
    let cache = flag("cache", cx).unwrap_or(false);
    let force = flag("force", cx).unwrap_or(false);
    let max_safetensors_header = f
        .parsed("max_safetensors_header", cx, |text| {
            match parse_size(text)? {
                0 => Err("must be more than 0".to_string()),
                bytes => Ok(bytes),
            }
        })
        .unwrap_or(DEFAULT_MAX_SAFETENSORS_HEADER);
    let from = from?;
    // A manifest or a signature usually sits in the model directory it describes.
    let root = root.unwrap_or_else(|| {
        let parent = |s: &str| default_root(Path::new(s)).to_string_lossy().into_owned();
        match &from {
            ModelSource::Manifest(file) | ModelSource::Signature { bundle: file, .. } => Text {
                written: parent(&file.written),
                value: parent(&file.value),
            },
            ModelSource::HuggingFace { dir, .. } => dir.clone(),
        }
    });
    Some(Kind::Manifest(ManifestSpec {
        source: from,
        root,
        effective,
        drift,
        exact,
        cache,
        force,
        max_safetensors_header,
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
        assert!(
            matches!(&m.source, ModelSource::Manifest(t) if t.value == "/models/llama/bootgate-manifest.yaml")
        );
        assert_eq!(m.root.value, "/models/llama");
        assert_eq!(m.root.written, "${MODELS}/llama");
        assert_eq!(m.drift, Drift::Minor);
        assert!(m.exact() && m.cache && !m.force);
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

    #[test]
    fn a_signature_or_a_hub_folder_instead_of_a_manifest() {
        let config = load(
            "checks:\n  s:\n    kind: manifest\n    signature: /models/llama/model.sig\n    public_key: /etc/keys/signer.pub\n    max_safetensors_header: 1MiB\n  h:\n    kind: manifest\n    huggingface: /hub/models--org--llama\n    revision: refs/pr/1\n",
            &[],
        )
        .unwrap();
        let Kind::Manifest(s) = &config.checks[0].kind else {
            panic!("not a manifest check")
        };
        assert!(matches!(
            &s.source,
            ModelSource::Signature { bundle, trust: TrustSpec::PublicKey(key) }
                if bundle.value == "/models/llama/model.sig" && key.value == "/etc/keys/signer.pub"
        ));
        assert_eq!(s.root.value, "/models/llama");
        assert!(
            s.exact(),
            "unsigned files fail a signature unless told otherwise"
        );
        assert_eq!(s.max_safetensors_header, 1 << 20);
        let Kind::Manifest(h) = &config.checks[1].kind else {
            panic!("not a manifest check")
        };
        assert!(matches!(
            &h.source,
            ModelSource::HuggingFace { dir, revision: Some(r) } if dir.value == "/hub/models--org--llama" && r == "refs/pr/1"
        ));
        assert!(!h.exact());
        assert_eq!(h.max_safetensors_header, DEFAULT_MAX_SAFETENSORS_HEADER);
    }

    #[test]
    fn sources_and_their_keys_are_checked_together() {
        let problems = load(
            "checks:\n  a:\n    kind: manifest\n    manifest: m.yaml\n    signature: m.sig\n  b:\n    kind: manifest\n    signature: m.sig\n  c:\n    kind: manifest\n    signature: m.sig\n    public_key: k.pem\n    ca_roots: ca.pem\n  d:\n    kind: manifest\n    huggingface: /hub\n    root: /models\n    public_key: k.pem\n    revision: ../x\n  e:\n    kind: manifest\n    signature: m.sig\n    ca_roots: ca.pem\n    effective:\n      v: {env: V}\n  f:\n    kind: manifest\n    root: /models\n",
            &[],
        )
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "checks.a: give one of manifest, signature and huggingface, not manifest and signature",
                "checks.b: missing `public_key` or `ca_roots`: a signature proves nothing until it says whose key must have made it",
                "checks.c: give `public_key` (the key method) or `ca_roots` (the certificate method), not both",
                "checks.d.root: a Hub source's files are where its snapshot is; `huggingface` names the folder",
                "checks.d.public_key: belongs with `signature`, and this check reads `huggingface`",
                "checks.d.revision: `../x` is not a ref name or a commit hash",
                "checks.e.effective: belongs with `manifest`, and this check reads `signature`",
                "checks.f: missing `manifest`, `signature` or `huggingface`: say where the files' digests come from",
            ]
        );
    }
}
