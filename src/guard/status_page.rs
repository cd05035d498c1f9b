//! `/status`: the operator's page. The gate as a timeline, the sentinel's latest rounds, the
//! verdict with its reasons, the pins and the build, rendered from the cached [`Snapshot`] on
//! each request, as `/readyz` is. One self-contained document with no script and no external
//! asset: it reads the same in a text browser, a screenshot or `--dump-dom`, and a meta refresh
//! keeps it current. Reasons, targets and query answers are for the pod's own eyes, as on
//! `/readyz/<name>`.

use std::collections::HashMap;
use std::fmt::Write;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::lines::Line;
use super::server::Snapshot;
use crate::config::units::{human_duration, millis_lossy};
use crate::state::{AttemptEnd, CheckRecord, EVENTS_KEPT, Phase, StatusRecord};

/// Seconds between the page's own refreshes.
const REFRESH_SECS: u32 = 5;
/// Characters of one reason on the page: a timeline row is read at a glance.
const REASON_CHARS: usize = 200;
/// Characters of a name or a target on the page.
const NAME_CHARS: usize = 100;
/// Details (a GPU each, a forced mismatch each) shown under one readiness line.
const DETAILS_SHOWN: usize = 4;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2433;max-width:72em}\
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}\
.verdict{padding:.1em .5em;border-radius:.3em;color:#fff}.ok{background:#1f883d}.no{background:#cf222e}\
.muted{color:#59636e}ol{list-style:none;padding:0;margin:0}\
.check{display:grid;grid-template-columns:13em 1fr 16em;gap:.6em;align-items:center;margin:.25em 0}\
.name{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}.name small{color:#59636e}\
.track{position:relative;height:1.1em;background:#f3f4f6;border-radius:.2em}\
.track>*{position:absolute;top:0;bottom:0}\
.wait{border-top:2px dotted #8c959f;top:45%;bottom:auto}\
.bar{min-width:2px;border-radius:.2em}.bar.passed{background:#1f883d}.bar.failed{background:#cf222e}\
.bar.degraded{background:#bf8700}.bar.running{background:#0969da}.bar.forced{background:#8250df}\
.bar.cancelled,.bar.skipped{background:#8c959f}\
.ev{width:2px;background:#fff;opacity:.9}.ev.stalled{width:4px;background:#fb8500;opacity:1}\
.ticks{display:flex;justify-content:space-between;color:#59636e;font-size:.85em}\
.reason{grid-column:2/4;color:#59636e;font-size:.9em;margin-top:-.3em;word-break:break-word}\
svg{width:100%;max-width:48em;height:6em;background:#f3f4f6;border-radius:.2em}\
rect.pass{fill:#1f883d}rect.fail{fill:#cf222e}rect.failzone{fill:#cf222e;opacity:.15}\
table{border-collapse:collapse}td,th{text-align:left;padding:.15em .8em .15em 0;vertical-align:top}\
.lines li{font-family:ui-monospace,monospace}";

/// The page for a client; `local` sees reasons.
pub fn html(snapshot: &Snapshot, local: bool, now: Instant) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let ready = snapshot.lines.iter().all(|l| l.ok);
    let verdict = if ready { "Ready" } else { "Not ready" };
    let _ = write!(
        out,
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width\">\
         <meta http-equiv=refresh content={REFRESH_SECS}>\
         <title>bootgate: {verdict}</title><style>{STYLE}</style></head><body>\
         <h1>bootgate <span id=verdict class=\"verdict {}\">{verdict}</span></h1>\
         <p class=muted>guard: {}",
        if ready { "ok" } else { "no" },
        Html(&snapshot.phase, 40),
    );
    if let Some(started) = snapshot.gate.as_ref().and_then(|g| g.started_at.as_ref()) {
        let _ = write!(out, "; gate started {}", Html(started, 40));
    }
    out.push_str("</p>");
    verdict_lines(&mut out, &snapshot.lines, local);
    match &snapshot.gate {
        Some(gate) => timeline(&mut out, gate, local),
        None => out.push_str("<h2>Gate</h2><p class=muted>no gate record yet</p>"),
    }
    sentinel(&mut out, snapshot, local, now);
    out.push_str("<h2>Build</h2><table id=build>");
    let _ = write!(
        out,
        "<tr><th>bootgate</th><td>{}</td></tr>",
        env!("CARGO_PKG_VERSION")
    );
    for (shown, (key, value)) in snapshot.pins.iter().enumerate() {
        if out.len() >= PINS_END {
            more_rows(&mut out, snapshot.pins.len() - shown, "pins");
            break;
        }
        let _ = write!(
            out,
            "<tr><th>{}</th><td>{}</td></tr>",
            Html(key, NAME_CHARS),
            Html(value, REASON_CHARS)
        );
    }
    out.push_str("</table></body></html>\n");
    out
}

/// Where each list stops adding rows, counted from the top of the page. A row is at most about
/// 7.5 KiB (every character of its capped texts escaped) and the chart about 11 KiB, so a gate
/// of any size keeps the page under 50 KiB. What is left out is counted, and `?format=json`
/// has it all.
const LINES_END: usize = 9 * 1024;
const TIMELINE_END: usize = 22 * 1024;
const QUERIES_END: usize = 43 * 1024;
const PINS_END: usize = 46 * 1024;

fn verdict_lines(out: &mut String, lines: &[Line], local: bool) {
    out.push_str("<h2>Readiness</h2><ol class=lines id=readiness>");
    // Failing lines first: on a page cut short, they are the ones to read.
    let mut left_out = 0;
    for line in lines
        .iter()
        .filter(|l| !l.ok)
        .chain(lines.iter().filter(|l| l.ok))
    {
        if out.len() >= LINES_END {
            left_out += 1;
            continue;
        }
        let mark = if line.ok { "+" } else { "-" };
        let _ = write!(
            out,
            "<li data-check=\"{}\">[{mark}]{} ",
            Html(&line.name, NAME_CHARS),
            Html(&line.name, NAME_CHARS)
        );
        match (line.ok, line.caveat) {
            (true, Some(caveat)) => {
                let _ = write!(out, "ok ({})", caveat.word());
            }
            (true, None) => out.push_str("ok"),
            (false, _) if local => {
                let _ = write!(out, "failed: {}", Html(&line.reason, REASON_CHARS));
            }
            (false, _) => out.push_str("failed: reason withheld"),
        }
        if local {
            for detail in line.details.iter().take(DETAILS_SHOWN) {
                let _ = write!(out, "<br>&nbsp;&nbsp;{}", Html(detail, REASON_CHARS));
            }
            if line.details.len() > DETAILS_SHOWN {
                let _ = write!(
                    out,
                    "<br>&nbsp;&nbsp;and {} more",
                    line.details.len() - DETAILS_SHOWN
                );
            }
        }
        out.push_str("</li>");
    }
    more(out, left_out, "lines", "/readyz?verbose");
    out.push_str("</ol>");
}

/// The table row that stands for `count` rows left out.
fn more_rows(out: &mut String, count: usize, what: &str) {
    let _ = write!(
        out,
        "<tr><td colspan=4>{count} more {what}, left out to keep the page small: \
         ?format=json has them</td></tr>"
    );
}

/// The row that stands for `count` rows left out, and where to find them.
fn more(out: &mut String, count: usize, what: &str, whole: &str) {
    if count > 0 {
        let _ = write!(
            out,
            "<li class=more>{count} more {what}, left out to keep the page small: {whole} has them</li>"
        );
    }
}

/// When each check finished, by name: where the checks that run after it could start.
fn finished_by_name(gate: &StatusRecord) -> HashMap<&str, f64> {
    gate.checks
        .iter()
        .filter_map(|c| Some((c.name.as_str(), c.finished_ms?)))
        .collect()
}

/// When a check could start: once every check it runs after had finished.
fn could_start(finished: &HashMap<&str, f64>, check: &CheckRecord) -> f64 {
    check
        .after
        .iter()
        .filter_map(|name| finished.get(name.as_str()))
        .fold(0.0, |at, &f| at.max(f))
}

/// A check's attempt events to show: the writer keeps [`EVENTS_KEPT`], a file others wrote
/// may hold any number.
fn shown_events(check: &CheckRecord) -> &[crate::state::AttemptEvent] {
    &check.events[check.events.len().saturating_sub(EVENTS_KEPT)..]
}

/// The word a bar is drawn and labelled with: a forced pass is not a clean one.
fn state_word(check: &CheckRecord) -> &'static str {
    match check.state {
        Phase::Passed if check.forced.is_some() => "forced",
        Phase::Passed => "passed",
        Phase::Pending => "pending",
        Phase::Running => "running",
        Phase::Failed => "failed",
        Phase::Degraded => "degraded",
        Phase::Skipped => "skipped",
        Phase::Cancelled => "cancelled",
    }
}

/// Milliseconds for people, from a file others can write: any number prints.
fn millis(value: f64) -> String {
    human_duration(millis_lossy(value))
}

fn timeline(out: &mut String, gate: &StatusRecord, local: bool) {
    let finished = finished_by_name(gate);
    let span = gate
        .checks
        .iter()
        .filter_map(|c| c.finished_ms)
        .fold(gate.elapsed_ms, f64::max)
        .max(1.0);
    let pct = |at: f64| (at / span * 100.0).clamp(0.0, 100.0);
    let outcome = gate.outcome.map_or("unknown", |o| match o {
        crate::state::Outcome::Running => "running",
        crate::state::Outcome::Passed => "passed",
        crate::state::Outcome::Failed => "failed",
        crate::state::Outcome::DeadlineExceeded => "deadline exceeded",
        crate::state::Outcome::Interrupted => "interrupted",
    });
    let _ = write!(
        out,
        "<h2>Gate</h2><p id=gate-outcome>{outcome} in {}, {} checks, deadline {}</p>\
         <ol id=timeline>",
        millis(gate.elapsed_ms),
        gate.checks.len(),
        millis(gate.deadline_ms as f64),
    );
    let mut left_out = 0;
    for check in &gate.checks {
        if out.len() >= TIMELINE_END {
            left_out += 1;
            continue;
        }
        let word = state_word(check);
        let _ = write!(
            out,
            "<li class=check data-check=\"{0}\" data-state={word}>\
             <span class=name title=\"{0}\">{0} <small>{1}</small></span><span class=track>",
            Html(&check.name, NAME_CHARS),
            Html(&check.kind, 20),
        );
        let begin = check
            .started_ms
            .unwrap_or_else(|| could_start(&finished, check));
        if !check.after.is_empty() && begin > 0.0 {
            let after = check.after.join(", ");
            let _ = write!(
                out,
                "<i class=wait style=\"left:0;width:{:.2}%\" title=\"waits {} for {}\"></i>",
                pct(begin),
                millis(begin),
                Html(&after, REASON_CHARS),
            );
        }
        if let Some(started) = check.started_ms {
            let end = check.finished_ms.unwrap_or(span);
            let _ = write!(
                out,
                "<i class=\"bar {word}\" style=\"left:{:.2}%;width:{:.2}%\" title=\"{word} after {}\"></i>",
                pct(started),
                pct(end) - pct(started),
                millis(end - started),
            );
        }
        for event in shown_events(check) {
            let (class, what) = match event.event {
                AttemptEnd::Failed => ("failed", "failed"),
                AttemptEnd::Stalled => ("stalled", "stalled"),
            };
            let _ = write!(
                out,
                "<i class=\"ev {class}\" style=\"left:{:.2}%\" title=\"attempt {} {what} at {}\"></i>",
                pct(event.at_ms),
                event.attempt,
                millis(event.at_ms),
            );
        }
        let _ = write!(out, "</span><span class=time>{word}");
        if let (Some(s), Some(f)) = (check.started_ms, check.finished_ms) {
            let _ = write!(out, " in {}", millis(f - s));
        }
        if check.attempts > 1 {
            let _ = write!(out, ", {} attempts", check.attempts);
        }
        if check.stalls > 0 {
            let _ = write!(out, ", {} stalled", check.stalls);
        }
        if check.events_dropped > 0 {
            let _ = write!(out, " ({} earlier not drawn)", check.events_dropped);
        }
        out.push_str("</span>");
        if local {
            let why = match (&check.forced, &check.reason, &check.last_error) {
                _ if check.state == Phase::Passed && check.forced.is_none() => None,
                (Some(forced), _, _) => Some(format!("forced past: {forced}")),
                (None, Some(reason), Some(error)) => Some(format!("{reason}; last error: {error}")),
                (None, Some(why), None) | (None, None, Some(why)) => Some(why.clone()),
                (None, None, None) => None,
            };
            let _ = write!(
                out,
                "<span class=reason>{}",
                Html(&check.target, REASON_CHARS)
            );
            if let Some(why) = why {
                let _ = write!(out, " — {}", Html(&why, REASON_CHARS));
            }
            out.push_str("</span>");
        }
        out.push_str("</li>");
    }
    more(out, left_out, "checks", "/status?format=json");
    let _ = write!(
        out,
        "</ol><div class=check><span></span><span class=ticks><span>0</span><span>{}</span>\
         <span>{}</span></span></div>",
        millis(span / 2.0),
        millis(span)
    );
}

fn sentinel(out: &mut String, snapshot: &Snapshot, local: bool, now: Instant) {
    out.push_str("<h2>Sentinel</h2>");
    let Some(streak) = snapshot.streak else {
        out.push_str("<p class=muted>no sentinel configured</p>");
        return;
    };
    let _ = match (streak.ok, streak.passes, streak.fails) {
        (_, 0, 0) => write!(out, "<p id=streak>no round finished yet"),
        (true, n, _) | (false, n, 0) => write!(out, "<p id=streak>passing, {n} rounds in a row"),
        (false, _, n) => write!(out, "<p id=streak>failing, {n} rounds in a row"),
    };
    let rounds = &snapshot.rounds;
    let worst = rounds.iter().map(|r| r.latency_ms).fold(1.0, f64::max);
    let fails = rounds.iter().filter(|r| !r.passed).count();
    let _ = write!(
        out,
        "; the latest {} rounds: {fails} failed, slowest {}</p>\
         <svg id=rounds viewBox=\"0 0 600 100\" preserveAspectRatio=none role=img \
         aria-label=\"latency of the latest sentinel rounds\">",
        rounds.len(),
        millis(worst),
    );
    let slot = 600.0 / super::model::ROUNDS_KEPT as f64;
    for (i, round) in rounds.iter().enumerate() {
        let x = i as f64 * slot;
        let height = (round.latency_ms / worst * 96.0).max(2.0);
        let ago = millis(now.saturating_duration_since(round.ended).as_secs_f64() * 1e3);
        let (class, word) = if round.passed {
            ("pass", "passed")
        } else {
            let _ = write!(
                out,
                "<rect class=failzone x={x:.1} y=0 width={:.1} height=100></rect>",
                slot - 1.0
            );
            ("fail", "failed")
        };
        let _ = write!(
            out,
            "<rect class={class} data-passed={} x={x:.1} y={:.1} width={:.1} height={height:.1}>\
             <title>{word}, {} ({ago} ago)</title></rect>",
            round.passed,
            100.0 - height,
            slot - 1.0,
            millis(round.latency_ms),
        );
    }
    out.push_str("</svg><table id=queries>");
    for (shown, query) in snapshot.queries.iter().enumerate() {
        if out.len() >= QUERIES_END {
            more_rows(out, snapshot.queries.len() - shown, "queries");
            break;
        }
        let _ = write!(
            out,
            "<tr><th>{}</th><td>{}</td><td>{}</td>",
            Html(&query.name, NAME_CHARS),
            if query.ok { "ok" } else { "failing" },
            millis(query.latency_ms),
        );
        if local && let Some(reason) = &query.reason {
            let _ = write!(out, "<td>{}</td>", Html(reason, REASON_CHARS));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

/// `/status?format=json`: what the page shows, as data.
pub fn json(snapshot: &Snapshot, local: bool, now: Instant) -> Value {
    let lines: Vec<Value> = snapshot.lines.iter().map(|l| l.json(local)).collect();
    let gate = snapshot.gate.as_ref().map(|gate| {
        let finished = finished_by_name(gate);
        let checks: Vec<Value> = gate
            .checks
            .iter()
            .map(|c| {
                let mut v = json!({
                    "name": c.name,
                    "kind": c.kind,
                    "state": state_word(c),
                    "after": c.after,
                    "could_start_ms": could_start(&finished, c),
                    "started_ms": c.started_ms,
                    "finished_ms": c.finished_ms,
                    "attempts": c.attempts,
                    "stalls": c.stalls,
                    "events": shown_events(c),
                    "events_dropped": c.events_dropped,
                });
                if local {
                    v["target"] = c.target.as_str().into();
                    v["reason"] = c.reason.clone().into();
                    v["last_error"] = c.last_error.clone().into();
                    v["forced"] = c.forced.clone().into();
                }
                v
            })
            .collect();
        json!({
            "started_at": gate.started_at,
            "outcome": gate.outcome,
            "elapsed_ms": gate.elapsed_ms,
            "deadline_ms": gate.deadline_ms,
            "checks": checks,
        })
    });
    let sentinel = snapshot.streak.map(|streak| {
        let rounds: Vec<Value> = snapshot
            .rounds
            .iter()
            .map(|r| {
                json!({
                    "ago_ms": now.saturating_duration_since(r.ended).as_secs_f64() * 1e3,
                    "latency_ms": r.latency_ms,
                    "passed": r.passed,
                })
            })
            .collect();
        let queries: Vec<Value> = snapshot.queries.iter().map(|q| q.json(local)).collect();
        json!({
            "ok": streak.ok,
            "passes_in_a_row": streak.passes,
            "fails_in_a_row": streak.fails,
            "rounds": rounds,
            "queries": queries,
        })
    });
    json!({
        "ready": snapshot.lines.iter().all(|l| l.ok),
        "phase": snapshot.phase,
        "lines": lines,
        "gate": gate,
        "sentinel": sentinel,
        "pins": super::lines::pins_json(&snapshot.pins),
        "version": env!("CARGO_PKG_VERSION"),
    })
}

/// Text for the page: HTML-escaped, control characters written out, capped.
struct Html<'a>(&'a str, usize);

impl std::fmt::Display for Html<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = crate::echo::capped(self.0, self.1).to_string();
        for c in shown.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::lines::{RoundMark, StreakView};
    use std::sync::Arc;

    fn snapshot() -> Snapshot {
        let gate = StatusRecord::parse(
            br#"{"started_at": "2026-12-05T07:00:00.000Z", "outcome": "passed",
                "elapsed_ms": 2000.0, "deadline_ms": 60000, "checks": [
                {"name": "db<b>", "kind": "tcp", "target": "db.internal:5432", "state": "passed",
                 "on_fail": "require", "started_ms": 0.0, "finished_ms": 1000.0,
                 "last_error": "refused"},
                {"name": "gpu", "kind": "gpu", "target": "1 GPU", "state": "degraded",
                 "on_fail": "degrade", "after": ["db<b>"], "started_ms": 1000.0,
                 "finished_ms": 2000.0, "reason": "<script>alert(1)</script>\u001b[2J"}]}"#,
        )
        .unwrap();
        Snapshot {
            lines: vec![Line {
                name: "sentinel".into(),
                ok: false,
                reason: "status 500: the model said <no>".into(),
                caveat: None,
                details: Vec::new(),
            }],
            phase: "unready".into(),
            rounds: vec![RoundMark {
                ended: Instant::now(),
                latency_ms: 3.0,
                passed: false,
            }],
            streak: Some(StreakView {
                ok: false,
                passes: 0,
                fails: 1,
            }),
            gate: Some(Arc::new(gate)),
            ..Snapshot::default()
        }
    }

    #[test]
    fn reasons_and_targets_are_for_the_pods_own_eyes() {
        let (snapshot, now) = (snapshot(), Instant::now());
        let remote = html(&snapshot, false, now);
        for private in ["db.internal", "alert", "the model said", "refused"] {
            assert!(
                !remote.contains(private),
                "{private} shown remotely:\n{remote}"
            );
        }
        assert!(remote.contains("failed: reason withheld"));
        let remote = json(&snapshot, false, now).to_string();
        for private in ["db.internal", "alert", "the model said", "refused"] {
            assert!(
                !remote.contains(private),
                "{private} in remote JSON: {remote}"
            );
        }
        let local = html(&snapshot, true, now);
        assert!(local.contains("db.internal:5432"));
        assert!(local.contains("status 500: the model said &lt;no&gt;"));
    }

    #[test]
    fn text_from_outside_is_escaped_on_the_page() {
        let page = html(&snapshot(), true, Instant::now());
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains('\u{1b}'));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;\\u{1b}[2J"));
        // A name is escaped in its attribute as in its text.
        assert!(page.contains("data-check=\"db&lt;b&gt;\""));
        assert!(page.contains("for db&lt;b&gt;"));
    }

    #[test]
    fn a_page_stays_under_50_kib_whatever_the_gate_and_counts_what_it_leaves_out() {
        // Every character escaped to its longest form: a bidirectional control is written out
        // as `\u{202e}`, 8 bytes, `"` as `&quot;`, 6.
        let long = "\u{202e}\"".repeat(400);
        let events: Vec<serde_json::Value> = (1..=16)
            .map(|a| json!({"at_ms": a as f64, "event": "stalled", "attempt": a}))
            .collect();
        let checks: Vec<serde_json::Value> = (0..1000)
            .map(|i| {
                json!({"name": format!("check-{i}-{long}"), "kind": "http", "target": long,
                       "state": "failed", "on_fail": "require", "after": [format!("check-{i}")],
                       "started_ms": 1.0, "finished_ms": 2.0, "reason": long, "last_error": long,
                       "events": events})
            })
            .collect();
        let gate = json!({"outcome": "failed", "elapsed_ms": 2.0, "checks": checks});
        let mut snapshot = snapshot();
        snapshot.gate = StatusRecord::parse(gate.to_string().as_bytes()).map(Arc::new);
        snapshot.lines = (0..1000)
            .map(|i| Line {
                name: format!("line-{i}-{long}"),
                ok: i % 2 == 0,
                reason: long.clone(),
                caveat: None,
                details: vec![long.clone(); 4],
            })
            .collect();
        snapshot.rounds = vec![
            RoundMark {
                ended: Instant::now(),
                latency_ms: 12.5,
                passed: false,
            };
            crate::guard::model::ROUNDS_KEPT
        ];
        snapshot.queries = (0..100)
            .map(|i| crate::guard::lines::QueryView {
                name: format!("query-{i}"),
                ok: false,
                latency_ms: 5000.0,
                reason: Some(long.clone()),
            })
            .collect();
        snapshot.pins = (0..100)
            .map(|i| (format!("pin-{i}"), long.clone()))
            .collect();
        let page = html(&snapshot, true, Instant::now());
        assert!(page.len() < 50 * 1024, "{} bytes", page.len());
        assert!(page.contains("more lines, left out to keep the page small"));
        assert!(page.contains("more checks, left out to keep the page small"));
        assert!(page.contains("more pins, left out to keep the page small"));
        assert!(page.ends_with("</html>\n"));
        // Failing lines come first, so the ones left out are passing ones.
        assert!(page.contains("[-]line-1-"));
    }

    #[test]
    fn numbers_no_gate_would_write_are_drawn_not_fatal() {
        let mut snapshot = snapshot();
        snapshot.gate = StatusRecord::parse(
            br#"{"outcome": "passed", "elapsed_ms": 1e300, "deadline_ms": 18446744073709551615,
                "checks": [{"name": "a", "state": "passed", "on_fail": "require",
                "started_ms": -1e300, "finished_ms": 1e308, "after": ["a", "a", "b"],
                "events": [{"at_ms": -5.0, "event": "failed", "attempt": 4294967295}]}]}"#,
        )
        .map(Arc::new);
        assert!(snapshot.gate.is_some());
        let page = html(&snapshot, true, Instant::now());
        assert!(page.contains("data-check=\"a\""));
        let _ = json(&snapshot, true, Instant::now());
    }

    #[test]
    fn a_wait_on_an_after_edge_is_drawn_to_where_the_check_could_start() {
        let page = html(&snapshot(), true, Instant::now());
        // gpu runs after db, which took the first half of the gate.
        assert!(
            page.contains("<i class=wait style=\"left:0;width:50.00%\""),
            "{page}"
        );
        assert!(page.contains("<i class=\"bar degraded\" style=\"left:50.00%;width:50.00%\""));
    }
}
