//! Everything outside the model that follows its verdict, applied in one step: the `/readyz`
//! snapshot and gauges, and when the phase moves, the ready marker, the transition counter,
//! sd_notify and the log line — in that order, so that once the log says a transition
//! happened, probes and the marker agree.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use super::metrics::label;
use super::model::{Model, Phase, Transition};
use super::notify::Notifier;
use super::server::Shared;
use crate::redact::Redactor;

pub struct Effects {
    shared: Arc<Shared>,
    marker: PathBuf,
    notifier: Notifier,
    redactor: Redactor,
}

impl Effects {
    pub fn new(shared: Arc<Shared>, marker: PathBuf, redactor: Redactor) -> Effects {
        Effects {
            shared,
            marker,
            notifier: Notifier::from_env(),
            redactor,
        }
    }

    /// Shows the model as it stands and announces the phase it moved to, if it moved.
    pub fn apply(&self, model: &mut Model) {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let transition = model.settle(now, wall);
        self.publish(model, now, wall);
        if let Some(t) = transition {
            self.announce(&t);
        }
    }

    fn publish(&self, model: &Model, now: Instant, wall: SystemTime) {
        // Reasons hold outside text (an answer's excerpt, the gate's reasons): cleaned with
        // every secret known now, as they are published.
        let clean = |text: &str| self.redactor.clean(text);
        let mut lines = model.lines(now, wall);
        for line in &mut lines {
            line.reason = clean(&line.reason);
            line.details.iter_mut().for_each(|d| *d = clean(d));
        }
        let mut queries = model.queries().to_vec();
        for query in &mut queries {
            query.reason = query.reason.as_deref().map(clean);
        }
        // The gauges say what the lines say, from this one place.
        for line in &lines {
            self.shared.metrics.show(&line.name, line.ok, line.caveat);
        }
        let mut snapshot = self.shared.write();
        snapshot.phase = model.served().to_string();
        snapshot.lines = lines;
        snapshot.queries = queries;
        snapshot.started = model.started();
        snapshot.dead = model.dead_at().map(|(at, reason)| (at, clean(&reason)));
        match model.rounds() {
            Some((rounds, streak)) => {
                snapshot.rounds.clear();
                snapshot.rounds.extend(rounds);
                snapshot.streak = Some(streak);
            }
            None => {
                snapshot.rounds.clear();
                snapshot.streak = None;
            }
        }
    }

    fn announce(&self, t: &Transition) {
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
}
