//! The digests other than a whole file's SHA-256 that a model's publisher may have recorded:
//! the SHA-256 of a byte range (a signed model's shards) and git's blob SHA-1 (the name a
//! Hugging Face cache gives a file that is not in LFS).

use std::ops::Range;
use std::path::PathBuf;

use sha1::Sha1;
use sha2::Digest as _;

use super::sha256::{Chunk, HashError, hash_range, read_through};
use super::{Digest, Progress};

/// What to take of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub path: PathBuf,
    /// A byte range of the file; the whole file when `None`.
    pub range: Option<Range<u64>>,
    pub algorithm: Algorithm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha256,
    /// `sha1("blob <size>\0" + content)`: the id git gives a file's content.
    GitBlobSha1,
}

/// A piece's digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Value {
    Sha256(Digest),
    GitBlobSha1([u8; 20]),
}

impl Value {
    /// Lowercase hex, as the publisher wrote it.
    pub fn to_hex(&self) -> String {
        match self {
            Value::Sha256(digest) => digest.to_hex(),
            Value::GitBlobSha1(bytes) => super::value::hex(bytes),
        }
    }
}

/// A piece's digest and the bytes it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PieceHashed {
    pub value: Value,
    pub bytes: u64,
}

/// One piece, through the caller's buffer; reads as [`super::sha256_file`] does.
pub(super) fn hash_piece(
    piece: &Piece,
    progress: &Progress,
    buffer: &mut Vec<u8>,
) -> Result<PieceHashed, HashError> {
    let range = piece.range.clone();
    match piece.algorithm {
        Algorithm::Sha256 => {
            let hashed = hash_range(&piece.path, range, progress, buffer)?;
            Ok(PieceHashed {
                value: Value::Sha256(hashed.digest),
                bytes: hashed.bytes,
            })
        }
        Algorithm::GitBlobSha1 => {
            let mut hasher = Sha1::new();
            let bytes = read_through(
                &piece.path,
                range,
                progress,
                buffer,
                &mut |chunk| match chunk {
                    Chunk::Size(size) => hasher.update(format!("blob {size}\0").as_bytes()),
                    Chunk::Bytes(bytes) => hasher.update(bytes),
                },
            )?;
            Ok(PieceHashed {
                value: Value::GitBlobSha1(hasher.finalize().into()),
                bytes,
            })
        }
    }
}
