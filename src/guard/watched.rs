//! Gate checks marked `watch: true`, kept under evaluation for the life of the pod: a Secret
//! rotated to an empty value, a model file deleted.

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;
use tokio::time::timeout;

use crate::checks::{Check, Shared};
use crate::config::CheckSpec;
use crate::heartbeat::Heartbeat;

/// One evaluation of a watched check.
pub struct Verdict {
    /// The check's position among the watched ones.
    pub slot: usize,
    pub failure: Option<String>,
    /// The failure is final (a fatal XID): unready now, without waiting for the threshold.
    pub decisive: bool,
    /// What the check saw, a line each, when it says (a gpu check's GPUs, a forced
    /// manifest's mismatches).
    pub details: Option<Vec<String>>,
    /// It passed only because of `force`.
    pub forced: bool,
}

/// Starts one task per watched check; each sends a verdict after every evaluation. The tasks
/// end when the receiver is dropped.
pub fn spawn(
    specs: Vec<CheckSpec>,
    shared: &Shared,
    interval: watch::Receiver<Duration>,
    verdicts: UnboundedSender<Verdict>,
) {
    for (slot, spec) in specs.into_iter().enumerate() {
        let shared = shared.clone();
        let verdicts = verdicts.clone();
        let mut interval = interval.clone();
        tokio::spawn(async move {
            let mut check = Check::build(&spec, &shared);
            // A path is watched for changes; anything else is re-evaluated each interval.
            let _ = check.prepare();
            check.listen();
            loop {
                let heartbeat = Heartbeat::default();
                let mut failure = match timeout(spec.attempt_timeout, check.attempt(&heartbeat))
                    .await
                {
                    Ok(Ok(_)) => None,
                    Ok(Err(failure)) => Some(shared.redactor.clean(&failure.reason)),
                    Err(_) => Some("the check did not answer within its attempt_timeout".into()),
                };
                // Read after the attempt: an event that arrived during it still counts.
                let settled = check.settled();
                let decisive = settled.is_some();
                if let Some(reason) = settled {
                    failure = Some(shared.redactor.clean(&reason));
                }
                let forced = check
                    .forced()
                    .filter(|_| failure.is_none())
                    .map(|lines| shared.redactor.clean(&lines));
                let facts = check.facts().map(|facts| facts.lines());
                let details = match (&forced, facts) {
                    (None, facts) => facts,
                    (Some(lines), facts) => Some(
                        lines
                            .lines()
                            .map(str::to_string)
                            .chain(facts.into_iter().flatten())
                            .collect(),
                    ),
                };
                let verdict = Verdict {
                    slot,
                    failure,
                    decisive,
                    details,
                    forced: forced.is_some(),
                };
                if verdicts.send(verdict).is_err() {
                    return;
                }
                if decisive {
                    // Nothing can change it now; the verdict stands for the life of the pod.
                    return;
                }
                // A reloaded config changes the pause for every watched check, the one already
                // begun too: the check is evaluated at once, then on the new beat.
                let pause = *interval.borrow_and_update();
                tokio::select! {
                    () = check.changed(&heartbeat, pause) => {}
                    _ = interval.changed() => {}
                }
            }
        });
    }
}
