//! The manifest file: which versions the runtime must have (`pins`) and which files the model
//! directory must hold, with their sizes and SHA-256 (`files`).
//!
//! YAML or JSON (JSON is YAML). Read through the position-keeping reader, so every problem
//! names its `file:line:col` and field, as config errors do. `write` produces the form
//! `bootgate manifest generate` writes: sorted, one file a line, stable across runs.

use std::fmt::{self, Write};
use std::path::{Component, Path, PathBuf};

use super::pin::Pin;
use crate::config::yaml::{self, Node, Pos, Value};
use crate::digest::Digest;
use crate::suggest;

pub const TOP_KEYS: &[&str] = &["pins", "files"];
pub const FILE_KEYS: &[&str] = &["size", "sha256"];

/// A manifest as read: entries in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub pins: Vec<PinEntry>,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinEntry {
    pub name: String,
    /// As written, for messages.
    pub declared: String,
    pub pin: Pin,
}

/// One file, by its path relative to the model directory (`/`-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub path: String,
    pub size: Option<u64>,
    pub sha256: Option<Digest>,
}

/// One problem in a manifest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub pos: Pos,
    /// The dotted path of the field, e.g. `files.tokenizer.json.sha256`.
    pub field: String,
    pub message: String,
}

#[derive(Debug)]
pub enum ReadError {
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io { path, error } => write!(
                f,
                "cannot read manifest {}: {}",
                path.display(),
                crate::text::io_phrase(error)
            ),
            ReadError::Invalid { path, problems } => {
                for (i, p) in problems.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{}:{}: ", path.display(), p.pos)?;
                    if !p.field.is_empty() {
                        write!(f, "{}: ", p.field)?;
                    }
                    write!(f, "{}", p.message)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// Room for a few hundred thousand files; more is no manifest a person wrote or generated.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// Reads and validates the manifest at `path`.
pub fn read(path: &Path) -> Result<Manifest, ReadError> {
    let text =
        crate::files::read_text(path, MAX_MANIFEST_BYTES).map_err(|error| ReadError::Io {
            path: path.to_path_buf(),
            error,
        })?;
    parse(&text).map_err(|problems| ReadError::Invalid {
        path: path.to_path_buf(),
        problems,
    })
}

/// Validates manifest text; every problem is collected.
pub fn parse(text: &str) -> Result<Manifest, Vec<Problem>> {
    let root = yaml::parse(text).map_err(|e| {
        vec![Problem {
            pos: e.pos,
            field: String::new(),
            message: format!("YAML syntax: {}", e.message),
        }]
    })?;
    let mut problems = Vec::new();
    let mut problem = |pos: Pos, field: &str, message: String| {
        problems.push(Problem {
            pos,
            field: field.to_string(),
            message,
        })
    };
    let mut manifest = Manifest::default();
    let top: &[(String, Pos, Node)] = match &root.value {
        Value::Map(entries) => entries,
        Value::Null => &[],
        _ => {
            problem(
                root.pos,
                "",
                format!(
                    "expected a mapping with `pins` and `files`, found {}",
                    root.type_name()
                ),
            );
            return Err(problems);
        }
    };
    for (key, key_pos, node) in top {
        match (key.as_str(), &node.value) {
            (_, Value::Null) if TOP_KEYS.contains(&key.as_str()) => {}
            ("pins", Value::Map(entries)) => {
                for (name, _, value) in entries.iter() {
                    let field = format!("pins.{name}");
                    let Value::Scalar(declared) = &value.value else {
                        problem(
                            value.pos,
                            &field,
                            format!("expected a version or value, found {}", value.type_name()),
                        );
                        continue;
                    };
                    match Pin::parse(declared) {
                        Ok(pin) => manifest.pins.push(PinEntry {
                            name: name.clone(),
                            declared: declared.trim().to_string(),
                            pin,
                        }),
                        Err(e) => problem(value.pos, &field, e),
                    }
                }
            }
            ("files", Value::Map(entries)) => {
                for (name, name_pos, value) in entries.iter() {
                    let field = format!("files.{name}");
                    if let Err(message) = check_relative(name) {
                        problem(*name_pos, &field, message);
                        continue;
                    }
                    if let Some(entry) = file_entry(name, value, &field, &mut problem) {
                        manifest.files.push(entry);
                    }
                }
            }
            ("pins" | "files", _) => problem(
                node.pos,
                key,
                format!("expected a mapping, found {}", node.type_name()),
            ),
            _ => problem(
                *key_pos,
                "",
                format!(
                    "unknown key `{key}`{}; expected one of: {}",
                    suggest::hint(key, TOP_KEYS.iter().copied()),
                    TOP_KEYS.join(", ")
                ),
            ),
        }
    }
    if problems.is_empty() {
        Ok(manifest)
    } else {
        Err(problems)
    }
}

fn file_entry(
    name: &str,
    node: &Node,
    field: &str,
    problem: &mut impl FnMut(Pos, &str, String),
) -> Option<FileEntry> {
    let mut entry = FileEntry {
        path: name.to_string(),
        size: None,
        sha256: None,
    };
    let entries: &[(String, Pos, Node)] = match &node.value {
        Value::Map(entries) => entries,
        // `name: {}` or `name:` alone: the file must exist, nothing more.
        Value::Null => &[],
        _ => {
            problem(
                node.pos,
                field,
                format!(
                    "expected a mapping like {{size: 123, sha256: \"…\"}}, found {}",
                    node.type_name()
                ),
            );
            return None;
        }
    };
    let mut ok = true;
    for (key, key_pos, value) in entries {
        let key_field = format!("{field}.{key}");
        let text = match &value.value {
            Value::Scalar(text) => Some(text.as_str()),
            _ => None,
        };
        match (key.as_str(), text) {
            ("size", Some(text)) => match text.parse::<u64>() {
                Ok(size) => entry.size = Some(size),
                Err(_) => {
                    problem(
                        value.pos,
                        &key_field,
                        format!("`{text}` is not a size in bytes (a whole number)"),
                    );
                    ok = false;
                }
            },
            ("sha256", Some(text)) => match text.parse::<Digest>() {
                Ok(digest) => entry.sha256 = Some(digest),
                Err(e) => {
                    problem(value.pos, &key_field, e.to_string());
                    ok = false;
                }
            },
            ("size" | "sha256", None) => {
                problem(
                    value.pos,
                    &key_field,
                    format!("expected a single value, found {}", value.type_name()),
                );
                ok = false;
            }
            _ => {
                problem(
                    *key_pos,
                    field,
                    format!(
                        "unknown key `{key}`{}; expected one of: {}",
                        suggest::hint(key, FILE_KEYS.iter().copied()),
                        FILE_KEYS.join(", ")
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(entry)
}

/// A manifest path stays inside the model directory: relative, with no `..`.
fn check_relative(name: &str) -> Result<(), String> {
    let path = Path::new(name);
    if name.is_empty() {
        return Err("the file name is empty".into());
    }
    if path.is_absolute()
        || path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(format!(
            "`{name}` must be a path inside the model directory: relative, without `.` or `..`"
        ));
    }
    Ok(())
}

/// The manifest as `bootgate manifest generate` writes it: pins and files sorted by name,
/// every string JSON-quoted (valid YAML whatever the name holds).
pub fn write(manifest: &Manifest) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""));
    let mut pins: Vec<&PinEntry> = manifest.pins.iter().collect();
    pins.sort_by(|a, b| a.name.cmp(&b.name));
    let mut files: Vec<&FileEntry> = manifest.files.iter().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = String::from("# bootgate manifest: sizes in bytes, sha256 as hex\n");
    if pins.is_empty() {
        out.push_str("pins: {}\n");
    } else {
        out.push_str("pins:\n");
        for pin in pins {
            let _ = writeln!(out, "  {}: {}", quote(&pin.name), quote(&pin.declared));
        }
    }
    if files.is_empty() {
        out.push_str("files: {}\n");
    } else {
        out.push_str("files:\n");
        for file in files {
            let mut fields = Vec::new();
            if let Some(size) = file.size {
                fields.push(format!("size: {size}"));
            }
            if let Some(digest) = file.sha256 {
                fields.push(format!("sha256: \"{digest}\""));
            }
            let _ = writeln!(out, "  {}: {{{}}}", quote(&file.path), fields.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn problems(text: &str) -> Vec<String> {
        parse(text)
            .unwrap_err()
            .iter()
            .map(|p| format!("{}: {}: {}", p.pos, p.field, p.message))
            .collect()
    }

    #[test]
    fn reads_yaml_and_json_alike() {
        let yaml = format!(
            "pins: {{model_version: \"1.4.2\", cuda: \">=12.4\"}}\nfiles:\n  model.safetensors: {{size: 10, sha256: \"{HASH}\"}}\n  tokenizer.json: {{sha256: \"{}\"}}\n  config.json:\n",
            HASH.to_uppercase()
        );
        let json = format!(
            r#"{{"pins": {{"model_version": "1.4.2", "cuda": ">=12.4"}}, "files": {{"model.safetensors": {{"size": 10, "sha256": "{HASH}"}}, "tokenizer.json": {{"sha256": "{HASH}"}}, "config.json": {{}}}}}}"#
        );
        let a = parse(&yaml).unwrap();
        assert_eq!(a, parse(&json).unwrap());
        assert_eq!(a.pins[1].name, "cuda");
        assert!(matches!(a.pins[1].pin, Pin::Constraint(_)));
        assert_eq!(a.files[0].size, Some(10));
        assert_eq!(a.files[1].sha256.unwrap().to_hex(), HASH);
        assert_eq!(a.files[2].size, None);
    }

    #[test]
    fn problems_have_a_position_a_field_and_a_hint() {
        assert_eq!(
            problems(
                "pins: {cuda: \">=twelve\"}\nfiels: {}\nfiles:\n  a: {size: 1.5, sha265: x}\n  b: {sha256: abc}\n  ../c: {}\n  d: [1]\n"
            ),
            [
                "1:14: pins.cuda: `>=twelve`: `twelve` is not a version of dotted numbers",
                "2:1: : unknown key `fiels` (did you mean files?); expected one of: pins, files",
                "4:13: files.a.size: `1.5` is not a size in bytes (a whole number)",
                "4:18: files.a: unknown key `sha265` (did you mean sha256?); expected one of: size, sha256",
                "5:15: files.b.sha256: a sha256 is 64 hex digits; this has 3 characters",
                "6:3: files.../c: `../c` must be a path inside the model directory: relative, without `.` or `..`",
                "7:6: files.d: expected a mapping like {size: 123, sha256: \"…\"}, found a list",
            ]
        );
        assert_eq!(
            problems("[1]")[0],
            "1:1: : expected a mapping with `pins` and `files`, found a list"
        );
        assert!(problems("pins: {a: [")[0].contains("YAML syntax"));
    }

    #[test]
    fn written_manifests_are_sorted_and_read_back() {
        let manifest = Manifest {
            pins: vec![
                PinEntry {
                    name: "z".into(),
                    declared: "1.0".into(),
                    pin: Pin::parse("1.0").unwrap(),
                },
                PinEntry {
                    name: "a".into(),
                    declared: ">=2".into(),
                    pin: Pin::parse(">=2").unwrap(),
                },
            ],
            files: vec![
                FileEntry {
                    path: "sub/b: \"odd\".bin".into(),
                    size: Some(3),
                    sha256: Some(HASH.parse().unwrap()),
                },
                FileEntry {
                    path: "a.json".into(),
                    size: Some(0),
                    sha256: None,
                },
            ],
        };
        let text = write(&manifest);
        assert_eq!(
            text,
            format!(
                "# bootgate manifest: sizes in bytes, sha256 as hex\npins:\n  \"a\": \">=2\"\n  \"z\": \"1.0\"\nfiles:\n  \"a.json\": {{size: 0}}\n  \"sub/b: \\\"odd\\\".bin\": {{size: 3, sha256: \"{HASH}\"}}\n"
            )
        );
        let back = parse(&text).unwrap();
        assert_eq!(back.files[1].path, "sub/b: \"odd\".bin");
        assert_eq!(back.pins[0].name, "a");
        assert_eq!(write(&back), text);
    }
}
