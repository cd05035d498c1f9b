//! The guard: the half of bootgate the kubelet talks to for the life of the pod. It runs the
//! sentinel on its own schedule, keeps one readiness verdict, and serves it from memory.

pub mod accept;
pub mod effects;
pub mod lines;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod pulse;
pub mod sentinel;
pub mod server;
pub mod status_page;
pub mod streak;
pub mod watched;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until};

use crate::checks::gpu::inventory::Inventory;
use crate::config::{CheckSpec, Config, GuardSpec, OnFail, SentinelSpec};
use crate::exit::Exit;
use crate::redact::Redactor;
use crate::signals::Stop;
use crate::state::{self as gate, StatusRecord};
use crate::statedir::{READY, STATUS};
use effects::Effects;
use lines::{Caveat, Line, QueryView};
use metrics::{Metrics, label};
use model::{Model, Seen, Tuning, WatchedUpdate};
use server::{Shared, Snapshot};

/// How often the lines are published while a round is out and the pod is not ready.
const REFRESH: Duration = Duration::from_secs(1);

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
/// [`Guard::begin`], once the gate has passed. The loop here schedules and feeds the
/// [`Model`]; [`Effects`] shows what it decides.
pub struct Guard {
    spec: GuardSpec,
    state_dir: PathBuf,
    redactor: Redactor,
    shared: Arc<Shared>,
    model: Model,
    effects: Effects,
    /// The sentinel failure last logged, so a failing sentinel logs once per new reason.
    failing: LastSaid,
    /// The same for each pulse origin.
    pulse_failing: Vec<LastSaid>,
    watched_specs: Vec<CheckSpec>,
    verdicts: Option<mpsc::UnboundedReceiver<watched::Verdict>>,
    /// The pause between a watched check's evaluations; a reload changes it for them all.
    watched_interval: watch::Sender<Duration>,
    looks: mpsc::UnboundedReceiver<pulse::Look>,
    looks_sender: mpsc::UnboundedSender<pulse::Look>,
    pulses: JoinSet<()>,
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

fn tuning(spec: &GuardSpec) -> Tuning {
    Tuning::of(
        spec.sentinel.as_ref(),
        pulse::origins(spec.sentinel.as_ref()),
    )
}

fn watched_interval(spec: &GuardSpec) -> Duration {
    spec.sentinel
        .as_ref()
        .map_or(SentinelSpec::default().interval, |s| s.interval)
}

/// The listening address as a client on this host can reach it: a wildcard (`0.0.0.0`,
/// `[::]`) is no address to open, so 127.0.0.1 stands in. That reaches `[::]` too: the guard's
/// IPv6 socket takes IPv4 as well (Linux's default, `bindv6only=0`), and where IPv6 is off it
/// binds 0.0.0.0 instead.
pub fn loopback_if_wildcard(listening: std::net::SocketAddr) -> std::net::SocketAddr {
    let mut at = listening;
    if at.ip().is_unspecified() {
        at = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, at.port()));
    }
    at
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
        let model = Model::new(tuning(&spec), spec.sentinel.is_some());
        let shared = Arc::new(Shared::new(
            Snapshot {
                lines: model.lines(Instant::now(), std::time::SystemTime::now()),
                pins: spec.pins.clone(),
                details_for_all: spec.details_for_all,
                ..Snapshot::default()
            },
            Metrics::new(&spec.pins),
        ));
        let listener = server::bind(&spec.listen).await.map_err(|e| {
            tracing::error!("cannot listen on {}: {e}", spec.listen);
            Exit::Failed
        })?;
        let (address, origin) = listener.local_addr().map_or_else(
            |_| (spec.listen.clone(), spec.listen.clone()),
            |a| (a.to_string(), loopback_if_wildcard(a).to_string()),
        );
        tracing::info!(
            "bootgate {} guard listening on {address}, serving http://{origin}/readyz and http://{origin}/status",
            env!("CARGO_PKG_VERSION")
        );
        let (stop_server, server_stopped) = watch::channel(false);
        let server = tokio::spawn(accept::serve(listener, shared.clone(), server_stopped));
        let watched_specs: Vec<CheckSpec> =
            config.checks.iter().filter(|c| c.watch).cloned().collect();
        let checks = crate::checks::Shared::new(config, redactor.clone(), true);
        let (looks_sender, looks) = mpsc::unbounded_channel();
        Ok(Guard {
            watched_interval: watch::Sender::new(watched_interval(&spec)),
            spec,
            state_dir: config.state_dir.clone(),
            effects: Effects::new(shared.clone(), marker, redactor.clone()),
            redactor,
            shared,
            model,
            failing: LastSaid::default(),
            pulse_failing: Vec::new(),
            watched_specs,
            verdicts: None,
            looks,
            looks_sender,
            pulses: JoinSet::new(),
            checks,
            reload: Reload::default(),
            server,
            stop_server,
        })
    }

    /// The gate has passed: show its results, answer `/startupz`, start deciding readiness.
    pub fn begin(&mut self) {
        let GateRecord {
            lines,
            discovered,
            status,
            ..
        } = gate_record(&self.state_dir);
        if let Some(mut status) = status {
            // Written by the gate with the secrets it knew; cleaned again with those known now.
            for c in &mut status.checks {
                for text in [&mut c.reason, &mut c.last_error, &mut c.forced]
                    .into_iter()
                    .flatten()
                {
                    *text = self.redactor.clean(text);
                }
                c.target = self.redactor.clean(&c.target);
            }
            self.shared.write().gate = Some(Arc::new(status));
        }
        // A watched manifest that pins a gpu value reads it from here until a watched gpu
        // check posts a newer one.
        for (check, facts) in discovered {
            self.checks.discovered.post(&check, Arc::new(facts));
        }
        for line in &lines {
            if line.caveat == Some(Caveat::Degraded) {
                // The server runs without what it checks; watching it again means nothing.
                self.watched_specs.retain(|s| s.name != line.name);
            }
        }
        let names: Vec<String> = self.watched_specs.iter().map(|s| s.name.clone()).collect();
        self.model.begin(lines, &names);
        if !self.watched_specs.is_empty() {
            let (send, receive) = mpsc::unbounded_channel();
            watched::spawn(
                std::mem::take(&mut self.watched_specs),
                &self.checks,
                self.watched_interval.subscribe(),
                send,
            );
            self.verdicts = Some(receive);
        }
        self.start_pulses();
        self.effects.apply(&mut self.model);
    }

    fn start_pulses(&mut self) {
        // Dropping the old set ends its tasks and closes their connections.
        self.pulses = match &self.spec.sentinel {
            Some(s) => pulse::spawn(s, &self.looks_sender),
            None => JoinSet::new(),
        };
        self.pulse_failing = vec![LastSaid::default(); self.model.tuning().pulse.len()];
        // Looks from the old tasks are about origins numbered the old way.
        while self.looks.try_recv().is_ok() {}
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
        // The config's own entry point, and the graph check a gate would make: a reload takes
        // what `validate` accepts, nothing more.
        let parsed = crate::config::from_str(&text, &path, &crate::config::ProcessEnv)
            .map_err(|e| e.to_string())
            .and_then(|config| crate::graph::checked(config, &path));
        let config = match parsed {
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
        {
            let mut snapshot = self.shared.write();
            snapshot.pins.clone_from(&new.pins);
            self.shared.metrics.set_pins(&new.pins);
            snapshot.details_for_all = new.details_for_all;
        }
        let queries = new.sentinel.as_ref().map_or(0, |s| s.queries.len());
        self.spec.sentinel = new.sentinel;
        self.spec.pins = new.pins;
        self.spec.details_for_all = new.details_for_all;
        self.spec.drain = new.drain;
        self.model
            .retune(tuning(&self.spec), self.spec.sentinel.is_some());
        self.watched_interval
            .send_replace(watched_interval(&self.spec));
        if self.model.started() {
            self.start_pulses();
        }
        tracing::info!("config reloaded ({why}): {queries} sentinel queries");
        self.effects.apply(&mut self.model);
        true
    }

    /// Runs sentinel rounds until a stop signal, or until `other` finishes.
    pub async fn watch_until<T>(
        &mut self,
        stop: &mut Stop,
        other: impl std::future::Future<Output = T>,
    ) -> Ended<T> {
        tokio::pin!(other);
        // The round in flight outlives the loop's other wake-ups (a verdict, a look, a config
        // event): dropping it would cancel a slow round and send the model server the same
        // query again.
        let mut in_flight: Option<RoundFuture> = None;
        loop {
            let schedule = if in_flight.is_none() {
                self.model.next_round(Instant::now())
            } else {
                None
            };
            let due = async {
                match schedule {
                    Some(s) => sleep_until(s.at).await,
                    None => std::future::pending().await,
                }
            };
            // While a round is out and the pod is not ready, the lines are published again
            // each second, so that "loading for 12s" counts on while nothing else happens.
            let waiting = in_flight.is_some() && self.model.served() != model::Phase::Ready;
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
            let refresh = async {
                match waiting {
                    true => tokio::time::sleep(REFRESH).await,
                    false => std::future::pending().await,
                }
            };
            let looks = &mut self.looks;
            tokio::select! {
                () = refresh => self.effects.apply(&mut self.model),
                signal = stop.requested() => return Ended::Signal(signal),
                done = &mut other => return Ended::Other(done),
                Some(verdict) = verdict => self.on_verdict(verdict),
                Some(look) = looks.recv() => self.on_look(look),
                why = reloaded => {
                    // A new sentinel starts over; an unchanged file leaves the round alone.
                    if self.reload(why) {
                        in_flight = None;
                    }
                }
                () = due => {
                    // Rounds never overlap: the model schedules the next once this one is in.
                    let timeout = schedule.map_or(Duration::ZERO, |s| s.timeout);
                    in_flight = self.round_future(timeout);
                    self.model.round_began(Instant::now());
                }
                round = round => {
                    in_flight = None;
                    self.record(&round);
                }
            }
        }
    }

    fn round_future(&self, timeout: Duration) -> Option<RoundFuture> {
        let sentinel = self.spec.sentinel.clone()?;
        let redactor = self.redactor.clone();
        let wake = self.model.may_wake();
        Some(Box::pin(async move {
            sentinel::round(&sentinel, timeout, &redactor, wake).await
        }))
    }

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

    /// Unready at once: 503, marker removed, `STOPPING=1`.
    pub fn drain(&mut self, signal: &str) {
        self.model.drain(signal);
        self.effects.apply(&mut self.model);
    }

    fn on_verdict(&mut self, verdict: watched::Verdict) {
        let Some(before) = self.model.watched_state(verdict.slot) else {
            return;
        };
        let name = &before.name;
        if before.forced != verdict.forced {
            if verdict.forced {
                tracing::warn!(
                    "watched check {name} passes only because it is FORCED (force: true)"
                );
            } else if verdict.failure.is_none() {
                tracing::info!("watched check {name} matches again; no longer forced");
            }
        }
        let seen = match (&verdict.failure, verdict.decisive) {
            (None, _) => Seen::Pass,
            (Some(reason), true) => Seen::Fatal(reason.clone()),
            (Some(reason), false) => Seen::Failed(reason.clone()),
        };
        let update = WatchedUpdate {
            details: verdict.details,
            forced: verdict.forced,
        };
        self.model
            .watched(verdict.slot, seen, Instant::now(), update);
        let now_ok = self.model.watched_state(verdict.slot).map(|w| w.ok);
        match (before.ok, now_ok, &verdict.failure) {
            (false, Some(true), _) => tracing::info!("watched check {name} passes again"),
            (true, Some(false), Some(reason)) => tracing::info!(
                "watched check {name} failing: {}",
                self.redactor.clean(reason)
            ),
            _ => {}
        }
        self.effects.apply(&mut self.model);
    }

    fn on_look(&mut self, look: pulse::Look) {
        let origin = self.redactor.clean(
            self.model
                .tuning()
                .pulse
                .get(look.index)
                .map_or("", String::as_str),
        );
        if let Some(said) = self.pulse_failing.get_mut(look.index) {
            match said.news(look.seen.failure()) {
                Some(News::PassingAgain) => tracing::info!("pulse: {origin} answers again"),
                Some(News::Failing(why)) => {
                    tracing::info!("pulse: {origin}: {}", self.redactor.clean(why));
                }
                None => {}
            }
        }
        self.model
            .pulse(look.index, look.seen, look.started, look.ended);
        self.effects.apply(&mut self.model);
    }

    /// How long to keep answering after a stop signal (reloadable).
    pub fn drain_period(&self) -> Duration {
        self.spec.drain
    }

    pub async fn stop(self) {
        let _ = self.stop_server.send(true);
        let _ = self.server.await;
    }

    fn record(&mut self, round: &sentinel::Round) {
        let metrics = &self.shared.metrics;
        let result = match (round.passed, &round.sleeping) {
            (_, Some(_)) => "sleeping",
            (true, None) => "pass",
            (false, None) => "fail",
        };
        metrics.rounds.get_or_create(&label("result", result)).inc();
        for q in &round.results {
            metrics
                .latency
                .get_or_create(&label("query", &q.name))
                .observe(q.latency.as_secs_f64());
        }
        let seen = round.seen();
        match self.failing.news(seen.failure()) {
            Some(News::PassingAgain) => tracing::info!("sentinel passing again"),
            Some(News::Failing(why)) if matches!(seen, Seen::Sleeping(_)) => {
                tracing::info!("sentinel: the server sleeps: {}", self.redactor.clean(why));
            }
            Some(News::Failing(why)) => {
                tracing::info!("sentinel failing: {}", self.redactor.clean(why));
            }
            None => {}
        }
        self.model.round(model::Round {
            started: round.started,
            ended: round.ended,
            seen,
            queries: round
                .results
                .iter()
                .map(|q| QueryView {
                    name: q.name.clone(),
                    ok: q.seen == Seen::Pass,
                    latency_ms: (q.latency.as_secs_f64() * 1e6).round() / 1e3,
                    reason: q.seen.failure().map(str::to_string),
                })
                .collect(),
        });
        self.effects.apply(&mut self.model);
    }
}

/// The failure last logged for one source, so that a failing source logs once per new reason,
/// not once per look.
#[derive(Debug, Clone, Default)]
struct LastSaid(Option<String>);

/// What is worth a log line about an outcome.
enum News<'a> {
    PassingAgain,
    Failing(&'a str),
}

impl LastSaid {
    /// `failure` is the outcome's reason, `None` for a pass.
    fn news<'a>(&mut self, failure: Option<&'a str>) -> Option<News<'a>> {
        match failure {
            None => self.0.take().map(|_| News::PassingAgain),
            Some(why) if self.0.as_deref() != Some(why) => {
                self.0 = Some(why.to_string());
                Some(News::Failing(why))
            }
            Some(_) => None,
        }
    }
}

/// What the guard takes from the gate's status.json.
#[derive(Default)]
pub struct GateRecord {
    lines: Vec<Line>,
    /// What each gpu check saw, by check name.
    discovered: Vec<(String, Inventory)>,
    /// What could not be read, when something could not.
    problem: Option<String>,
    /// The record itself, for the status page.
    status: Option<StatusRecord>,
}

/// The gate's results, read once from its status.json: a check that failed only as a warning
/// does not fail readiness.
fn gate_record(state_dir: &Path) -> GateRecord {
    let shown = state_dir.join(STATUS);
    match crate::statedir::read_status(state_dir) {
        Ok(bytes) => {
            let record = parse_gate_record(&bytes);
            if let Some(problem) = &record.problem {
                tracing::warn!("{}: {problem}", shown.display());
            }
            record
        }
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(
                    "cannot read {}: {}; the gate's checks are not shown",
                    shown.display(),
                    crate::text::io_phrase(&e)
                );
            }
            GateRecord::default()
        }
    }
}

/// [`gate_record`] from the bytes of a status.json, whatever they are: anything that is not
/// the gate's JSON gives an empty record that says so.
pub fn parse_gate_record(bytes: &[u8]) -> GateRecord {
    let Some(status) = StatusRecord::parse(bytes) else {
        return GateRecord {
            problem: Some("not the gate's JSON; the gate's checks are not shown".into()),
            ..GateRecord::default()
        };
    };
    let mut record = GateRecord {
        problem: (status.unreadable > 0).then(|| {
            format!(
                "{} of its checks could not be read and are not shown",
                status.unreadable
            )
        }),
        ..GateRecord::default()
    };
    let mut status = status;
    for c in &mut status.checks {
        let passed = c.state == gate::Phase::Passed;
        let degraded = c.state == gate::Phase::Degraded;
        let reason = c
            .reason
            .clone()
            .or_else(|| c.last_error.clone())
            .unwrap_or_else(|| "did not pass".into());
        let mut details: Vec<String> = c
            .forced
            .as_deref()
            .map(|f| f.lines().map(str::to_string).collect())
            .unwrap_or_default();
        if let Some(gpu) = c.gpu.take() {
            details.extend(gpu.lines());
            record.discovered.push((c.name.clone(), gpu));
        }
        let caveat = if degraded {
            Some(Caveat::Degraded)
        } else if passed && c.forced.is_some() {
            Some(Caveat::Forced)
        } else {
            None
        };
        record.lines.push(Line {
            name: c.name.clone(),
            ok: passed || degraded || c.on_fail == OnFail::Warn,
            reason,
            caveat,
            details,
        });
    }
    record.status = Some(status);
    record
}

#[cfg(test)]
mod tests {
    use super::loopback_if_wildcard;

    #[test]
    fn a_wildcard_listen_address_is_shown_as_loopback() {
        let shown = |a: &str| loopback_if_wildcard(a.parse().unwrap()).to_string();
        assert_eq!(shown("0.0.0.0:8081"), "127.0.0.1:8081");
        assert_eq!(shown("[::]:8081"), "127.0.0.1:8081");
        assert_eq!(shown("10.1.2.3:8081"), "10.1.2.3:8081");
        assert_eq!(shown("[fd00::1]:8081"), "[fd00::1]:8081");
    }
}
