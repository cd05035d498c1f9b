//! The paths that read what others send, each as one function of arbitrary bytes: the
//! `fuzz/` targets drive them under libFuzzer, and `tests/fuzz_seeds.rs` replays the checked-in
//! seeds through them on a stable toolchain. Each must return, without a panic, for any input.

use std::collections::BTreeMap;
use std::path::Path;

/// A config file: parsed, validated, its graph built and ordered, every problem rendered as the
/// user would read it.
pub fn config(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let env = BTreeMap::from([("TOKEN".to_string(), "fuzz-token-value".to_string())]);
    match crate::config::from_str(text, Path::new("fuzz.yaml"), &env) {
        Ok(config) => match crate::graph::Graph::build(&config.checks) {
            Ok(graph) => {
                let _ = graph.levels();
                let _ = graph.warn_orderings(&config.checks);
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

/// The gate's status.json, as the guard reads it at start.
pub fn status_json(bytes: &[u8]) {
    let _ = crate::guard::parse_gate_record(bytes);
}
