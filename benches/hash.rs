//! Measures bootgate's SHA-256 engine (`bootgate::digest`, the manifest check's building block)
//! against the tools people reach for today, on the same files in the same run: `sha256sum`
//! (coreutils) and `openssl dgst -sha256`.
//!
//! Run with `cargo bench --bench hash`. The Markdown report goes to stdout as it is produced
//! and, whole, to `bench-hash.md` in the target directory (`target/` by default,
//! `$CARGO_TARGET_DIR` when that is set). Progress notes go to stderr.
//!
//! The data is made at bench time in `<target>/bench-hash-data/`: one 1 GiB file and eight
//! 128 MiB files of fast pseudo-random bytes, one 2 GiB file for shards (removed after its
//! section), and ten 1 GiB sparse files for the cache. The
//! directory is removed at the end, and at the start in case an earlier run stopped half way.
//! The files were just written, so every tool reads them from the page cache: these figures
//! are hashing plus `read(2)`, not the disk.
//!
//! Every digest is checked: bootgate's against both tools', the cache's against the hash. A
//! mismatch panics, because a benchmark that quietly times wrong answers is worse than none.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bootgate::digest::{
    Algorithm, CACHE_FILE, Digest, Piece, Progress, VerifyCache, hash_pieces, hash_pieces_on,
    sha256_file, sha256_files, sha256_files_on,
};
use sha2::Digest as _;

mod support;
use support::*;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const BIG_BYTES: u64 = GIB;
const SMALL_COUNT: usize = 8;
const SMALL_BYTES: u64 = 128 * MIB;
const SPARSE_COUNT: usize = 10;
const SPARSE_BYTES: u64 = GIB;
/// Rounds per figure; the report gives the median. The tools take turns within a round.
const ROUNDS: usize = 3;
const CACHE_RUNS: usize = 20;
/// Bytes hashed in memory for the compression-only row.
const MEMORY_BYTES: usize = 512 * MIB as usize;

/// Against OpenSSL's throughput, for one file and for eight.
const RATIO_TARGET: f64 = 0.9;
/// Against one OpenSSL process, for work that bootgate spreads over the cores: eight files, or
/// one file signed in shards (on 2 cores; more cores, more).
const SPREAD_TARGET: f64 = 1.7;
/// The one file signed in shards, and the shard size: the OpenSSF Model Signing default.
const SHARDED_BYTES: u64 = 2 * GIB;
const SHARD_SIZE: u64 = 1_000_000_000;
const CACHE_TARGET: Duration = Duration::from_millis(50);

fn main() {
    let mut report = Report::new("bench-hash.md");
    let target = target_dir();
    let data = target.join("bench-hash-data");
    remove_data(&data);
    fs::create_dir_all(&data).expect("create the bench's data directory");

    machine_facts(&mut report, &data);
    let big = data.join("big.bin");
    let small: Vec<PathBuf> = (0..SMALL_COUNT)
        .map(|i| data.join(format!("part-{i}.bin")))
        .collect();
    generate(&mut report, &big, &small);

    memory_section(&mut report);
    one_file_section(&mut report, &big);
    many_files_section(&mut report, &small);
    shards_section(&mut report, &data);
    cache_section(&mut report, &data);

    remove_data(&data);
    report.line("");
    report.line(format!("Generated data removed: `{}`.", data.display()));
    report.finish_in(&target);
}

// ---------------------------------------------------------------------------------------------
// Figures

fn mb_per_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / took.as_secs_f64().max(1e-9) / 1e6
}

fn rate(bytes: u64, took: Duration) -> String {
    format!("{:.0} MB/s", mb_per_s(bytes, took))
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn median(samples: &[Duration]) -> Duration {
    Stats::of(samples.to_vec()).median
}

fn timed<T>(work: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = work();
    (out, start.elapsed())
}

// ---------------------------------------------------------------------------------------------
// Machine facts and data

fn machine_facts(report: &mut Report, data: &Path) {
    let loadavg = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let flags = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let has = |flag: &str| {
        flags
            .lines()
            .find(|l| l.starts_with("flags") || l.starts_with("Features"))
            .is_some_and(|l| l.split_whitespace().any(|f| f == flag))
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    report.line("# bootgate hashing benchmark");
    report.line("");
    report.line("Reproduce: `cargo bench --bench hash`");
    report.line("");
    report.line(format!("- CPU: {}", cpu_model()));
    report.line(format!(
        "- nproc: {}; `available_parallelism`: {threads}",
        command_output("nproc", &[])
    ));
    report.line(format!(
        "- SHA extensions: x86 `sha_ni` {}, ARM `sha2` {}",
        if has("sha_ni") { "yes" } else { "no" },
        if has("sha2") { "yes" } else { "no" }
    ));
    report.line(format!("- kernel: {}", command_output("uname", &["-sr"])));
    report.line(format!("- loadavg at start: {}", loadavg.trim()));
    report.line(format!("- {}", command_output("openssl", &["version"])));
    let coreutils = command_output("sha256sum", &["--version"]);
    report.line(format!(
        "- {}",
        coreutils
            .lines()
            .next()
            .unwrap_or("sha256sum: unknown version")
    ));
    report.line(format!(
        "- data directory: `{}` ({})",
        data.display(),
        command_output("stat", &["-f", "-c", "%T", &data.to_string_lossy()])
    ));
    report.line("");
}

/// Writes `len` pseudo-random bytes to `path`: xorshift64 words, a new seed per file, 4 MiB
/// per write. Incompressible enough for a hash, and far faster than /dev/urandom.
fn write_random(path: &Path, len: u64, seed: u64) -> io::Result<()> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut buffer = vec![0u8; 4 * MIB as usize];
    let mut file = File::create(path)?;
    let mut left = len;
    while left > 0 {
        for word in buffer.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(buffer.len() as u64);
        file.write_all(&buffer[..n as usize])?;
        left -= n;
    }
    Ok(())
}

fn generate(report: &mut Report, big: &Path, small: &[PathBuf]) {
    eprintln!(
        "generating {} MiB of data",
        (BIG_BYTES + SMALL_COUNT as u64 * SMALL_BYTES) / MIB
    );
    let ((), took) = timed(|| {
        write_random(big, BIG_BYTES, 1).expect("write the big file");
        for (i, path) in small.iter().enumerate() {
            write_random(path, SMALL_BYTES, 2 + i as u64).expect("write a small file");
        }
    });
    let total = BIG_BYTES + SMALL_COUNT as u64 * SMALL_BYTES;
    report.line(format!(
        "Data: one {} MiB file and {SMALL_COUNT} × {} MiB, pseudo-random, written in {} ({}).",
        BIG_BYTES / MIB,
        SMALL_BYTES / MIB,
        secs(took),
        rate(total, took)
    ));
    report.line("");
}

fn remove_data(data: &Path) {
    match fs::remove_dir_all(data) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove {}: {e}", data.display()),
    }
}

// ---------------------------------------------------------------------------------------------
// The tools

/// `openssl dgst -sha256 -r` and `sha256sum` both print `<hex> <mark><path>` per file.
#[derive(Clone, Copy)]
enum Tool {
    Openssl,
    Sha256sum,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Openssl => "openssl dgst -sha256",
            Tool::Sha256sum => "sha256sum",
        }
    }

    fn spawn(self, files: &[PathBuf]) -> Child {
        let mut cmd = match self {
            Tool::Openssl => {
                let mut cmd = Command::new("openssl");
                cmd.args(["dgst", "-sha256", "-r"]);
                cmd
            }
            Tool::Sha256sum => Command::new("sha256sum"),
        };
        cmd.args(files)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name()))
    }

    /// Waits for a spawned run; returns its digests in the order of `files`, checked.
    fn finish(self, child: Child, files: &[PathBuf]) -> Vec<Digest> {
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for {}: {e}", self.name()));
        assert!(
            out.status.success(),
            "{} exited {}",
            self.name(),
            out.status
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let digests: Vec<Digest> = text
            .lines()
            .map(|line| {
                let hex = line.split_whitespace().next().unwrap_or_default();
                hex.parse()
                    .unwrap_or_else(|e| panic!("{}: {line:?}: {e}", self.name()))
            })
            .collect();
        assert_eq!(digests.len(), files.len(), "{}: {text}", self.name());
        digests
    }

    fn run(self, files: &[PathBuf]) -> (Vec<Digest>, Duration) {
        let start = Instant::now();
        let child = self.spawn(files);
        let digests = self.finish(child, files);
        (digests, start.elapsed())
    }

    /// One process per half of `files`, side by side; timed from the first spawn to the last
    /// exit.
    fn run_two(self, files: &[PathBuf]) -> (Vec<Digest>, Duration) {
        let (left, right) = files.split_at(files.len() / 2);
        let start = Instant::now();
        let a = self.spawn(left);
        let b = self.spawn(right);
        let mut digests = self.finish(a, left);
        digests.extend(self.finish(b, right));
        (digests, start.elapsed())
    }
}

// ---------------------------------------------------------------------------------------------
// 0. The compression function alone, in memory

fn memory_section(report: &mut Report) {
    eprintln!("hashing {} MiB in memory", MEMORY_BYTES as u64 / MIB);
    let data: Vec<u8> = (0..MEMORY_BYTES)
        .map(|i| (i * 131 + i / 977) as u8)
        .collect();
    let mut samples = Vec::new();
    for _ in 0..ROUNDS {
        let (_, took) = timed(|| {
            let mut hasher = sha2::Sha256::new();
            for chunk in data.chunks(MIB as usize) {
                hasher.update(chunk);
            }
            hasher.finalize()
        });
        samples.push(took);
    }
    let ours = mb_per_s(MEMORY_BYTES as u64, median(&samples));
    let openssl = openssl_speed();
    report.line("## In memory: the compression function alone");
    report.line("");
    report.line(format!(
        "{} MiB in 1 MiB updates, median of {ROUNDS}; OpenSSL's `openssl speed -evp sha256 \
         -bytes 1048576 -seconds 3`.",
        MEMORY_BYTES as u64 / MIB
    ));
    report.line("");
    report.line("| hasher | throughput | ratio to OpenSSL |");
    report.line("| --- | --- | --- |");
    report.line(format!(
        "| bootgate (sha2 0.10) | **{ours:.0} MB/s** | {:.2}× |",
        ours / openssl
    ));
    report.line(format!("| OpenSSL libcrypto | {openssl:.0} MB/s | 1.00× |"));
    report.line("");
}

/// OpenSSL's in-memory SHA-256 rate on 1 MiB blocks, in MB/s (it prints thousands of bytes
/// per second).
fn openssl_speed() -> f64 {
    let out = command_output(
        "openssl",
        &[
            "speed", "-evp", "sha256", "-bytes", "1048576", "-seconds", "3",
        ],
    );
    let line = out
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("sha256"))
        .unwrap_or_else(|| panic!("no sha256 line in `openssl speed`'s output: {out}"));
    let kilo: f64 = line
        .split_whitespace()
        .last()
        .and_then(|f| f.trim_end_matches('k').parse().ok())
        .unwrap_or_else(|| panic!("no rate in {line:?}"));
    kilo / 1000.0
}

// ---------------------------------------------------------------------------------------------
// (a) One large file

fn one_file_section(report: &mut Report, big: &Path) {
    eprintln!(
        "one {} MiB file: bootgate, openssl, sha256sum × {ROUNDS}",
        BIG_BYTES / MIB
    );
    let files = [big.to_path_buf()];
    let (mut ours, mut openssl, mut coreutils) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let progress = Progress::new();
        let (digest, took) = timed(|| sha256_file(big, &progress).expect("hash the big file"));
        assert_eq!(progress.done(), BIG_BYTES, "progress counts every byte");
        ours.push(took);
        let (theirs, took) = Tool::Openssl.run(&files);
        assert_eq!(
            theirs,
            [digest],
            "openssl and bootgate disagree on {}",
            big.display()
        );
        openssl.push(took);
        let (theirs, took) = Tool::Sha256sum.run(&files);
        assert_eq!(theirs, [digest], "sha256sum and bootgate disagree");
        coreutils.push(took);
    }
    let (ours, openssl, coreutils) = (median(&ours), median(&openssl), median(&coreutils));
    let ratio = mb_per_s(BIG_BYTES, ours) / mb_per_s(BIG_BYTES, openssl);
    report.line(format!("## (a) One {} MiB file", BIG_BYTES / MIB));
    report.line("");
    report.line(format!(
        "`sha256_file` (one thread, {} KiB reads) against each tool as a process, from spawn \
         to exit. Median of {ROUNDS} rounds; the three agree on the digest every round.",
        bootgate::digest::READ_BYTES / 1024
    ));
    report.line("");
    report.line("| hasher | time | throughput | bootgate's speed ÷ this |");
    report.line("| --- | --- | --- | --- |");
    report.line(format!(
        "| bootgate `sha256_file` | {} | **{}** | – |",
        secs(ours),
        rate(BIG_BYTES, ours)
    ));
    for (tool, took) in [(Tool::Openssl, openssl), (Tool::Sha256sum, coreutils)] {
        report.line(format!(
            "| `{}` | {} | {} | {:.2}× |",
            tool.name(),
            secs(took),
            rate(BIG_BYTES, took),
            took.as_secs_f64() / ours.as_secs_f64()
        ));
    }
    report.line("");
    report.verdict(
        "one 1 GiB file, bootgate ÷ OpenSSL throughput",
        format!(
            "{ratio:.2}× ({} vs {})",
            rate(BIG_BYTES, ours),
            rate(BIG_BYTES, openssl)
        ),
        "≥ 0.9×",
        ratio >= RATIO_TARGET,
    );
}

// ---------------------------------------------------------------------------------------------
// (b) Eight files

fn many_files_section(report: &mut Report, files: &[PathBuf]) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let total = files.len() as u64 * SMALL_BYTES;
    eprintln!(
        "{} files: bootgate, 2 × openssl, 2 × sha256sum × {ROUNDS}",
        files.len()
    );
    let (mut ours, mut alone, mut openssl, mut coreutils, mut one_openssl) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let jobs: Vec<(PathBuf, u64)> = files.iter().map(|f| (f.clone(), SMALL_BYTES)).collect();
    for _ in 0..ROUNDS {
        let progress = Progress::new();
        let (results, took) = timed(|| sha256_files(&jobs, &progress));
        assert_eq!(progress.done(), total, "progress counts every byte");
        let digests: Vec<Digest> = results
            .into_iter()
            .zip(files)
            .map(|(result, file)| {
                let hashed = result.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                assert_eq!(hashed.bytes, SMALL_BYTES, "{}", file.display());
                hashed.digest
            })
            .collect();
        ours.push(took);
        let (single, took) = timed(|| sha256_files_on(&jobs, 1, &Progress::new()));
        for (result, digest) in single.iter().zip(&digests) {
            assert_eq!(
                result.as_ref().ok().map(|h| h.digest),
                Some(*digest),
                "one thread disagrees"
            );
        }
        alone.push(took);
        let (theirs, took) = Tool::Openssl.run_two(files);
        assert_eq!(theirs, digests, "openssl and bootgate disagree");
        openssl.push(took);
        let (theirs, took) = Tool::Openssl.run(files);
        assert_eq!(theirs, digests, "openssl and bootgate disagree");
        one_openssl.push(took);
        let (theirs, took) = Tool::Sha256sum.run_two(files);
        assert_eq!(theirs, digests, "sha256sum and bootgate disagree");
        coreutils.push(took);
    }
    let (ours, alone) = (median(&ours), median(&alone));
    let (openssl, coreutils) = (median(&openssl), median(&coreutils));
    let one_openssl = median(&one_openssl);
    let ratio = mb_per_s(total, ours) / mb_per_s(total, openssl);
    let ratio_one = mb_per_s(total, ours) / mb_per_s(total, one_openssl);
    report.line(format!(
        "## (b) {} files of {} MiB",
        files.len(),
        SMALL_BYTES / MIB
    ));
    report.line("");
    report.line(format!(
        "`sha256_files` on {threads} threads (`available_parallelism`), largest first, against \
         two processes of each tool side by side, each given half the files. Median of \
         {ROUNDS} rounds; every digest agrees."
    ));
    report.line("");
    report.line("| hasher | time | throughput | bootgate's speed ÷ this |");
    report.line("| --- | --- | --- | --- |");
    report.line(format!(
        "| bootgate `sha256_files`, {threads} threads | {} | **{}** | – |",
        secs(ours),
        rate(total, ours)
    ));
    report.line(format!(
        "| bootgate `sha256_files_on`, 1 thread | {} | {} | {:.2}× |",
        secs(alone),
        rate(total, alone),
        alone.as_secs_f64() / ours.as_secs_f64()
    ));
    for (tool, took) in [(Tool::Openssl, openssl), (Tool::Sha256sum, coreutils)] {
        report.line(format!(
            "| 2 × `{}` side by side | {} | {} | {:.2}× |",
            tool.name(),
            secs(took),
            rate(total, took),
            took.as_secs_f64() / ours.as_secs_f64()
        ));
    }
    report.line(format!(
        "| 1 × `{}` over all {} | {} | {} | {:.2}× |",
        Tool::Openssl.name(),
        files.len(),
        secs(one_openssl),
        rate(total, one_openssl),
        one_openssl.as_secs_f64() / ours.as_secs_f64()
    ));
    report.line("");
    report.verdict(
        "8 files, bootgate ÷ one OpenSSL process over all of them",
        format!(
            "{ratio_one:.2}× ({} vs {})",
            rate(total, ours),
            rate(total, one_openssl)
        ),
        "≥ 1.7×",
        ratio_one >= SPREAD_TARGET,
    );
    report.verdict(
        "8 files, bootgate ÷ two OpenSSL processes",
        format!(
            "{ratio:.2}× ({} vs {})",
            rate(total, ours),
            rate(total, openssl)
        ),
        "≥ 0.9×",
        ratio >= RATIO_TARGET,
    );
}

// ---------------------------------------------------------------------------------------------
// (b2) One file, signed in shards

fn shards_section(report: &mut Report, data: &Path) {
    let file = data.join("sharded.bin");
    write_random(&file, SHARDED_BYTES, 99).expect("write the sharded file");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ranges: Vec<_> =
        bootgate::manifest::verify::shard_ranges(SHARDED_BYTES, SHARD_SIZE).collect();
    let pieces: Vec<Piece> = ranges
        .iter()
        .map(|r| Piece {
            path: file.clone(),
            range: Some(r.clone()),
            algorithm: Algorithm::Sha256,
        })
        .collect();
    let sizes: Vec<u64> = ranges.iter().map(|r| r.end - r.start).collect();
    eprintln!(
        "one {} GiB file in {} shards: bootgate, openssl × {ROUNDS}",
        SHARDED_BYTES / GIB,
        ranges.len()
    );
    let (mut ours, mut alone, mut openssl) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let progress = Progress::new();
        let (results, took) = timed(|| hash_pieces(&pieces, &sizes, &progress));
        assert_eq!(progress.done(), SHARDED_BYTES, "progress counts every byte");
        let values: Vec<_> = results
            .into_iter()
            .map(|r| r.expect("a shard's digest").value)
            .collect();
        ours.push(took);
        let (single, took) = timed(|| hash_pieces_on(&pieces, &sizes, 1, &Progress::new()));
        let single: Vec<_> = single
            .into_iter()
            .map(|r| r.expect("a shard's digest").value)
            .collect();
        assert_eq!(single, values, "one thread disagrees");
        alone.push(took);
        let (theirs, took) = Tool::Openssl.run(std::slice::from_ref(&file));
        openssl.push(took);
        // The shards cover the file: the whole file's digest, taken the same way, is openssl's.
        let whole = sha256_file(&file, &Progress::new()).expect("the whole file's digest");
        assert_eq!(theirs, [whole], "openssl and bootgate disagree");
    }
    fs::remove_file(&file).expect("remove the sharded file");
    let (ours, alone, openssl) = (median(&ours), median(&alone), median(&openssl));
    let ratio = mb_per_s(SHARDED_BYTES, ours) / mb_per_s(SHARDED_BYTES, openssl);
    report.line(format!(
        "## (b2) One {} GiB file signed in {}-byte shards",
        SHARDED_BYTES / GIB,
        SHARD_SIZE
    ));
    report.line("");
    report.line(format!(
        "The {} shards of an OpenSSF Model Signing `shards` signature (the specification's \
         default size), hashed by `hash_pieces` on {threads} threads, largest first, as the \
         manifest check verifies them; against one `openssl dgst -sha256` of the file. \
         Median of {ROUNDS} rounds.",
        ranges.len()
    ));
    report.line("");
    report.line("| hasher | time | throughput | bootgate's speed ÷ this |");
    report.line("| --- | --- | --- | --- |");
    report.line(format!(
        "| bootgate `hash_pieces`, {threads} threads | {} | **{}** | – |",
        secs(ours),
        rate(SHARDED_BYTES, ours)
    ));
    report.line(format!(
        "| bootgate `hash_pieces_on`, 1 thread | {} | {} | {:.2}× |",
        secs(alone),
        rate(SHARDED_BYTES, alone),
        alone.as_secs_f64() / ours.as_secs_f64()
    ));
    report.line(format!(
        "| `openssl dgst -sha256` | {} | {} | {ratio:.2}× |",
        secs(openssl),
        rate(SHARDED_BYTES, openssl)
    ));
    report.line("");
    report.verdict(
        "one 2 GiB file in shards, bootgate ÷ OpenSSL",
        format!(
            "{ratio:.2}× ({} vs {})",
            rate(SHARDED_BYTES, ours),
            rate(SHARDED_BYTES, openssl)
        ),
        "≥ 1.7×",
        ratio >= SPREAD_TARGET,
    );
}

// ---------------------------------------------------------------------------------------------
// (c) Cached re-verify

fn cache_section(report: &mut Report, data: &Path) {
    let state = data.join("state");
    fs::create_dir_all(&state).expect("create the cache's state directory");
    let files: Vec<PathBuf> = (0..SPARSE_COUNT)
        .map(|i| data.join(format!("sparse-{i}.safetensors")))
        .collect();
    for path in &files {
        File::create(path)
            .and_then(|f| f.set_len(SPARSE_BYTES))
            .expect("make a sparse file");
    }
    let total = SPARSE_COUNT as u64 * SPARSE_BYTES;

    // Prime the cache the way the check will: stat, hash for real, record with the stat from
    // before the hash. Holes read as zeros, so every file has the digest of 1 GiB of zeros.
    eprintln!(
        "priming the cache: hashing {} GiB of sparse files",
        total / GIB
    );
    let zeros = {
        let block = vec![0u8; MIB as usize];
        let mut hasher = sha2::Sha256::new();
        for _ in 0..SPARSE_BYTES / MIB {
            hasher.update(&block);
        }
        Digest::from_bytes(hasher.finalize().into())
    };
    let metas: Vec<fs::Metadata> = files
        .iter()
        .map(|p| fs::metadata(p).expect("stat a sparse file"))
        .collect();
    let progress = Progress::new();
    let jobs: Vec<(PathBuf, u64)> = files
        .iter()
        .zip(&metas)
        .map(|(path, meta)| (path.clone(), meta.len()))
        .collect();
    let (results, hash_took) = timed(|| sha256_files(&jobs, &progress));
    let mut cache = VerifyCache::load(&state);
    for ((result, meta), path) in results.into_iter().zip(&metas).zip(&files) {
        let digest = result
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .digest;
        assert_eq!(digest, zeros, "{} is not all zeros", path.display());
        cache.record(path, meta, digest);
    }
    let (saved, save_took) = timed(|| cache.save());
    saved.expect("save the cache");

    // A restart: load the cache from disk, stat every file, look each up.
    let reverify = || {
        let cache = VerifyCache::load(&state);
        assert_eq!(cache.ignored(), None, "the saved cache loads");
        files
            .iter()
            .filter(|path| {
                let meta = fs::metadata(path).expect("stat a sparse file");
                cache.lookup(path, &meta) == Some(zeros)
            })
            .count()
    };
    let mut samples = Vec::new();
    for _ in 0..CACHE_RUNS {
        let (hits, took) = timed(reverify);
        assert_eq!(hits, SPARSE_COUNT, "every unchanged file is a hit");
        samples.push(took);
    }
    let stats = Stats::of(samples);

    // And a change is seen: one byte written in the middle, mtime put back.
    let changed = &files[SPARSE_COUNT / 2];
    let before = fs::metadata(changed).expect("stat");
    let file = File::options()
        .write(true)
        .open(changed)
        .expect("open to change");
    file.write_all_at(b"x", SPARSE_BYTES / 2)
        .expect("change a byte");
    file.set_modified(before.modified().expect("mtime"))
        .expect("restore the mtime");
    drop(file);
    let hits = reverify();
    assert_eq!(
        hits,
        SPARSE_COUNT - 1,
        "a changed file with its mtime restored is a miss"
    );

    let cache_bytes = fs::metadata(state.join(CACHE_FILE)).map_or(0, |m| m.len());
    report.line(format!(
        "## (c) Cached re-verify of {} GiB ({SPARSE_COUNT} × {} GiB)",
        total / GIB,
        SPARSE_BYTES / GIB
    ));
    report.line("");
    report.line(format!(
        "A restart's path: `VerifyCache::load` from the state directory ({cache_bytes} bytes of \
         JSON), then `stat` and `lookup` for each file. The files are sparse: a hit never reads \
         data, so their holes cost nothing here. The cache was primed for real: \
         `sha256_files` read all {} GiB of holes in {} ({}), every digest was checked against \
         1 GiB of zeros hashed in memory, and `save` took {}. {CACHE_RUNS} runs, all \
         {SPARSE_COUNT} hits each. Then one byte was changed in one file and its mtime put \
         back: the next re-verify missed that file (ctime), and only that one.",
        total / GIB,
        secs(hash_took),
        rate(total, hash_took),
        ms(save_took)
    ));
    report.line("");
    report.line("| figure | median | p90 | worst | target |");
    report.line("| --- | --- | --- | --- | --- |");
    report.line(format!(
        "| load + {SPARSE_COUNT} × (stat + lookup) | **{}** | {} | {} | < {} |",
        ms(stats.median),
        ms(stats.p90),
        ms(stats.max),
        ms(CACHE_TARGET)
    ));
    report.line("");
    report.verdict(
        "cached re-verify of 10 GiB, worst of 20",
        ms(stats.max),
        "< 50 ms",
        stats.max < CACHE_TARGET,
    );
}
