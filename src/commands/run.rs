//! `bootgate run [-- CMD]`: the gate, then the guard, in one process — for pods without GPUs,
//! for the server's own container, and outside Kubernetes.
//!
//! With a command, bootgate is its parent: it starts it once the gate passes, forwards every
//! signal to it, reaps whatever orphans land on it (it may be PID 1), keeps guarding alongside,
//! and exits with the command's exit code.

use std::process::Command;

use rustix::process::{Pid, Signal, WaitOptions, kill_process, waitpid};
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::Instant;

use super::init::{Marker, gate, load_or_report, termination_log};
use crate::cli::RunArgs;
use crate::exit::Exit;
use crate::guard::{Ended, Guard};
use crate::redact::Redactor;
use crate::signals::Stop;

pub async fn run(args: RunArgs, mut stop: Stop) -> Exit {
    let started = Instant::now();
    let termination_log = termination_log(args.termination_log);
    let (config, graph) = match load_or_report(&args.config.config, termination_log.as_deref()) {
        Ok(loaded) => loaded,
        Err(exit) => return exit,
    };
    let redactor = Redactor::new(config.sensitive.iter().cloned());
    // Up before the gate, so /livez answers and /startupz says "not yet" while it runs.
    let mut guard = match Guard::start(&config, redactor.clone()).await {
        Ok(guard) => guard,
        Err(exit) => return exit,
    };
    let gated = gate(
        &config,
        &graph,
        termination_log.as_deref(),
        redactor.clone(),
        started,
        Marker::Guard,
        &mut stop,
    )
    .await;
    if gated.exit != Exit::Passed {
        guard.stop().await;
        return gated.exit;
    }
    let Some((program, arguments)) = args.command.split_first() else {
        guard.begin();
        guard.reload_from(&config, true);
        return guard.until_signal(&mut stop).await;
    };
    // The server starts before readiness is decided: without a sentinel, "ready" must not be
    // said of a server that does not exist yet.
    let mut child = match Child::start(program, arguments, &gated.safe_mode) {
        Ok(child) => child,
        Err(reason) => {
            tracing::error!("{reason}");
            guard.stop().await;
            // The shell's convention for a command that cannot be found or run.
            return Exit::Child(127);
        }
    };
    guard.begin();
    // SIGHUP is the command's; a ConfigMap update still reaches bootgate through the file.
    guard.reload_from(&config, false);
    let code = match guard.watch_until(&mut stop, child.exited()).await {
        Ended::Other(code) => {
            tracing::info!("{program} exited with {code}");
            code
        }
        Ended::Signal(name) => {
            // The kubelet's SIGTERM is meant for the server: pass it on, stop taking traffic,
            // and let the server finish its own shutdown.
            child.forward(if name == "SIGINT" {
                Signal::INT
            } else {
                Signal::TERM
            });
            guard.drain(name);
            loop {
                tokio::select! {
                    code = child.exited() => break code,
                    again = stop.requested() => {
                        child.forward(if again == "SIGINT" { Signal::INT } else { Signal::TERM });
                    }
                }
            }
        }
    };
    guard.stop().await;
    Exit::Child(code)
}

/// The command, with the signal streams bootgate forwards to it and SIGCHLD for reaping.
struct Child {
    pid: Pid,
    name: String,
    children: tokio::signal::unix::Signal,
    forwarded: Vec<(tokio::signal::unix::Signal, Signal)>,
}

impl Child {
    fn start(
        program: &str,
        arguments: &[String],
        safe_mode: &[(&'static str, String)],
    ) -> Result<Child, String> {
        // Orphans of the command (a worker whose parent died) re-parent to bootgate, which
        // reaps them, whether or not it is PID 1.
        crate::processes::become_subreaper();
        // Listen for SIGCHLD before the child exists, so its exit cannot be missed.
        let children =
            signal(SignalKind::child()).map_err(|e| format!("cannot watch for SIGCHLD: {e}"))?;
        let mut forwarded = Vec::new();
        for (kind, sig) in [
            (SignalKind::hangup(), Signal::HUP),
            (SignalKind::quit(), Signal::QUIT),
            (SignalKind::user_defined1(), Signal::USR1),
            (SignalKind::user_defined2(), Signal::USR2),
        ] {
            if let Ok(stream) = signal(kind) {
                forwarded.push((stream, sig));
            }
        }
        let spawned = Command::new(program)
            .args(arguments)
            .envs(safe_mode.iter().map(|(k, v)| (k, v)))
            .spawn()
            .map_err(|e| format!("cannot start {program}: {}", crate::text::io_phrase(&e)))?;
        let pid = i32::try_from(spawned.id())
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| format!("{program} got an invalid pid"))?;
        // `spawned` is dropped without waiting: the reaper below collects its status.
        tracing::info!(
            "gate passed; started {program} (pid {})",
            pid.as_raw_nonzero()
        );
        Ok(Child {
            pid,
            name: program.to_string(),
            children,
            forwarded,
        })
    }

    fn forward(&self, sig: Signal) {
        if let Err(e) = kill_process(self.pid, sig) {
            tracing::warn!("cannot signal {}: {e}", self.name);
        }
    }

    /// Reaps the orphans that landed on bootgate, then the command: its exit code once it has
    /// exited. Never `waitpid(-1)`: that would steal the exit status of an exec check's
    /// process from tokio.
    fn reap(&self) -> Option<u8> {
        for orphan in crate::processes::zombie_children() {
            if orphan != self.pid.as_raw_nonzero().get() as u32
                && !crate::processes::claimed(orphan)
                && let Some(pid) = i32::try_from(orphan).ok().and_then(Pid::from_raw)
                && let Ok(Some(_)) = waitpid(Some(pid), WaitOptions::NOHANG)
            {
                // Rare (a daemon that double-forked), and worth knowing when it happens.
                tracing::info!("reaped orphan process {orphan}");
            }
        }
        match waitpid(Some(self.pid), WaitOptions::NOHANG) {
            Ok(Some((_, status))) => {
                let code = match (status.exit_status(), status.terminating_signal()) {
                    (Some(code), _) => code,
                    (None, Some(sig)) => 128 + sig,
                    (None, None) => 1,
                };
                Some(u8::try_from(code).unwrap_or(1))
            }
            Ok(None) | Err(_) => None,
        }
    }

    /// Forwards signals until the command exits; returns its exit code.
    async fn exited(&mut self) -> u8 {
        loop {
            if let Some(code) = self.reap() {
                return code;
            }
            let forward = async {
                let waits = self.forwarded.iter_mut().map(|(stream, sig)| {
                    let sig = *sig;
                    Box::pin(async move {
                        stream.recv().await;
                        sig
                    })
                });
                futures_select_all(waits).await
            };
            tokio::select! {
                _ = self.children.recv() => {}
                sig = forward => {
                    if let Err(e) = kill_process(self.pid, sig) {
                        tracing::warn!("cannot forward a signal to {}: {e}", self.name);
                    }
                }
            }
        }
    }
}

/// The first of several futures to finish (no futures-util for one helper).
async fn futures_select_all<F>(futures: impl Iterator<Item = std::pin::Pin<Box<F>>>) -> Signal
where
    F: std::future::Future<Output = Signal>,
{
    let mut futures: Vec<_> = futures.collect();
    if futures.is_empty() {
        return std::future::pending().await;
    }
    std::future::poll_fn(|cx| {
        for future in futures.iter_mut() {
            if let std::task::Poll::Ready(sig) = future.as_mut().poll(cx) {
                return std::task::Poll::Ready(sig);
            }
        }
        std::task::Poll::Pending
    })
    .await
}
