//! The guard: the half of bootgate the kubelet talks to for the life of the pod. It runs the
//! sentinel on its own schedule, keeps one readiness verdict, and serves it from memory.

pub mod accept;
pub mod metrics;
pub mod notify;
pub mod readiness;
pub mod sentinel;
pub mod server;
pub mod watched;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until};

use crate::checks::gpu::inventory::Inventory;
use crate::config::{CheckSpec, Config, GuardSpec, SentinelSpec};
use crate::exit::Exit;
use crate::redact::Redactor;
use crate::signals::Stop;
use crate::statedir::{READY, STATUS};
use metrics::{Metrics, label};
use readiness::{Phase, Readiness, Transition};
use server::{Caveat, Line, Shared, Snapshot};

/// The `/readyz` line for the sentinel's verdict.
const SENTINEL: &str = "sentinel";
/// The `/readyz` line that fails while draining, as the apiserver's `shutdown` check does.
const SHUTDOWN: &str = "shutdown";

/// The `/readyz` line that fails until the gate has passed (in `run`).
const GATE: &str = "gate";

type RoundFuture = std::pin::Pin<Box<dyn std::future::Future<Output = sentinel::Round> + Send>>;

/// How a guard's watch ended.
pub enum Ended<T> {
    Signal(&'static str),
    Other(T),
}

/// `bootgate sidecar`: start serving, decide readiness until a signal, drain, exit 0.
pub async fn run(config: &Config, redactor: Redactor, stop: &mut Stop) -> Exit {
    let mut guard = match Guard::start(config, redactor).await {
        Ok(guard) => guard,
        Err(exit) => return exit,
    };
    guard.begin();
    guard.reload_from(config, true);
    guard.until_signal(stop).await
}

/// A running guard. Its server answers from [`Guard::start`]; readiness is decided from
/// [`Guard::begin`], once the gate has passed.
pub struct Guard {
    spec: GuardSpec,
    state_dir: PathBuf,
    redactor: Redactor,
    shared: Arc<Shared>,
    marker: PathBuf,
    readiness: Readiness,
    last_reason: String,
    last_queries: Vec<server::QueryView>,
    notifier: notify::Notifier,
    /// The failure last logged, so a failing sentinel logs once per new reason, not per round.
    failing: Option<String>,
    next_round: Instant,
    /// The phase the pod shows: the sentinel's verdict, held back by any failing watched check.
    served: Phase,
    watched: Vec<WatchedState>,
    watched_specs: Vec<CheckSpec>,
    verdicts: Option<mpsc::UnboundedReceiver<watched::Verdict>>,
    checks: crate::checks::Shared,
    reload: Reload,
    server: tokio::task::JoinHandle<()>,
    stop_server: watch::Sender<bool>,
}

/// Where a new config comes from: the file, watched for the kubelet's `..data` swap (a
/// ConfigMap update; nobody sends SIGHUP in Kubernetes), and SIGHUP where it is ours to take.
#[derive(Default)]
struct Reload {
    path: Option<PathBuf>,
    watch: Option<crate::checks::watch::PathWatch>,
    hangup: Option<tokio::signal::unix::Signal>,
    /// The text of the config in force: an unchanged file is not news.
    applied: String,
    /// The last text refused, so one bad ConfigMap is reported once, not on every event.
    rejected: String,
}

/// A watched check's standing: it turns failing only after `failure_threshold` bad verdicts in
/// a row, like the sentinel.
struct WatchedState {
    name: String,
    fails: u32,
    ok: bool,
    reason: String,
    details: Vec<String>,
    /// Passing, but only because of `force`.
    forced: bool,
}

impl Guard {
    pub async fn start(config: &Config, redactor: Redactor) -> Result<Guard, Exit> {
        let spec = config.guard.clone();
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
                lines: vec![Line {
                    name: GATE.into(),
                    ok: false,
                    reason: "the gate has not passed yet".into(),
                    caveat: None,
                    details: Vec::new(),
                }],
                pins: spec.pins.clone(),
                details_for_all: spec.details_for_all,
                ..Snapshot::default()
            }),
            metrics: Metrics::new(&spec.pins),
        });
        let listener = server::bind(&spec.listen).await.map_err(|e| {
            tracing::error!("cannot listen on {}: {e}", spec.listen);
            Exit::Failed
        })?;
        let address = listener
            .local_addr()
            .map_or_else(|_| spec.listen.clone(), |a| a.to_string());
        tracing::info!(
            "bootgate {} guard listening on {address}",
            env!("CARGO_PKG_VERSION")
        );
        let (stop_server, server_stopped) = watch::channel(false);
        let server = tokio::spawn(accept::serve(listener, shared.clone(), server_stopped));
        let readiness = match &spec.sentinel {
            Some(s) => Readiness::new(s.success_threshold, s.failure_threshold, s.hold),
            None => Readiness::new(1, 1, std::time::Duration::ZERO),
        };
        let watched_specs: Vec<CheckSpec> =
            config.checks.iter().filter(|c| c.watch).cloned().collect();
        let checks = crate::checks::Shared::new(config, redactor.clone(), true);
        Ok(Guard {
            spec,
            state_dir: config.state_dir.clone(),
            redactor,
            shared,
            marker,
            readiness,
            last_reason: "no sentinel round has finished yet".into(),
            last_queries: Vec::new(),
            notifier: notify::Notifier::from_env(),
            failing: None,
            next_round: Instant::now(),
            served: Phase::Starting,
            watched: watched_specs
                .iter()
                .map(|s| WatchedState {
                    name: s.name.clone(),
                    fails: 0,
                    ok: true,
                    reason: String::new(),
                    details: Vec::new(),
                    forced: false,
                })
                .collect(),
            watched_specs,
            verdicts: None,
            checks,
            reload: Reload::default(),
            server,
            stop_server,
        })
    }

    /// The gate has passed: show its results, answer `/startupz`, start deciding readiness.
    pub fn begin(&mut self) {
        let GateRecord { lines, discovered } = gate_record(&self.state_dir);
        // A watched manifest that pins a gpu value reads it from here until a watched gpu
        // check posts a newer one.
        for (check, facts) in discovered {
            self.checks.discovered.post(&check, Arc::new(facts));
        }
        // Watched checks start from what the gate said of them, until their first verdict.
        for w in &mut self.watched {
            if let Some(line) = lines.iter().find(|l| l.name == w.name) {
                w.details.clone_from(&line.details);
                w.forced = line.caveat == Some(Caveat::Forced);
            }
        }
        for line in &lines {
            if line.caveat == Some(Caveat::Degraded) {
                // The server runs without what it checks; watching it again means nothing.
                self.watched_specs.retain(|s| s.name != line.name);
                self.watched.retain(|w| w.name != line.name);
            }
        }
        {
            let mut snapshot = self
                .shared
                .snapshot
                .write()
                .unwrap_or_else(|e| e.into_inner());
            snapshot.lines = lines;
            snapshot.started = true;
        }
        self.publish();
        if !self.watched_specs.is_empty() {
            let (send, receive) = mpsc::unbounded_channel();
            let interval = self
                .spec
                .sentinel
                .as_ref()
                .map_or(SentinelSpec::default().interval, |s| s.interval);
            watched::spawn(
                std::mem::take(&mut self.watched_specs),
                &self.checks,
                interval,
                send,
            );
            self.verdicts = Some(receive);
        }
        if self.spec.sentinel.is_none() {
            let change = self.readiness.ready_without_sentinel();
            self.settle(change.map(|t| t.reason));
        }
        self.next_round = Instant::now();
    }

    /// Reloads the guard's settings when `path` changes on disk, and on SIGHUP if `hangup`
    /// (under `run -- CMD`, SIGHUP belongs to the command).
    pub fn reload_from(&mut self, config: &Config, hangup: bool) {
        let path = &config.source;
        self.reload.applied.clone_from(&config.text);
        match crate::checks::watch::PathWatch::new(&self.checks.watch_hub, path) {
            Ok(watch) => self.reload.watch = Some(watch),
            Err(e) => tracing::warn!(
                "cannot watch {} for changes ({}); reload with SIGHUP",
                path.display(),
                crate::text::io_phrase(&e)
            ),
        }
        if hangup {
            self.reload.hangup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        }
        self.reload.path = Some(path.to_path_buf());
    }

    /// Applies a changed config file; true when something new took effect.
    fn reload(&mut self, why: &str) -> bool {
        let Some(path) = self.reload.path.clone() else {
            return false;
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(
                    "config reload ({why}): cannot read {}: {}; keeping the running config",
                    path.display(),
                    crate::text::io_phrase(&e)
                );
                return false;
            }
        };
        if text == self.reload.applied || text == self.reload.rejected {
            // A person who sends SIGHUP wants to hear back; file events repeat and need not.
            if why == "SIGHUP" {
                tracing::info!("config reload (SIGHUP): unchanged");
            }
            return false;
        }
        let config = match crate::commands::parse(&text, &path) {
            Ok((config, _)) => config,
            Err(problems) => {
                let first = problems.lines().next().unwrap_or_default();
                let more = problems.lines().count().saturating_sub(1);
                let more = if more > 0 {
                    format!(" (and {more} more)")
                } else {
                    String::new()
                };
                tracing::warn!(
                    "config reload ({why}) rejected: {}{more}; keeping the running config",
                    self.redactor.clean(first)
                );
                self.reload.rejected = text;
                return false;
            }
        };
        self.reload.applied = text;
        for value in &config.sensitive {
            self.redactor.add(value.clone());
        }
        let new = config.guard;
        if new.listen != self.spec.listen {
            tracing::warn!(
                "listen changed to {}; that takes a restart, still on {}",
                new.listen,
                self.spec.listen
            );
        }
        if let Some(s) = &new.sentinel {
            self.readiness
                .retune(s.success_threshold, s.failure_threshold, s.hold);
        }
        {
            let mut snapshot = self
                .shared
                .snapshot
                .write()
                .unwrap_or_else(|e| e.into_inner());
            snapshot.pins.clone_from(&new.pins);
            self.shared.metrics.set_pins(&new.pins);
            snapshot.details_for_all = new.details_for_all;
        }
        let queries = new.sentinel.as_ref().map_or(0, |s| s.queries.len());
        self.spec.sentinel = new.sentinel;
        self.spec.pins = new.pins;
        self.spec.details_for_all = new.details_for_all;
        self.spec.drain = new.drain;
        self.next_round = Instant::now();
        tracing::info!("config reloaded ({why}): {queries} sentinel queries");
        if self.spec.sentinel.is_none() {
            // With the sentinel gone, readiness is the gate's again.
            let change = self.readiness.ready_without_sentinel();
            self.settle(change.map(|t| t.reason));
        }
        true
    }

    /// Runs sentinel rounds until a stop signal, or until `other` finishes.
    pub async fn watch_until<T>(
        &mut self,
        stop: &mut Stop,
        other: impl std::future::Future<Output = T>,
    ) -> Ended<T> {
        tokio::pin!(other);
        // The round in flight outlives the loop's other wake-ups (a watched check's verdict, a
        // config event): dropping it would cancel a slow round and send the model server the
        // same query again.
        let mut in_flight: Option<RoundFuture> = None;
        loop {
            if in_flight.is_none() {
                in_flight = self.next_round_future();
            }
            let round = async {
                match &mut in_flight {
                    Some(round) => round.await,
                    None => std::future::pending().await,
                }
            };
            let reload = &mut self.reload;
            let reloaded = async move {
                let hangup = async {
                    match &mut reload.hangup {
                        Some(signal) => {
                            signal.recv().await;
                        }
                        None => std::future::pending().await,
                    }
                };
                let changed = async {
                    match &mut reload.watch {
                        Some(watch) => {
                            if watch
                                .changed(&crate::heartbeat::Heartbeat::default())
                                .await
                                .is_err()
                            {
                                std::future::pending::<()>().await;
                            }
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = hangup => "SIGHUP",
                    _ = changed => "the file changed",
                }
            };
            let verdicts = &mut self.verdicts;
            let verdict = async move {
                match verdicts {
                    Some(receive) => receive.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                signal = stop.requested() => return Ended::Signal(signal),
                done = &mut other => return Ended::Other(done),
                Some(verdict) = verdict => self.on_verdict(verdict),
                why = reloaded => {
                    // A new sentinel starts over; an unchanged file leaves the round alone.
                    if self.reload(why) {
                        in_flight = None;
                    }
                }
                round = round => {
                    in_flight = None;
                    // Rounds never overlap: the next starts an interval after this one
                    // started, or at once if this one ran longer.
                    if let Some(s) = &self.spec.sentinel {
                        self.next_round = round.started + s.interval;
                    }
                    self.record(&round);
                }
            }
        }
    }

    fn next_round_future(&self) -> Option<RoundFuture> {
        let sentinel = self.spec.sentinel.clone()?;
        let redactor = self.redactor.clone();
        let at = self.next_round;
        Some(Box::pin(async move {
            sleep_until(at).await;
            sentinel::round(&sentinel, &redactor).await
        }))
    }

    /// Unready at once: 503, marker removed, `STOPPING=1`.
    /// Decides readiness until a stop signal, then drains (503 for the drain period, cut
    /// short by a second signal) and stops: the life of a guard with no command to mind.
    pub async fn until_signal(mut self, stop: &mut Stop) -> Exit {
        let signal = match self.watch_until(stop, std::future::pending::<()>()).await {
            Ended::Signal(signal) => signal,
            Ended::Other(()) => unreachable!("pending never finishes"),
        };
        self.drain(signal);
        tracing::info!(
            "draining: answering 503 for {} before exiting",
            crate::config::units::human_duration(self.drain_period())
        );
        tokio::select! {
            _ = sleep(self.drain_period()) => {}
            again = stop.requested() => tracing::warn!("{again} received again; exiting now"),
        }
        self.stop().await;
        tracing::info!("drained; exiting");
        Exit::Passed
    }

    pub fn drain(&mut self, signal: &str) {
        let change = self.readiness.drain(signal);
        self.settle(change.map(|t| t.reason));
    }

    fn on_verdict(&mut self, verdict: watched::Verdict) {
        let threshold = self
            .spec
            .sentinel
            .as_ref()
            .map_or(SentinelSpec::default().failure_threshold, |s| {
                s.failure_threshold
            });
        let Some(state) = self.watched.get_mut(verdict.slot) else {
            return;
        };
        if let Some(details) = verdict.details {
            state.details = details;
        }
        if state.forced != verdict.forced {
            if verdict.forced {
                tracing::warn!(
                    "watched check {} passes only because it is FORCED (force: true)",
                    state.name
                );
            } else if verdict.failure.is_none() {
                tracing::info!(
                    "watched check {} matches again; no longer forced",
                    state.name
                );
            }
        }
        state.forced = verdict.forced;
        let news = match verdict.failure {
            None => {
                state.fails = 0;
                let recovered = !state.ok;
                state.ok = true;
                recovered.then(|| format!("{} passes again", state.name))
            }
            Some(reason) => {
                state.fails += 1;
                state.reason = reason;
                let turned = state.ok && (state.fails >= threshold || verdict.decisive);
                if turned {
                    state.ok = false;
                }
                turned.then(|| format!("{} failing: {}", state.name, state.reason))
            }
        };
        if let Some(news) = &news {
            tracing::info!("watched check {}", self.redactor.clean(news));
        }
        self.settle(news);
    }

    /// The phase to show: draining wins; otherwise the sentinel's verdict, but never ready
    /// while a watched check fails.
    fn phase_to_serve(&self) -> Phase {
        match self.readiness.phase() {
            Phase::Ready if self.watched.iter().any(|w| !w.ok) => {
                if self.served == Phase::Starting {
                    Phase::Starting
                } else {
                    Phase::Unready
                }
            }
            phase => phase,
        }
    }

    /// How long to keep answering after a stop signal (reloadable).
    pub fn drain_period(&self) -> std::time::Duration {
        self.spec.drain
    }

    pub async fn stop(self) {
        let _ = self.stop_server.send(true);
        let _ = self.server.await;
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
            tracing::info!(
                "sentinel failing: {}",
                self.redactor.clean(&self.last_reason)
            );
            self.failing = Some(self.last_reason.clone());
        }
        let change = self
            .readiness
            .round(round.passed, round.started, round.ended);
        self.settle(change.map(|t| t.reason));
    }

    /// Republishes the snapshot and, when the served phase changes, moves the marker, counts
    /// the transition and logs it — in that order: once the log says a transition happened,
    /// probes and the marker agree. `because` says why, when the caller knows.
    fn settle(&mut self, because: Option<String>) {
        self.publish();
        let to = self.phase_to_serve();
        if to == self.served {
            return;
        }
        let t = Transition {
            from: self.served,
            to,
            reason: because.unwrap_or_else(|| self.last_reason.clone()),
        };
        self.served = to;
        let ready = t.to == Phase::Ready;
        let moved = if ready {
            crate::files::write_atomically(&self.marker, b"ready\n")
        } else {
            match std::fs::remove_file(&self.marker) {
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
        let reason = self.redactor.clean(&t.reason);
        // One assignment a line: a line break in the reason would start another.
        let status = format!("STATUS={}: {}", t.to, reason.replace('\n', " "));
        self.notifier.send(&match t.to {
            Phase::Ready => format!("READY=1\n{status}"),
            Phase::Draining => format!("STOPPING=1\n{status}"),
            Phase::Starting | Phase::Unready => status,
        });
        tracing::info!("readiness: {} -> {}: {reason}", t.from, t.to);
    }

    fn publish(&self) {
        let phase = self.readiness.phase();
        let sentinel_ok = phase == Phase::Ready;
        let reason = match phase {
            Phase::Ready => "ok".to_string(),
            Phase::Draining => "draining".to_string(),
            Phase::Starting | Phase::Unready => self.last_reason.clone(),
        };
        let mut snapshot = self
            .shared
            .snapshot
            .write()
            .unwrap_or_else(|e| e.into_inner());
        snapshot.phase = self.phase_to_serve().to_string();
        for w in &self.watched {
            let line = Line {
                name: w.name.clone(),
                ok: w.ok,
                reason: w.reason.clone(),
                caveat: (w.ok && w.forced).then_some(Caveat::Forced),
                details: w.details.clone(),
            };
            match snapshot.lines.iter_mut().find(|l| l.name == w.name) {
                Some(existing) => *existing = line,
                None => snapshot.lines.push(line),
            }
        }
        snapshot.queries.clone_from(&self.last_queries);
        snapshot
            .lines
            .retain(|l| l.name != SENTINEL && l.name != SHUTDOWN);
        snapshot.lines.push(Line {
            name: SENTINEL.into(),
            ok: sentinel_ok,
            reason,
            caveat: None,
            details: Vec::new(),
        });
        // The gauges say what the lines say, from this one place.
        for line in &snapshot.lines {
            self.shared.metrics.show(&line.name, line.ok, line.caveat);
        }
        if phase == Phase::Draining {
            snapshot.lines.push(Line {
                name: SHUTDOWN.into(),
                ok: false,
                reason: "the process is shutting down".into(),
                caveat: None,
                details: Vec::new(),
            });
        }
        // Reasons are held for the life of the pod (the gate's, from status.json, for good):
        // cleaned again with every secret known now, as they are published.
        let clean = |text: &mut String| *text = self.redactor.clean(text);
        for line in &mut snapshot.lines {
            clean(&mut line.reason);
            line.details.iter_mut().for_each(clean);
        }
        for query in &mut snapshot.queries {
            query.reason.iter_mut().for_each(clean);
        }
    }
}

/// What the guard takes from the gate's status.json.
#[derive(Default)]
pub struct GateRecord {
    lines: Vec<Line>,
    /// What each gpu check saw, by check name.
    discovered: Vec<(String, Inventory)>,
}

/// The gate's results, read once from its status.json: a check that failed only as a warning
/// does not fail readiness.
fn gate_record(state_dir: &Path) -> GateRecord {
    match crate::statedir::read_status(state_dir) {
        Ok(bytes) => parse_gate_record(&bytes),
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(
                    "cannot read {}: {}; the gate's checks are not shown",
                    state_dir.join(STATUS).display(),
                    crate::text::io_phrase(&e)
                );
            }
            GateRecord::default()
        }
    }
}

/// [`gate_record`] from the bytes of a status.json, whatever they are: anything that is not
/// the gate's JSON gives an empty record.
pub fn parse_gate_record(bytes: &[u8]) -> GateRecord {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return GateRecord::default();
    };
    let mut record = GateRecord::default();
    for c in doc["checks"].as_array().into_iter().flatten() {
        let Some(name) = c["name"].as_str() else {
            continue;
        };
        let passed = c["state"] == "passed";
        let warn = c["on_fail"] == "warn";
        let degraded = c["state"] == "degraded";
        let forced = c["forced"].as_str();
        let reason = c["reason"]
            .as_str()
            .or(c["last_error"].as_str())
            .unwrap_or("did not pass")
            .to_string();
        let mut details: Vec<String> = forced
            .map(|f| f.lines().map(str::to_string).collect())
            .unwrap_or_default();
        if let Ok(gpu) = serde_json::from_value::<Inventory>(c["gpu"].clone()) {
            details.extend(gpu.lines());
            record.discovered.push((name.to_string(), gpu));
        }
        let caveat = if degraded {
            Some(Caveat::Degraded)
        } else if passed && forced.is_some() {
            Some(Caveat::Forced)
        } else {
            None
        };
        record.lines.push(Line {
            name: name.to_string(),
            ok: passed || warn || degraded,
            reason,
            caveat,
            details,
        });
    }
    record
}
