//! The state directory is shared with the model server, which can write it too: no link
//! planted there is followed, what the gate leaves agrees with its exit code, every error
//! names the entry, and the sidecar reads status.json as a file someone else controls.

#[macro_use]
mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use rustix::fs::inotify;

/// A gate that passes at once, leaving every file a gate writes: status.json, env, ready.
const PASSING: &str = "deadline: 20s\nchecks:\n  model: {kind: file, path: '@/model'}\n";

fn passing_scene() -> Scene {
    let scene = Scene::new();
    std::fs::write(scene.path("model"), "weights").unwrap();
    scene
}

/// Names of the entries in `dir`.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn links_planted_in_state_dir_are_never_followed() {
    for name in [
        "lock",
        "status.json.tmp",
        "env.tmp",
        "ready.tmp",
        "status.json",
        "env",
        "ready",
    ] {
        let scene = passing_scene();
        let outside = scene.path("outside");
        std::fs::create_dir(&outside).unwrap();
        let victim = outside.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::fs::create_dir(scene.state_dir()).unwrap();
        // One link to a file that exists (overwritten, truncated?), one to a name that does
        // not (created?).
        symlink(&victim, scene.state_dir().join(name)).unwrap();
        let (done, message) = scene.init_reporting(PASSING, &[]);
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "precious",
            "{name}: written through the link"
        );
        if name == "lock" {
            assert_eq!(done.code(), Some(1), "{name}: {}", done.stderr);
            let lock = scene.state_dir().join("lock");
            let expected = format!(
                "cannot open {}: it is a symbolic link, and bootgate follows none in its state_dir",
                lock.display()
            );
            assert_contains!(done.stderr, expected);
            assert_contains!(message, expected);
        } else {
            assert_eq!(done.code(), Some(0), "{name}: {}", done.stderr);
            assert_eq!(scene.status()["outcome"], "passed", "{name}");
        }

        let scene = passing_scene();
        std::fs::create_dir(scene.state_dir()).unwrap();
        let created = scene.path("created-through-a-link");
        symlink(&created, scene.state_dir().join(name)).unwrap();
        let done = scene.init(PASSING, &[]);
        assert!(!created.exists(), "{name}: created through the link");
        let expected = if name == "lock" { 1 } else { 0 };
        assert_eq!(done.code(), Some(expected), "{name}: {}", done.stderr);
    }
}

#[test]
fn the_sidecars_marker_is_never_written_through_a_link() {
    let scene = Scene::new();
    let victim = scene.path("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::create_dir(scene.state_dir()).unwrap();
    for name in ["ready.tmp", "ready"] {
        symlink(&victim, scene.state_dir().join(name)).unwrap();
    }
    let model = HttpServer::start(200, "ok");
    let config = scene.config(&format!(
        "listen: \"127.0.0.1:0\"\ndrain: 100ms\n{}",
        health_sentinel(&model)
    ));
    let mut sidecar = scene.spawn(&["sidecar", "--config", config.to_str().unwrap()], &[]);
    sidecar.wait_for_line("readiness: starting -> ready");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(
        std::fs::read_to_string(scene.state_dir().join("ready")).unwrap(),
        "ready\n"
    );
    sidecar.signal("TERM");
    assert_eq!(sidecar.wait().0.code(), Some(0));
}

#[test]
fn a_state_dir_that_is_a_link_or_a_file_is_refused_by_name() {
    let scene = passing_scene();
    let real = scene.path("real");
    std::fs::create_dir(&real).unwrap();
    symlink(&real, scene.state_dir()).unwrap();
    let done = scene.init(PASSING, &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(
        done.stderr,
        format!(
            "cannot use state_dir {}: it is a symbolic link, and bootgate follows none in its state_dir",
            scene.state_dir().display()
        )
    );
    assert!(entries(&real).is_empty(), "written through the link");

    let scene = passing_scene();
    std::fs::write(scene.state_dir(), "a file").unwrap();
    let (done, message) = scene.init_reporting(PASSING, &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    let expected = format!(
        "cannot use state_dir {}: it is not a directory",
        scene.state_dir().display()
    );
    assert_contains!(done.stderr, expected);
    assert_contains!(message, expected);
}

#[test]
fn an_entry_that_is_a_directory_is_named() {
    for (name, action) in [
        ("lock", "open"),
        ("ready", "remove the stale"),
        ("status.json", "remove the stale"),
    ] {
        let scene = passing_scene();
        std::fs::create_dir_all(scene.state_dir().join(name).join("inside")).unwrap();
        let (done, message) = scene.init_reporting(PASSING, &[]);
        assert_eq!(done.code(), Some(1), "{name}: {}", done.stderr);
        let expected = format!(
            "cannot {action} {}: it is a directory",
            scene.state_dir().join(name).display()
        );
        assert_contains!(done.stderr, expected);
        assert_contains!(message, expected);
        assert!(!done.stderr.contains("os error"), "{}", done.stderr);
    }
}

#[test]
fn a_file_the_gate_cannot_leave_fails_it_and_status_json_says_why() {
    // A directory appears where the gate's file goes, while the gate runs (a mistaken volume
    // mount, a server that got there first).
    for name in ["ready", "env"] {
        let scene = passing_scene();
        let planted = scene.state_dir().join(name);
        let config = format!(
            "deadline: 20s\nchecks:\n  model: {{kind: file, path: '@/model'}}\n  plant: {{kind: exec, command: [mkdir, -p, '{}/inside']}}\n",
            planted.display()
        );
        let (done, message) = scene.init_reporting(&config, &[]);
        assert_eq!(done.code(), Some(1), "{name}: {}", done.stderr);
        let status = scene.status();
        assert_eq!(status["outcome"], "failed", "{name}: {status}");
        let expected = format!("cannot write {}: it is a directory", planted.display());
        assert_eq!(status["error"], expected.as_str(), "{name}");
        assert_contains!(done.stderr, expected);
        assert_contains!(message, expected);
        let left = entries(&scene.state_dir());
        assert!(!left.iter().any(|e| e.ends_with(".tmp")), "{left:?}");
        if name == "env" {
            assert!(!left.contains(&"ready".to_string()), "{left:?}");
        }
    }
}

#[test]
fn an_invalid_config_leaves_no_stale_marker_unless_a_running_bootgate_holds_the_lock() {
    // An earlier gate passed and left its files.
    let scene = passing_scene();
    assert_eq!(scene.init(PASSING, &[]).code(), Some(0));
    for name in ["ready", "status.json", "env"] {
        assert!(scene.state_dir().join(name).exists(), "{name}");
    }
    let done = scene.init("checks:\n  model: {kind: flie, path: '@/model'}\n", &[]);
    assert_eq!(done.code(), Some(2), "{}", done.stderr);
    let left = entries(&scene.state_dir());
    assert_eq!(
        left,
        ["lock"],
        "an earlier gate's files outlived an invalid config"
    );

    // A sidecar whose config went bad drops its own marker, and leaves the gate's files.
    let scene = passing_scene();
    assert_eq!(scene.init(PASSING, &[]).code(), Some(0));
    let config = scene.config("listen: 127.0.0.1:99999\nchecks: {}\n");
    let done = scene.run(&["sidecar", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(done.code(), Some(2), "{}", done.stderr);
    assert_eq!(entries(&scene.state_dir()), ["env", "lock", "status.json"]);

    // `run` serving holds the lock: its marker is its own, whatever another config says.
    let scene = passing_scene();
    let config = scene.config(&format!("listen: \"127.0.0.1:0\"\ndrain: 100ms\n{PASSING}"));
    let mut running = scene.spawn(&["run", "--config", config.to_str().unwrap()], &[]);
    running.wait_for_line("readiness: starting -> ready");
    let done = scene.init("checks:\n  model: {kind: flie, path: '@/model'}\n", &[]);
    assert_eq!(done.code(), Some(2), "{}", done.stderr);
    assert!(scene.state_dir().join("ready").exists(), "{}", done.stderr);
    assert_contains!(done.stderr, "is locked by a running bootgate");
    running.signal("TERM");
    assert_eq!(running.wait().0.code(), Some(0));
}

/// Runs `bootgate ARGS` in a mount namespace of its own, with `state_dir` a tmpfs of `size`,
/// and returns its exit code, and what the state_dir held once it exited (`name` lines, then
/// status.json). `None` where this machine allows no such namespace.
fn on_a_small_tmpfs(scene: &Scene, size: &str, args: &[&str]) -> Option<(i32, String, String)> {
    let state = scene.state_dir();
    std::fs::create_dir_all(&state).unwrap();
    let script = r#"
        state=$1; size=$2; shift 2
        mount -t tmpfs -o "size=$size" tmpfs "$state" || exit 100
        "$@" 2>"$state.log"
        code=$?
        echo "exit $code"
        ls -A "$state"
        echo "--- status.json"
        cat "$state/status.json" 2>/dev/null
        exit 0
    "#;
    let root = rustix::process::geteuid().is_root();
    let mut command = Command::new("unshare");
    command.arg("--mount");
    if !root {
        command.arg("--map-root-user");
    }
    let out = command
        .args(["--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&state)
        .arg(size)
        .arg(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BOOTGATE_STATE_DIR", &state)
        .current_dir(scene.dir.path())
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let Some(code) = stdout
        .lines()
        .find_map(|l| l.strip_prefix("exit "))
        .and_then(|c| c.parse().ok())
    else {
        eprintln!(
            "skipped: no tmpfs in a mount namespace here: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    };
    let (listing, status) = stdout
        .split_once("--- status.json\n")
        .unwrap_or((&stdout, ""));
    let log = std::fs::read_to_string(format!("{}.log", state.display())).unwrap_or_default();
    let listing = listing.lines().skip(1).collect::<Vec<_>>().join("\n");
    Some((
        code,
        format!("{listing}\n--- log\n{log}"),
        status.to_string(),
    ))
}

#[test]
fn a_full_disk_fails_the_gate_without_a_running_status_or_temporaries() {
    let scene = passing_scene();
    // A check that waits for the first status.json ("running"), fills the state_dir's
    // filesystem and passes: every file the gate writes after it finds no space.
    let config = scene.config(
        "deadline: 20s\nchecks:\n  model: {kind: file, path: '@/model'}\n  fill: {kind: exec, command: [sh, -c, 'cd \"$BOOTGATE_STATE_DIR\"; until [ -e status.json ]; do sleep 0.01; done; cat /dev/zero > filler; true']}\n",
    );
    let Some((code, listing, status)) = on_a_small_tmpfs(
        &scene,
        "256k",
        &["init", "--config", config.to_str().unwrap()],
    ) else {
        return;
    };
    assert_eq!(code, 1, "{listing}");
    assert!(
        !listing.lines().any(|l| l.ends_with(".tmp")),
        "temporaries left behind:\n{listing}"
    );
    assert!(
        !listing.lines().any(|l| l == "ready"),
        "a ready marker:\n{listing}"
    );
    // Either no status.json, or one that says the gate failed; never "running" or "passed".
    if !status.trim().is_empty() {
        let status: serde_json::Value = serde_json::from_str(&status).expect("whole JSON");
        assert_eq!(status["outcome"], "failed", "{status}");
    }
    assert_contains!(
        listing,
        format!(
            "cannot write {}/env: no space left on the device",
            scene.state_dir().display()
        )
    );
}

#[test]
fn the_sidecar_reads_status_json_bounded_without_blocking_or_following_links() {
    let fifo = |path: &Path| mkfifo(path);
    let zero = |path: &Path| symlink("/dev/zero", path).unwrap();
    let elsewhere = |path: &Path| {
        let real = path.with_file_name("real-status.json");
        std::fs::write(&real, r#"{"checks":[{"name":"planted","state":"failed"}]}"#).unwrap();
        symlink(real, path).unwrap();
    };
    type Plant<'a> = (&'a str, &'a dyn Fn(&Path), &'a str);
    let cases: [Plant<'_>; 3] = [
        ("a FIFO", &fifo, "it is a FIFO, not a regular file"),
        (
            "a link to /dev/zero",
            &zero,
            "it is a symbolic link, and bootgate follows none in its state_dir",
        ),
        (
            "a link to a file elsewhere",
            &elsewhere,
            "it is a symbolic link, and bootgate follows none in its state_dir",
        ),
    ];
    for (what, plant, said) in cases {
        let scene = Scene::new();
        std::fs::create_dir(scene.state_dir()).unwrap();
        let status: PathBuf = scene.state_dir().join("status.json");
        plant(&status);
        let model = HttpServer::start(200, "ok");
        let config = scene.config(&format!(
            "listen: \"127.0.0.1:0\"\ndrain: 100ms\n{}",
            health_sentinel(&model)
        ));
        // A read of /dev/zero to the end would take every byte of memory there is: the cap
        // keeps a regression from taking the machine with it.
        let mut sidecar = scene.start(scene.command_after(
            "ulimit -v 4194304",
            &["sidecar", "--config", config.to_str().unwrap()],
            &[],
        ));
        let port = guard_port(&mut sidecar);
        sidecar.wait_for_line(&format!(
            "cannot read {}: {said}; the gate's checks are not shown",
            status.display()
        ));
        sidecar.wait_for_line("readiness: starting -> ready");
        assert_eq!(get(port, "/livez").0, 200, "{what}");
        let (code, _, body) = get(port, "/readyz?verbose");
        assert_eq!(code, 200, "{what}: {body}");
        assert!(!body.contains("planted"), "{what}: {body}");
        sidecar.signal("TERM");
        assert_eq!(sidecar.wait().0.code(), Some(0), "{what}");
    }
}

#[test]
fn any_bytes_in_status_json_parse_without_a_panic() {
    let scene = passing_scene();
    assert_eq!(scene.init(PASSING, &[]).code(), Some(0));
    let real = std::fs::read(scene.state_dir().join("status.json")).unwrap();
    let mut seeds: Vec<Vec<u8>> = vec![
        real,
        b"[".repeat(100_000),
        br#"{"checks":5}"#.to_vec(),
        br#"{"checks":[1,"a",null,{"name":5},{"name":"x","state":{"a":1}}]}"#.to_vec(),
        br#"{"checks":[{"name":"g","state":"passed","gpu":{"visible":-1,"gpus":[{"index":1e999}]}}]}"#.to_vec(),
        br#"{"checks":[{"name":"g","state":"degraded","forced":"\u0000\n\n","gpu":{"visible":4294967296,"gpus":[]}}]}"#.to_vec(),
        vec![0xff, 0xfe, b'{', 0xc3],
        Vec::new(),
    ];
    // Mutations of each seed: bytes flipped, cut short, or repeated.
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for seed in seeds.clone() {
        for _ in 0..2_000 {
            let mut bytes = seed.clone();
            for _ in 0..1 + next() % 4 {
                if bytes.is_empty() {
                    bytes.push(next() as u8);
                    continue;
                }
                let at = (next() % bytes.len() as u64) as usize;
                match next() % 3 {
                    0 => bytes[at] = next() as u8,
                    1 => bytes.truncate(at),
                    _ => {
                        let piece = bytes[at..].to_vec();
                        bytes.extend_from_slice(&piece);
                    }
                }
            }
            seeds.push(bytes);
        }
    }
    for bytes in &seeds {
        let _ = bootgate::guard::parse_gate_record(bytes);
    }
}

#[test]
fn no_ready_marker_appears_even_for_a_moment_when_status_json_cannot_be_written() {
    let scene = passing_scene();
    let state = scene.state_dir();
    std::fs::create_dir(&state).unwrap();
    // Every entry that appears in the state_dir, however briefly.
    let watch = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC)
        .expect("inotify");
    inotify::add_watch(
        &watch,
        &state,
        inotify::WatchFlags::CREATE | inotify::WatchFlags::MOVED_TO,
    )
    .expect("a watch on the state_dir");
    // A directory takes status.json's place while the gate runs: every later write of it fails.
    let config = "deadline: 20s\nchecks:\n  model: {kind: file, path: '@/model'}\n  plant: {kind: exec, command: [sh, -c, 'cd \"$BOOTGATE_STATE_DIR\"; until mkdir -p status.json/inside 2>/dev/null; do rm -f status.json; done']}\n";
    let (done, message) = scene.init_reporting(config, &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    let expected = format!(
        "cannot write {}: it is a directory",
        state.join("status.json").display()
    );
    assert_contains!(done.stderr, expected);
    assert_contains!(message, expected);

    let mut buf = vec![std::mem::MaybeUninit::uninit(); 64 * 1024];
    let mut events = inotify::Reader::new(&watch, &mut buf);
    let mut appeared = Vec::new();
    while let Ok(event) = events.next() {
        if let Some(name) = event.file_name() {
            appeared.push(name.to_string_lossy().into_owned());
        }
    }
    assert!(
        appeared.contains(&"env".to_string()),
        "the watch saw nothing: {appeared:?}"
    );
    assert!(
        !appeared.iter().any(|name| name.starts_with("ready")),
        "a ready marker appeared: {appeared:?}"
    );
}

#[test]
fn a_temporary_left_by_an_earlier_process_of_the_same_pid_does_not_block_the_marker() {
    // A container's PID 1 is PID 1 again after a restart: a sidecar killed in the middle of a
    // write left a temporary with the name the next one gives its first write.
    let scene = Scene::new();
    std::fs::create_dir(scene.state_dir()).unwrap();
    let model = HttpServer::start(200, "ok");
    let config = scene.config(&format!(
        "listen: \"127.0.0.1:0\"\ndrain: 100ms\n{}",
        health_sentinel(&model)
    ));
    let left = format!(
        "for n in 0 1 2; do echo stale > '{}'/ready.$$.$n.tmp || exit 97; done",
        scene.state_dir().display()
    );
    let mut sidecar = scene.start(scene.command_after(
        &left,
        &["sidecar", "--config", config.to_str().unwrap()],
        &[],
    ));
    sidecar.wait_for_line("readiness: starting -> ready");
    assert_eq!(
        std::fs::read_to_string(scene.state_dir().join("ready")).unwrap_or_default(),
        "ready\n",
        "{}",
        sidecar.stderr()
    );
    sidecar.signal("TERM");
    assert_eq!(sidecar.wait().0.code(), Some(0));
}
