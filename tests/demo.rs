//! The README's demo, run as a newcomer runs it: its commands taken from the README itself, in a
//! copy of the tracked files alone (a fresh clone, with nothing built or left over), the built
//! binary standing in for `cargo run --release --`. The log the README shows must come out, in
//! order, and `/readyz` must agree with each turn it reports.

#[macro_use]
mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

const README: &str = include_str!("../README.md");
const CARGO_RUN: &str = "cargo run --release -- ";

/// The first block of `kind` (`sh`, or the empty string for a plain one) in the README's
/// "Try it" section, as lines.
fn try_it_block(kind: &str) -> Vec<&'static str> {
    let (_, section) = README
        .split_once("\n## Try it\n")
        .expect("README has a `## Try it` section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut open: Option<(&str, Vec<&'static str>)> = None;
    for line in section.lines() {
        match (line.strip_prefix("```"), open.take()) {
            (Some(opened), None) => open = Some((opened, Vec::new())),
            (Some(_), Some((was, lines))) if was == kind => return lines,
            (Some(_), Some(_)) => {}
            (None, Some((was, mut lines))) => {
                lines.push(line);
                open = Some((was, lines));
            }
            (None, None) => {}
        }
    }
    panic!("no ```{kind} block in README's Try it")
}

/// The demo's commands, as the README gives them: the words after `cargo run --release --`.
fn demo_commands() -> Vec<Vec<&'static str>> {
    try_it_block("sh")
        .into_iter()
        .filter_map(|line| line.strip_prefix(CARGO_RUN))
        .map(|line| {
            let command = line.split_once('#').map_or(line, |(command, _)| command);
            assert!(
                !command.contains(['\'', '"', '\\', '$']),
                "a README demo command this test cannot run without a shell: {command}"
            );
            command.split_whitespace().collect()
        })
        .collect()
}

/// Copies what git tracks, and only that, from the repository to `to`.
fn copy_tracked(to: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let listed = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(repo)
        .output()
        .expect("run git ls-files");
    assert!(listed.status.success(), "git ls-files: {listed:?}");
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).expect("a UTF-8 path");
        let (from, into) = (repo.join(name), to.join(name));
        // A tracked file deleted in the working tree is not in a fresh clone's future either.
        let Ok(meta) = std::fs::symlink_metadata(&from) else {
            continue;
        };
        std::fs::create_dir_all(into.parent().expect("a parent")).expect("mkdir");
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&from).expect("readlink");
            std::os::unix::fs::symlink(target, &into).expect("symlink");
        } else if meta.is_file() {
            std::fs::copy(&from, &into).expect("copy a tracked file");
        }
    }
}

/// A README command, run from the copy's root with nothing from the test's environment but
/// `PATH`.
fn command(root: &Path, words: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(words)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(root);
    cmd
}

/// Digits vary from run to run (times, counts, a pid): compared as `0`.
fn normalized(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        let digit = c.is_ascii_digit();
        if !digit {
            out.push(c);
        } else if !in_number {
            out.push('0');
        }
        in_number = digit;
    }
    out
}

/// Whether some line of `log` shows `shown` (a line of the README's excerpt, where `…` stands for
/// text left out), its digits aside.
fn shows(log: &str, shown: &str) -> bool {
    let shown = normalized(shown.trim());
    let parts: Vec<&str> = shown.split('…').map(str::trim).collect();
    log.lines().map(normalized).any(|line| {
        let mut rest = line.as_str();
        parts.iter().all(|part| match rest.find(part) {
            Some(at) => {
                rest = &rest[at + part.len()..];
                true
            }
            None => false,
        })
    })
}

/// Waits until `/readyz` answers `status`: the guard logs a turn as it makes it, so this is
/// quick, and fails only if the endpoint disagrees with the log.
fn readyz_turns(port: u16, status: u16, after: &str) {
    await_within(
        &format!("/readyz {status} after `{after}`"),
        Duration::from_secs(5),
        || get(port, "/readyz").0 == status,
    );
}

/// The demo's processes, bootgate and the model server it started, as one process group that is
/// killed whole unless the demo ended by itself: a failing test must not leave the model server
/// holding its fixed port for the next run.
struct Group {
    leader: u32,
    ended: bool,
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.ended {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.leader)])
                .status();
        }
    }
}

/// The demo's ports are fixed (the README's URLs must be the ones to open), so two runs on one
/// machine take turns, whichever checkout they run from.
fn demo_ports_lock() -> std::fs::File {
    let path: PathBuf = std::env::temp_dir().join("bootgate-demo-ports.lock");
    let file = std::fs::File::create(&path).expect("create the demo's lock file");
    file.lock().expect("lock the demo's ports");
    file
}

#[test]
fn the_readme_demo_runs_on_a_fresh_clone_and_shows_the_pods_life() {
    let commands = demo_commands();
    assert!(
        commands.len() >= 2 && commands.last().is_some_and(|c| c[0] == "run"),
        "the README's Try it gives the gate and then `run` with the demo model: {commands:?}"
    );
    let scene = Scene::new();
    let root = scene.path("clone");
    copy_tracked(&root);
    let _ports = demo_ports_lock();

    let (gates, [run]) = commands.split_at(commands.len() - 1) else {
        unreachable!("at least two commands")
    };
    for words in gates {
        let out = command(&root, words)
            .output()
            .expect("run a README command");
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{words:?}:\n{log}");
        assert_contains!(log, "gate passed in");
    }

    let mut cmd = command(&root, run);
    cmd.process_group(0);
    let mut demo = scene.start(cmd);
    let mut group = Group {
        leader: demo.child.id(),
        ended: false,
    };
    let port = guard_port(&mut demo);
    let urls = demo.stderr();
    assert_contains!(urls, format!("http://127.0.0.1:{port}/readyz"));
    assert_contains!(urls, format!("http://127.0.0.1:{port}/status"));
    demo.wait_for_line("model: loading");
    assert_eq!(get(port, "/readyz").0, 503, "ready while the model loads");
    for (turn, status) in [
        ("readiness: starting -> ready", 200),
        ("readiness: ready -> unready", 503),
        ("readiness: unready -> ready", 200),
    ] {
        demo.wait_for_line(turn);
        readyz_turns(port, status, turn);
    }
    // The page the log points at draws the demo's gate, and its sentinel has failed since.
    let (status, _, page) = get(port, "/status");
    assert_eq!(status, 200, "{page}");
    for check in ["provision", "hf-token", "weights", "tokenizer", "gpu"] {
        assert_contains!(page, format!("data-check=\"{check}\""));
    }
    assert_contains!(page, "<rect class=fail");
    let (status, _) = demo.wait();
    group.ended = true;
    let log = demo.full_stderr();
    assert_eq!(status.code(), Some(0), "{log}");
    assert_contains!(log, "python3 exited with 0");

    let shown = try_it_block("");
    assert!(
        shown.len() >= 5,
        "README's Try it shows the demo's log: {shown:?}"
    );
    for line in shown {
        assert!(
            shows(&log, line),
            "README shows a line the demo does not print:\n{line}\nthe demo's log:\n{log}"
        );
    }
}

#[test]
fn a_readme_excerpt_matches_its_line_whatever_the_digits() {
    let log = "2026-12-05T07:34:06Z  INFO readiness: starting -> ready: 4 rounds, green for 2.0s\n";
    assert!(shows(
        log,
        "INFO readiness: starting -> ready: 2 rounds, green for 2.1s"
    ));
    assert!(shows(
        log,
        "INFO readiness: starting -> ready: … green for 2.0s"
    ));
    assert!(!shows(log, "INFO readiness: ready -> unready"));
    assert!(!shows(log, "INFO readiness: … green … rounds"));
}
