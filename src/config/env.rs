//! The process environment behind a seam, so tests hand in a map instead of mutating their own
//! environment.

use std::collections::BTreeMap;

pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
    /// Every variable name, for "did you mean" hints.
    fn names(&self) -> Vec<String>;
}

/// The real environment of this process.
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }

    fn names(&self) -> Vec<String> {
        std::env::vars_os()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect()
    }
}

impl Environment for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }

    fn names(&self) -> Vec<String> {
        self.keys().cloned().collect()
    }
}
