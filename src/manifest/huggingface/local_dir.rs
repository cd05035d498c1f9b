//! A `local_dir` download: the files themselves, and beside them in
//! `.cache/huggingface/download/<path>.metadata` the commit and etag each was downloaded as.
//! There are no refs: the commit is the one every `.metadata` names, or the one configured.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use super::{BlobId, Fault, HubError, HubFile, Snapshot, is_commit, not_an_etag};
use crate::echo;
use crate::files::{irregular, read_regular};
use crate::text::io_phrase;

/// Where huggingface_hub keeps a local_dir's download records, relative to it.
pub(super) const DOWNLOAD_DIR: &str = ".cache/huggingface/download";

/// The most read of a `.metadata` file. One holds a commit (40), an etag (at most 64) and a
/// timestamp (about 18), each on its line: some 130 bytes.
pub const MAX_METADATA_BYTES: u64 = 1024;

const SUFFIX: &str = ".metadata";

/// A file's record: what the `.metadata` says.
struct Record {
    name: String,
    commit: String,
    blob: BlobId,
}

pub(super) fn resolve(dir: &Path, revision: Option<&str>) -> Result<Snapshot, HubError> {
    if let Some(revision) = revision
        && !is_commit(revision)
    {
        return Err(Fault::LocalRevision {
            revision: revision.to_string(),
        }
        .into());
    }
    let mut problems = Vec::new();
    let mut records = Vec::new();
    for name in metadata_names(dir)? {
        let path = dir.join(DOWNLOAD_DIR).join(format!("{name}{SUFFIX}"));
        match read_record(&path) {
            Ok((commit, blob)) => records.push(Record { name, commit, blob }),
            Err(text) => problems.push((
                name.clone(),
                format!("{DOWNLOAD_DIR}/{name}{SUFFIX}: {text}"),
            )),
        }
    }
    if records.is_empty() && problems.is_empty() {
        return Err(Fault::NoMetadata { unreadable: None }.into());
    }
    let commit = match (revision, most_named(&records)) {
        (Some(revision), _) => revision.to_string(),
        (None, Some(commit)) => commit,
        (None, None) => {
            return Err(Fault::NoMetadata {
                unreadable: problems.into_iter().next(),
            }
            .into());
        }
    };
    let mut files = Vec::new();
    for record in records {
        if record.commit != commit {
            let against = match revision {
                Some(_) => "the configured revision".to_string(),
                None => "the commit the other files name".to_string(),
            };
            problems.push((
                record.name,
                format!(
                    "downloaded at commit {}, not {commit} ({against})",
                    record.commit
                ),
            ));
            continue;
        }
        let path = dir.join(&record.name);
        match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => files.push(HubFile {
                name: record.name,
                path,
                blob: record.blob,
            }),
            Ok(meta) => {
                let what = irregular(meta.file_type()).unwrap_or("something else");
                problems.push((record.name, format!("it is {what}, not a regular file")));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => problems.push((
                record.name,
                "absent, though its .metadata says it was downloaded".into(),
            )),
            Err(e) => problems.push((record.name, format!("cannot stat it: {}", io_phrase(&e)))),
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Snapshot {
        commit,
        root: dir.to_path_buf(),
        files,
        missing: Vec::new(),
        problems,
    })
}

/// The commit most records name; of two named as often, the smaller, so the choice is stable.
/// The files of any other are problems that name both.
fn most_named(records: &[Record]) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for record in records {
        *counts.entry(&record.commit).or_default() += 1;
    }
    let mut best: Option<(&str, usize)> = None;
    for (commit, count) in counts {
        if best.is_none_or(|(_, most)| count > most) {
            best = Some((commit, count));
        }
    }
    best.map(|(commit, _)| commit.to_string())
}

/// Every `<name>.metadata` under the download directory, as `<name>`: the lock files and
/// partial downloads beside them are not records.
fn metadata_names(dir: &Path) -> Result<Vec<String>, HubError> {
    let base = dir.join(DOWNLOAD_DIR);
    let mut names = Vec::new();
    let mut stack = vec![(base, String::new())];
    while let Some((at, prefix)) = stack.pop() {
        let unreadable = |error| Fault::Unreadable {
            what: format!("{DOWNLOAD_DIR}/{prefix}"),
            error,
        };
        for entry in fs::read_dir(&at).map_err(unreadable)? {
            let entry = entry.map_err(unreadable)?;
            let Ok(file_name) = entry.file_name().into_string() else {
                continue;
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push((entry.path(), format!("{prefix}{file_name}/")));
            } else if let Some(stem) = file_name.strip_suffix(SUFFIX)
                && !stem.is_empty()
            {
                names.push(format!("{prefix}{stem}"));
            }
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
