//! docs/configuration.md against the code: each table lists exactly the keys its section of
//! the config accepts, and every `BOOTGATE_*` variable the code reads or sets.

use std::collections::BTreeSet;
use std::path::Path;

use super::{guard, http, manifest, parse};

const DOC: &str = include_str!("../../docs/configuration.md");

/// The first-column names of the table under `heading`, up to the next heading.
fn table(heading: &str) -> BTreeSet<String> {
    let mut lines = DOC.lines().skip_while(|line| *line != heading);
    assert!(
        lines.next().is_some(),
        "docs/configuration.md has no `{heading}`"
    );
    lines
        .take_while(|line| !line.starts_with('#'))
        .filter_map(|line| line.strip_prefix("| `"))
        .map(|cell| cell.split('`').next().unwrap_or_default().to_string())
        .collect()
}

fn keys(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|k| k.to_string()).collect()
}

#[test]
fn every_section_lists_exactly_the_keys_the_parser_accepts() {
    let mut sections = vec![
        ("## Top level".to_string(), keys(parse::TOP_KEYS)),
        ("## `defaults`".to_string(), keys(parse::DEFAULTS_KEYS)),
        ("## Every check".to_string(), keys(parse::COMMON_KEYS)),
        (
            "### An http check's `expect`".to_string(),
            keys(http::EXPECT_KEYS),
        ),
        ("## `sentinel`".to_string(), keys(guard::SENTINEL_KEYS)),
        ("## A sentinel query".to_string(), keys(guard::QUERY_KEYS)),
        (
            "### A query's `expect`".to_string(),
            keys(guard::EXPECT_KEYS),
        ),
        (
            "### A `json` expectation".to_string(),
            keys(guard::JSON_KEYS),
        ),
        (
            "### A manifest's `effective` source".to_string(),
            keys(manifest::SOURCE_KEYS),
        ),
    ];
    for (kind, accepted) in parse::KINDS {
        sections.push((format!("## `kind: {kind}`"), keys(accepted)));
    }
    for (heading, accepted) in sections {
        assert_eq!(table(&heading), accepted, "under {heading}");
    }
}

#[test]
fn every_environment_variable_is_documented() {
    let mut found = BTreeSet::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            for (at, _) in text.match_indices("\"BOOTGATE_") {
                let name: String = text[at + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                // The bare prefix is this test's own needle.
                if name != "BOOTGATE_" {
                    found.insert(name);
                }
            }
        }
    }
    assert_eq!(table("## Environment variables"), found);
}
