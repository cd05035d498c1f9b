//! The paths that read what others send, each as one function of arbitrary bytes: the
//! `fuzz/` targets drive them under libFuzzer, and `tests/fuzz_seeds.rs` replays the checked-in
//! seeds through them on a stable toolchain. Each must return, without a panic, for any input.

use std::collections::BTreeMap;
use std::path::Path;

/// A config file: parsed, validated, its graph built, and rendered as `validate` would: its
/// report, or every problem.
pub fn config(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let env = BTreeMap::from([("TOKEN".to_string(), "fuzz-token-value".to_string())]);
    match crate::config::from_str(text, Path::new("fuzz.yaml"), &env) {
        Ok(config) => match crate::graph::Graph::build(&config.checks) {
            Ok(graph) => {
                let _ = crate::commands::validate::report(&config, &graph);
            }
            Err(problems) => {
                let _ = problems.to_string();
            }
        },
        Err(problems) => {
            let _ = problems.to_string();
        }
    }
}

/// What a model's publisher sends, the first byte choosing which: an OpenSSF Model Signing
/// bundle (every parser behind its signature: bundle, statement, certificates, PEM), a
/// safetensors header (the second byte the length of the tensors' data after it), or a Hub
/// snapshot's weight-map index.
pub fn model_files(bytes: &[u8]) {
    match bytes.split_first() {
        Some((0, bundle)) => crate::manifest::oms::parse_untrusted(bundle),
        Some((1, rest)) => {
            let (extra, header) = rest.split_first().unwrap_or((&0, &[]));
            let len = 8 + header.len() as u64 + u64::from(*extra);
            let _ =
                crate::manifest::safetensors::check_header(header, len).map_err(|e| e.to_string());
        }
        Some((_, index)) => {
            let _ = crate::manifest::huggingface::weight_map_files(index);
        }
        None => {}
    }
}

/// The gate's status.json, as the guard reads it at start and `explain` reads it (and a guard's
/// JSON, which `explain --url` reads): whatever it holds, the words shown carry no control
/// character but their own line breaks, and the status page drawn from it stays under 50 KiB.
pub fn status_json(bytes: &[u8]) {
    use crate::report::explain;
    let _ = crate::guard::parse_gate_record(bytes);
    let gate = crate::state::StatusRecord::parse(bytes)
        .and_then(|record| explain::gate(&record, std::time::SystemTime::now()));
    let guard = serde_json::from_slice(bytes)
        .ok()
        .and_then(|doc| explain::guard(&doc));
    let plain = explain::withheld(503, &String::from_utf8_lossy(bytes));
    // The guard's status page, drawn from the same record.
    if let Some(record) = crate::state::StatusRecord::parse(bytes) {
        let snapshot = crate::guard::server::Snapshot {
            gate: Some(std::sync::Arc::new(record)),
            ..Default::default()
        };
        let now = tokio::time::Instant::now();
        let page = crate::guard::status_page::html(&snapshot, true, now);
        assert!(
            page.len() < 50 * 1024,
            "a status page of {} bytes",
            page.len()
        );
        let _ = crate::guard::status_page::json(&snapshot, true, now);
    }
    for (_, said) in [gate, guard, plain].into_iter().flatten() {
        assert!(
            !said.chars().any(|c| c != '\n' && crate::echo::is_unsafe(c)),
            "explain shows a control character: {said:?}"
        );
    }
}

/// A client's bytes to the probe server, sent whole and followed by the end of its side: the
/// server's answer. Every answer must be HTTP; a caller drives this on a runtime with time
/// enabled, paused in a fuzzer so that the head deadline costs no wall-clock time.
pub async fn request_head(bytes: &[u8]) -> Vec<u8> {
    use crate::guard::lines::{Caveat, Line, RoundMark, StreakView};
    use crate::guard::server::{Shared, Snapshot, serve_connection};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let shared = Shared::default();
    *shared.write() = Snapshot {
        lines: vec![
            Line {
                name: "sentinel".into(),
                ok: false,
                reason: "status 503: loading".into(),
                caveat: None,
                details: vec!["a detail".into()],
            },
            Line {
                name: "gpu".into(),
                ok: true,
                reason: String::new(),
                caveat: Some(Caveat::Degraded),
                details: Vec::new(),
            },
        ],
        phase: "starting".into(),
        pins: vec![("model".into(), "llama".into())],
        queries: Vec::new(),
        details_for_all: false,
        started: true,
        // Already dead, so `/livez/model`'s failing answer is exercised too.
        dead: Some((tokio::time::Instant::now(), "no answer within 5s".into())),
        // A gate and rounds, so `/status` draws a timeline and a chart.
        rounds: vec![
            RoundMark {
                ended: tokio::time::Instant::now(),
                latency_ms: 12.5,
                passed: true,
            },
            RoundMark {
                ended: tokio::time::Instant::now(),
                latency_ms: 5000.0,
                passed: false,
            },
        ],
        streak: Some(StreakView {
            ok: false,
            passes: 0,
            fails: 1,
        }),
        gate: crate::state::StatusRecord::parse(
            br#"{"started_at": "2026-12-05T07:00:00.000Z", "outcome": "passed",
                "elapsed_ms": 1500.0, "deadline_ms": 600000, "checks": [
                {"name": "token", "kind": "secret", "target": "file /s/<token>", "state": "passed",
                 "on_fail": "require", "attempts": 3, "started_ms": 0.5, "finished_ms": 900.0,
                 "events": [{"at_ms": 100.0, "event": "failed", "attempt": 1},
                            {"at_ms": 300.0, "event": "stalled", "attempt": 2}]},
                {"name": "gpu", "kind": "gpu", "state": "degraded", "on_fail": "degrade",
                 "after": ["token"], "started_ms": 900.0, "finished_ms": 1500.0,
                 "reason": "no NVML"}]}"#,
        )
        .map(std::sync::Arc::new),
    };
    let (client, server) = tokio::io::duplex(64 * 1024);
    let (mut from_server, mut to_server) = tokio::io::split(client);
    // Loopback, so the answers that only the pod itself may see are exercised too.
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40000));
    let serving = serve_connection(server, &shared, peer);
    // Written and read at once: pipelined requests whose answers outgrow the pipe must not
    // wait on each other.
    let sending = async {
        let _ = to_server.write_all(bytes).await;
        let _ = to_server.shutdown().await;
    };
    let asking = async {
        let mut answer = Vec::new();
        let _ = from_server.read_to_end(&mut answer).await;
        answer
    };
    let (_, (), answer) = tokio::join!(serving, sending, asking);
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 ") || answer.starts_with(b"HTTP/1.0 "),
        "not an HTTP answer: {:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(200)])
    );
    answer
}
