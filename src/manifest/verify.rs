//! A model directory against a manifest's `files`: the cheap part (`stat`: missing files,
//! sizes, extra files, the verification cache) first, then the hashes of what is left.
//!
//! Shared by the `manifest` check and `bootgate manifest verify|generate`. Blocking.

use std::collections::HashSet;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::Manifest;
use crate::digest::{Digest, HashError, Hashed, Progress, VerifyCache, sha256_files};
use crate::text::human_bytes;

/// One finding: a name and what is wrong with it, shown side by side with the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub name: String,
    pub text: String,
}

impl Line {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Line {
        Line {
            name: name.into(),
            text: text.into(),
        }
    }
}

/// `name  text` a line, names padded to one width so the values line up.
pub fn render(lines: &[Line]) -> String {
    let width = lines
        .iter()
        .map(|l| l.name.chars().count())
        .max()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| format!("{:width$}  {}", l.name, l.text))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A digest shown short enough to sit beside another: 64 hex digits become 12 and `…`.
pub fn short(value: &str) -> String {
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("{}…", &value[..12])
    } else {
        value.to_string()
    }
}

/// A file that must be hashed.
#[derive(Debug)]
pub struct HashJob {
    pub name: String,
    pub path: PathBuf,
    /// Taken before the hash: what the cache records.
    pub meta: Metadata,
    pub expected: Digest,
}

/// What `stat` alone could tell.
#[derive(Debug, Default)]
pub struct Survey {
    /// Absent files: a download may still bring them.
    pub missing: Vec<Line>,
    /// Wrong sizes, extra files, directories where files belong: waiting will not fix them.
    pub wrong: Vec<Line>,
    pub hash: Vec<HashJob>,
    /// Files whose digest the cache vouched for.
    pub cached: usize,
    pub files: usize,
    pub bytes: u64,
}

/// Compares every declared file's `stat` with the manifest; with `exact`, names files the
/// manifest does not list. `skip` is the manifest file itself, never an extra.
pub fn survey(
    manifest: &Manifest,
    root: &Path,
    exact: bool,
    skip: Option<&Path>,
    cache: Option<&VerifyCache>,
) -> Survey {
    let mut survey = Survey {
        files: manifest.files.len(),
        ..Survey::default()
    };
    for entry in &manifest.files {
        let path = root.join(&entry.path);
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                survey.missing.push(Line::new(&entry.path, "missing"));
                continue;
            }
            Err(e) => {
                survey.missing.push(Line::new(
                    &entry.path,
                    format!("cannot stat: {}", crate::text::io_phrase(&e)),
                ));
                continue;
            }
        };
        if !meta.is_file() {
            survey
                .wrong
                .push(Line::new(&entry.path, "not a regular file"));
            continue;
        }
        if let Some(size) = entry.size
            && meta.len() != size
        {
            survey.wrong.push(Line::new(
                &entry.path,
                format!(
                    "declared size {}  found {}",
                    exact_bytes(size),
                    exact_bytes(meta.len())
                ),
            ));
            continue;
        }
        survey.bytes += meta.len();
        let Some(expected) = entry.sha256 else {
            continue;
        };
        match cache.and_then(|c| c.lookup(&path, &meta)) {
            Some(known) if known == expected => survey.cached += 1,
            Some(known) => survey.wrong.push(digest_line(&entry.path, expected, known)),
            None => survey.hash.push(HashJob {
                name: entry.path.clone(),
                path,
                meta,
                expected,
            }),
        }
    }
    if exact {
        match walk(root, skip) {
            Ok(found) => {
                let listed: HashSet<&str> =
                    manifest.files.iter().map(|f| f.path.as_str()).collect();
                for name in found {
                    if !listed.contains(name.as_str()) {
                        survey
                            .wrong
                            .push(Line::new(name, "extra: not in the manifest"));
                    }
                }
            }
            Err(e) => survey.missing.push(Line::new(
                root.display().to_string(),
                format!("cannot list: {}", crate::text::io_phrase(&e)),
            )),
        }
    }
    survey
}

fn digest_line(name: &str, declared: Digest, found: Digest) -> Line {
    Line::new(
        name,
        format!(
            "declared sha256 {}  found {}",
            short(&declared.to_hex()),
            short(&found.to_hex())
        ),
    )
}

/// Hashes the files the survey could not vouch for, largest first, in their order.
pub fn hash(jobs: &[HashJob], progress: &Progress) -> Vec<Result<Hashed, HashError>> {
    let files: Vec<(PathBuf, u64)> = jobs
        .iter()
        .map(|j| (j.path.clone(), j.meta.len()))
        .collect();
    sha256_files(&files, progress)
}

/// The lines for hashes that do not match, or could not be taken; records the good ones in
/// `cache`.
pub fn judge_hashes(
    jobs: &[HashJob],
    results: Vec<Result<Hashed, HashError>>,
    mut cache: Option<&mut VerifyCache>,
) -> Vec<Line> {
    let mut lines = Vec::new();
    for (job, result) in jobs.iter().zip(results) {
        match result.map(|hashed| hashed.digest) {
            Ok(digest) => {
                if let Some(cache) = cache.as_deref_mut() {
                    cache.record(&job.path, &job.meta, digest);
                }
                if digest != job.expected {
                    lines.push(digest_line(&job.name, job.expected, digest));
                }
            }
            Err(e) => lines.push(Line::new(&job.name, format!("cannot hash: {e}"))),
        }
    }
    lines
}

/// Every regular file under `root`, relative and `/`-separated, sorted.
///
/// Skipped: any entry whose name starts with `.` (the kubelet's `..data` and `..2024_…`
/// directories of a ConfigMap volume, `.cache/huggingface` partial downloads, `.git`), the
/// `skip` file, and symlinks to directories (a link loop must not hang the gate). Symlinks
/// to files are followed: a Hugging Face snapshot is links to blobs.
pub fn walk(root: &Path, skip: Option<&Path>) -> io::Result<Vec<String>> {
    // The manifest by identity, taken once: no file's path has to be resolved to compare.
    let skip = skip
        .and_then(|s| fs::metadata(s).ok())
        .map(|m| (m.dev(), m.ino()));
    let is_skip = |dev: u64, ino: u64| skip == Some((dev, ino));
    let mut found = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let rel = format!("{prefix}{name}");
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push((path, format!("{rel}/")));
                continue;
            }
            // A regular file needs no `stat`: the directory entry carries its inode, and only
            // a match with the manifest's is worth one (for the device). A symlink is followed.
            let skipped = if kind.is_file() {
                skip.is_some_and(|(_, ino)| ino == entry.ino())
                    && fs::metadata(&path).is_ok_and(|m| is_skip(m.dev(), m.ino()))
            } else if kind.is_symlink() {
                match fs::metadata(&path) {
                    Ok(m) if m.is_file() => is_skip(m.dev(), m.ino()),
                    _ => continue,
                }
            } else {
                continue;
            };
            if !skipped {
                found.push(rel);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// `1.2 GiB of 9.3 GiB, 850.0 MiB/s, ETA 9s`.
pub fn progress_text(done: u64, total: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 0.001 || done == 0 {
        return format!("{} of {}", human_bytes(done), human_bytes(total));
    }
    let rate = done as f64 / secs;
    let left = total.saturating_sub(done) as f64 / rate;
    format!(
        "{} of {}, {}/s, ETA {}",
        human_bytes(done),
        human_bytes(total),
        human_bytes(rate as u64),
        crate::config::units::human_duration(Duration::from_secs(left.ceil() as u64))
    )
}

/// `4976698672 B (4.6 GiB)`: the exact count to compare, the rounded one to read; small sizes
/// once.
pub(super) fn exact_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else {
        format!("{bytes} B ({})", human_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_line_up_and_digests_are_shortened() {
        let text = render(&[
            Line::new("a", "declared 1  runtime 2"),
            Line::new("long_name", "missing"),
        ]);
        assert_eq!(text, "a          declared 1  runtime 2\nlong_name  missing");
        assert_eq!(short(&"ab".repeat(32)), "abababababab…");
        assert_eq!(short("1.4.2"), "1.4.2");
    }

    #[test]
    fn walk_skips_dot_entries_the_manifest_and_directory_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("sub/deeper")).unwrap();
        fs::create_dir_all(root.join("..data")).unwrap();
        fs::write(root.join("..data/x"), "").unwrap();
        fs::write(root.join("b.bin"), "b").unwrap();
        fs::write(root.join("sub/deeper/c"), "c").unwrap();
        fs::write(root.join(".hidden"), "").unwrap();
        fs::write(root.join("manifest.yaml"), "").unwrap();
        std::os::unix::fs::symlink("b.bin", root.join("link.bin")).unwrap();
        std::os::unix::fs::symlink("sub", root.join("loop")).unwrap();
        let found = walk(root, Some(&root.join("manifest.yaml"))).unwrap();
        assert_eq!(found, ["b.bin", "link.bin", "sub/deeper/c"]);
    }

    #[test]
    fn progress_has_a_rate_and_an_eta() {
        assert_eq!(
            progress_text(1 << 30, 3 << 30, Duration::from_secs(2)),
            "1.0 GiB of 3.0 GiB, 512.0 MiB/s, ETA 4.0s"
        );
        assert_eq!(progress_text(0, 10, Duration::ZERO), "0 B of 10 B");
    }
}
