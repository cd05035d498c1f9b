//! Where a model's expected digests come from — a manifest file, an OpenSSF Model Signing
//! bundle, a Hugging Face snapshot's blob names — turned into one list of expected files and
//! the rules the model directory is surveyed by. Blocking; reads only small files (the
//! manifest, the bundle, the trust material, a snapshot's refs and metadata).

use std::io;
use std::path::{Path, PathBuf};

use super::file::{self, PinEntry};
use super::huggingface::{self, BlobId};
use super::oms::{self, Method, Trust};
use super::verify::{Content, Expected, Line, Listing, Rules, from_manifest};
use crate::config::{ManifestSpec, ModelSource, TrustSpec};
use crate::digest::Fingerprint;
use crate::files;
use crate::text::io_phrase;

/// A public key or a few CA certificates, in PEM: never this large.
const MAX_TRUST_BYTES: u64 = 1 << 20;
/// The paths a signer leaves out of every model (OMS v1.0, section 6.2), at the top level.
const GIT_PATHS: [&str; 4] = [".git", ".gitignore", ".gitattributes", ".github"];

/// A source, read and, for a signature, verified.
#[derive(Debug)]
pub struct Loaded {
    pub files: Vec<Expected>,
    pub pins: Vec<PinEntry>,
    /// The directory the files are named relative to.
    pub root: PathBuf,
    /// Who or what vouches for the digests, for the summary: `signed by key sha256:…`,
    /// `revision main, commit 0123abcd…`. `None` for a manifest.
    pub vouched: Option<String>,
    /// Found while reading the source, before any `stat`: waiting will not fix them.
    pub wrong: Vec<Line>,
    /// Files the source says must exist that it could not describe yet (a snapshot's index
    /// names a shard not downloaded): a download may still bring them.
    pub missing: Vec<Line>,
    /// How the directory is listed for files nobody declared.
    pub excluded: Vec<String>,
    pub hidden: bool,
    pub symlinks_apart: bool,
    pub without_empty: bool,
    /// The file the source was read from, left out of the listing.
    pub skip: Option<PathBuf>,
}

impl Loaded {
    /// The survey's rules for this source under `spec`.
    pub fn rules<'a>(&'a self, spec: &ManifestSpec) -> Rules<'a> {
        Rules {
            exact: spec.exact(),
            listing: Listing {
                hidden: self.hidden,
                excluded: &self.excluded,
                symlinks_apart: self.symlinks_apart,
                skip: self.skip.as_deref(),
                without_empty: self.without_empty,
            },
            refuse_symlinks: self.symlinks_apart,
            max_safetensors_header: spec.max_safetensors_header,
            unlisted: match spec.source {
                ModelSource::Manifest(_) => "not in the manifest",
                ModelSource::Signature { .. } => "not signed",
                ModelSource::HuggingFace { .. } => "no download metadata",
            },
        }
    }

    fn of(files: Vec<Expected>, root: PathBuf) -> Loaded {
        Loaded {
            files,
            pins: Vec::new(),
            root,
            vouched: None,
            wrong: Vec::new(),
            missing: Vec::new(),
            excluded: Vec::new(),
            hidden: false,
            symlinks_apart: false,
            without_empty: false,
            skip: None,
        }
    }
}

/// Why a source could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// It is not there yet (a download, a volume not mounted): waiting may help.
    Waiting(String),
    /// It is there and wrong, or does not verify: waiting will not help.
    Wrong(String),
}

/// Reads `spec`'s source; for a signature, verifies it against the configured trust.
pub fn load(spec: &ManifestSpec) -> Result<Loaded, LoadError> {
    match &spec.source {
        ModelSource::Manifest(path) => {
            let manifest = match file::read(Path::new(&path.value)) {
                Ok(m) => m,
                Err(file::ReadError::Io { error, .. })
                    if error.kind() == io::ErrorKind::NotFound =>
                {
                    return Err(LoadError::Waiting(format!(
                        "{} does not exist",
                        path.written
                    )));
                }
                Err(e @ file::ReadError::Io { .. }) => {
                    return Err(LoadError::Waiting(e.to_string()));
                }
                Err(e) => return Err(LoadError::Wrong(e.to_string())),
            };
            let root = PathBuf::from(&spec.root.value);
            let mut loaded = Loaded::of(from_manifest(&manifest, &root), root);
            loaded.pins = manifest.pins;
            loaded.skip = Some(PathBuf::from(&path.value));
            Ok(loaded)
        }
        ModelSource::Signature { bundle, trust } => {
            let (trust_file, which) = match trust {
                TrustSpec::PublicKey(file) => (file, "public key"),
                TrustSpec::CaRoots(file) => (file, "CA roots"),
            };
            let pem = read_small(
                &trust_file.written,
                &trust_file.value,
                MAX_TRUST_BYTES,
                which,
            )?;
            let bytes = read_small(
                &bundle.written,
                &bundle.value,
                oms::MAX_BUNDLE_BYTES,
                "signature",
            )?;
            let trust = match trust {
                TrustSpec::PublicKey(_) => Trust::Key { pem: &pem },
                TrustSpec::CaRoots(_) => Trust::Roots { pem: &pem },
            };
            let signed = oms::verify(&bytes, &trust)
                .map_err(|e| LoadError::Wrong(format!("{}: {e}", bundle.written)))?;
            Ok(from_signed(signed, spec, &bundle.value))
        }
        ModelSource::HuggingFace { dir, revision } => {
            let snapshot = huggingface::resolve(Path::new(&dir.value), revision.as_deref())
                .map_err(|e| {
                    if e.is_absent() {
                        LoadError::Waiting(format!("{} does not exist", dir.written))
                    } else {
                        LoadError::Wrong(format!("{}: {e}", dir.written))
                    }
                })?;
            Ok(from_snapshot(snapshot))
        }
    }
}

/// A small file someone else controls: bounded, non-blocking; absent is waited for.
fn read_small(written: &str, path: &str, max: u64, what: &str) -> Result<Vec<u8>, LoadError> {
    files::read_regular(Path::new(path), max).map_err(|e| {
        let why = format!("cannot read the {what} {written}: {}", io_phrase(&e));
        if e.kind() == io::ErrorKind::NotFound {
            LoadError::Waiting(format!("the {what} {written} does not exist"))
        } else if e.kind() == io::ErrorKind::FileTooLarge {
            LoadError::Wrong(why)
        } else {
            LoadError::Waiting(why)
        }
    })
}

fn from_signed(signed: oms::Signed, spec: &ManifestSpec, bundle: &str) -> Loaded {
    let root = PathBuf::from(&spec.root.value);
    let mut files: Vec<Expected> = Vec::new();
    for resource in signed.resources {
        let (Method::Shards { shard_size }, Some(range)) = (signed.method, resource.range) else {
            files.push(Expected {
                path: root.join(&resource.path),
                name: resource.path,
                size: None,
                content: Content::Whole(Fingerprint::Sha256(resource.digest)),
            });
            continue;
        };
        // The verifier returns a file's shards together, in byte order, tiling it from 0: each
        // one extends the file the one before it began.
        match files.last_mut() {
            Some(Expected {
                name,
                size: Some(size),
                content: Content::Shards { digests, .. },
                ..
            }) if *name == resource.path => {
                *size = range.end;
                digests.push(resource.digest);
            }
            _ => files.push(Expected {
                path: root.join(&resource.path),
                name: resource.path,
                size: Some(range.end),
                content: Content::Shards {
                    shard_size,
                    digests: vec![resource.digest],
                },
            }),
        }
    }
    let mut excluded: Vec<String> = GIT_PATHS.map(String::from).to_vec();
    excluded.extend(signed.ignore_paths);
    let mut loaded = Loaded::of(files, root);
    loaded.vouched = Some(format!("signed by {}", signed.signer));
    loaded.excluded = excluded;
    loaded.hidden = true;
    loaded.symlinks_apart = !signed.allow_symlinks;
    loaded.without_empty = matches!(signed.method, Method::Shards { .. });
    loaded.skip = Some(PathBuf::from(bundle));
    loaded
}

fn from_snapshot(snapshot: huggingface::Snapshot) -> Loaded {
    let files = snapshot
        .files
        .into_iter()
        .map(|file| Expected {
            name: file.name,
            path: file.path,
            size: None,
            content: Content::Whole(match file.blob {
                BlobId::Sha256(digest) => Fingerprint::Sha256(digest),
                BlobId::GitSha1(id) => Fingerprint::GitBlobSha1(id),
            }),
        })
        .collect();
    let mut loaded = Loaded::of(files, snapshot.root);
    loaded.vouched = Some(format!("commit {}", snapshot.commit));
    loaded.wrong = snapshot
        .problems
        .into_iter()
        .map(|(name, text)| Line::new(name, text))
        .collect();
    loaded.missing = snapshot
        .missing
        .into_iter()
        .map(|name| Line::new(name, "missing: the index lists it"))
        .collect();
    loaded
}
