//! A Hub cache repo folder: the revision through `refs/`, then every entry of
//! `snapshots/<commit>/`, each a link that must lead to `blobs/<etag>` of this folder.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path};

use super::{
    BlobId, Fault, HubError, HubFile, Snapshot, Walked, add_problem, is_commit, not_an_etag, walk,
};
use crate::config::manifest::stays_below;
use crate::echo;
use crate::files::{irregular, read_regular};
use crate::text::io_phrase;

/// The most read of a ref file. A ref is one commit hash: 40 bytes, a newline if written by
/// hand.
pub const MAX_REF_BYTES: u64 = 1024;

/// Refs listed for a "did you mean": more than any repository has branches, tags and PRs in
/// one cache.
const REFS_LISTED: usize = 10_000;

/// Commits named when the asked one has no snapshot.
const COMMITS_NAMED: usize = 5;

pub(super) fn resolve(repo: &Path, revision: Option<&str>) -> Result<Snapshot, HubError> {
    let revision = revision.unwrap_or("main");
    let (commit, named_by) = commit_of(repo, revision)?;
    let root = repo.join("snapshots").join(&commit);
    match fs::symlink_metadata(&root) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(Fault::SnapshotNotADirectory { commit }.into()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Fault::SnapshotAbsent {
                others: snapshot_commits(repo),
                commit,
                named_by,
            }
            .into());
        }
        Err(error) => {
            return Err(Fault::Unreadable {
                what: format!("snapshots/{commit}"),
                error,
            }
            .into());
        }
    }
    let mut snapshot = Snapshot {
        commit,
        root,
        files: Vec::new(),
        missing: Vec::new(),
        problems: Vec::new(),
    };
    walk_snapshot(repo, &mut snapshot)?;
    Ok(snapshot)
}

/// The commit `revision` stands for, and the ref that said so. A commit hash is taken as it
/// is, before any ref, as huggingface_hub does.
fn commit_of(repo: &Path, revision: &str) -> Result<(String, Option<String>), HubError> {
    if is_commit(revision) {
        return Ok((revision.to_string(), None));
    }
    if !stays_below(revision) {
        return Err(Fault::NotARefName {
            revision: revision.to_string(),
        }
        .into());
    }
    let refs = repo.join("refs");
    let bytes = match read_regular(&refs.join(revision), MAX_REF_BYTES) {
        Ok(bytes) => bytes,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            let known = ref_names(&refs);
            return Err(Fault::NoRef {
                hint: crate::suggest::hint(revision, known.iter().map(String::as_str)),
                revision: revision.to_string(),
                refs_absent: !refs.is_dir(),
            }
            .into());
        }
        Err(e) => {
            let reason = if e.kind() == io::ErrorKind::FileTooLarge {
                format!("it is above the {MAX_REF_BYTES} B a ref may hold")
            } else {
                io_phrase(&e)
            };
            return Err(Fault::RefUnreadable {
                name: revision.to_string(),
                reason,
            }
            .into());
        }
    };
    // The Hub writes the hash alone; a hand-written ref may end in a newline.
    let text = String::from_utf8_lossy(&bytes);
    let found = text.trim();
    if !is_commit(found) {
        return Err(Fault::RefNotACommit {
            name: revision.to_string(),
            found: found.to_string(),
        }
        .into());
    }
    Ok((found.to_string(), Some(revision.to_string())))
}

/// Every ref under `refs/`, `/`-separated, as far as it can be listed.
fn ref_names(refs: &Path) -> Vec<String> {
    walk(refs)
        .filter_map(|found| match found {
            Ok(Walked::Entry(name, Ok(_))) => Some(name),
            _ => None,
        })
        .take(REFS_LISTED)
        .collect()
}

/// A few of the commits `snapshots/` holds, for a message.
fn snapshot_commits(repo: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(repo.join("snapshots")) else {
        return Vec::new();
    };
    let mut commits: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| is_commit(name))
        .collect();
    commits.sort();
    commits.truncate(COMMITS_NAMED);
    commits
}

/// Every entry under the snapshot, directories descended (never followed: the Hub makes no
/// directory links), each file judged as a link into `blobs/`, in name order: `files` and
/// `problems` come out sorted.
fn walk_snapshot(repo: &Path, snapshot: &mut Snapshot) -> Result<(), HubError> {
    let mut names = Vec::new();
    let mut not_utf8 = Vec::new();
    for found in walk(&snapshot.root) {
        let found = found.map_err(|(prefix, error)| Fault::Unreadable {
            what: format!("snapshots/{}/{prefix}", snapshot.commit),
            error,
        })?;
        match found {
            Walked::Entry(name, kind) => names.push((name, kind)),
            Walked::NotUtf8(prefix, name) => {
                not_utf8.push(format!("{prefix}{}", echo::value(&name.to_string_lossy())));
            }
        }
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, kind) in names {
        let path = snapshot.root.join(&name);
        let judged = match kind {
            Ok(kind) if kind.is_symlink() => blob_of(repo, &snapshot.commit, &name, &path),
            Ok(kind) => {
                let what = irregular(kind).unwrap_or("a regular file");
                Err(format!(
                    "{what}, not a link into blobs/: nothing names what it must hold"
                ))
            }
            Err(e) => Err(format!("cannot stat it: {}", io_phrase(&e))),
        };
        match judged {
            Ok(blob) => snapshot.files.push(HubFile { name, path, blob }),
            Err(text) => snapshot.problems.push((name, text)),
        }
    }
    for name in not_utf8 {
        add_problem(&mut snapshot.problems, name, "its name is not UTF-8".into());
    }
    Ok(())
}

/// The blob a snapshot link leads to, or why it leads nowhere a digest names.
///
/// The link's text must lead, from where it sits, to `blobs/<etag>` of this repo folder without
/// leaving it (the Hub writes `../../blobs/<etag>`, one `../` more for each directory of the
/// path), and following it must reach the very file `blobs/<etag>` is, so no directory link on
/// the way can make it lead elsewhere. The blob itself may be a link in turn: huggingface_hub's
/// shared store makes `blobs/<etag>` a link into the cache-wide `blobs/`, and what is hashed is
/// what the name says either way.
fn blob_of(repo: &Path, commit: &str, name: &str, link: &Path) -> Result<BlobId, String> {
    let target =
        fs::read_link(link).map_err(|e| format!("cannot read the link: {}", io_phrase(&e)))?;
    let shown = || echo::value(&target.to_string_lossy()).to_string();
    let Some(etag) = blob_name(commit, name, &target) else {
        return Err(format!(
            "links to {}, not into this folder's blobs/",
            shown()
        ));
    };
    let blob = BlobId::from_etag(&etag)
        .ok_or_else(|| format!("its blob's name {}", not_an_etag(&etag)))?;
    let reached = match fs::metadata(link) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!("its blob blobs/{etag} is missing"));
        }
        Err(e) => {
            return Err(format!(
                "cannot stat its blob blobs/{etag}: {}",
                io_phrase(&e)
            ));
        }
    };
    if let Some(what) = irregular(reached.file_type()) {
        return Err(format!(
            "its blob blobs/{etag} is {what}, not a regular file"
        ));
    }
    let in_blobs = fs::metadata(repo.join("blobs").join(&etag));
    if !in_blobs.is_ok_and(|m| (m.dev(), m.ino()) == (reached.dev(), reached.ino())) {
        return Err(format!(
            "links to {}, which does not reach this folder's blobs/{etag}",
            shown()
        ));
    }
    Ok(blob)
}

/// The blob name a link's text leads to, read as text from where the link sits
/// (`snapshots/<commit>/<name>`), if that is `blobs/<name>` of the repo folder.
fn blob_name(commit: &str, name: &str, target: &Path) -> Option<String> {
    let mut at: Vec<String> = vec!["snapshots".into(), commit.into()];
    let mut dirs: Vec<&str> = name.split('/').collect();
    dirs.pop();
    at.extend(dirs.into_iter().map(String::from));
    for part in target.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                // Above the repo folder is out of it.
                at.pop()?;
            }
            Component::Normal(part) => at.push(part.to_str()?.to_string()),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    match at.as_slice() {
        [blobs, etag] if blobs == "blobs" => Some(etag.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_read_from_where_it_sits() {
        let c = "0123456789012345678901234567890123456789";
        let at = |name: &str, target: &str| blob_name(c, name, Path::new(target));
        assert_eq!(at("a", "../../blobs/x").as_deref(), Some("x"));
        assert_eq!(at("d/e/a", "../../../../blobs/x").as_deref(), Some("x"));
        assert_eq!(at("a", "./../.././blobs/x").as_deref(), Some("x"));
        // One `../` too few or too many, or a detour through another folder.
        assert_eq!(at("d/a", "../../blobs/x"), None);
        assert_eq!(at("a", "../../../blobs/x"), None);
        assert_eq!(at("a", "../../../models--other--repo/blobs/x"), None);
        assert_eq!(at("a", "../../blobs/x/y"), None);
        assert_eq!(at("a", "../../blobs"), None);
        assert_eq!(at("a", "/abs/blobs/x"), None);
        assert_eq!(at("a", "../../../../../../../../etc/passwd"), None);
    }
}
