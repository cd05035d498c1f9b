//! What hiding secrets costs: `Redactor::clean` and `Redactor::excerpt` on the texts they see
//! — a reason as status.json holds it, an exec check's 4 KiB tail, the same tail full of `%`,
//! `+` and `\` (URL and JSON text, which is decoded before matching), a 64 KiB body — and
//! `clean_json` over the status.json of a 1,000-check gate.
//!
//! Run with `cargo bench --bench redact`: a Markdown table on stdout, a few seconds; times are
//! CPU time, the median of batches. The redactor knows what a typical pod gives it: a
//! 40-character API key, a 16-character password, and a 1.7 KiB PEM key.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bootgate::redact::Redactor;

/// Time this thread has spent on a CPU: the machine is shared, and time spent waiting for a
/// core is not the redactor's.
fn on_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    let ns = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("time on CPU");
    Duration::from_nanos(ns)
}

/// Runs `work` in batches of at least 5 ms for about `budget`; the median CPU time of a call.
fn median(budget: Duration, mut work: impl FnMut()) -> Duration {
    let mut batch = 1u32;
    loop {
        let started = on_cpu();
        for _ in 0..batch {
            work();
        }
        if on_cpu() - started > Duration::from_millis(5) {
            break;
        }
        batch *= 2;
    }
    let mut samples = Vec::new();
    let started = Instant::now();
    while started.elapsed() < budget || samples.len() < 5 {
        let at = on_cpu();
        for _ in 0..batch {
            work();
        }
        samples.push((on_cpu() - at) / batch);
    }
    samples.sort();
    samples[samples.len() / 2]
}

fn shown(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 10_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{:.1} ms", ns as f64 / 1e6)
    }
}

/// Log-like text: words, numbers, paths; no secret.
fn prose(len: usize, specials: bool) -> String {
    let words = [
        "loading",
        "model",
        "shard",
        "7/8",
        "from",
        "/models/llama",
        "took",
        "1532ms",
        "ERROR",
        "connection",
        "refused",
        "retrying",
        "in",
        "250ms",
        "token",
        "expired",
    ];
    let mut out = String::new();
    let mut i = 0usize;
    while out.len() < len {
        out.push_str(words[i % words.len()]);
        if specials && i % 7 == 3 {
            out.push_str(["%2F", "+", "\\n", "\\u00e9", "%3D"][i % 5]);
        }
        out.push(if i % 13 == 12 { '\n' } else { ' ' });
        i += 1;
    }
    out.truncate(len);
    out
}

fn main() {
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}-----END PRIVATE KEY-----",
        (0..26)
            .map(|i| format!(
                "{}\n",
                format!("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC{i:02}").repeat(2)
            ))
            .collect::<String>()
    );
    let redactor = Redactor::new([
        "sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c".to_string(),
        "hunter2-Passw0rd".to_string(),
        pem,
    ]);
    let reason = "GET http://127.0.0.1:8000/v1/models: status 503, want 2xx: model not loaded";
    let tail = prose(4096, false);
    let escaped = prose(4096, true);
    let body = prose(64 << 10, false);
    let status = serde_json::json!({
        "outcome": "running",
        "checks": (0..1000).map(|i| serde_json::json!({
            "name": format!("check-{i}"),
            "kind": "tcp",
            "target": format!("127.0.0.1:{}", 9000 + i),
            "state": "running",
            "last_error": "connection refused",
        })).collect::<Vec<_>>(),
    });
    let budget = Duration::from_millis(400);
    println!("| text | clean | excerpt |");
    println!("| --- | --- | --- |");
    for (name, text) in [
        ("a reason (78 B)", reason),
        ("an exec tail (4 KiB)", tail.as_str()),
        ("the same with `%`, `+`, `\\` (4 KiB)", escaped.as_str()),
        ("a body (64 KiB)", body.as_str()),
    ] {
        let clean = median(budget, || {
            black_box(redactor.clean(black_box(text)));
        });
        let excerpt = median(budget, || {
            black_box(redactor.excerpt(black_box(text)));
        });
        println!("| {name} | {} | {} |", shown(clean), shown(excerpt));
    }
    let json = median(budget, || {
        let mut value = status.clone();
        redactor.clean_json(&mut value);
        black_box(value);
    });
    let copy = median(budget, || {
        black_box(status.clone());
    });
    println!(
        "| status.json of 1,000 checks (`clean_json`, less the copy) | {} | |",
        shown(json.saturating_sub(copy))
    );
}
