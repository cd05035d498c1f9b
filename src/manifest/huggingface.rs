//! Hugging Face cache snapshots and local_dir downloads.

use std::path::{Path, PathBuf};

use crate::digest::Digest;

pub struct Snapshot {
    pub commit: String,
    pub root: PathBuf,
    pub files: Vec<HubFile>,
    pub missing: Vec<String>,
    pub problems: Vec<(String, String)>,
}

pub struct HubFile {
    pub name: String,
    pub path: PathBuf,
    pub blob: BlobId,
}

pub enum BlobId {
    Sha256(Digest),
    GitSha1([u8; 20]),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HubError(String);

pub fn resolve(_dir: &Path, _revision: Option<&str>) -> Result<Snapshot, HubError> {
    Err(HubError("Hub snapshots are not built in".into()))
}
