//! Many files' SHA-256 on a pool of std threads, largest files first.

use std::cmp::Reverse;
use std::io;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use super::Progress;
use super::piece::{Piece, PieceHashed, hash_piece};
use super::sha256::{HashError, Hashed, hash_file};

/// The most hashing threads, whatever the core count: 16 SHA-NI cores outrun any volume a
/// pod reads weights from, and each thread holds a read buffer (1 MiB).
pub const MAX_THREADS: usize = 16;

/// The SHA-256 of every file in `jobs` (a path, and its size as the caller last saw it, which
/// only orders the work), in the order given, each as [`super::sha256_file`] would give it,
/// with the bytes it covers. `progress` counts the bytes of all of them.
///
/// Runs on as many threads as `std::thread::available_parallelism()` says this process may
/// use (it reads the cgroup CPU quota, so a pod limited to 2 CPUs gets 2), at most
/// [`MAX_THREADS`] and never more than there are files. The calling thread is one of them, so
/// the hashing goes on even if no thread can be spawned.
pub fn sha256_files(
    jobs: &[(PathBuf, u64)],
    progress: &Progress,
) -> Vec<Result<Hashed, HashError>> {
    let threads = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    sha256_files_on(jobs, threads.min(MAX_THREADS), progress)
}

/// [`sha256_files`] on at most `threads` threads (at least one: the caller's).
///
/// Files are taken largest first, each by the next free thread: the big ones start at once and
/// the small ones fill in behind them, so no thread is left alone on a big file at the end
/// while the others idle. One file is never split (a hash is sequential), so the total time is
/// at least the largest file's.
pub fn sha256_files_on(
    jobs: &[(PathBuf, u64)],
    threads: usize,
    progress: &Progress,
) -> Vec<Result<Hashed, HashError>> {
    let sizes: Vec<u64> = jobs.iter().map(|(_, size)| *size).collect();
    largest_first(&sizes, threads, |i, buffer| {
        hash_file(&jobs[i].0, progress, buffer)
    })
}

/// Every piece's digest (a whole file or a byte range of one, SHA-256 or git's blob SHA-1), in
/// the order given, with the bytes it covers; `sizes[i]` (what piece `i` will read, as the
/// caller last saw it) only orders the work. Many ranges of one big file are hashed at once, one
/// a thread: the way to hash a single file on every core. Threads as in [`sha256_files`].
pub fn hash_pieces(
    pieces: &[Piece],
    sizes: &[u64],
    progress: &Progress,
) -> Vec<Result<PieceHashed, HashError>> {
    let threads = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    hash_pieces_on(pieces, sizes, threads.min(MAX_THREADS), progress)
}

/// [`hash_pieces`] on at most `threads` threads (at least one: the caller's).
pub fn hash_pieces_on(
    pieces: &[Piece],
    sizes: &[u64],
    threads: usize,
    progress: &Progress,
) -> Vec<Result<PieceHashed, HashError>> {
    largest_first(sizes, threads, |i, buffer| {
        hash_piece(&pieces[i], progress, buffer)
    })
}

/// `work(i, buffer)` for every `i` of `sizes`, largest first, on up to `threads` threads, each
/// with one read buffer of its own; the results in the order of `sizes`.
fn largest_first<T: Send>(
    sizes: &[u64],
    threads: usize,
    work: impl Fn(usize, &mut Vec<u8>) -> Result<T, HashError> + Sync,
) -> Vec<Result<T, HashError>> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| Reverse(sizes[i]));

    let next = AtomicUsize::new(0);
    let worker = || {
        let mut buffer = Vec::new();
        let mut done = Vec::new();
        while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
            done.push((i, work(i, &mut buffer)));
        }
        done
    };

    let mut results: Vec<Option<Result<T, HashError>>> =
        std::iter::repeat_with(|| None).take(sizes.len()).collect();
    let workers = threads.clamp(1, sizes.len().max(1));
    thread::scope(|scope| {
        // A thread that cannot be spawned is one fewer worker, not a failure.
        let helpers: Vec<_> = (1..workers)
            .filter_map(|_| {
                thread::Builder::new()
                    .name("hash".into())
                    .spawn_scoped(scope, worker)
                    .ok()
            })
            .collect();
        let mut collect = |done: Vec<(usize, Result<T, HashError>)>| {
            for (i, result) in done {
                results[i] = Some(result);
            }
        };
        collect(worker());
        for helper in helpers {
            // Hashing does not panic; if a helper did all the same, its files say so below.
            if let Ok(done) = helper.join() {
                collect(done);
            }
        }
    });
    results
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| {
                Err(HashError::Io(io::Error::other("the hashing thread failed")))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::sha256::READ_BYTES;
    use super::super::{Algorithm, Digest, Value, sha256_file};
    use super::*;
    use std::fs;
    use std::path::Path;

    /// Files of many sizes, some over a read buffer, plus ones that fail.
    fn fixture(dir: &Path) -> Vec<(PathBuf, u64)> {
        let mut jobs = Vec::new();
        for (n, len) in [0, 3, 65, READ_BYTES + 1, 70_000, 2 * READ_BYTES, 1, 999]
            .into_iter()
            .enumerate()
        {
            let path = dir.join(format!("f{n}"));
            let data: Vec<u8> = (0..len).map(|i| (i * 31 + n) as u8).collect();
            fs::write(&path, data).unwrap();
            jobs.push((path, len as u64));
        }
        jobs.insert(3, (dir.join("missing"), 0));
        jobs.push((dir.to_path_buf(), 4096));
        jobs
    }

    #[test]
    fn parallel_results_equal_sequential_ones_in_input_order() {
        let dir = tempfile::tempdir().unwrap();
        let jobs = fixture(dir.path());
        let total: u64 = jobs
            .iter()
            .filter_map(|(p, _)| fs::metadata(p).ok().filter(|m| m.is_file()))
            .map(|m| m.len())
            .sum();
        for threads in [1, 2, 3, 64] {
            let progress = Progress::new();
            let results = sha256_files_on(&jobs, threads, &progress);
            assert_eq!(results.len(), jobs.len());
            for (result, (path, size)) in results.iter().zip(&jobs) {
                let alone = sha256_file(path, &Progress::new());
                match (result, alone) {
                    (Ok(a), Ok(b)) => {
                        assert_eq!(a.digest, b, "{}", path.display());
                        assert_eq!(a.bytes, *size, "{}", path.display());
                    }
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => panic!("{}: {a:?} in parallel, {b:?} alone", path.display()),
                }
            }
            assert_eq!(progress.done(), total, "{threads} threads");
        }
        let default = sha256_files(&jobs, &Progress::new());
        assert_eq!(default.iter().filter(|r| r.is_ok()).count(), jobs.len() - 2);
    }

    /// A file's ranges hashed at once give each range's digest; git's blob ids come out as
    /// `git hash-object` gives them.
    #[test]
    fn pieces_are_ranges_and_git_blob_ids() {
        use sha2::{Digest as _, Sha256};
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        let data: Vec<u8> = (0..3 * READ_BYTES + 5).map(|i| (i * 7) as u8).collect();
        fs::write(&big, &data).unwrap();
        let hello = dir.path().join("hello");
        fs::write(&hello, "hello\n").unwrap();
        let shard = READ_BYTES as u64 + 3;
        let mut pieces: Vec<Piece> = (0..data.len() as u64)
            .step_by(shard as usize)
            .map(|start| Piece {
                path: big.clone(),
                range: Some(start..(start + shard).min(data.len() as u64)),
                algorithm: Algorithm::Sha256,
            })
            .collect();
        pieces.push(Piece {
            path: hello.clone(),
            range: None,
            algorithm: Algorithm::GitBlobSha1,
        });
        pieces.push(Piece {
            path: hello,
            range: Some(0..100),
            algorithm: Algorithm::Sha256,
        });
        let sizes: Vec<u64> = pieces
            .iter()
            .map(|p| p.range.clone().map_or(6, |r| r.end - r.start))
            .collect();
        for threads in [1, 3] {
            let progress = Progress::new();
            let results = hash_pieces_on(&pieces, &sizes, threads, &progress);
            for (piece, result) in pieces.iter().zip(&results).take(pieces.len() - 2) {
                let range = piece.range.clone().unwrap();
                let slice = &data[range.start as usize..range.end as usize];
                let want = Digest::from_bytes(Sha256::digest(slice).into());
                let got = result.as_ref().unwrap();
                assert_eq!(got.value, Value::Sha256(want));
                assert_eq!(got.bytes, range.end - range.start);
            }
            let git = results[pieces.len() - 2].as_ref().unwrap();
            assert_eq!(
                git.value.to_hex(),
                "ce013625030ba8dba906f756967f9e9ca394464a"
            );
            assert_eq!(
                results[pieces.len() - 1].as_ref().unwrap_err().to_string(),
                "it has 6 B, fewer than the 100 B the byte range needs"
            );
            assert_eq!(progress.done(), data.len() as u64 + 6);
        }
    }

    #[test]
    fn no_jobs_no_results() {
        assert!(sha256_files(&[], &Progress::new()).is_empty());
    }

    #[test]
    fn cancelled_jobs_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let jobs = fixture(dir.path());
        let progress = Progress::new();
        progress.cancel();
        for result in sha256_files_on(&jobs, 2, &progress) {
            assert!(matches!(result, Err(HashError::Cancelled)));
        }
    }
}
