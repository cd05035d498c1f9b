//! The guard: the half of bootgate the kubelet talks to for the life of the pod. It runs the
//! sentinel on its own schedule, keeps one readiness verdict, and serves it from memory.

pub mod metrics;
pub mod notify;
pub mod readiness;
pub mod sentinel;
pub mod server;

use std::path::Path;
use std::sync::{Arc, RwLock};

use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until};

use crate::config::Config;
use crate::exit::Exit;
use crate::redact::Redactor;
use crate::signals::Stop;
use crate::statedir::{READY, STATUS};
use metrics::{Metrics, label};
use readiness::{Phase, Readiness, Transition};
use server::{Line, Shared, Snapshot};

/// The `/readyz` line for the sentinel's verdict.
const SENTINEL: &str = "sentinel";
/// The `/readyz` line that fails while draining, as the apiserver's `shutdown` check does.
const SHUTDOWN: &str = "shutdown";

pub async fn run(config: &Config, redactor: Redactor, stop: &mut Stop) -> Exit {
    let spec = &config.guard;
    let marker = config.state_dir.join(READY);
    if let Err(e) = std::fs::create_dir_all(&config.state_dir) {
        tracing::warn!(
            "cannot create {}: {e}; no ready marker",
            config.state_dir.display()
        );
    }
    // The gate's marker meant "gate passed"; from here on it means "serving".
    let _ = std::fs::remove_file(&marker);
    let shared = Arc::new(Shared {
        snapshot: RwLock::new(Snapshot {
            lines: gate_lines(&config.state_dir.join(STATUS)),
            pins: spec.pins.clone(),
            details_for_all: spec.details_for_all,
            ..Snapshot::default()
        }),
        metrics: Metrics::new(&spec.pins),
    });
    let listener = match server::bind(&spec.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!("cannot listen on {}: {e}", spec.listen);
            return Exit::Failed;
        }
    };
    let address = listener
        .local_addr()
        .map_or_else(|_| spec.listen.clone(), |a| a.to_string());
    tracing::info!(
        "bootgate {} guard listening on {address}",
        env!("CARGO_PKG_VERSION")
    );
    let (stop_server, server_stopped) = watch::channel(false);
    let server = tokio::spawn(server::serve(listener, shared.clone(), server_stopped));

    let mut guard = Guard {
        shared: &shared,
        marker: &marker,
        readiness: match &spec.sentinel {
            Some(s) => Readiness::new(s.success_threshold, s.failure_threshold, s.hold),
            None => Readiness::new(1, 1, std::time::Duration::ZERO),
        },
        last_reason: "no sentinel round has finished yet".into(),
        last_queries: Vec::new(),
        notifier: notify::Notifier::from_env(),
        failing: None,
    };
    for line in guard.read().lines.iter().filter(|l| l.name != SENTINEL) {
        shared
            .metrics
            .check_up
            .get_or_create(&label("check", &line.name))
            .set(i64::from(line.ok));
    }
    guard.publish();
    if spec.sentinel.is_none() {
        let change = guard.readiness.ready_without_sentinel();
        guard.apply(change);
    }

    let mut next_round = Instant::now();
    let signal = loop {
        let round = async {
            match &spec.sentinel {
                Some(s) => {
                    sleep_until(next_round).await;
                    sentinel::round(s, &redactor).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            signal = stop.requested() => break signal,
            round = round => {
                // Rounds never overlap: the next starts an interval after this one started,
                // or at once if this one ran longer.
                if let Some(s) = &spec.sentinel {
                    next_round = round.started + s.interval;
                }
                guard.record(&round);
            }
        }
    };

    let change = guard.readiness.drain(signal);
    guard.apply(change);
    tracing::info!(
        "draining: answering 503 for {} before exiting",
        crate::config::units::human_duration(spec.drain)
    );
    tokio::select! {
        _ = sleep(spec.drain) => {}
        again = stop.requested() => tracing::warn!("{again} received again; exiting now"),
    }
    let _ = stop_server.send(true);
    let _ = server.await;
    tracing::info!("drained; exiting");
    Exit::Passed
}

struct Guard<'a> {
    shared: &'a Arc<Shared>,
    marker: &'a Path,
    readiness: Readiness,
    last_reason: String,
    last_queries: Vec<server::QueryView>,
    notifier: notify::Notifier,
    /// The failure last logged, so a failing sentinel logs once per new reason, not per round.
    failing: Option<String>,
}

impl Guard<'_> {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.shared.read()
    }

    fn record(&mut self, round: &sentinel::Round) {
        let metrics = &self.shared.metrics;
        let result = if round.passed { "pass" } else { "fail" };
        metrics.rounds.get_or_create(&label("result", result)).inc();
        for q in &round.results {
            metrics
                .latency
                .get_or_create(&label("query", &q.name))
                .observe(q.latency.as_secs_f64());
        }
        self.last_reason = round.reason();
        self.last_queries = round
            .results
            .iter()
            .map(|q| server::QueryView {
                name: q.name.clone(),
                ok: q.failure.is_none(),
                latency_ms: (q.latency.as_secs_f64() * 1e6).round() / 1e3,
                reason: q.failure.clone(),
            })
            .collect();
        if round.passed {
            if self.failing.take().is_some() {
                tracing::info!("sentinel passing again");
            }
        } else if self.failing.as_deref() != Some(self.last_reason.as_str()) {
            tracing::info!("sentinel failing: {}", self.last_reason);
            self.failing = Some(self.last_reason.clone());
        }
        let change = self
            .readiness
            .round(round.passed, round.started, round.ended);
        self.apply(change);
    }

    /// Republishes the snapshot and, on a transition, moves the marker, counts it and logs it
    /// — in that order: once the log says a transition happened, probes and the marker agree.
    fn apply(&mut self, change: Option<Transition>) {
        self.publish();
        let Some(t) = change else { return };
        let ready = t.to == Phase::Ready;
        let moved = if ready {
            crate::report::status::write_atomically(self.marker, b"ready\n")
        } else {
            match std::fs::remove_file(self.marker) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        };
        if let Err(e) = moved {
            tracing::warn!("cannot update {}: {e}", self.marker.display());
        }
        let metrics = &self.shared.metrics;
        metrics.ready.set(i64::from(ready));
        metrics
            .transitions
            .get_or_create(&label("to", &t.to.to_string()))
            .inc();
        let status = format!("STATUS={}: {}", t.to, t.reason);
        self.notifier.send(&match t.to {
            Phase::Ready => format!("READY=1\n{status}"),
            Phase::Draining => format!("STOPPING=1\n{status}"),
            Phase::Starting | Phase::Unready => status,
        });
        tracing::info!("readiness: {} -> {}: {}", t.from, t.to, t.reason);
    }

    fn publish(&self) {
        let phase = self.readiness.phase();
        let sentinel_ok = phase == Phase::Ready;
        let reason = match phase {
            Phase::Ready => "ok".to_string(),
            Phase::Draining => "draining".to_string(),
            Phase::Starting | Phase::Unready => self.last_reason.clone(),
        };
        self.shared
            .metrics
            .check_up
            .get_or_create(&label("check", SENTINEL))
            .set(i64::from(sentinel_ok));
        let mut snapshot = self
            .shared
            .snapshot
            .write()
            .unwrap_or_else(|e| e.into_inner());
        snapshot.phase = phase.to_string();
        snapshot.queries.clone_from(&self.last_queries);
        snapshot
            .lines
            .retain(|l| l.name != SENTINEL && l.name != SHUTDOWN);
        snapshot.lines.push(Line {
            name: SENTINEL.into(),
            ok: sentinel_ok,
            reason,
        });
        if phase == Phase::Draining {
            snapshot.lines.push(Line {
                name: SHUTDOWN.into(),
                ok: false,
                reason: "the process is shutting down".into(),
            });
        }
    }
}

/// The gate's results, read once from its status.json: a check that failed only as a warning
/// does not fail readiness.
fn gate_lines(status: &Path) -> Vec<Line> {
    let Ok(text) = std::fs::read_to_string(status) else {
        return Vec::new();
    };
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    doc["checks"]
        .as_array()
        .map(|checks| {
            checks
                .iter()
                .filter_map(|c| {
                    let name = c["name"].as_str()?.to_string();
                    let passed = c["state"] == "passed";
                    let warn = c["on_fail"] == "warn";
                    let reason = c["reason"]
                        .as_str()
                        .or(c["last_error"].as_str())
                        .unwrap_or("did not pass")
                        .to_string();
                    Some(Line {
                        name,
                        ok: passed || warn,
                        reason,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}
