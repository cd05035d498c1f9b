//! SHA-256 of model files: one file with large reads, many files across cores, and an opt-in
//! cache that lets a restart skip the hash of files whose `stat` has not changed.
//!
//! The building block of the `manifest` check. Everything here is blocking and runs on std
//! threads; the check calls it from `spawn_blocking`. The usual flow:
//!
//! ```no_run
//! use bootgate::digest::{Progress, VerifyCache, sha256_files};
//! # let (state_dir, paths): (std::path::PathBuf, Vec<std::path::PathBuf>) = Default::default();
//! let mut cache = VerifyCache::load(&state_dir);
//! let mut misses = Vec::new();
//! for path in paths {
//!     let Ok(meta) = std::fs::metadata(&path) else { continue }; // missing: named, not hashed
//!     // The size is checked here, before any hash: cheap first.
//!     match cache.lookup(&path, &meta) {
//!         Some(digest) => { /* compare with the manifest */ }
//!         None => misses.push((path, meta)),
//!     }
//! }
//! let progress = Progress::new(); // another thread reads progress.done() for rate and ETA
//! let jobs: Vec<_> = misses.iter().map(|(path, meta)| (path.clone(), meta.len())).collect();
//! for (result, (path, meta)) in sha256_files(&jobs, &progress).into_iter().zip(&misses) {
//!     if let Ok(hashed) = result {
//!         cache.record(path, meta, hashed.digest); // the metadata from before the hash
//!     }
//! }
//! cache.save().ok();
//! ```
//!
//! sha2 picks SHA-NI (x86) or the ARMv8 SHA-2 instructions at run time, and is compiled at
//! opt-level 3 inside the size-optimised binary (see `Cargo.toml` and docs/performance.md,
//! section 10).

mod cache;
mod parallel;
mod piece;
mod progress;
mod sha256;
mod value;

pub use cache::{FILE as CACHE_FILE, Fingerprint, VerifyCache};
pub use parallel::{MAX_THREADS, hash_pieces, hash_pieces_on, sha256_files, sha256_files_on};
pub use piece::{Algorithm, Piece, PieceHashed, Value};
pub use progress::Progress;
pub use sha256::{HashError, Hashed, READ_BYTES, sha256_file};
pub use value::{Digest, ParseDigestError, from_hex, hex};
