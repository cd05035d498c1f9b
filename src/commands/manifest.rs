//! `bootgate manifest generate|verify`: write a model directory's manifest, or check a
//! directory against one, for CI and people. The gate's `manifest` check does the same
//! comparison, plus the pins.

use std::path::PathBuf;
use std::time::Instant;

use super::print;
use crate::cli::{GenerateArgs, ManifestCommand, VerifyArgs};
use crate::config;
use crate::digest::{Progress, sha256_files};
use crate::exit::Exit;
use crate::manifest::file::{self, FileEntry, Manifest, PinEntry};
use crate::manifest::pin::Pin;
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

fn verify(args: VerifyArgs) -> Exit {
    let manifest = match file::read(&args.file) {
        Ok(m) => m,
        Err(e) => {
            problems(&e.to_string());
            return Exit::BadInput;
        }
    };
    let root = args
        .root
        .clone()
        .unwrap_or_else(|| config::manifest::default_root(&args.file).to_path_buf());
    if !root.is_dir() {
        problems(&format!("{} is not a directory", root.display()));
        return Exit::BadInput;
    }
    let survey = verify::survey(&manifest, &root, args.exact, Some(&args.file), None);
    let mut lines = survey.wrong;
    lines.extend(survey.missing);
    // Cheap first: a wrong size or a missing file is reported without hashing anything.
    if lines.is_empty() {
        let results = verify::hash(&survey.hash, &Progress::new());
        lines.extend(verify::judge_hashes(&survey.hash, results, None));
    }
    if !manifest.pins.is_empty() {
        tracing::info!(
            "{} pin{} not checked: their runtime values come from a gate's `effective` sources",
            manifest.pins.len(),
            if manifest.pins.len() == 1 { "" } else { "s" }
        );
    }
    if lines.is_empty() {
        print(&format!(
            "{}: {} files ({}) match\n",
            args.file.display(),
            survey.files,
            human_bytes(survey.bytes)
        ));
        Exit::Passed
    } else {
        print(&format!(
            "{} does not match {}:\n{}\n",
            root.display(),
            args.file.display(),
            render(&lines)
        ));
        Exit::Failed
    }
}
