//! The opt-in verification cache: a file in the state directory that remembers which digest a
//! file had, so that a restart re-verifies an unchanged model from `stat` alone.
//!
//! An entry is keyed by the file's canonical path and its `stat`: size, mtime and ctime to the
//! nanosecond, inode and device. mtime alone proves nothing: a file's owner can set it to any
//! time (`touch -d`, `File::set_modified`), and a tool that copies files may carry it over. ctime
//! cannot be set: the kernel moves it to "now" on every write, chmod, rename or link. A file replaced through a rename has
//! a new inode. Any key field that differs is a miss, and the file is hashed again.
//!
//! The key is only as fine as the filesystem's clock. A write that keeps the size and lands in
//! the same timer tick (1–10 ms) as the recorded `stat` leaves the key as it was, where the
//! kernel has no multigrain timestamps (before Linux 6.13, or on filesystems without them). make
//! and rsync share this limit.
//!
//! The file is JSON, versioned, and written through a temporary file and a rename, so a reader
//! sees the old cache or the new one, never half. A file that is not ours (another format,
//! another version), cannot be parsed, or is not a regular file is ignored: every file is
//! hashed, and the next save replaces it.

use std::collections::BTreeMap;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Digest;
use crate::files::{SharedDir, write_atomically};

/// The cache's file name in the state directory.
pub const FILE: &str = "verify-cache.json";
const FORMAT: &str = "bootgate-verify-cache";
const VERSION: u32 = 1;
/// A cache bigger than this is not one we wrote (an entry is about 200 bytes).
const MAX_FILE_BYTES: u64 = 64 << 20;

/// What a digest is remembered under, besides the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stamp {
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    ino: u64,
    dev: u64,
}

impl Stamp {
    /// `meta`'s stamp; `None` for a time outside 1677–2262, which nanoseconds in an `i64`
    /// cannot hold (such a file is simply never cached).
    fn of(meta: &Metadata) -> Option<Stamp> {
        let ns = |secs: i64, nsec: i64| secs.checked_mul(1_000_000_000)?.checked_add(nsec);
        Some(Stamp {
            size: meta.len(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec())?,
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec())?,
            ino: meta.ino(),
            dev: meta.dev(),
        })
    }
}

/// What a file's content was found to be, in the form its publisher recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fingerprint {
    Sha256(Digest),
    /// Git's blob id: a Hugging Face cache's name for a non-LFS file.
    GitBlobSha1([u8; 20]),
    /// A signed model's shards: SHA-256 over the shard digests in order, for this shard size.
    Shards {
        shard_size: u64,
        root: Digest,
    },
}

/// One file's fingerprints, each kept while the file's `stat` stays as it was: a file verified
/// against a manifest and against a signature is hashed once for each form, then never again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(rename = "stat")]
    stamp: Stamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    git_blob_sha1: Option<GitId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shards: Option<ShardsEntry>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShardsEntry {
    shard_size: u64,
    root: Digest,
}

/// 40 hex digits in the file.
#[derive(Debug, Clone, Copy)]
struct GitId([u8; 20]);

impl Serialize for GitId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::hex(&self.0))
    }
}

impl<'de> Deserialize<'de> for GitId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<GitId, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::value::from_hex::<20>(&text)
            .map(GitId)
            .ok_or_else(|| serde::de::Error::custom("a git blob id is 40 hex digits"))
    }
}

impl Entry {
    fn get(&self, like: &Fingerprint) -> Option<Fingerprint> {
        match like {
            Fingerprint::Sha256(_) => self.sha256.map(Fingerprint::Sha256),
            Fingerprint::GitBlobSha1(_) => {
                self.git_blob_sha1.map(|id| Fingerprint::GitBlobSha1(id.0))
            }
            Fingerprint::Shards { shard_size, .. } => self
                .shards
                .filter(|s| s.shard_size == *shard_size)
                .map(|s| Fingerprint::Shards {
                    shard_size: s.shard_size,
                    root: s.root,
                }),
        }
    }

    fn set(&mut self, found: Fingerprint) {
        match found {
            Fingerprint::Sha256(digest) => self.sha256 = Some(digest),
            Fingerprint::GitBlobSha1(id) => self.git_blob_sha1 = Some(GitId(id)),
            Fingerprint::Shards { shard_size, root } => {
                self.shards = Some(ShardsEntry { shard_size, root })
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheFile {
    format: String,
    version: u32,
    /// Canonical path → entry; a `BTreeMap`, so the file is stable and diffable.
    entries: BTreeMap<String, Entry>,
}

/// The verification cache of one state directory. [`VerifyCache::load`] it, [`lookup`] before
/// hashing, [`record`] after, [`save`] at the end.
///
/// Record with the metadata taken *before* the file was hashed (the `stat` that found its size
/// right). A change during the hash then leaves the recorded key behind, and the next lookup
/// misses. Metadata taken after could pair a new key with a digest of the old content.
///
/// [`lookup`]: VerifyCache::lookup
/// [`record`]: VerifyCache::record
/// [`save`]: VerifyCache::save
#[derive(Debug)]
pub struct VerifyCache {
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
    changed: bool,
    ignored: Option<String>,
}

impl VerifyCache {
    /// The cache stored in `dir`, or an empty one when there is none or it cannot be trusted
    /// ([`VerifyCache::ignored`] says why). Never fails: a cache is only ever a shortcut.
    pub fn load(dir: &Path) -> VerifyCache {
        let path = dir.join(FILE);
        let (entries, ignored) = match read(&path) {
            Ok(entries) => (entries, None),
            Err(Unusable::Absent) => (BTreeMap::new(), None),
            Err(Unusable::Because(why)) => (BTreeMap::new(), Some(why)),
        };
        VerifyCache {
            path,
            entries,
            changed: false,
            ignored,
        }
    }

    /// Why the stored cache was set aside, if it was: for one log line.
    pub fn ignored(&self) -> Option<&str> {
        self.ignored.as_deref()
    }

    /// The file the cache is read from and saved to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The digest recorded for `path`, if `meta` (its `stat`, following symlinks) matches the
    /// recorded one in every field.
    pub fn lookup(&self, path: &Path, meta: &Metadata) -> Option<Digest> {
        match self.known(
            path,
            meta,
            &Fingerprint::Sha256(Digest::from_bytes([0; 32])),
        )? {
            Fingerprint::Sha256(digest) => Some(digest),
            _ => None,
        }
    }

    /// The fingerprint of the same form as `like` (for shards, of the same shard size)
    /// recorded for `path`, if `meta` matches the recorded `stat` in every field.
    pub fn known(&self, path: &Path, meta: &Metadata, like: &Fingerprint) -> Option<Fingerprint> {
        if !meta.is_file() {
            return None;
        }
        let entry = self.entries.get(&key(path)?)?;
        if Some(entry.stamp) != Stamp::of(meta) {
            return None;
        }
        entry.get(like)
    }

    /// Remembers that the regular file at `path`, as `meta` describes it, has `digest`.
    /// A path that cannot be canonicalised or is not UTF-8 is not remembered.
    pub fn record(&mut self, path: &Path, meta: &Metadata, digest: Digest) {
        self.remember(path, meta, Fingerprint::Sha256(digest));
    }

    /// [`VerifyCache::record`] for any form: beside the others of the same `stat`, in place of
    /// all of them when the `stat` changed.
    pub fn remember(&mut self, path: &Path, meta: &Metadata, found: Fingerprint) {
        if !meta.is_file() {
            return;
        }
        if let (Some(key), Some(stamp)) = (key(path), Stamp::of(meta)) {
            let entry = self.entries.entry(key).or_insert(Entry {
                stamp,
                sha256: None,
                git_blob_sha1: None,
                shards: None,
            });
            if entry.stamp != stamp {
                *entry = Entry {
                    stamp,
                    sha256: None,
                    git_blob_sha1: None,
                    shards: None,
                };
            }
            entry.set(found);
            self.changed = true;
        }
    }

    /// Writes the cache if anything was recorded since it was loaded: whole, to a temporary
    /// file beside it, then renamed over it, so a reader finds the old cache or the new one and
    /// never half of one (no fsync: an emptyDir does not outlive its node). Entries whose file
    /// no longer exists are dropped on the way.
    pub fn save(&mut self) -> io::Result<()> {
        if !self.changed {
            return Ok(());
        }
        self.entries.retain(|path, _| {
            !matches!(fs::symlink_metadata(path), Err(e) if e.kind() == io::ErrorKind::NotFound)
        });
        let file = CacheFile {
            format: FORMAT.into(),
            version: VERSION,
            entries: std::mem::take(&mut self.entries),
        };
        // Through a `Value`, like status.json: the binary already holds that code.
        let written = serde_json::to_value(&file)
            .and_then(|value| serde_json::to_string_pretty(&value))
            .map_err(io::Error::other)
            .and_then(|json| write_atomically(&self.path, json.as_bytes()));
        self.entries = file.entries;
        written?;
        self.changed = false;
        Ok(())
    }
}

/// The canonical path as a string: symlinks resolved (a Hugging Face snapshot's link and the
/// blob it points to share one entry), and UTF-8, as JSON keys must be.
fn key(path: &Path) -> Option<String> {
    fs::canonicalize(path)
        .ok()?
        .into_os_string()
        .into_string()
        .ok()
}

enum Unusable {
    Absent,
    Because(String),
}

fn read(path: &Path) -> Result<BTreeMap<String, Entry>, Unusable> {
    // Through the directory's descriptor, never a link: anything that can write `state_dir`
    // could point the name elsewhere, between any look and the open.
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Err(Unusable::Absent);
    };
    let bytes = SharedDir::open(dir)
        .and_then(|dir| dir.read(name, MAX_FILE_BYTES))
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Unusable::Absent,
            io::ErrorKind::InvalidInput
            | io::ErrorKind::IsADirectory
            | io::ErrorKind::FileTooLarge => Unusable::Because(e.to_string()),
            _ if e.raw_os_error().is_none() => Unusable::Because(e.to_string()),
            _ => Unusable::Because(format!("cannot read it: {e}")),
        })?;
    // Through a `Value`, like the guard's read of status.json: the format and version are looked
    // at first, so a foreign or newer file is named as such rather than as corrupt.
    let value: serde_json::Value = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| serde_json::from_str(text).ok())
        .ok_or_else(|| Unusable::Because("it is not valid JSON".into()))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(Unusable::Because(format!("it is not a {FORMAT} file")));
    }
    let version = value.get("version").and_then(|v| v.as_u64());
    if version != Some(u64::from(VERSION)) {
        return Err(Unusable::Because(format!(
            "it is version {}, and this bootgate reads version {VERSION}",
            version.map_or("(none)".into(), |v| v.to_string())
        )));
    }
    let file: CacheFile = serde_json::from_value(value)
        .map_err(|e| Unusable::Because(format!("it is corrupt: {e}")))?;
    Ok(file.entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{File, OpenOptions};
    use std::io::Write;
    use std::time::Duration;

    const D1: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const D2: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn digest(hex: &str) -> Digest {
        hex.parse().unwrap()
    }

    struct Site {
        _dir: tempfile::TempDir,
        state: PathBuf,
        model: PathBuf,
    }

    fn site() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        fs::create_dir(&state).unwrap();
        let model = dir.path().join("model.safetensors");
        fs::write(&model, b"weights v1").unwrap();
        Site {
            state,
            model,
            _dir: dir,
        }
    }

    /// Records `site.model` as it is now, saves, and loads the cache afresh.
    fn recorded(site: &Site) -> VerifyCache {
        let mut cache = VerifyCache::load(&site.state);
        assert!(cache.is_empty() && cache.ignored().is_none());
        let meta = fs::metadata(&site.model).unwrap();
        cache.record(&site.model, &meta, digest(D1));
        cache.save().unwrap();
        let cache = VerifyCache::load(&site.state);
        assert_eq!(cache.ignored(), None);
        assert_eq!(cache.len(), 1);
        cache
    }

    fn lookup(cache: &VerifyCache, path: &Path) -> Option<Digest> {
        cache.lookup(path, &fs::metadata(path).unwrap())
    }

    #[test]
    fn an_unchanged_file_is_a_hit_across_a_save_and_load() {
        let site = site();
        let cache = recorded(&site);
        assert_eq!(lookup(&cache, &site.model), Some(digest(D1)));
        assert!(site.state.join(FILE).is_file());
        assert!(!site.state.join("verify-cache.json.tmp").exists());
    }

    #[test]
    fn a_cache_reached_through_a_link_is_set_aside() {
        let site = site();
        recorded(&site);
        // A writer of state_dir plants a link at the cache's name, to a cache of its own making.
        let elsewhere = site.state.parent().unwrap().join("forged.json");
        fs::rename(site.state.join(FILE), &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, site.state.join(FILE)).unwrap();
        let cache = VerifyCache::load(&site.state);
        assert!(cache.is_empty());
        assert_eq!(
            cache.ignored(),
            Some("it is a symbolic link, and bootgate follows none in its state_dir")
        );
    }

    #[test]
    fn a_symlink_and_its_target_share_the_entry() {
        let site = site();
        let cache = recorded(&site);
        let link = site.state.join("link");
        std::os::unix::fs::symlink(&site.model, &link).unwrap();
        assert_eq!(lookup(&cache, &link), Some(digest(D1)));
    }

    /// The same size, the mtime put back to the nanosecond: only ctime tells, and it must.
    #[test]
    fn a_content_change_with_the_mtime_restored_is_a_miss() {
        let site = site();
        let cache = recorded(&site);
        let before = fs::metadata(&site.model).unwrap();
        // Let the kernel's coarse clock move on, so the rewrite's ctime differs.
        std::thread::sleep(Duration::from_millis(20));
        let file = OpenOptions::new().write(true).open(&site.model).unwrap();
        (&file).write_all(b"weights v2").unwrap();
        file.set_modified(before.modified().unwrap()).unwrap();
        drop(file);
        let after = fs::metadata(&site.model).unwrap();
        assert_eq!(after.len(), before.len());
        assert_eq!(after.modified().unwrap(), before.modified().unwrap());
        assert_eq!(after.ino(), before.ino());
        assert_eq!(lookup(&cache, &site.model), None);
    }

    #[test]
    fn a_size_change_is_a_miss() {
        let site = site();
        let cache = recorded(&site);
        let file = OpenOptions::new().append(true).open(&site.model).unwrap();
        (&file).write_all(b"!").unwrap();
        assert_eq!(lookup(&cache, &site.model), None);
    }

    /// A file swapped in by a rename is a new inode, even with the same size and mtime.
    #[test]
    fn a_file_replaced_through_a_rename_is_a_miss() {
        let site = site();
        let cache = recorded(&site);
        let before = fs::metadata(&site.model).unwrap();
        let fresh = site.state.join("fresh");
        fs::write(&fresh, b"weights v2").unwrap();
        File::options()
            .write(true)
            .open(&fresh)
            .unwrap()
            .set_modified(before.modified().unwrap())
            .unwrap();
        fs::rename(&fresh, &site.model).unwrap();
        let after = fs::metadata(&site.model).unwrap();
        assert_ne!(after.ino(), before.ino());
        assert_eq!(lookup(&cache, &site.model), None);
    }

    #[test]
    fn each_key_field_counts() {
        let site = site();
        let cache = recorded(&site);
        let meta = fs::metadata(&site.model).unwrap();
        let key = key(&site.model).unwrap();
        let stored = cache.entries[&key].stamp;
        assert_eq!(Some(stored), Stamp::of(&meta));
        let variants = [
            Stamp {
                size: stored.size + 1,
                ..stored
            },
            Stamp {
                mtime_ns: stored.mtime_ns - 1,
                ..stored
            },
            Stamp {
                ctime_ns: stored.ctime_ns + 1,
                ..stored
            },
            Stamp {
                ino: stored.ino ^ 1,
                ..stored
            },
            Stamp {
                dev: stored.dev ^ 1,
                ..stored
            },
        ];
        for stamp in variants {
            let mut other = VerifyCache::load(&site.state);
            other.entries.insert(
                key.clone(),
                Entry {
                    stamp,
                    sha256: Some(digest(D1)),
                    git_blob_sha1: None,
                    shards: None,
                },
            );
            assert_eq!(other.lookup(&site.model, &meta), None, "{stamp:?}");
        }
    }

    #[test]
    fn recording_again_replaces_the_digest() {
        let site = site();
        let mut cache = recorded(&site);
        let meta = fs::metadata(&site.model).unwrap();
        cache.record(&site.model, &meta, digest(D2));
        assert_eq!(cache.lookup(&site.model, &meta), Some(digest(D2)));
    }

    /// A file verified in several forms keeps each, through a save, until its `stat` changes;
    /// shards are known only for the shard size they were taken at.
    #[test]
    fn every_form_is_kept_beside_the_others() {
        let site = site();
        let mut cache = recorded(&site);
        let meta = fs::metadata(&site.model).unwrap();
        let git = Fingerprint::GitBlobSha1([7; 20]);
        let shards = Fingerprint::Shards {
            shard_size: 1 << 30,
            root: digest(D2),
        };
        cache.remember(&site.model, &meta, git);
        cache.remember(&site.model, &meta, shards);
        cache.save().unwrap();
        let cache = VerifyCache::load(&site.state);
        assert_eq!(cache.lookup(&site.model, &meta), Some(digest(D1)));
        assert_eq!(cache.known(&site.model, &meta, &git), Some(git));
        assert_eq!(cache.known(&site.model, &meta, &shards), Some(shards));
        let other_size = Fingerprint::Shards {
            shard_size: 1 << 20,
            root: digest(D2),
        };
        assert_eq!(cache.known(&site.model, &meta, &other_size), None);

        let mut cache = cache;
        fs::write(&site.model, b"weights v2, longer").unwrap();
        let changed = fs::metadata(&site.model).unwrap();
        cache.remember(&site.model, &changed, git);
        assert_eq!(
            cache.lookup(&site.model, &changed),
            None,
            "the old sha256 went with its stat"
        );
        assert_eq!(cache.known(&site.model, &changed, &git), Some(git));
    }

    #[test]
    fn directories_and_missing_files_are_never_cached() {
        let site = site();
        let mut cache = VerifyCache::load(&site.state);
        let meta = fs::metadata(&site.state).unwrap();
        cache.record(&site.state, &meta, digest(D1));
        assert!(cache.is_empty());
        assert_eq!(cache.lookup(&site.state, &meta), None);
        let model_meta = fs::metadata(&site.model).unwrap();
        cache.record(&site.state.join("gone"), &model_meta, digest(D1));
        assert!(cache.is_empty());
    }

    #[test]
    fn entries_of_deleted_files_are_dropped_on_save() {
        let site = site();
        let mut cache = recorded(&site);
        let other = site.state.join("other");
        fs::write(&other, b"x").unwrap();
        cache.record(&other, &fs::metadata(&other).unwrap(), digest(D2));
        fs::remove_file(&site.model).unwrap();
        cache.save().unwrap();
        let cache = VerifyCache::load(&site.state);
        assert_eq!(cache.len(), 1);
        assert_eq!(lookup(&cache, &other), Some(digest(D2)));
    }

    #[test]
    fn nothing_recorded_nothing_written() {
        let site = site();
        let mut cache = VerifyCache::load(&site.state);
        cache.save().unwrap();
        assert!(!site.state.join(FILE).exists());
    }

    /// Whatever is in the file, a bad one is set aside with a reason and trusted for nothing.
    #[test]
    fn corrupt_or_foreign_files_are_ignored() {
        let site = site();
        let good = {
            recorded(&site);
            fs::read_to_string(site.state.join(FILE)).unwrap()
        };
        let cases: Vec<(String, &str)> = vec![
            (good[..good.len() / 2].to_string(), "not valid JSON"),
            ("\u{0}\u{1}binary".into(), "not valid JSON"),
            ("[1, 2, 3]".into(), "not a bootgate-verify-cache file"),
            ("{}".into(), "not a bootgate-verify-cache file"),
            (
                r#"{"format": "other", "version": 1, "entries": {}}"#.into(),
                "not a bootgate",
            ),
            (
                good.replace("\"version\": 1", "\"version\": 2"),
                "version 2",
            ),
            (good.replace(D1, &D1[1..]), "corrupt"),
            (good.replace("\"ino\"", "\"inode\""), "corrupt"),
            (good.replace("\"size\": 10", "\"size\": -10"), "corrupt"),
        ];
        for (text, why) in cases {
            fs::write(site.state.join(FILE), &text).unwrap();
            let cache = VerifyCache::load(&site.state);
            assert!(cache.is_empty(), "{text}");
            let said = cache.ignored().unwrap_or_default();
            assert!(said.contains(why), "{said:?} should say {why:?} for {text}");
            assert_eq!(lookup(&cache, &site.model), None);
        }
        // A directory where the file should be is no cache either; nor a FIFO, which must
        // not block the load.
        fs::remove_file(site.state.join(FILE)).unwrap();
        fs::create_dir(site.state.join(FILE)).unwrap();
        let cache = VerifyCache::load(&site.state);
        assert_eq!(
            cache.ignored(),
            Some("it is a directory, not a regular file")
        );
        fs::remove_dir(site.state.join(FILE)).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(site.state.join(FILE))
            .status()
            .unwrap();
        assert!(made.success());
        assert_eq!(
            VerifyCache::load(&site.state).ignored(),
            Some("it is a FIFO, not a regular file")
        );
    }

    /// A corrupt file is replaced by the next save, not merged with.
    #[test]
    fn a_save_replaces_an_ignored_file() {
        let site = site();
        fs::write(site.state.join(FILE), "garbage").unwrap();
        let mut cache = VerifyCache::load(&site.state);
        assert!(cache.ignored().is_some());
        let meta = fs::metadata(&site.model).unwrap();
        cache.record(&site.model, &meta, digest(D1));
        cache.save().unwrap();
        let cache = VerifyCache::load(&site.state);
        assert_eq!(cache.ignored(), None);
        assert_eq!(lookup(&cache, &site.model), Some(digest(D1)));
    }

    #[test]
    fn save_into_a_missing_directory_is_an_error_not_a_panic() {
        let site = site();
        let mut cache = VerifyCache::load(&site.state.join("nope"));
        let meta = fs::metadata(&site.model).unwrap();
        cache.record(&site.model, &meta, digest(D1));
        assert!(cache.save().is_err());
        // The entries are still there for a later save.
        assert_eq!(cache.lookup(&site.model, &meta), Some(digest(D1)));
    }
}
