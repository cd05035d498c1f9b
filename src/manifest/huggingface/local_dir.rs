//! A `local_dir` download: the files themselves, and beside them in
//! `.cache/huggingface/download/<path>.metadata` the commit and etag each was downloaded as.
//! There are no refs: the commit is the one every `.metadata` names, or the one configured.

use std::fs;
use std::io;
use std::path::Path;

use super::{BlobId, Fault, HubError, HubFile, Snapshot, Walked, is_commit, not_an_etag, walk};
use crate::echo;
use crate::files::{irregular, read_regular};
use crate::text::io_phrase;

/// Where huggingface_hub keeps a local_dir's download records, relative to it.
pub(super) const DOWNLOAD_DIR: &str = ".cache/huggingface/download";

/// The most read of a `.metadata` file. One holds a commit (40), an etag (at most 64) and a
/// timestamp (about 18), each on its line: some 130 bytes.
pub const MAX_METADATA_BYTES: u64 = 1024;

const SUFFIX: &str = ".metadata";

/// What a file's `.metadata` says: the commit and the blob, or why it cannot be read.
type Record = Result<(String, BlobId), String>;

pub(super) fn resolve(dir: &Path, revision: Option<&str>) -> Result<Snapshot, HubError> {
    if let Some(revision) = revision
        && !is_commit(revision)
    {
        return Err(Fault::LocalRevision {
            revision: revision.to_string(),
        }
        .into());
    }
    // In name order, so `files` and `problems` come out sorted.
    let records: Vec<(String, Record)> = metadata_names(dir)?
        .into_iter()
        .map(|name| {
            let path = dir.join(DOWNLOAD_DIR).join(format!("{name}{SUFFIX}"));
            let record =
                read_record(&path).map_err(|text| format!("{DOWNLOAD_DIR}/{name}{SUFFIX}: {text}"));
            (name, record)
        })
        .collect();
    let commit = match (revision, most_named(&records)) {
        (Some(revision), _) if !records.is_empty() => revision.to_string(),
        (None, Some(commit)) => commit,
        _ => {
            return Err(Fault::NoMetadata {
                unreadable: records
                    .into_iter()
                    .find_map(|(name, record)| record.err().map(|text| (name, text))),
            }
            .into());
        }
    };
    let against = if revision.is_some() {
        "the configured revision"
    } else {
        "the commit the other files name"
    };
    let mut snapshot = Snapshot {
        root: dir.to_path_buf(),
        files: Vec::new(),
        missing: Vec::new(),
        problems: Vec::new(),
        commit,
    };
    for (name, record) in records {
        match record.and_then(|(commit, blob)| {
            downloaded(dir, &name, &commit, blob, &snapshot.commit, against)
        }) {
            Ok(file) => snapshot.files.push(file),
            Err(text) => snapshot.problems.push((name, text)),
        }
    }
    Ok(snapshot)
}

/// The file a record names, if it was downloaded at `wanted` and is there.
fn downloaded(
    dir: &Path,
    name: &str,
    commit: &str,
    blob: BlobId,
    wanted: &str,
    against: &str,
) -> Result<HubFile, String> {
    if commit != wanted {
        return Err(format!(
            "downloaded at commit {commit}, not {wanted} ({against})"
        ));
    }
    let path = dir.join(name);
    match fs::metadata(&path) {
        Ok(meta) if meta.is_file() => Ok(HubFile {
            name: name.to_string(),
            path,
            blob,
        }),
        Ok(meta) => {
            let what = irregular(meta.file_type()).unwrap_or("something else");
            Err(format!("it is {what}, not a regular file"))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err("absent, though its .metadata says it was downloaded".into())
        }
        Err(e) => Err(format!("cannot stat it: {}", io_phrase(&e))),
    }
}

/// The commit most records name; of two named as often, the smaller, so the choice is stable.
/// The files of any other are problems that name both.
fn most_named(records: &[(String, Record)]) -> Option<String> {
    let mut commits: Vec<String> = records
        .iter()
        .filter_map(|(_, record)| record.as_ref().ok().map(|(commit, _)| commit.clone()))
        .collect();
    commits.sort();
    let mut best: Option<(&String, usize)> = None;
    for run in commits.chunk_by(|a, b| a == b) {
        if best.is_none_or(|(_, most)| run.len() > most) {
            best = Some((&run[0], run.len()));
        }
    }
    best.map(|(commit, _)| commit.clone())
}

/// Every `<name>.metadata` under the download directory, as `<name>`: the lock files and
/// partial downloads beside them are not records.
fn metadata_names(dir: &Path) -> Result<Vec<String>, HubError> {
    let mut names = Vec::new();
    for found in walk(&dir.join(DOWNLOAD_DIR)) {
        let found = found.map_err(|(prefix, error)| Fault::Unreadable {
            what: format!("{DOWNLOAD_DIR}/{prefix}"),
            error,
        })?;
        // A file named `.metadata` alone records no file.
        if let Walked::Entry(name, Ok(_)) = found
            && let Some(stem) = name.strip_suffix(SUFFIX)
            && !(stem.is_empty() || stem.ends_with('/'))
        {
            names.push(stem.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// A `.metadata`'s commit and etag, as huggingface_hub reads it: three lines, each stripped —
/// the commit, the etag, a timestamp.
fn read_record(path: &Path) -> Result<(String, BlobId), String> {
    let bytes = read_regular(path, MAX_METADATA_BYTES).map_err(|e| {
        if e.kind() == io::ErrorKind::FileTooLarge {
            format!("above the {MAX_METADATA_BYTES} B a .metadata may hold")
        } else {
            format!("cannot read it: {}", io_phrase(&e))
        }
    })?;
    parse_record(&bytes)
}

fn parse_record(bytes: &[u8]) -> Result<(String, BlobId), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())?;
    let mut lines = text.split('\n').map(str::trim);
    let commit = lines.next().unwrap_or_default();
    if !is_commit(commit) {
        return Err(format!(
            "its first line `{}` is not a commit hash (40 lowercase hex digits)",
            echo::value(commit)
        ));
    }
    let etag = lines.next().unwrap_or_default();
    let blob = BlobId::from_etag(etag).ok_or_else(|| format!("its etag {}", not_an_etag(etag)))?;
    let timestamp = lines.next().unwrap_or_default();
    if timestamp.parse::<f64>().is_err() {
        return Err(format!(
            "its third line `{}` is not a timestamp",
            echo::value(timestamp)
        ));
    }
    Ok((commit.to_string(), blob))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_three_lines_as_the_hub_writes_them() {
        let commit = "11c5a3d5811f50298f278a704980280950aedb10";
        let sha = "7c5d3f4b8b76583b422fcb9189ad6c89d5d97a094541ce8932dce3ecabde1421";
        let good = format!("{commit}\n{sha}\n1712656091.123\n");
        let (found, blob) = parse_record(good.as_bytes()).unwrap();
        assert_eq!(found, commit);
        assert!(matches!(blob, BlobId::Sha256(d) if d.to_hex() == sha));
        let git = format!("{commit}\r\na16a55fda99d2f2e7b69cce5cf93ff4ad3049930\r\n1712656091\r\n");
        assert!(matches!(
            parse_record(git.as_bytes()),
            Ok((_, BlobId::GitSha1(_)))
        ));

        let err = |text: &str| parse_record(text.as_bytes()).unwrap_err();
        assert_eq!(
            err(""),
            "its first line `` is not a commit hash (40 lowercase hex digits)"
        );
        assert_eq!(
            err(&format!("{}\n{sha}\n1\n", commit.to_uppercase())),
            format!(
                "its first line `{}` is not a commit hash (40 lowercase hex digits)",
                commit.to_uppercase()
            )
        );
        assert_eq!(
            err(&format!("{commit}\nabc\n1\n")),
            "its etag `abc` is not a sha256 (64 hex digits) or a git blob id (40 hex digits)"
        );
        assert_eq!(
            err(&format!("{commit}\n{sha}\n")),
            "its third line `` is not a timestamp"
        );
        assert_eq!(
            err(&format!("{commit}\n\u{1b}[2J{sha}\n1\n")),
            format!(
                "its etag `\\u{{1b}}[2J{sha}` is not a sha256 (64 hex digits) or a git blob id (40 hex digits)"
            )
        );
        assert_eq!(parse_record(&[0xff]).unwrap_err(), "it is not UTF-8 text");
    }
}
