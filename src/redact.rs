//! Keeps secret values out of everything bootgate shows or stores.
//!
//! Text from outside (an exec's stderr, an HTTP body) can echo a token back — a 401 page often
//! does — so it passes through here before it is kept anywhere.

use std::sync::{Arc, RwLock};

pub const REDACTED: &str = "[redacted]";
/// Longest excerpt of outside text kept for a reason.
pub const EXCERPT_LIMIT: usize = 200;

#[derive(Clone, Default)]
pub struct Redactor {
    values: Arc<RwLock<Vec<String>>>,
}

impl Redactor {
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let r = Redactor::default();
        for v in values {
            r.add(v);
        }
        r
    }

    /// Remembers a value to hide from now on (a secret file read at run time).
    pub fn add(&self, value: String) {
        // Outside text may quote a multi-line secret (a PEM key) one line at a time.
        let lines: Vec<String> = if value.contains('\n') {
            value
                .lines()
                .map(str::trim)
                .filter(|line| line.len() >= MIN_LINE_LEN)
                .map(str::to_string)
                .collect()
        } else {
            Vec::new()
        };
        // A server may echo a secret inside JSON: escaped the way serde does, or with `/` as
        // `\/` (PHP's default). Those forms are hidden as well.
        let mut escaped = Vec::new();
        if let Ok(json) = serde_json::to_string(&value) {
            let inner = json[1..json.len() - 1].to_string();
            if inner.contains('/') {
                escaped.push(inner.replace('/', "\\/"));
            }
            if inner != value {
                escaped.push(inner);
            }
        }
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        for value in std::iter::once(value).chain(lines).chain(escaped) {
            if !value.is_empty() && !values.contains(&value) {
                // Longest first, so a secret that contains another is hidden whole.
                let at = values.partition_point(|v| v.len() >= value.len());
                values.insert(at, value);
            }
        }
    }

    /// The length of the longest value hidden: how far a cut can reach into one.
    pub fn longest(&self) -> usize {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        values.first().map_or(0, String::len)
    }

    /// Hides every known value in `text`.
    pub fn clean(&self, text: &str) -> String {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_string();
        for v in values.iter() {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), REDACTED);
            }
        }
        out
    }

    /// Hides secrets first, then flattens and shortens: either done first could leave a
    /// secret that spans lines, or half of one, behind.
    pub fn excerpt(&self, text: &str) -> String {
        let clean = self.clean(text);
        let flat: String = clean.split_whitespace().collect::<Vec<_>>().join(" ");
        truncate(&flat, EXCERPT_LIMIT)
    }

    /// Hides secrets in every string of a JSON document. Cleaning the serialised text instead
    /// would also rewrite numbers and keys, and miss secrets that JSON escaping changed.
    pub fn clean_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => {
                let cleaned = self.clean(s);
                if cleaned != *s {
                    *s = cleaned;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.clean_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.clean_json(v)),
            _ => {}
        }
    }
}

/// Lines of a multi-line secret shorter than this are not hidden on their own (a PEM key's
/// `-----` framing is no secret).
const MIN_LINE_LEN: usize = 8;

pub fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_values_added_late_and_nested_ones_whole() {
        let r = Redactor::new(["abc".to_string()]);
        r.add("xxabcxx".into());
        assert_eq!(
            r.clean("token=xxabcxx or abc"),
            "token=[redacted] or [redacted]"
        );
    }

    #[test]
    fn excerpt_redacts_before_cutting() {
        let secret = "s".repeat(10);
        let r = Redactor::new([secret.clone()]);
        let text = format!("{}{}", "a".repeat(EXCERPT_LIMIT - 5), secret);
        let out = r.excerpt(&text);
        assert!(!out.contains("sssss"), "{out}");
    }

    #[test]
    fn secrets_spanning_lines_or_runs_of_spaces_are_hidden_before_flattening() {
        let r = Redactor::new(["line-one-secret\nline-two-secret".to_string()]);
        r.add("two  spaces  secret".into());
        let out = r.excerpt("a line-one-secret\nline-two-secret b two  spaces  secret c");
        assert_eq!(out, "a [redacted] b [redacted] c");
        assert_eq!(
            r.excerpt("only line-two-secret quoted"),
            "only [redacted] quoted"
        );
    }

    #[test]
    fn secrets_escaped_inside_json_are_hidden_too() {
        let r = Redactor::new(["tok/en\"x".to_string()]);
        assert_eq!(
            r.clean(r#"{"echo":"tok\/en\"x"}"#),
            r#"{"echo":"[redacted]"}"#
        );
        assert_eq!(
            r.clean(r#"{"echo":"tok/en\"x"}"#),
            r#"{"echo":"[redacted]"}"#
        );
    }

    #[test]
    fn json_stays_json() {
        let r = Redactor::new(["9000".to_string(), "passed".to_string()]);
        let mut v =
            serde_json::json!({"deadline_ms": 9000, "outcome": "passed", "err": "port 9000"});
        r.clean_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"deadline_ms": 9000, "outcome": "[redacted]", "err": "port [redacted]"})
        );
    }

    #[test]
    fn excerpt_flattens_whitespace_and_respects_char_boundaries() {
        let r = Redactor::default();
        assert_eq!(r.excerpt("a\n\n b"), "a b");
        let long = "é".repeat(EXCERPT_LIMIT);
        assert!(r.excerpt(&long).ends_with('…'));
    }
}
