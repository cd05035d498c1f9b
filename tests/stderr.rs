//! A standard error nobody can write to (`2>/dev/full`, a log collector that went away) costs
//! the log lines and nothing else: status.json, the exit code, the probes and the marker all
//! stay right.

#[macro_use]
mod common;

use std::fs::{File, OpenOptions};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use common::*;

/// How the test makes standard error unwritable.
#[derive(Clone, Copy, Debug)]
enum Broken {
    /// Every write fails with ENOSPC.
    DevFull,
    /// A pipe whose reading end is closed: every write fails with EPIPE.
    ClosedPipe,
}

impl Broken {
    const ALL: [Broken; 2] = [Broken::DevFull, Broken::ClosedPipe];

    /// Spawns `command` with its standard error broken.
    fn spawn(self, mut command: Command) -> Child {
        match self {
            Broken::DevFull => command.stderr(dev_full()),
            Broken::ClosedPipe => command.stderr(Stdio::piped()),
        };
        let mut child = command.spawn().expect("spawn bootgate");
        // The reading end goes before bootgate writes anything.
        drop(child.stderr.take());
        child
    }
}

/// `bootgate ARGS` with stdout to /dev/null.
fn quiet(scene: &Scene, args: &[&str]) -> Command {
    let mut command = scene.command(args, &[]);
    command.stdout(Stdio::null());
    command
}

fn dev_full() -> File {
    OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full")
}

fn wait_with_patience(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("bootgate did not exit");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn init_passes_and_fails_as_usual_when_nothing_can_be_logged() {
    for broken in Broken::ALL {
        let scene = Scene::new();
        std::fs::write(scene.path("model"), "weights").unwrap();
        let config = scene.config(
            "deadline: 20s\nchecks:\n  model: {kind: file, path: '@/model'}\n  probe: {kind: exec, command: [sh, -c, 'echo progress >&2']}\n",
        );
        let mut gate = broken.spawn(quiet(
            &scene,
            &["init", "--config", config.to_str().unwrap()],
        ));
        let status = wait_with_patience(&mut gate);
        assert_eq!(status.code(), Some(0), "{broken:?}");
        assert_eq!(scene.status()["outcome"], "passed", "{broken:?}");
        assert!(scene.state_dir().join("ready").exists(), "{broken:?}");

        // A gate that fails says so in its exit code and status.json all the same.
        let scene = Scene::new();
        let config =
            scene.config("deadline: 20s\nchecks:\n  api-key: {kind: secret, env: API_KEY}\n");
        let mut gate = broken.spawn(quiet(
            &scene,
            &["init", "--config", config.to_str().unwrap()],
        ));
        let status = wait_with_patience(&mut gate);
        assert_eq!(status.code(), Some(1), "{broken:?}");
        assert_eq!(scene.status()["outcome"], "failed", "{broken:?}");
        assert!(!scene.state_dir().join("ready").exists(), "{broken:?}");
    }
}

#[test]
fn a_sidecar_that_cannot_log_keeps_serving_and_drains() {
    for broken in Broken::ALL {
        let scene = Scene::new();
        let model = HttpServer::start(200, "ok");
        let port = free_port();
        let config = scene.config(&format!(
            "listen: \"127.0.0.1:{port}\"\ndrain: 100ms\n{}",
            health_sentinel(&model)
        ));
        let mut sidecar = broken.spawn(quiet(
            &scene,
            &["sidecar", "--config", config.to_str().unwrap()],
        ));
        let marker = scene.state_dir().join("ready");
        await_that("the probe port answers", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        await_that("the ready marker appears", || marker.exists());
        // Many log lines later (every probe is served, none is logged to a broken stderr).
        for _ in 0..20 {
            assert_eq!(get(port, "/livez").0, 200, "{broken:?}");
            assert_eq!(get(port, "/readyz").0, 200, "{broken:?}");
        }
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &sidecar.id().to_string()])
            .status();
        let status = wait_with_patience(&mut sidecar);
        assert_eq!(status.code(), Some(0), "{broken:?}");
        assert!(
            !Path::new(&marker).exists(),
            "{broken:?}: stale ready marker"
        );
    }
}

#[test]
fn check_reports_its_verdict_in_the_exit_code_when_nothing_can_be_written() {
    for broken in Broken::ALL {
        let scene = Scene::new();
        let config =
            scene.config("deadline: 20s\nchecks:\n  api-key: {kind: secret, env: API_KEY}\n");
        let mut command = scene.command(
            &["check", "--wait", "--config", config.to_str().unwrap()],
            &[("API_KEY", "sk-live-1234")],
        );
        command.stdout(dev_full());
        let mut check = broken.spawn(command);
        assert_eq!(wait_with_patience(&mut check).code(), Some(0), "{broken:?}");
    }
}
