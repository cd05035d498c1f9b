//! `bootgate manifest generate|verify`: write a model directory's manifest, or check a
//! directory against one, for CI and people. The gate's `manifest` check does the same
//! comparison, plus the pins.

use std::path::PathBuf;
use std::time::Instant;

use super::print;
use crate::cli::{GenerateArgs, ManifestCommand, VerifyArgs};
use crate::config::{self, Drift, ManifestSpec, ModelSource, Text, TrustSpec};
use crate::digest::{Progress, sha256_files};
use crate::exit::Exit;
use crate::manifest::file::{self, FileEntry, Manifest, PinEntry};
use crate::manifest::pin::Pin;
use crate::manifest::source::{self, LoadError};
use crate::manifest::verify::{self, render};
use crate::report::log::problems;
use crate::text::human_bytes;

pub fn run(command: ManifestCommand) -> Exit {
    match command {
        ManifestCommand::Generate(args) => generate(args),
        ManifestCommand::Verify(args) => verify(args),
    }
}

fn generate(args: GenerateArgs) -> Exit {
    let mut pins = Vec::new();
    for text in &args.pin {
        let Some((key, value)) = text.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
            problems(&format!(
                "--pin {text}: expected KEY=VALUE, e.g. --pin model_version=1.4.2"
            ));
            return Exit::BadInput;
        };
        match Pin::parse(value) {
            Ok(pin) => pins.push(PinEntry {
                name: key.trim().to_string(),
                declared: value.trim().to_string(),
                pin,
            }),
            Err(e) => {
                problems(&format!("--pin {text}: {e}"));
                return Exit::BadInput;
            }
        }
    }
    let names = match verify::walk(&args.dir, args.output.as_deref()) {
        Ok(names) => names,
        Err(e) => {
            problems(&format!(
                "cannot list {}: {}",
                args.dir.display(),
                crate::text::io_phrase(&e)
            ));
            return Exit::BadInput;
        }
    };
    let started = Instant::now();
    // The sizes only order the work; each entry's size is the one its digest was taken over.
    let jobs: Vec<(PathBuf, u64)> = names
        .iter()
        .map(|name| {
            let path = args.dir.join(name);
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            (path, size)
        })
        .collect();
    let progress = Progress::new();
    let mut files = Vec::with_capacity(names.len());
    for (name, ((path, _), result)) in names
        .iter()
        .zip(jobs.iter().zip(sha256_files(&jobs, &progress)))
    {
        match result {
            Ok(hashed) => files.push(FileEntry {
                path: name.clone(),
                size: Some(hashed.bytes),
                sha256: Some(hashed.digest),
            }),
            Err(e) => {
                problems(&format!("cannot hash {}: {e}", path.display()));
                return Exit::BadInput;
            }
        }
    }
    let text = file::write(&Manifest { pins, files });
    tracing::info!(
        "hashed {} files ({}) in {}",
        names.len(),
        human_bytes(progress.done()),
        crate::config::units::human_duration(started.elapsed())
    );
    match &args.output {
        Some(out) => {
            if let Err(e) = std::fs::write(out, text) {
                problems(&format!(
                    "cannot write {}: {}",
                    out.display(),
                    crate::text::io_phrase(&e)
                ));
                return Exit::BadInput;
            }
        }
        None => print(&text),
    }
    Exit::Passed
}

/// The config's manifest check, from the command line: the same source reading, survey and
/// hashing, without pins.
fn verify(args: VerifyArgs) -> Exit {
    let text = |path: &std::path::Path| {
        let shown = path.display().to_string();
        Text {
            written: shown.clone(),
            value: shown,
        }
    };
    let source = match (&args.file, &args.signature, &args.huggingface) {
        (_, Some(bundle), _) => ModelSource::Signature {
            bundle: text(bundle),
            trust: match (&args.public_key, &args.ca_roots) {
                (Some(key), _) => TrustSpec::PublicKey(text(key)),
                (None, Some(roots)) => TrustSpec::CaRoots(text(roots)),
                (None, None) => {
                    problems("--signature needs --public-key or --ca-roots");
                    return Exit::BadInput;
                }
            },
        },
        (_, _, Some(dir)) => ModelSource::HuggingFace {
            dir: text(dir),
            revision: args.revision.clone(),
        },
        (Some(file), _, _) => ModelSource::Manifest(text(file)),
        (None, None, None) => {
            problems("give a manifest, --signature or --huggingface");
            return Exit::BadInput;
        }
    };
    let root = match (&args.root, &source) {
        (Some(root), _) => root.clone(),
        (None, ModelSource::HuggingFace { dir, .. }) => PathBuf::from(&dir.value),
        (None, ModelSource::Manifest(file) | ModelSource::Signature { bundle: file, .. }) => {
            config::manifest::default_root(std::path::Path::new(&file.value)).to_path_buf()
        }
    };
    if !root.is_dir() {
        problems(&format!("{} is not a directory", root.display()));
        return Exit::BadInput;
    }
    let spec = ManifestSpec {
        source,
        root: text(&root),
        effective: Vec::new(),
        drift: Drift::None,
        exact: if args.exact {
            Some(true)
        } else if args.ignore_unsigned_files {
            Some(false)
        } else {
            None
        },
        cache: false,
        force: false,
        max_safetensors_header: config::manifest::DEFAULT_MAX_SAFETENSORS_HEADER,
    };
    let mut loaded = match source::load(&spec) {
        Ok(loaded) => loaded,
        Err(LoadError::Waiting(why) | LoadError::Wrong(why)) => {
            problems(&why);
            return Exit::BadInput;
        }
    };
    let survey = verify::survey(&loaded.files, &loaded.root, &loaded.rules(&spec), None);
    let mut lines = std::mem::take(&mut loaded.wrong);
    lines.append(&mut loaded.missing);
    lines.extend(survey.wrong);
    lines.extend(survey.missing);
    // Cheap first: a wrong size or a missing file is reported without hashing anything.
    if lines.is_empty() {
        let hashes = verify::hash(&survey.hash, &Progress::new());
        lines.extend(verify::judge_hashes(&survey.hash, hashes, None));
    }
    if !loaded.pins.is_empty() {
        tracing::info!(
            "{} pin{} not checked: their runtime values come from a gate's `effective` sources",
            loaded.pins.len(),
            if loaded.pins.len() == 1 { "" } else { "s" }
        );
    }
    let shown = spec.source.written();
    if lines.is_empty() {
        let vouched = loaded
            .vouched
            .as_ref()
            .map_or(String::new(), |v| format!(" ({v})"));
        print(&format!(
            "{shown}{vouched}: {} files ({}) match\n",
            survey.files,
            human_bytes(survey.bytes)
        ));
        Exit::Passed
    } else {
        print(&format!(
            "{} does not match {shown}:\n{}\n",
            loaded.root.display(),
            render(&lines)
        ));
        Exit::Failed
    }
}
