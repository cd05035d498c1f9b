//! Times the safetensors structure check (`bootgate::manifest::safetensors::check_file`), the
//! pre-check that refuses a truncated shard before any hash, on files written by the real
//! `safetensors` package (target/py-tools, from `scripts/py-tools`):
//!
//! - a 2.1 GiB file laid out as a 14-layer Llama-3.2-1B (F16, 128 tensors, Hugging Face
//!   names): the check reads its 8-byte length and its header, never the data, so its time is
//!   the header's, whatever the file's size;
//! - its header over a sparse body one byte short, which must be refused as truncated;
//! - a file whose header sits just under the 8 MiB default bound (tens of thousands of tiny
//!   tensors): the dearest header the default lets through.
//!
//! Each is timed warm (header in the page cache) and cold (the file's pages dropped with
//! `posix_fadvise(DONTNEED)` before each run, so the header comes from the disk).
//!
//! Run with `cargo bench --bench safetensors`. The Markdown report goes to stdout and, whole, to
//! `bench-safetensors.md` in the target directory. The data is made in
//! `<target>/bench-safetensors-data/` and removed at the end (and at the start, after a run that
//! stopped half way). Every check's verdict is asserted: a bench that times a refusal it should
//! not make, or a pass it should not give, is worse than none.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bootgate::manifest::safetensors::{DEFAULT_MAX_HEADER, check_file};

mod support;
use support::*;

const WARM_RUNS: usize = 2_000;
const COLD_RUNS: usize = 50;
const TARGET: Duration = Duration::from_millis(5);
const GIB: f64 = (1u64 << 30) as f64;

/// Llama-3.2-1B's shapes (hidden 2048, 32 heads of 64, 8 KV heads, MLP 8192, vocabulary
/// 128256), with 14 of its 16 layers: just over 2 GiB in F16. numpy's zeros are calloc'd, so
/// writing them costs no memory, only the file.
const WRITE_LLAMA: &str = r#"
import sys
import numpy as np
from safetensors.numpy import save_file
h, kv, mlp, vocab = 2048, 512, 8192, 128256
t = {"model.embed_tokens.weight": np.zeros((vocab, h), np.float16),
     "model.norm.weight": np.zeros((h,), np.float16)}
for i in range(14):
    p = f"model.layers.{i}."
    t[p + "self_attn.q_proj.weight"] = np.zeros((h, h), np.float16)
    t[p + "self_attn.k_proj.weight"] = np.zeros((kv, h), np.float16)
    t[p + "self_attn.v_proj.weight"] = np.zeros((kv, h), np.float16)
    t[p + "self_attn.o_proj.weight"] = np.zeros((h, h), np.float16)
    t[p + "mlp.gate_proj.weight"] = np.zeros((mlp, h), np.float16)
    t[p + "mlp.up_proj.weight"] = np.zeros((mlp, h), np.float16)
    t[p + "mlp.down_proj.weight"] = np.zeros((h, mlp), np.float16)
    t[p + "input_layernorm.weight"] = np.zeros((h,), np.float16)
    t[p + "post_attention_layernorm.weight"] = np.zeros((h,), np.float16)
save_file(t, sys.argv[1], metadata={"format": "pt"})
"#;

/// Mixture-of-experts names, one F32 scale each, as many as fit under the default bound.
const WRITE_WIDE: &str = r#"
import sys
import numpy as np
from safetensors.numpy import save_file
n = int(sys.argv[2])
t = {f"model.layers.{i // 512}.mlp.experts.{i % 512}.down_proj.weight_scale_inv": np.zeros((1,), np.float32)
     for i in range(n)}
save_file(t, sys.argv[1])
"#;

fn main() {
    let mut report = Report::new("bench-safetensors.md");
    let data = target_dir().join("bench-safetensors-data");
    remove_data(&data);
    fs::create_dir_all(&data).expect("create the bench's data directory");
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/py-tools/bin/python");
    assert!(
        python.is_file(),
        "{} is absent: run scripts/py-tools first",
        python.display()
    );

    report.line("# The safetensors structure check");
    report.line("");
    report.line("Reproduce: `cargo bench --bench safetensors`");
    report.line("");
    report.line(format!(
        "- CPU: {}; loadavg at start: {}",
        cpu_model(),
        fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    ));
    report.line(format!(
        "- files written by {}; data directory `{}` ({})",
        command_output(
            &python.to_string_lossy(),
            &[
                "-c",
                "import safetensors; print('safetensors', safetensors.__version__)"
            ]
        ),
        data.display(),
        command_output("stat", &["-f", "-c", "%T", &data.to_string_lossy()])
    ));
    report.line(format!(
        "- warm: median of {WARM_RUNS} runs, header in the page cache; cold: median of \
         {COLD_RUNS}, the file's pages dropped (`posix_fadvise(DONTNEED)`) before each"
    ));
    report.line("");

    let llama = data.join("llama.safetensors");
    write(&python, WRITE_LLAMA, &llama, &[]);
    let cut = data.join("llama-cut.safetensors");
    cut_copy(&llama, &cut);
    let wide = data.join("wide.safetensors");
    write_under_bound(&python, &wide);

    report.line("| file | size | header | warm | cold | verdict |");
    report.line("|---|---|---|---|---|---|");
    let big = row(&mut report, "Llama-3.2-1B layout, 14 layers", &llama, true);
    row(
        &mut report,
        "its header, body one byte short (sparse)",
        &cut,
        false,
    );
    let dearest = row(
        &mut report,
        "header just under the 8 MiB bound",
        &wide,
        true,
    );
    report.line("");
    report.verdict(
        "check of a 2.1 GiB file, cold median",
        ms(big.cold),
        "< 5 ms",
        big.cold < TARGET,
    );
    report.verdict(
        "check of a 2.1 GiB file, warm median",
        ms(big.warm),
        "< 5 ms",
        big.warm < TARGET,
    );
    report.line(format!(
        "The dearest header the default bound admits costs {} warm: the bound, not the file's \
         size, is what limits the check's time.",
        ms(dearest.warm)
    ));

    remove_data(&data);
    report.line("");
    report.line(format!("Generated data removed: `{}`.", data.display()));
    report.finish_in(&target_dir());
}

struct Timing {
    warm: Duration,
    cold: Duration,
}

/// Times `check_file` on `path` warm and cold, asserting its verdict each time, and adds a row.
fn row(report: &mut Report, what: &str, path: &Path, whole: bool) -> Timing {
    eprintln!("{what}: {WARM_RUNS} warm runs, {COLD_RUNS} cold");
    let verdict = check_once(path, whole);
    let warm: Vec<Duration> = (0..WARM_RUNS).map(|_| timed_check(path, whole)).collect();
    let cold: Vec<Duration> = (0..COLD_RUNS)
        .map(|_| {
            drop_pages(path);
            timed_check(path, whole)
        })
        .collect();
    let timing = Timing {
        warm: Stats::of(warm).median,
        cold: Stats::of(cold).median,
    };
    let size = fs::metadata(path).expect("stat the bench file").len();
    report.line(format!(
        "| {what} | {:.2} GiB | {} KiB | {} | {} | {} |",
        size as f64 / GIB,
        header_len(path) >> 10,
        ms(timing.warm),
        ms(timing.cold),
        verdict
    ));
    timing
}

fn check_once(path: &Path, whole: bool) -> String {
    match check_file(path, DEFAULT_MAX_HEADER) {
        Ok(()) if whole => "passes".into(),
        Err(e) if !whole => format!("refused: {e}"),
        other => panic!("{}: unexpected verdict {other:?}", path.display()),
    }
}

fn timed_check(path: &Path, whole: bool) -> Duration {
    let start = Instant::now();
    let result = check_file(path, DEFAULT_MAX_HEADER);
    let took = start.elapsed();
    assert_eq!(result.is_ok(), whole, "{}: {result:?}", path.display());
    took
}

/// Drops the file's clean pages from the page cache, so the next read comes from the disk.
fn drop_pages(path: &Path) {
    let file = File::open(path).expect("open the bench file");
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)
        .expect("posix_fadvise(DONTNEED)");
}

fn header_len(path: &Path) -> u64 {
    let mut length = [0u8; 8];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut length))
        .expect("read the header length");
    u64::from_le_bytes(length)
}

fn write(python: &Path, code: &str, out: &Path, args: &[&str]) {
    let start = Instant::now();
    let status = Command::new(python)
        .arg("-c")
        .arg(code)
        .arg(out)
        .args(args)
        .status()
        .expect("start the py-tools python");
    assert!(status.success(), "writing {} failed", out.display());
    // Written and synced: the pages are clean, so `DONTNEED` can drop them.
    File::open(out)
        .and_then(|f| f.sync_all())
        .expect("sync the bench file");
    eprintln!(
        "wrote {} in {:.1} s",
        out.display(),
        start.elapsed().as_secs_f64()
    );
}

/// The widest file whose header stays under the default bound: the tensor count scaled from
/// the last try's bytes per tensor (they grow with the count, as the numbers in names and
/// offsets get longer) until the header fits.
fn write_under_bound(python: &Path, out: &Path) {
    let goal = DEFAULT_MAX_HEADER * 99 / 100;
    let mut count = 1_000u64;
    loop {
        write(python, WRITE_WIDE, out, &[&count.to_string()]);
        let header = header_len(out);
        if header <= DEFAULT_MAX_HEADER && header * 100 >= goal * 98 {
            return;
        }
        count = count * goal / header;
    }
}

/// `from`'s length and header, then a sparse body one byte shorter than its data: the real
/// header of a download cut by one byte, without writing 2 GiB again.
fn cut_copy(from: &Path, to: &Path) {
    let len = fs::metadata(from).expect("stat the bench file").len();
    let mut head = vec![0u8; 8 + header_len(from) as usize];
    File::open(from)
        .and_then(|mut f| f.read_exact(&mut head))
        .expect("read the header");
    let mut file = File::create(to).expect("create the cut copy");
    file.write_all(&head).expect("write the header");
    file.set_len(len - 1).expect("extend the cut copy");
    file.sync_all().expect("sync the cut copy");
}

fn remove_data(data: &Path) {
    match fs::remove_dir_all(data) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove {}: {e}", data.display()),
    }
}
