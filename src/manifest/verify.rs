//! A model directory against the files its publisher declared (a manifest's `files`, a
//! signature's resources, a Hub snapshot's blob names): the cheap part (`stat`: missing files,
//! sizes, extra files, the verification cache, the structure of safetensors files) first, then
//! the hashes of what is left.
//!
//! Shared by the `manifest` check and `bootgate manifest verify|generate`. Blocking.

use std::collections::HashSet;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::Manifest;
use super::safetensors;
use crate::digest::{
    Algorithm, Digest, Fingerprint, HashError, Piece, PieceHashed, Progress, Value, VerifyCache,
    hash_pieces, hex,
};
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

/// One file the model must have, and what its content must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Relative to the model directory, `/`-separated: how the publisher named it.
    pub name: String,
    /// What to open (a Hub snapshot's link, or the root joined with the name).
    pub path: PathBuf,
    pub size: Option<u64>,
    pub content: Content,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// The size alone was declared.
    Unchecked,
    /// A digest of the whole file: SHA-256, or git's blob id.
    Whole(Fingerprint),
    /// The SHA-256 of each `shard_size` bytes in order, the last one shorter.
    Shards {
        shard_size: u64,
        digests: Vec<Digest>,
    },
}

impl Content {
    /// How the verify cache remembers this content as verified.
    fn fingerprint(&self) -> Option<Fingerprint> {
        match self {
            Content::Unchecked => None,
            Content::Whole(fingerprint) => Some(*fingerprint),
            Content::Shards {
                shard_size,
                digests,
            } => Some(Fingerprint::Shards {
                shard_size: *shard_size,
                root: shards_root(digests),
            }),
        }
    }
}

/// The SHA-256 over the shard digests in order: what the cache keeps for a file's shards.
fn shards_root(digests: &[Digest]) -> Digest {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    for digest in digests {
        hasher.update(digest.as_bytes());
    }
    Digest::from_bytes(hasher.finalize().into())
}

/// The files a manifest lists, under `root`.
pub fn from_manifest(manifest: &Manifest, root: &Path) -> Vec<Expected> {
    manifest
        .files
        .iter()
        .map(|entry| Expected {
            name: entry.path.clone(),
            path: root.join(&entry.path),
            size: entry.size,
            content: entry.sha256.map_or(Content::Unchecked, |d| {
                Content::Whole(Fingerprint::Sha256(d))
            }),
        })
        .collect()
}

/// A file that must be hashed.
#[derive(Debug)]
pub struct HashJob {
    pub name: String,
    pub path: PathBuf,
    /// Taken before the hash: what the cache records.
    pub meta: Metadata,
    pub content: Content,
}

/// How the model directory is surveyed besides the files the source lists.
#[derive(Debug, Clone, Default)]
pub struct Rules<'a> {
    /// Files the source does not list are a mismatch.
    pub exact: bool,
    /// How the directory is listed to find them.
    pub listing: Listing<'a>,
    /// A listed file reached through a symlink is a mismatch (a signature made with
    /// `allow_symlinks: false`).
    pub refuse_symlinks: bool,
    /// Every `.safetensors` file to be hashed has its structure checked first, its header
    /// read up to this bound.
    pub max_safetensors_header: u64,
    /// What a file nobody declared is, after `extra: `: `not in the manifest`, `not signed`.
    pub unlisted: &'static str,
}

/// What [`walk_with`] lists.
#[derive(Debug, Clone, Default)]
pub struct Listing<'a> {
    /// Entries whose name starts with `.` too. Without it they are skipped: the kubelet's
    /// `..data`, `.cache/huggingface`, `.git`.
    pub hidden: bool,
    /// Paths relative to the root left out with everything under them.
    pub excluded: &'a [String],
    /// Symlinks are named apart, not followed.
    pub symlinks_apart: bool,
    /// The file the source was read from: never an extra.
    pub skip: Option<&'a Path>,
    /// Empty files are not listed (a signature in shards has no shard for them).
    pub without_empty: bool,
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

/// Compares every expected file's `stat` with what was declared, checks the structure of
/// safetensors files about to be hashed, and, with `rules.exact`, names files nobody declared.
pub fn survey(
    expected: &[Expected],
    root: &Path,
    rules: &Rules<'_>,
    cache: Option<&VerifyCache>,
) -> Survey {
    let mut survey = Survey {
        files: expected.len(),
        ..Survey::default()
    };
    for entry in expected {
        let path = &entry.path;
        let meta = match fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                survey.missing.push(Line::new(&entry.name, "missing"));
                continue;
            }
            Err(e) => {
                survey.missing.push(Line::new(
                    &entry.name,
                    format!("cannot stat: {}", crate::text::io_phrase(&e)),
                ));
                continue;
            }
        };
        if !meta.is_file() {
            survey
                .wrong
                .push(Line::new(&entry.name, "not a regular file"));
            continue;
        }
        if rules.refuse_symlinks && fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink()) {
            survey.wrong.push(Line::new(
                &entry.name,
                "a symlink, and the signature was made with allow_symlinks: false",
            ));
            continue;
        }
        if let Some(size) = entry.size
            && meta.len() != size
        {
            survey.wrong.push(Line::new(
                &entry.name,
                format!(
                    "declared size {}  found {}",
                    exact_bytes(size),
                    exact_bytes(meta.len())
                ),
            ));
            continue;
        }
        survey.bytes += meta.len();
        let Some(fingerprint) = entry.content.fingerprint() else {
            continue;
        };
        match cache.and_then(|c| c.known(path, &meta, &fingerprint)) {
            Some(known) if known == fingerprint => {
                survey.cached += 1;
                continue;
            }
            // Found before, for this very stat: the content is not what is declared.
            Some(Fingerprint::Shards { .. }) | None => {}
            Some(known) => {
                survey
                    .wrong
                    .push(digest_line(&entry.name, &fingerprint, &known));
                continue;
            }
        }
        if entry.name.ends_with(".safetensors")
            && let Err(e) = safetensors::check_file(path, rules.max_safetensors_header)
        {
            survey.wrong.push(Line::new(&entry.name, e.to_string()));
            continue;
        }
        survey.hash.push(HashJob {
            name: entry.name.clone(),
            path: path.clone(),
            meta,
            content: entry.content.clone(),
        });
    }
    if rules.exact {
        match walk_with(root, &rules.listing) {
            Ok(found) => {
                let listed: HashSet<&str> = expected.iter().map(|f| f.name.as_str()).collect();
                for name in found.files {
                    if !listed.contains(name.as_str()) {
                        survey
                            .wrong
                            .push(Line::new(name, format!("extra: {}", rules.unlisted)));
                    }
                }
                for name in found.symlinks {
                    if !listed.contains(name.as_str()) {
                        survey.wrong.push(Line::new(
                            name,
                            "extra: a symlink, and the signature was made with allow_symlinks: false",
                        ));
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

fn digest_line(name: &str, declared: &Fingerprint, found: &Fingerprint) -> Line {
    let (what, declared, found) = match (declared, found) {
        (Fingerprint::Sha256(d), Fingerprint::Sha256(f)) => ("sha256", d.to_hex(), f.to_hex()),
        (Fingerprint::GitBlobSha1(d), Fingerprint::GitBlobSha1(f)) => {
            ("git blob sha1", hex(d), hex(f))
        }
        (Fingerprint::Shards { root: d, .. }, Fingerprint::Shards { root: f, .. }) => {
            ("shards", d.to_hex(), f.to_hex())
        }
        _ => ("digest", format!("{declared:?}"), format!("{found:?}")),
    };
    Line::new(
        name,
        format!(
            "declared {what} {}  found {}",
            short(&declared),
            short(&found)
        ),
    )
}

/// The pieces the jobs are hashed in, each with the job it belongs to and its length: one per
/// file, or one per shard.
fn pieces(jobs: &[HashJob]) -> (Vec<Piece>, Vec<u64>, Vec<usize>) {
    let mut pieces = Vec::new();
    let mut sizes = Vec::new();
    let mut owners = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let size = job.meta.len();
        match &job.content {
            Content::Unchecked => {}
            Content::Whole(fingerprint) => {
                let algorithm = match fingerprint {
                    Fingerprint::GitBlobSha1(_) => Algorithm::GitBlobSha1,
                    _ => Algorithm::Sha256,
                };
                pieces.push(Piece {
                    path: job.path.clone(),
                    range: None,
                    algorithm,
                });
                sizes.push(size);
                owners.push(i);
            }
            Content::Shards { shard_size, .. } => {
                for range in shard_ranges(size, *shard_size) {
                    sizes.push(range.end - range.start);
                    pieces.push(Piece {
                        path: job.path.clone(),
                        range: Some(range),
                        algorithm: Algorithm::Sha256,
                    });
                    owners.push(i);
                }
            }
        }
    }
    (pieces, sizes, owners)
}

/// `0..s, s..2s, …, ..size`: a file's shards. An empty file has none.
pub fn shard_ranges(size: u64, shard_size: u64) -> impl Iterator<Item = std::ops::Range<u64>> {
    let step = shard_size.max(1);
    (0..size.div_ceil(step)).map(move |n| n * step..((n + 1) * step).min(size))
}

/// The bytes the jobs will read: for progress and its ETA.
pub fn total_bytes(jobs: &[HashJob]) -> u64 {
    jobs.iter().map(|j| j.meta.len()).sum()
}

/// What hashing the jobs gave, piece by piece, with which job each piece belongs to.
pub struct Hashes {
    results: Vec<Result<PieceHashed, HashError>>,
    owners: Vec<usize>,
}

/// Hashes the files the survey could not vouch for (a file in shards on many threads at once),
/// largest pieces first.
pub fn hash(jobs: &[HashJob], progress: &Progress) -> Hashes {
    let (pieces, sizes, owners) = pieces(jobs);
    Hashes {
        results: hash_pieces(&pieces, &sizes, progress),
        owners,
    }
}

/// The lines for hashes that do not match, or could not be taken; records the good ones in
/// `cache`.
pub fn judge_hashes(
    jobs: &[HashJob],
    hashes: Hashes,
    mut cache: Option<&mut VerifyCache>,
) -> Vec<Line> {
    let mut per_job: Vec<Vec<Result<PieceHashed, HashError>>> =
        jobs.iter().map(|_| Vec::new()).collect();
    for (owner, result) in hashes.owners.into_iter().zip(hashes.results) {
        if let Some(slot) = per_job.get_mut(owner) {
            slot.push(result);
        }
    }
    let mut lines = Vec::new();
    for (job, results) in jobs.iter().zip(per_job) {
        let (found, shards) = match found_content(job, results) {
            Ok(found) => found,
            Err(line) => {
                lines.push(line);
                continue;
            }
        };
        let Some(declared) = job.content.fingerprint() else {
            continue;
        };
        if found == declared {
            if let Some(cache) = cache.as_deref_mut() {
                cache.remember(&job.path, &job.meta, found);
            }
            continue;
        }
        // A whole-file digest is the file's for this stat whatever was declared: remembered,
        // so the next start names the mismatch without hashing.
        if !matches!(found, Fingerprint::Shards { .. })
            && let Some(cache) = cache.as_deref_mut()
        {
            cache.remember(&job.path, &job.meta, found);
        }
        lines.push(match &job.content {
            Content::Shards {
                shard_size,
                digests,
            } => shard_line(job, *shard_size, digests, &shards),
            _ => digest_line(&job.name, &declared, &found),
        });
    }
    lines
}

/// A job's pieces put back together: its fingerprint and, for shards, each shard's digest in
/// byte order; or the line saying why there is none.
fn found_content(
    job: &HashJob,
    results: Vec<Result<PieceHashed, HashError>>,
) -> Result<(Fingerprint, Vec<Digest>), Line> {
    let mut values = Vec::with_capacity(results.len());
    for result in results {
        match result {
            Ok(hashed) => values.push(hashed.value),
            Err(e) => return Err(Line::new(&job.name, format!("cannot hash: {e}"))),
        }
    }
    match &job.content {
        Content::Shards { shard_size, .. } => {
            let digests: Vec<Digest> = values
                .iter()
                .filter_map(|v| match v {
                    Value::Sha256(d) => Some(*d),
                    Value::GitBlobSha1(_) => None,
                })
                .collect();
            let found = Fingerprint::Shards {
                shard_size: *shard_size,
                root: shards_root(&digests),
            };
            Ok((found, digests))
        }
        _ => match values.first() {
            Some(Value::Sha256(d)) => Ok((Fingerprint::Sha256(*d), Vec::new())),
            Some(Value::GitBlobSha1(id)) => Ok((Fingerprint::GitBlobSha1(*id), Vec::new())),
            None => Err(Line::new(&job.name, "cannot hash: no digest came back")),
        },
    }
}

/// The first shard that differs, by byte range: `shard 2 of 3 (bytes 1000000000..2000000000):
/// declared sha256 …  found …`.
fn shard_line(job: &HashJob, shard_size: u64, declared: &[Digest], found: &[Digest]) -> Line {
    let count = found.len();
    let ranges = shard_ranges(job.meta.len(), shard_size);
    for (n, ((range, got), want)) in ranges.zip(found).zip(declared).enumerate() {
        if got != want {
            return Line::new(
                &job.name,
                format!(
                    "shard {} of {count} (bytes {}..{}): declared sha256 {}  found {}",
                    n + 1,
                    range.start,
                    range.end,
                    short(&want.to_hex()),
                    short(&got.to_hex())
                ),
            );
        }
    }
    Line::new(
        &job.name,
        format!("its {count} shards are not the {} declared", declared.len()),
    )
}

/// Every regular file under `root`, relative and `/`-separated, sorted.
///
/// Skipped: any entry whose name starts with `.` (the kubelet's `..data` and `..2024_…`
/// directories of a ConfigMap volume, `.cache/huggingface` partial downloads, `.git`), the
/// `skip` file, and symlinks to directories (a link loop must not hang the gate). Symlinks
/// to files are followed: a Hugging Face snapshot is links to blobs.
pub fn walk(root: &Path, skip: Option<&Path>) -> io::Result<Vec<String>> {
    let listing = Listing {
        skip,
        ..Listing::default()
    };
    walk_with(root, &listing).map(|found| found.files)
}

/// What [`walk_with`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// Regular files, and links to them unless `symlinks_apart`.
    pub files: Vec<String>,
    /// With `symlinks_apart`: every symlink, whatever it points to.
    pub symlinks: Vec<String>,
}

/// [`walk`] by `listing`'s rules; both lists sorted.
pub fn walk_with(root: &Path, listing: &Listing<'_>) -> io::Result<Found> {
    // The skipped file by identity, taken once: no file's path has to be resolved to compare.
    let skip = listing
        .skip
        .and_then(|s| fs::metadata(s).ok())
        .map(|m| (m.dev(), m.ino()));
    let is_skip = |dev: u64, ino: u64| skip == Some((dev, ino));
    let mut found = Found::default();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') && !listing.hidden {
                continue;
            }
            let rel = format!("{prefix}{name}");
            if listing.excluded.iter().any(|x| {
                rel == *x
                    || rel
                        .strip_prefix(x.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            }) {
                continue;
            }
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_symlink() && listing.symlinks_apart {
                found.symlinks.push(rel);
                continue;
            }
            if kind.is_dir() {
                stack.push((path, format!("{rel}/")));
                continue;
            }
            // A regular file needs no `stat`: the directory entry carries its inode, and only
            // a match with the skipped file's is worth one (for the device). A symlink is
            // followed.
            let (skipped, empty) = if kind.is_file() {
                let skipped = skip.is_some_and(|(_, ino)| ino == entry.ino())
                    && fs::metadata(&path).is_ok_and(|m| is_skip(m.dev(), m.ino()));
                let empty = listing.without_empty && entry.metadata().is_ok_and(|m| m.len() == 0);
                (skipped, empty)
            } else if kind.is_symlink() {
                match fs::metadata(&path) {
                    Ok(m) if m.is_file() => (
                        is_skip(m.dev(), m.ino()),
                        listing.without_empty && m.len() == 0,
                    ),
                    _ => continue,
                }
            } else {
                continue;
            };
            if !skipped && !empty {
                found.files.push(rel);
            }
        }
    }
    found.files.sort();
    found.symlinks.sort();
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
