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
        if value.is_empty() {
            return;
        }
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        if !values.contains(&value) {
            // Longest first, so a secret that contains another is hidden whole.
            let at = values.partition_point(|v| v.len() >= value.len());
            values.insert(at, value);
        }
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

    /// Hides secrets first, then shortens: cutting first could leave half a secret behind.
    pub fn excerpt(&self, text: &str) -> String {
        let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        truncate(&self.clean(&flat), EXCERPT_LIMIT)
    }
}

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
    fn excerpt_flattens_whitespace_and_respects_char_boundaries() {
        let r = Redactor::default();
        assert_eq!(r.excerpt("a\n\n b"), "a b");
        let long = "é".repeat(EXCERPT_LIMIT);
        assert!(r.excerpt(&long).ends_with('…'));
    }
}
