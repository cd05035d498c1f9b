//! `bootgate explain`'s words: where the gate or the guard stands, why, since when, and what to
//! do, from status.json or a guard's `/readyz?format=json`. Pure: the caller reads, this says.
//!
//! Everything shown comes from a file or a peer others control: each value is escaped and cut
//! as [`crate::echo`] does, and a reason shows at most [`REASON_LINES`] lines.

use std::fmt::Write;
use std::time::SystemTime;

use serde_json::Value;

use crate::config::OnFail;
use crate::config::units::{human_duration, millis_lossy};
use crate::echo::{capped, value};
use crate::state::{CheckRecord, Outcome, Phase, StatusRecord};
use crate::text::{parse_rfc3339, rfc3339};

/// Lines of one reason shown (a manifest mismatch is a line a file); the rest are counted.
pub const REASON_LINES: usize = 12;
/// Characters of one line of a reason.
const LINE_LIMIT: usize = 400;
/// Passed checks named before the rest are counted.
const NAMED: usize = 20;

const DOCS: &str = "docs/operations.md#";
const SECTIONS: [&str; 4] = [
    "checks-that-are-waiting",
    "checks-that-failed",
    "the-gpu",
    "how-readiness-is-decided",
];

/// What a reason says → what to do, and the docs section that says more: the message tables of
/// docs/operations.md, most specific first. The first needle found in a reason wins.
#[rustfmt::skip]
const GATE_ADVICE: &[(&str, &str, u8)] = &[
    ("libnvidia-ml.so.1 not found", "request nvidia.com/gpu in the gate's limits and set NVIDIA_DRIVER_CAPABILITIES=utility", 2),
    ("cannot load libnvidia-ml", "use the default (glibc) image for GPU pods", 2),
    ("driver is not loaded", "wait; if it persists, nvidia-smi on the node or the driver pod says why", 2),
    ("are different versions", "drain and reboot the node: the driver was upgraded without a reboot", 2),
    ("device nodes", "request nvidia.com/gpu; do not mount /dev/nvidia* by hand", 2),
    ("supports CUDA", "schedule onto nodes with a newer driver, upgrade it, or use cuda_compat: minor", 2),
    ("visible: request", "the gate must request as many GPUs as the server", 2),
    ("drain the node", "drain the node: the GPU needs a reset or service", 2),
    ("needs replacing", "drain the node and have the GPU replaced", 2),
    ("holds GPU memory", "wait, or find the process with nvidia-smi on the node", 2),
    ("MIG mode", "fix the node's MIG configuration (and reset the GPU), or change mig:", 2),
    ("compute mode is", "nvidia-smi -i N -c DEFAULT on the node", 2),
    ("placeholder", "put the real value in the Secret; the kubelet's update is seen at once", 0),
    ("is not set", "set it in the pod spec (env, envFrom) and let the pod restart: an environment never changes", 0),
    ("does not match the runtime", "deploy the model the manifest describes, or regenerate it (bootgate manifest generate)", 1),
    ("hashing", "wait: checksums are being computed; cache: true lets the next start skip unchanged files", 0),
    ("does not exist", "create it: the Secret or its key, or the model (look at whatever downloads it)", 0),
    ("  missing", "wait, or look at the downloader: the model is not all there yet", 0),
    ("is smaller than", "wait, or look at the downloader: the file is still being written", 0),
    ("is empty", "fill it: the env var in the pod spec, or the directory (a download to come)", 0),
    ("connection refused", "look at that service: nothing listens there yet", 0),
    ("cannot resolve", "a name that never resolves is a typo or a missing Service", 0),
    ("undeclared template variable", "fix the template or declare the name in the vars file; bootgate lint shows every finding", 0),
    ("matches no file", "mount the templates' ConfigMap, or fix paths", 0),
    ("not found", "fix the command: it is not in the image", 0),
    ("exited with status", "fix the command or what it checks: the end of its stderr is the reason", 0),
    ("want ", "look at that service: it answers, but not yet well", 0),
    ("body lacks", "look at that service: it answers, but not yet well", 0),
    ("not run: it runs after", "fix the check it runs after", 1),
    ("stopped: the gate passed", "nothing: a warn check was still waiting", 1),
    ("a required check failed", "fix the failures listed", 1),
    ("interrupted", "nothing: a signal stopped the gate; the next start runs it again", 1),
    ("state_dir", "mount a writable emptyDir at state_dir, with nothing else in it", 1),
    ("no space left", "free space, or give the emptyDir a larger sizeLimit", 1),
    ("secret files could not be re-read", "look at the mount of the secret files: it did not answer", 1),
    ("timeout ", "fix the cause in the last error, or give the check a longer timeout", 1),
    ("deadline ", "fix the cause in the last error, or raise deadline", 1),
];

/// The same for the guard's own lines (`pulse`, `sentinel`, `shutdown`, `gate`).
#[rustfmt::skip]
const GUARD_ADVICE: &[(&str, &str, u8)] = &[
    ("loading for", "wait: the model is loading; the server's log shows its progress", 3),
    ("not listening yet", "wait: the model is loading; the server's log shows its progress", 3),
    ("sleep", "POST /wake_up on the server when it should serve", 3),
    ("is not served", "set model to the name the server serves (vLLM's --served-model-name)", 3),
    ("refused", "the model server went away: kubectl describe pod shows its restarts, kubectl logs POD -c server --previous its last words", 3),
    ("no answer within", "look at the model server: a hung engine answers its health route but never completes", 3),
    ("over max_latency", "capacity or a cold server; raise max_latency only if the SLO allows", 3),
    ("shutting down", "nothing: SIGTERM came; the pod leaves the endpoints, then the guard exits", 3),
    ("gate has not passed", "the gate still runs: kubectl exec POD -c bootgate-init -- /bootgate explain", 3),
    ("passing since", "nothing: it is on its way to ready", 3),
    ("has finished yet", "nothing: the first round is on its way", 3),
    ("no answer yet", "nothing: the first look is on its way", 3),
    ("status ", "look at the model server if it repeats: its log says why", 3),
];

/// The gate as status.json records it: whether it passed, and what to say. `None` when the
/// record says no outcome: not the gate's file.
pub fn gate(record: &StatusRecord, now: SystemTime) -> Option<(bool, String)> {
    let outcome = record.outcome?;
    let start = record.started_at.as_deref().and_then(parse_rfc3339);
    let mut out = String::new();
    let passed = record
        .checks
        .iter()
        .filter(|c| c.state == Phase::Passed)
        .count();
    let _ = match outcome {
        Outcome::Passed
            if record
                .checks
                .iter()
                .any(|c| c.state == Phase::Degraded || c.forced.is_some()) =>
        {
            write!(out, "Ready, with a caveat below: the gate passed")
        }
        Outcome::Passed => write!(out, "Ready: the gate passed"),
        Outcome::Running => write!(out, "Not ready: the gate is running"),
        Outcome::Failed => write!(out, "Not ready: the gate failed"),
        Outcome::DeadlineExceeded => write!(out, "Not ready: the gate's deadline passed"),
        Outcome::Interrupted => write!(
            out,
            "Not ready: a signal stopped the gate before it decided; the next start runs it again"
        ),
    };
    if let Some(at) = start {
        let _ = write!(out, ", started {}", when(at, now));
    }
    let _ = writeln!(out, ". {passed} of {} checks passed.", record.checks.len());
    if let Some(error) = &record.error {
        out.push_str("It could not leave its result:\n");
        reason(&mut out, "  ", error);
        advise(&mut out, GATE_ADVICE, error);
    }
    let mut named = Vec::new();
    for check in &record.checks {
        if check.state == Phase::Passed && check.forced.is_none() {
            named.push(check.name.as_str());
        } else {
            explain_check(&mut out, check, record, start, now);
        }
    }
    if !named.is_empty() {
        out.push_str("Passed:");
        for (i, name) in named.iter().take(NAMED).enumerate() {
            let _ = write!(out, "{} {}", if i == 0 { "" } else { "," }, value(name));
        }
        if named.len() > NAMED {
            let _ = write!(out, " and {} more", named.len() - NAMED);
        }
        out.push('\n');
    }
    if record.unreadable > 0 {
        let _ = writeln!(
            out,
            "{} entries of status.json do not read as checks and are left out.",
            record.unreadable
        );
    }
    Some((outcome == Outcome::Passed, out))
}

fn explain_check(
    out: &mut String,
    check: &CheckRecord,
    record: &StatusRecord,
    start: Option<SystemTime>,
    now: SystemTime,
) {
    let name = value(&check.name);
    let since = |ms: Option<f64>| match (start, ms) {
        (Some(at), Some(ms)) if ms.is_finite() && ms >= 0.0 => {
            let at = at.checked_add(millis_lossy(ms));
            at.map(|at| when(at, now)).unwrap_or_default()
        }
        _ => String::new(),
    };
    let _ = write!(out, "- {name}");
    if !check.kind.is_empty() {
        let _ = write!(out, " ({} {})", value(&check.kind), value(&check.target));
    }
    let why = match (&check.reason, &check.last_error) {
        (Some(r), Some(e)) => format!("{r}\nlast error: {e}"),
        (Some(r), None) | (None, Some(r)) => r.clone(),
        (None, None) => String::new(),
    };
    match check.state {
        Phase::Pending => {
            let waits: Vec<String> = check
                .after
                .iter()
                .filter(|a| {
                    !record.checks.iter().any(|c| {
                        &c.name == *a && c.state != Phase::Pending && c.state != Phase::Running
                    })
                })
                .map(|a| value(a).to_string())
                .collect();
            if waits.is_empty() {
                out.push_str(" is pending: it starts next\n");
            } else {
                let _ = writeln!(
                    out,
                    " is pending: it runs after {}, not finished yet",
                    waits.join(", ")
                );
            }
            return;
        }
        Phase::Running => {
            let _ = write!(out, " is waiting");
            let at = since(check.started_ms);
            if !at.is_empty() {
                let _ = write!(out, " since {at}");
            }
            let _ = writeln!(out, ", attempt {}", check.attempts.max(1));
        }
        Phase::Passed => {
            out.push_str(" passed only because it is FORCED (force: true), past:\n");
            reason(out, "  ", check.forced.as_deref().unwrap_or_default());
            let _ = writeln!(
                out,
                "  It is ready with a caveat: the model is not the one pinned.\n  What to do: remove force once the model matches ({DOCS}{}).",
                SECTIONS[1]
            );
            return;
        }
        Phase::Degraded => {
            let _ = writeln!(
                out,
                " is degraded (on_fail: degrade): the gate goes on without it, and the server runs in its safe mode (state_dir/env tells it so). Fix the cause and restart the pod to leave safe mode."
            );
        }
        Phase::Failed => {
            let word = if check.on_fail == OnFail::Warn {
                "failed (on_fail: warn, so it did not stop the gate)"
            } else {
                "failed"
            };
            let plural = if check.attempts == 1 { "" } else { "s" };
            let _ = write!(out, " {word} after {} attempt{plural}", check.attempts);
            let at = since(check.finished_ms);
            if !at.is_empty() {
                let _ = write!(out, " at {at}");
            }
            out.push('\n');
        }
        Phase::Skipped => out.push_str(" was not run\n"),
        Phase::Cancelled => out.push_str(" was stopped\n"),
    }
    if !why.is_empty() {
        reason(out, "  ", &why);
    }
    if let Some(progress) = &check.progress {
        let _ = writeln!(out, "  progress: {}", value(progress));
    }
    if check.stalls > 0 {
        let _ = writeln!(
            out,
            "  It stalled {} times: an attempt showed no sign of life for stall_after and was started again. Look at what it touches (a hung mount, a command that prints nothing); raise stall_after if it is slow by nature.",
            check.stalls
        );
    }
    advise(out, GATE_ADVICE, &why);
}

/// A guard's `/readyz?format=json`: whether its phase is ready, and what to say. `None` when
/// the document is not one.
pub fn guard(doc: &Value) -> Option<(bool, String)> {
    let phase = doc.get("phase")?.as_str()?;
    let lines = doc.get("checks")?.as_array()?;
    let mut out = String::new();
    let _ = match phase {
        "ready" => writeln!(out, "Ready: the guard's phase is ready."),
        "starting" => writeln!(
            out,
            "Not ready: the guard is starting: the sentinel has not passed success_threshold rounds and hold yet."
        ),
        "draining" => writeln!(
            out,
            "Not ready: the guard is draining: SIGTERM came; it answers 503 for drain, then exits. Nothing to do."
        ),
        "unready" => writeln!(out, "Not ready: the guard's phase is unready."),
        other => writeln!(out, "Not ready: the guard's phase is {}.", value(other)),
    };
    for line in lines {
        let name = line.get("name").and_then(Value::as_str).unwrap_or("?");
        let word = ["degraded", "forced", "sleeping"]
            .into_iter()
            .find(|w| line.get(w) == Some(&Value::Bool(true)));
        if line.get("ok") == Some(&Value::Bool(true)) {
            let caveat = match word {
                Some("degraded") => {
                    "it failed with on_fail: degrade; the server runs in its safe mode"
                }
                Some("forced") => {
                    "it passed only because of force: true; status.json in the state_dir lists the mismatch"
                }
                Some(_) => "the server sleeps; POST /wake_up when it should serve",
                None => continue,
            };
            let _ = writeln!(
                out,
                "- {} ok ({}): {caveat}",
                value(name),
                word.unwrap_or_default()
            );
            continue;
        }
        let why = line
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let _ = writeln!(out, "- {} failing:", value(name));
        reason(&mut out, "  ", why);
        let table = if matches!(name, "pulse" | "sentinel" | "shutdown" | "gate") {
            GUARD_ADVICE
        } else {
            GATE_ADVICE
        };
        advise(&mut out, table, why);
    }
    let queries = doc
        .pointer("/sentinel/queries")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for query in queries {
        let name = query.get("name").and_then(Value::as_str).unwrap_or("?");
        let ms = query
            .get("latency_ms")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let took = human_duration(millis_lossy(ms));
        let _ = match query.get("reason").and_then(Value::as_str) {
            Some(why) if query.get("ok") != Some(&Value::Bool(true)) => {
                writeln!(
                    out,
                    "- sentinel query {} failed in {took}: {}",
                    value(name),
                    capped(why, LINE_LIMIT)
                )
            }
            _ => writeln!(out, "- sentinel query {} passed in {took}", value(name)),
        };
    }
    Some((phase == "ready", out))
}

/// A guard's plain answer, to a client it withholds reasons from: `None` when it is not one.
pub fn withheld(status: u16, body: &str) -> Option<(bool, String)> {
    let plain = body == "ok"
        || body.ends_with("readyz check passed\n")
        || body.ends_with("readyz check failed\n");
    if !plain || !matches!(status, 200 | 503) {
        return None;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: the guard withholds its reasons from a client off the pod's loopback (details: all shows them to anyone). Ask from inside the pod: kubectl exec POD -c bootgate -- /bootgate explain --url http://127.0.0.1:PORT",
        if status == 200 { "Ready" } else { "Not ready" }
    );
    reason(&mut out, "  ", body.trim_end());
    Some((status == 200, out))
}

/// `AT (12.3s ago)`.
fn when(at: SystemTime, now: SystemTime) -> String {
    match now.duration_since(at) {
        Ok(ago) => format!("{} ({} ago)", rfc3339(at), human_duration(ago)),
        Err(_) => rfc3339(at),
    }
}

/// `text`, a line at a time, indented, escaped and cut.
fn reason(out: &mut String, indent: &str, text: &str) {
    let mut lines = text.lines();
    for line in lines.by_ref().take(REASON_LINES) {
        let _ = writeln!(out, "{indent}{}", capped(line, LINE_LIMIT));
    }
    let more = lines.count();
    if more > 0 {
        let _ = writeln!(out, "{indent}… and {more} more lines");
    }
}

fn advise(out: &mut String, table: &[(&str, &str, u8)], text: &str) {
    let own: Vec<&str> = text.lines().map(own_words).collect();
    let found = table
        .iter()
        .find(|(needle, _, _)| own.iter().any(|line| line.contains(needle)));
    if let Some((_, advice, section)) = found {
        let _ = writeln!(
            out,
            "  What to do: {advice} ({DOCS}{}).",
            SECTIONS[usize::from(*section)]
        );
    }
}

/// The words bootgate wrote itself, in one line of a reason: up to the first excerpt of
/// outside text (an answer's `body "…"`, or what follows `status N: `, a body or a command's
/// stderr), so a body that says "not found" or "refused" chooses no advice.
fn own_words(line: &str) -> &str {
    let mut end = line.find("body \"").unwrap_or(line.len());
    let mut from = 0;
    while let Some(at) = line[from..end].find("status ") {
        let digits_at = from + at + "status ".len();
        let digits = line[digits_at..end]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let after = digits_at + digits;
        if digits > 0 && line[after..end].starts_with(": ") {
            end = after;
            break;
        }
        from = digits_at;
    }
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_follows_bootgates_words_not_the_excerpt_of_an_answer() {
        let advice = |table, text| {
            let mut out = String::new();
            advise(&mut out, table, text);
            out
        };
        let http = advice(
            GATE_ADVICE,
            "GET http://db/health: status 404, want 200-399, body \"404 page not found\"",
        );
        assert!(http.contains("it answers, but not yet well"), "{http}");
        let sentinel = advice(
            GUARD_ADVICE,
            "completion: status 500: {\"error\": \"upstream refused\"}",
        );
        assert!(
            sentinel.contains("look at the model server if it repeats"),
            "{sentinel}"
        );
        let exec = advice(GATE_ADVICE, "sh exited with status 3: curl: not found");
        assert!(exec.contains("fix the command or what it checks"), "{exec}");
        // A line of its own words after an excerpt is still read.
        let two = advice(
            GATE_ADVICE,
            "timeout 2s passed\nlast error: file /m does not exist",
        );
        assert!(two.contains("create it"), "{two}");
    }

    #[test]
    fn each_reason_bootgate_writes_finds_its_advice() {
        let cases = [
            ("file /run/secrets/hf/token does not exist", "create it"),
            ("env HF_TOKEN is not set", "pod spec"),
            ("connect 127.0.0.1:1: connection refused", "nothing listens"),
            (
                "timeout 2s passed\nlast error: file /m does not exist",
                "create it",
            ),
            ("deadline 1s passed", "raise deadline"),
            (
                "weights does not match the runtime:\nx  declared 1  runtime 2",
                "regenerate",
            ),
            (
                "libnvidia-ml.so.1 not found: the container requests no nvidia.com/gpu",
                "NVIDIA_DRIVER_CAPABILITIES",
            ),
            ("command nope not found", "not in the image"),
        ];
        for (reason, advice) in cases {
            let mut out = String::new();
            advise(&mut out, GATE_ADVICE, reason);
            assert!(out.contains(advice), "{reason:?} -> {out:?}");
        }
        let mut out = String::new();
        advise(
            &mut out,
            GUARD_ADVICE,
            "definitive since x: refused: 127.0.0.1:8000 connection refused",
        );
        assert!(out.contains("went away"), "{out}");
        let doc = serde_json::json!({"phase": "starting", "checks": [
            {"name": "gate", "ok": false, "reason": "the gate has not passed yet"}
        ]});
        let (ready, out) = guard(&doc).unwrap();
        assert!(!ready);
        assert!(
            out.contains("kubectl exec POD -c bootgate-init -- /bootgate explain"),
            "{out}"
        );
    }

    #[test]
    fn a_guard_ready_with_caveats_names_them_and_a_plain_answer_says_reasons_are_withheld() {
        let doc = serde_json::json!({
            "ready": true, "phase": "ready", "pins": {},
            "checks": [
                {"name": "weights", "ok": true, "forced": true},
                {"name": "gpu", "ok": true, "degraded": true},
                {"name": "sentinel", "ok": true}
            ],
            "sentinel": {"queries": [{"name": "q", "ok": true, "latency_ms": 12.5}]}
        });
        let (ready, out) = guard(&doc).unwrap();
        assert!(ready, "{out}");
        assert!(
            out.contains("- weights ok (forced): it passed only because of force: true"),
            "{out}"
        );
        assert!(
            out.contains("- gpu ok (degraded): it failed with on_fail: degrade"),
            "{out}"
        );
        assert!(!out.contains("- sentinel ok"), "{out}");
        assert!(out.contains("- sentinel query q passed in 12ms"), "{out}");
        assert!(guard(&serde_json::json!({"checks": []})).is_none());

        let body = "[+]ping ok\n[-]sentinel failed: reason withheld\nreadyz check failed\n";
        let (ready, out) = withheld(503, body).unwrap();
        assert!(!ready);
        assert!(
            out.starts_with(
                "Not ready: the guard withholds its reasons from a client off the pod's loopback"
            ),
            "{out}"
        );
        assert!(
            out.contains("  [-]sentinel failed: reason withheld\n"),
            "{out}"
        );
        assert_eq!(withheld(200, "ok").map(|(r, _)| r), Some(true));
        assert!(withheld(404, "404 page not found\n").is_none());
    }

    #[test]
    fn every_docs_section_linked_exists() {
        let docs = include_str!("../../docs/operations.md");
        for section in SECTIONS {
            let heading = section.replace('-', " ");
            assert!(
                docs.lines()
                    .any(|l| l.starts_with('#') && l.to_lowercase().ends_with(&heading)),
                "no heading for #{section}"
            );
        }
    }
}
