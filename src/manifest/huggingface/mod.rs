//! A Hugging Face download, resolved to the digest each of its files must have, with no manifest:
//! the Hub names every file by its content.
//!
//! Two layouts, both as huggingface_hub writes them:
//! - a cache repo folder (`models--ORG--NAME`): `refs/<revision>` holds a commit,
//!   `snapshots/<commit>/<path>` is a relative link to `blobs/<etag>`, and the etag is the
//!   file's sha256 (an LFS or Xet file, 64 hex) or its git blob id (40 hex);
//! - a `local_dir` download: the files themselves, and for each
//!   `.cache/huggingface/download/<path>.metadata` holding its commit, etag and a timestamp.
//!
//! Nothing is hashed here: this says what each file must hash to, what is wrong without a hash
//! (a link out of `blobs/`, a blob name that is not a digest, a `.metadata` of another commit),
//! and which shards a weight map lists that the snapshot lacks. Every file read is someone
//! else's: each is opened without blocking and read up to a stated cap.

mod cache;
mod local_dir;
mod weight_map;

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, FileType};
use std::io;
use std::path::{Path, PathBuf};

pub use cache::MAX_REF_BYTES;
pub use local_dir::MAX_METADATA_BYTES;
pub use weight_map::{MAX_INDEX_BYTES, weight_map_files};

use crate::digest::Digest;
use crate::echo;
use crate::text::io_phrase;

/// What a download holds at one commit, and what each file must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The commit the revision resolved to (40 hex).
    pub commit: String,
    /// The directory the model's files are read from: `snapshots/<commit>` or the local_dir.
    pub root: PathBuf,
    /// Every file of the snapshot (cache: every entry under snapshots/<commit>, links followed
    /// into blobs/; local_dir: every file with a .metadata), sorted by name. A file with a
    /// problem is not here but in `problems`.
    pub files: Vec<HubFile>,
    /// Files `model.safetensors.index.json` (and any `*.index.json` weight map) lists that the
    /// snapshot lacks, sorted; and the index itself if unreadable is a `problems` entry.
    pub missing: Vec<String>,
    /// Per-file problems found without hashing, as (name, text): a snapshot entry that is not a
    /// link into blobs/, a blob name that is not a digest, a .metadata that is malformed, or
    /// names another commit than the others / than `revision`. Sorted by name.
    pub problems: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubFile {
    /// Relative to `root`, `/`-separated.
    pub name: String,
    /// The path to open and hash (a snapshot link, or the local_dir file).
    pub path: PathBuf,
    pub blob: BlobId,
}

/// What a file's content must hash to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobId {
    /// An LFS or Xet file's etag: the sha256 of its content.
    Sha256(Digest),
    /// A small file's etag: git's blob id, `sha1("blob <len>\0" + content)`.
    GitSha1([u8; 20]),
}

impl BlobId {
    /// An etag as the Hub writes it: 64 or 40 lowercase hex digits.
    fn from_etag(etag: &str) -> Option<BlobId> {
        match etag.len() {
            64 => lower_hex::<32>(etag).map(|bytes| BlobId::Sha256(Digest::from_bytes(bytes))),
            40 => lower_hex::<20>(etag).map(BlobId::GitSha1),
            _ => None,
        }
    }
}

/// Adds a problem where its name sorts: `problems` stays sorted without a sort.
fn add_problem(problems: &mut Vec<(String, String)>, name: String, text: String) {
    let at = problems.partition_point(|(n, _)| *n <= name);
    problems.insert(at, (name, text));
}

/// What [`walk`] meets that it does not descend.
enum Walked {
    /// A name `/`-separated under the root, and the directory entry's own type: what `lstat`
    /// would say, so a link is never followed out of the folder.
    Entry(String, io::Result<FileType>),
    /// A name that is not UTF-8, with the prefix it sits under; not descended, as it cannot be
    /// named in a path the rest of the code holds as text.
    NotUtf8(String, OsString),
}

/// Every entry under `root`, directories descended. A directory that cannot be listed is its
/// prefix and the error, and the walk goes on past it, so a caller may skip it or stop there.
fn walk(root: &Path) -> Walk {
    Walk {
        stack: vec![(root.to_path_buf(), String::new())],
        listing: None,
    }
}

struct Walk {
    stack: Vec<(PathBuf, String)>,
    listing: Option<(fs::ReadDir, String)>,
}

impl Iterator for Walk {
    type Item = Result<Walked, (String, io::Error)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some((entries, prefix)) = &mut self.listing else {
                let (dir, prefix) = self.stack.pop()?;
                match fs::read_dir(&dir) {
                    Ok(entries) => self.listing = Some((entries, prefix)),
                    Err(error) => return Some(Err((prefix, error))),
                }
                continue;
            };
            let entry = match entries.next() {
                Some(Ok(entry)) => entry,
                Some(Err(error)) => return Some(Err((prefix.clone(), error))),
                None => {
                    self.listing = None;
                    continue;
                }
            };
            let name = match entry.file_name().into_string() {
                Ok(name) => format!("{prefix}{name}"),
                Err(name) => return Some(Ok(Walked::NotUtf8(prefix.clone(), name))),
            };
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => self.stack.push((entry.path(), format!("{name}/"))),
                kind => return Some(Ok(Walked::Entry(name, kind))),
            }
        }
    }
}

/// Whether `text` is a commit hash as the Hub writes one: 40 lowercase hex digits.
fn is_commit(text: &str) -> bool {
    lower_hex::<20>(text).is_some()
}

/// `text` as N bytes, if it is exactly 2N lowercase hex digits: the only form the Hub writes
/// (its own checks are `[0-9a-f]{40}` and `[0-9a-f]{64}`).
fn lower_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    crate::digest::from_hex(text).filter(|_| !text.bytes().any(|b| b.is_ascii_uppercase()))
}

/// An etag's text where the Hub writes an etag, for messages: capped and escaped.
fn not_an_etag(found: &str) -> String {
    format!(
        "`{}` is not a sha256 (64 hex digits) or a git blob id (40 hex digits)",
        echo::value(found)
    )
}

/// `dir` is a cache repo folder (`models--ORG--NAME`, it has `refs/` and `snapshots/`) or a
/// local_dir (it has `.cache/huggingface/download/`). `revision`: a ref under refs/ or a
/// 40-hex commit for a cache (default `main`); for a local_dir a commit hash, or none (then all
/// .metadata files must name one commit). Reads are bounded ([`MAX_REF_BYTES`],
/// [`MAX_METADATA_BYTES`], [`MAX_INDEX_BYTES`]).
pub fn resolve(dir: &Path, revision: Option<&str>) -> Result<Snapshot, HubError> {
    let is_dir = |path: &Path| match std::fs::metadata(path) {
        Ok(meta) => Ok(meta.is_dir()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Fault::Unreadable {
            what: path.strip_prefix(dir).unwrap_or(path).display().to_string(),
            error: e,
        }),
    };
    let meta = std::fs::metadata(dir).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => Fault::Absent,
        _ => Fault::Unreadable {
            what: "it".into(),
            error,
        },
    })?;
    if !meta.is_dir() {
        return Err(Fault::NotADirectory.into());
    }
    let cache = is_dir(&dir.join("snapshots"))?;
    let local = is_dir(&dir.join(local_dir::DOWNLOAD_DIR))?;
    let mut snapshot = match (cache, local) {
        (true, false) => cache::resolve(dir, revision)?,
        (false, true) => local_dir::resolve(dir, revision)?,
        (true, true) => return Err(Fault::BothLayouts.into()),
        (false, false) => return Err(Fault::NeitherLayout.into()),
    };
    weight_map::find_missing(&mut snapshot);
    Ok(snapshot)
}

/// Why a download could not be resolved at all. One line, naming what is wrong; paths in it are
/// relative to the configured folder, which the caller names.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HubError(#[from] Fault);

impl HubError {
    /// The folder is not there (yet): the one fault waiting can mend.
    pub fn is_absent(&self) -> bool {
        matches!(self.0, Fault::Absent)
    }
}

#[derive(Debug)]
enum Fault {
    Unreadable {
        what: String,
        error: io::Error,
    },
    /// The folder itself: a download may still make it.
    Absent,
    NotADirectory,
    NeitherLayout,
    BothLayouts,
    NotARefName {
        revision: String,
    },
    NoRef {
        revision: String,
        /// ` (did you mean main?)`, or nothing.
        hint: String,
        refs_absent: bool,
    },
    RefNotACommit {
        name: String,
        found: String,
    },
    RefUnreadable {
        name: String,
        reason: String,
    },
    SnapshotAbsent {
        commit: String,
        /// The ref that named the commit, if one did.
        named_by: Option<String>,
        others: Vec<String>,
    },
    SnapshotNotADirectory {
        commit: String,
    },
    LocalRevision {
        revision: String,
    },
    NoMetadata {
        /// The first unreadable record, when there were some.
        unreadable: Option<(String, String)>,
    },
}

impl std::error::Error for Fault {}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Unreadable { what, error } => {
                write!(f, "cannot read {what}: {}", io_phrase(error))
            }
            Fault::Absent => f.write_str("it does not exist"),
            Fault::NotADirectory => f.write_str("it is not a directory"),
            Fault::NeitherLayout => f.write_str(
                "neither a Hub cache folder (no snapshots/) nor a local_dir download \
                 (no .cache/huggingface/download/)",
            ),
            Fault::BothLayouts => f.write_str(
                "both a Hub cache folder (snapshots/) and a local_dir download \
                 (.cache/huggingface/download/): point at one or the other",
            ),
            Fault::NotARefName { revision } => write!(
                f,
                "revision `{}` is neither a ref name (no empty, `.` or `..` parts) nor a commit hash",
                echo::value(revision)
            ),
            Fault::NoRef {
                revision,
                hint,
                refs_absent,
            } => {
                let refs = if *refs_absent {
                    "refs/, which is absent"
                } else {
                    "refs/"
                };
                write!(
                    f,
                    "no ref `{}` under {refs}{hint} and not a commit hash",
                    echo::value(revision)
                )
            }
            Fault::RefNotACommit { name, found } => write!(
                f,
                "refs/{} holds `{}`, not a commit hash (40 lowercase hex digits)",
                echo::value(name),
                echo::value(found)
            ),
            Fault::RefUnreadable { name, reason } => {
                write!(f, "cannot read refs/{}: {reason}", echo::value(name))
            }
            Fault::SnapshotAbsent {
                commit,
                named_by,
                others,
            } => {
                write!(f, "snapshots/{commit} is absent")?;
                if let Some(name) = named_by {
                    write!(f, " (refs/{} names that commit)", echo::value(name))?;
                }
                match others.as_slice() {
                    [] => f.write_str("; snapshots/ holds no commit"),
                    some => write!(f, "; snapshots/ holds {}", some.join(", ")),
                }
            }
            Fault::SnapshotNotADirectory { commit } => {
                write!(f, "snapshots/{commit} is not a directory")
            }
            Fault::LocalRevision { revision } => write!(
                f,
                "a local_dir download has no refs/: revision must be its commit hash \
                 (40 lowercase hex digits), not `{}`",
                echo::value(revision)
            ),
            Fault::NoMetadata { unreadable } => {
                f.write_str(
                    "no .metadata file under .cache/huggingface/download/ names a commit: \
                     nothing says what the files must be",
                )?;
                match unreadable {
                    Some((name, text)) => write!(f, " ({}: {text})", echo::value(name)),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
