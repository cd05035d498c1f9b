//! Times `bootgate validate` (the release binary: read, parse, check every key, build the
//! graph, print the order) on large generated configs, to show it is linear in their size:
//!
//! - a chain: 50,000 checks, each `after:` the one before;
//! - a wide graph: one root, 50,000 checks after it, and one check after all 50,000;
//! - a pinned chain: a gpu check and 25,000 manifest checks in a chain, each reading the CUDA
//!   version the gpu check discovered (`effective: {cuda: {check: gpu}}`), so each must be
//!   found down the chain from it;
//! - and the chain at 12,500 and 25,000 checks, to show time growing with n, not n².
//!
//! Run with `cargo bench --bench validate`. The Markdown report goes to stdout and, whole, to
//! `bench-validate.md` in the target directory. With `BENCH_VALIDATE_BASELINE=/path/to/bootgate`
//! (e.g. a build of an older commit) that binary is timed on the same files, one round each, and
//! the report gives the ratio.
//!
//! Every run must exit 0 and report the right number of checks; anything else panics, because
//! a benchmark that quietly times a refusal is worse than none.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

mod support;
use support::*;

const ROUNDS: usize = 5;
const N: usize = 50_000;
const TARGET: Duration = Duration::from_secs(1);

struct Shape {
    name: &'static str,
    file: &'static str,
    checks: usize,
    text: String,
    /// Held to the one-second target.
    judged: bool,
}

fn main() {
    let mut report = Report::new("bench-validate.md");
    let data = target_dir().join("bench-validate-data");
    fs::create_dir_all(&data).expect("create the bench's data directory");
    let baseline = std::env::var_os("BENCH_VALIDATE_BASELINE").map(PathBuf::from);
    let ticks = clock_ticks();

    report.line("# `bootgate validate` on large configs");
    report.line("");
    report.line(format!(
        "Machine: {}, {} CPUs; loadavg at start: {}",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    ));
    report.line(format!(
        "Median of {ROUNDS} runs; CPU is user + system time of the process."
    ));
    report.line("");
    let mut header = "| config | checks | size | wall | CPU |".to_string();
    let mut rule = "|---|---|---|---|---|".to_string();
    if let Some(old) = &baseline {
        eprintln!("baseline: {}", old.display());
        header.push_str(" baseline wall (1 run) | ratio |");
        rule.push_str("---|---|");
    }
    report.line(header);
    report.line(rule);

    for shape in shapes() {
        let path = data.join(shape.file);
        fs::write(&path, &shape.text).expect("write the generated config");
        eprintln!("{}: {} runs", shape.name, ROUNDS);
        let mut walls = Vec::new();
        let mut cpus = Vec::new();
        for _ in 0..ROUNDS {
            let (wall, cpu) = validate(Path::new(BIN), &path, shape.checks, ticks);
            walls.push(wall);
            cpus.push(cpu);
        }
        let (wall, cpu) = (Stats::of(walls).median, Stats::of(cpus).median);
        let mut row = format!(
            "| {} | {} | {:.1} MiB | **{}** | {} |",
            shape.name,
            shape.checks,
            shape.text.len() as f64 / (1 << 20) as f64,
            ms(wall),
            ms(cpu)
        );
        if let Some(old) = &baseline {
            eprintln!("{}: baseline", shape.name);
            let (old_wall, _) = validate(old, &path, shape.checks, ticks);
            let _ = write!(
                row,
                " {} | {:.0}× faster |",
                ms(old_wall),
                old_wall.as_secs_f64() / wall.as_secs_f64()
            );
        }
        report.line(row);
        if shape.judged {
            report.verdict(
                &format!("validate, {}", shape.name),
                ms(wall),
                "< 1 s",
                wall < TARGET,
            );
        }
    }
    report.line("");
    fs::remove_dir_all(&data).expect("remove the generated configs");
    report.finish_in(&target_dir());
}

/// One run of `bin validate` on `config`: wall time and CPU time. The child is reaped before
/// its CPU time is read, from this process's own count of its reaped children.
fn validate(bin: &Path, config: &Path, checks: usize, ticks: u64) -> (Duration, Duration) {
    let before = children_cpu(ticks);
    let mut cmd = Command::new(bin);
    cmd.args(["validate", "--config"]).arg(config);
    let (wall, out) = timed(cmd, "bootgate validate");
    let cpu = children_cpu(ticks) - before;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("valid — {checks} checks")),
        "validate did not report {checks} checks:\n{}",
        &stdout[..stdout.len().min(2000)]
    );
    (wall, cpu)
}

fn children_cpu(ticks: u64) -> Duration {
    let [_, _, cutime, cstime] = stat_times(std::process::id());
    Duration::from_secs_f64((cutime + cstime) as f64 / ticks as f64)
}

fn shapes() -> Vec<Shape> {
    let chain = |n: usize| {
        let mut text = String::from("checks:\n  c0: {kind: secret, env: X}\n");
        for i in 1..n {
            let _ = writeln!(
                text,
                "  c{i}: {{kind: secret, env: X, after: [c{}]}}",
                i - 1
            );
        }
        text
    };
    let mut wide = String::from("checks:\n  root: {kind: secret, env: X}\n");
    let mut all = Vec::with_capacity(N);
    for i in 0..N {
        let _ = writeln!(wide, "  w{i}: {{kind: secret, env: X, after: [root]}}");
        all.push(format!("w{i}"));
    }
    let _ = writeln!(
        wide,
        "  sink: {{kind: secret, env: X, after: [{}]}}",
        all.join(", ")
    );
    let mut pinned = String::from("checks:\n  gpu: {kind: gpu}\n");
    for i in 0..N / 2 {
        let before = if i == 0 {
            "gpu".into()
        } else {
            format!("m{}", i - 1)
        };
        let _ = writeln!(
            pinned,
            "  m{i}: {{kind: manifest, manifest: /m.yaml, after: [{before}], effective: {{cuda: {{check: gpu}}}}}}"
        );
    }
    vec![
        Shape {
            name: "chain, 12,500",
            file: "chain-12500.yaml",
            checks: N / 4,
            text: chain(N / 4),
            judged: false,
        },
        Shape {
            name: "chain, 25,000",
            file: "chain-25000.yaml",
            checks: N / 2,
            text: chain(N / 2),
            judged: false,
        },
        Shape {
            name: "chain, 50,000",
            file: "chain.yaml",
            checks: N,
            text: chain(N),
            judged: true,
        },
        Shape {
            name: "wide, 50,000",
            file: "wide.yaml",
            checks: N + 2,
            text: wide,
            judged: true,
        },
        Shape {
            name: "pinned chain, 25,000",
            file: "pinned.yaml",
            checks: N / 2 + 1,
            text: pinned,
            judged: false,
        },
    ]
}
