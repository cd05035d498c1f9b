//! Times the `gpu` check from spawn to verdict, on the project's fake NVML, and sets it beside the
//! obvious alternative measured in the same run: a Python init-container script doing the same
//! queries through pynvml (PyPI's `nvidia-ml-py`).
//!
//! Run with `cargo bench --bench gpu`. The Markdown report goes to stdout as it is produced and,
//! whole, to `bench-gpu.md` in the target directory that holds the bootgate binary (`target/` by
//! default, `$CARGO_TARGET_DIR` when that is set). Progress notes go to stderr.
//!
//! The bench builds the fake itself (`cargo build --release -p fake-nvml`, into the same target
//! directory) and links it as `libnvidia-ml.so.1` in a temporary driver directory: bootgate is
//! pointed at it with `library:`, Python finds it through `LD_LIBRARY_PATH`. pynvml goes into a
//! virtual environment under the target directory (`bench-gpu-venv`), installed with pip when it
//! is not there yet; when that fails, the Python rows say why and the bootgate rows still run.
//!
//! Every process we start is checked for the exit code it must have; a wrong one panics, because
//! a benchmark that quietly times failures is worse than none.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;

mod support;
use support::*;

/// Timed runs per row; the first `WARMUP` rounds are run the same way and thrown away.
const RUNS: usize = 30;
const WARMUP: usize = 3;
const GPU_COUNTS: [u32; 2] = [1, 8];
const TARGET: Duration = Duration::from_millis(20);

/// The init-container script people write today: the same queries the gpu check makes about
/// versions, count, memory and uncorrected ECC errors, one verdict, exit 0 or 1. Its argument
/// is the number of GPUs needed. The two `perf_counter` lines are the bench's: they time the
/// span from `nvmlInit` (where pynvml loads the library) to after `nvmlShutdown`, the same span
/// bootgate's status.json gives for its check.
const PYNVML_SCRIPT: &str = r#"import sys
import time
import pynvml as nv

NEED_GPUS, NEED_CUDA, NEED_FREE = int(sys.argv[1]), (12, 4), 10 << 30
t0 = time.perf_counter()
try:
    nv.nvmlInit()
    try:
        driver = nv.nvmlSystemGetDriverVersion()
        cuda = nv.nvmlSystemGetCudaDriverVersion()
        count = nv.nvmlDeviceGetCount()
        ok = count >= NEED_GPUS and (cuda // 1000, cuda % 1000 // 10) >= NEED_CUDA
        for i in range(count):
            h = nv.nvmlDeviceGetHandleByIndex(i)
            name, uuid = nv.nvmlDeviceGetName(h), nv.nvmlDeviceGetUUID(h)
            mem = nv.nvmlDeviceGetMemoryInfo(h)
            ecc = nv.nvmlDeviceGetTotalEccErrors(
                h, nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nv.NVML_VOLATILE_ECC
            )
            good = mem.free >= NEED_FREE and ecc == 0
            ok = ok and good
            print(f"GPU {i} ({uuid}) {name}: {mem.free >> 20} MiB free, {ecc} uncorrected ECC")
        print(f"driver {driver}, CUDA {cuda // 1000}.{cuda % 1000 // 10}, {count} GPUs")
    finally:
        nv.nvmlShutdown()
        print(f"nvml_ms={(time.perf_counter() - t0) * 1000:.3f}", file=sys.stderr)
except nv.NVMLError as e:
    print(f"NVML: {e}", file=sys.stderr)
    sys.exit(1)
sys.exit(0 if ok else 1)
"#;

fn main() {
    let mut report = Report::new("bench-gpu.md");
    let target = target_dir();
    eprintln!("building the fake NVML (release) into {}", target.display());
    let fake = build_fake(&target);
    let python = ensure_pynvml(&target);
    let site = Site::new(&fake);

    machine_facts(&mut report, &fake, &python);
    calls_section(&mut report, &site, &python);
    let rows: Vec<Row> = GPU_COUNTS
        .iter()
        .map(|&gpus| measure(&site, gpus, &python))
        .collect();
    timing_section(&mut report, &rows, &python);
    summary_section(&mut report, &rows, &python);
    report.finish_in(&target);
}

fn ratio(slow: Duration, fast: Duration) -> String {
    let r = slow.as_secs_f64() / fast.as_secs_f64().max(1e-6);
    if r >= 10.0 {
        format!("{r:.0}×")
    } else {
        format!("{r:.1}×")
    }
}

// ---------------------------------------------------------------------------------------------
// The fake, pynvml, and the place they run in

/// Builds `fake-nvml` with the release profile into `target`; returns the library's path.
fn build_fake(target: &Path) -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "fake-nvml",
            "--target-dir",
        ])
        .arg(target)
        .status()
        .expect("run cargo to build fake-nvml");
    assert!(status.success(), "building fake-nvml failed ({status})");
    let built = target.join("release").join("libfake_nvml.so");
    assert!(
        built.is_file(),
        "{} missing after the build",
        built.display()
    );
    built
}

/// The Python side: a venv interpreter that can import pynvml, or why there is none.
struct Python {
    /// `<venv>/bin/python`, or why the alternative cannot be measured.
    exe: Result<PathBuf, String>,
    /// `Python 3.x.y, nvidia-ml-py a.b.c` for the report.
    versions: String,
    /// Whether pip ran in this run or the venv was already there.
    origin: &'static str,
}

fn ensure_pynvml(target: &Path) -> Python {
    let venv = target.join("bench-gpu-venv");
    let exe = venv.join("bin").join("python");
    let (exe, origin) = if imports_pynvml(&exe) {
        (Ok(exe), "already installed")
    } else {
        eprintln!("installing nvidia-ml-py into {}", venv.display());
        (
            install_pynvml(&venv, &exe).map(|()| exe),
            "installed by this run",
        )
    };
    let versions = match &exe {
        Ok(exe) => command_output(
            &exe.to_string_lossy(),
            &[
                "-c",
                "import importlib.metadata as m, platform; \
                 print(f\"Python {platform.python_version()}, \
                 nvidia-ml-py {m.version('nvidia-ml-py')}\")",
            ],
        ),
        Err(_) => String::new(),
    };
    if let Err(why) = &exe {
        eprintln!("note: the pynvml alternative is unavailable: {why}");
    }
    Python {
        exe,
        versions,
        origin,
    }
}

fn imports_pynvml(exe: &Path) -> bool {
    exe.is_file()
        && Command::new(exe)
            .args(["-c", "import pynvml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// `python3 -m venv` then `pip install nvidia-ml-py`; any failure comes back as words.
fn install_pynvml(venv: &Path, exe: &Path) -> Result<(), String> {
    // The real interpreter, not a pyenv shim, so the venv's python is a plain symlink to it.
    let base = command_output("python3", &["-c", "import sys; print(sys.executable)"]);
    if !Path::new(&base).is_file() {
        return Err(format!("no python3 to make a venv with ({base})"));
    }
    let steps: [(&str, Command); 2] = [
        ("python3 -m venv", {
            let mut cmd = Command::new(&base);
            cmd.args(["-m", "venv", "--clear"]).arg(venv);
            cmd
        }),
        ("pip install nvidia-ml-py", {
            let mut cmd = Command::new(exe);
            cmd.args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--timeout",
                "20",
                "--retries",
                "1",
                "nvidia-ml-py",
            ]);
            cmd
        }),
    ];
    for (what, mut cmd) in steps {
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{what}: {e}"))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
            return Err(format!(
                "{what} exited with {}: {}",
                out.status,
                last.unwrap_or("(no output)").trim()
            ));
        }
    }
    if imports_pynvml(exe) {
        Ok(())
    } else {
        Err("pynvml does not import after pip installed nvidia-ml-py".into())
    }
}

/// A temporary driver directory with the fake as `libnvidia-ml.so.1`, a config per GPU count,
/// and the Python script.
struct Site {
    dir: TempDir,
    library: PathBuf,
    script: PathBuf,
}

impl Site {
    fn new(fake: &Path) -> Site {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let driver = dir.path().join("driver");
        fs::create_dir(&driver).expect("create the driver directory");
        let library = driver.join("libnvidia-ml.so.1");
        std::os::unix::fs::symlink(fake, &library).expect("link the fake as libnvidia-ml.so.1");
        let script = dir.path().join("gpu_check.py");
        fs::write(&script, PYNVML_SCRIPT).expect("write the pynvml script");
        Site {
            dir,
            library,
            script,
        }
    }

    fn driver_dir(&self) -> &Path {
        self.library
            .parent()
            .expect("the library is in the driver directory")
    }

    /// The config with one gpu check needing `gpus` GPUs; written once per GPU count.
    fn config(&self, gpus: u32) -> PathBuf {
        let path = self.dir.path().join(format!("bootgate-{gpus}.yaml"));
        if !path.exists() {
            let mut text = format!(
                "deadline: 20s\nstate_dir: {}\nchecks:\n",
                self.dir.path().join("state").display()
            );
            let _ = write!(
                text,
                "  gpu:\n    kind: gpu\n    library: {}\n    count: {gpus}\n    cuda: \"12.4\"\n    \
                 free_memory: 10GiB\n    mig: disabled\n",
                self.library.display()
            );
            fs::write(&path, text).expect("write the bootgate config");
        }
        path
    }

    /// `bootgate <command> --config CONFIG` for `gpus` GPUs.
    fn bootgate(&self, command: &str, gpus: u32) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg(command).arg("--config").arg(self.config(gpus));
        clean_env(&mut cmd, gpus);
        cmd
    }

    /// The pynvml script, finding the fake through LD_LIBRARY_PATH as it would the real one.
    fn python_script(&self, exe: &Path, gpus: u32) -> Command {
        let mut cmd = Command::new(exe);
        cmd.arg(&self.script).arg(gpus.to_string());
        self.python_env(&mut cmd, gpus);
        cmd
    }

    /// The interpreter starting and importing pynvml, and nothing else: the script's floor.
    fn python_import(&self, exe: &Path, gpus: u32) -> Command {
        let mut cmd = Command::new(exe);
        cmd.args(["-c", "import pynvml"]);
        self.python_env(&mut cmd, gpus);
        cmd
    }

    fn python_env(&self, cmd: &mut Command, gpus: u32) {
        clean_env(cmd, gpus);
        let mut path = self.driver_dir().as_os_str().to_owned();
        if let Some(old) = std::env::var_os("LD_LIBRARY_PATH").filter(|p| !p.is_empty()) {
            path.push(":");
            path.push(old);
        }
        cmd.env("LD_LIBRARY_PATH", path);
    }
}

/// No `BOOTGATE_*` or `FAKE_NVML_*` leaking in from our environment; the fake gets `gpus` GPUs.
fn clean_env(cmd: &mut Command, gpus: u32) {
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        if name_text.starts_with("BOOTGATE_") || name_text.starts_with("FAKE_NVML_") {
            cmd.env_remove(&name);
        }
    }
    cmd.env("FAKE_NVML_GPUS", gpus.to_string());
}

// ---------------------------------------------------------------------------------------------
// Machine facts

fn machine_facts(report: &mut Report, fake: &Path, python: &Python) {
    let cpu = cpu_model();
    let loadavg = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    report.line("# bootgate gpu check benchmark");
    report.line("");
    report.line("Reproduce: `cargo bench --bench gpu`");
    report.line("");
    report.line(format!("- binary: `{BIN}`"));
    report.line(format!("- fake NVML: `{}` (release build)", fake.display()));
    match &python.exe {
        Ok(exe) => report.line(format!(
            "- alternative: `{}` ({}; {})",
            exe.display(),
            python.versions,
            python.origin
        )),
        Err(why) => report.line(format!("- alternative: unavailable ({why})")),
    }
    report.line(format!("- nproc: {}", command_output("nproc", &[])));
    report.line(format!("- loadavg at start: {}", loadavg.trim()));
    report.line(format!("- CPU: {cpu}"));
    report.line(format!("- kernel: {}", command_output("uname", &["-sr"])));
    report.line("");
}

// ---------------------------------------------------------------------------------------------
// 1. What each side asks NVML

fn calls_section(report: &mut Report, site: &Site, python: &Python) {
    report.line("## 1. NVML calls per run");
    report.line("");
    report.line(
        "One run each with `FAKE_NVML_LOG=1`, counting the fake's trace lines. It also shows that \
         both sides loaded the fake. The Python script asks the same questions bootgate asks \
         about versions, count, memory and uncorrected ECC errors. bootgate also reads retired \
         pages, remapped rows, the recovery-action field, the MIG mode and the compute mode.",
    );
    report.line("");
    report.line("| GPUs | bootgate check | python3 + pynvml |");
    report.line("|---|---|---|");
    for gpus in GPU_COUNTS {
        let mut cmd = site.bootgate("check", gpus);
        cmd.env("FAKE_NVML_LOG", "1");
        let gate = nvml_calls(cmd, "bootgate check (FAKE_NVML_LOG=1)");
        let py = match &python.exe {
            Ok(exe) => {
                let mut cmd = site.python_script(exe, gpus);
                cmd.env("FAKE_NVML_LOG", "1");
                nvml_calls(cmd, "pynvml script (FAKE_NVML_LOG=1)").to_string()
            }
            Err(_) => "unavailable".into(),
        };
        report.line(format!("| {gpus} | {gate} | {py} |"));
    }
    report.line("");
}

/// Runs `cmd` once and counts the fake's `fake-nvml: nvml…` trace lines; panics on none.
fn nvml_calls(cmd: Command, what: &str) -> usize {
    let (_, out) = timed(cmd, what);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let calls = stderr
        .lines()
        .filter(|l| l.starts_with("fake-nvml: nvml"))
        .count();
    assert!(
        calls > 0,
        "{what}: no fake-nvml trace, so it did not load the fake\n--- its stderr ---\n{stderr}"
    );
    calls
}

// ---------------------------------------------------------------------------------------------
// 2. Timings

/// Everything measured for one GPU count.
struct Row {
    gpus: u32,
    /// `bootgate check` spawn → exit: the verdict, NVML's work included.
    check: Stats,
    /// `bootgate validate` on the same config: spawn, parse, no NVML.
    validate: Stats,
    /// `bootgate init` spawn → exit, in a fresh state_dir.
    init: Stats,
    /// The gpu check's own span in status.json (`finished_ms − started_ms`) of those init runs.
    span: Stats,
    python: Option<PyRow>,
}

/// The Python side of a row.
struct PyRow {
    /// The pynvml script, spawn → exit.
    script: Stats,
    /// The interpreter starting and importing pynvml, no NVML calls.
    import: Stats,
    /// The script's own timing of `nvmlInit` … `nvmlShutdown`.
    span: Stats,
}

fn measure(site: &Site, gpus: u32, python: &Python) -> Row {
    eprintln!("gpus={gpus}: {WARMUP} + {RUNS} interleaved rounds");
    let mut samples: [Vec<Duration>; 7] = Default::default();
    for round in 0..WARMUP + RUNS {
        let mut taken = vec![
            timed(site.bootgate("check", gpus), "bootgate check").0,
            timed(site.bootgate("validate", gpus), "bootgate validate").0,
        ];
        let (init, span) = init_run(site, gpus);
        taken.extend([init, span]);
        if let Ok(exe) = &python.exe {
            let (script, out) = timed(site.python_script(exe, gpus), "pynvml script");
            taken.extend([script, script_span(&out)]);
            taken.push(timed(site.python_import(exe, gpus), "python3 -c 'import pynvml'").0);
        }
        if round >= WARMUP {
            for (sample, list) in taken.into_iter().zip(samples.iter_mut()) {
                list.push(sample);
            }
        }
    }
    let [check, validate, init, span, script, script_span, import] = samples;
    Row {
        gpus,
        check: Stats::of(check),
        validate: Stats::of(validate),
        init: Stats::of(init),
        span: Stats::of(span),
        python: python.exe.is_ok().then(|| PyRow {
            script: Stats::of(script),
            import: Stats::of(import),
            span: Stats::of(script_span),
        }),
    }
}

/// The `nvml_ms=` line the script writes to stderr.
fn script_span(out: &Output) -> Duration {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ms: f64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("nvml_ms="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("the pynvml script printed no nvml_ms= line:\n{stderr}"));
    Duration::from_secs_f64(ms.max(0.0) / 1000.0)
}

/// One `bootgate init` in a fresh state_dir: its wall time, and the gpu check's span that it
/// wrote to status.json.
fn init_run(site: &Site, gpus: u32) -> (Duration, Duration) {
    let state = tempfile::tempdir().expect("create a state_dir");
    let mut cmd = site.bootgate("init", gpus);
    cmd.env("BOOTGATE_STATE_DIR", state.path());
    let (took, _) = timed(cmd, "bootgate init");
    let path = state.path().join("status.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let status: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}\n{text}", path.display()));
    let check = &status["checks"][0];
    assert_eq!(
        check["state"], "passed",
        "the gpu check did not pass:\n{text}"
    );
    let field = |name: &str| {
        check[name]
            .as_f64()
            .unwrap_or_else(|| panic!("status.json has no checks[0].{name}:\n{text}"))
    };
    let span_ms = field("finished_ms") - field("started_ms");
    (took, Duration::from_secs_f64(span_ms.max(0.0) / 1000.0))
}

fn timing_section(report: &mut Report, rows: &[Row], python: &Python) {
    report.line("## 2. Time to the verdict");
    report.line("");
    report.line(format!(
        "{RUNS} runs per row after {WARMUP} warm-up rounds, all rows of a GPU count interleaved \
         round by round. The config has one gpu check: `count`, `cuda: \"12.4\"`, \
         `free_memory: 10GiB`, `mig: disabled`, `library:` the fake. Every run passes (exit 0)."
    ));
    report.line("");
    report.line("| GPUs | what | median | p90 |");
    report.line("|---|---|---|---|");
    for row in rows {
        let g = row.gpus;
        let stat_line = |report: &mut Report, what: &str, s: &Stats| {
            report.line(format!(
                "| {g} | {what} | {} | {} |",
                ms(s.median),
                ms(s.p90)
            ));
        };
        stat_line(report, "`bootgate check`, spawn → exit", &row.check);
        stat_line(
            report,
            "`bootgate validate`, same config (no NVML)",
            &row.validate,
        );
        report.line(format!(
            "| {g} | difference: the gpu check, NVML's work included | {} | – |",
            ms(row.check.median.saturating_sub(row.validate.median))
        ));
        stat_line(
            report,
            "`bootgate init`, spawn → exit (fresh state_dir)",
            &row.init,
        );
        stat_line(
            report,
            "gpu check's own span in status.json (dlopen, init, queries, shutdown)",
            &row.span,
        );
        match &row.python {
            Some(py) => {
                stat_line(report, "python3 + pynvml script, spawn → exit", &py.script);
                stat_line(
                    report,
                    "`python3 -c 'import pynvml'` (no NVML calls)",
                    &py.import,
                );
                stat_line(
                    report,
                    "the script's own span, `nvmlInit` … `nvmlShutdown` (library load included)",
                    &py.span,
                );
            }
            None => report.line(format!(
                "| {g} | python3 + pynvml script | unavailable | – |"
            )),
        }
        report.verdict(
            &format!("time to verdict, `bootgate check`, {g} GPU(s), median"),
            format!("{} (p90 {})", ms(row.check.median), ms(row.check.p90)),
            &format!("< {} (NVML's work included)", ms(TARGET)),
            row.check.median < TARGET,
        );
        report.verdict(
            &format!("gpu check's own span, {g} GPU(s), median"),
            format!("{} (p90 {})", ms(row.span.median), ms(row.span.p90)),
            &format!("< {} (NVML's work included)", ms(TARGET)),
            row.span.median < TARGET,
        );
    }
    report.line("");
    if let Err(why) = &python.exe {
        report.line(format!("The pynvml alternative is unavailable: {why}."));
        report.line("");
    }
}

fn summary_section(report: &mut Report, rows: &[Row], python: &Python) {
    if python.exe.is_err() {
        return;
    }
    report.line("## 3. Against the pynvml script (medians)");
    report.line("");
    report.line(
        "The fake answers from environment variables, so NVML's own work here is next to \
         nothing: the bootgate figures are an upper bound on bootgate's overhead. The spans are \
         each side's own timing from loading the library to `nvmlShutdown`; bootgate makes about \
         twice the calls (section 1).",
    );
    report.line("");
    report.line(
        "| GPUs | bootgate check | pynvml script | ratio (script ÷ bootgate) | gpu check's span (status.json) | script's NVML span | ratio (script ÷ bootgate) |",
    );
    report.line("|---|---|---|---|---|---|---|");
    for row in rows {
        let Some(py) = &row.python else {
            continue;
        };
        report.line(format!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.gpus,
            ms(row.check.median),
            ms(py.script.median),
            ratio(py.script.median, row.check.median),
            ms(row.span.median),
            ms(py.span.median),
            ratio(py.span.median, row.span.median),
        ));
    }
    report.line("");
}
