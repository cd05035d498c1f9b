//! `secret`: an env var or a file that is present, non-empty and not a placeholder.
//!
//! The value itself is never shown: reasons name the variable or the path, and a value read
//! from a file is handed to the redactor before anything else happens to it.

use std::io;
use std::path::PathBuf;

use super::watch::{Hub, PathWatch};
use super::{Attempt, Failure, Shared, io_phrase};
use crate::config::SecretSource;
use crate::suggest;

/// Kubernetes caps a Secret at 1 MiB; anything larger is not a secret file.
const MAX_SECRET_BYTES: u64 = 1 << 20;

pub struct SecretCheck {
    source: SecretSource,
    placeholders: Vec<String>,
    redactor: crate::redact::Redactor,
    hub: Hub,
    watch: Option<PathWatch>,
}

impl SecretCheck {
    pub fn new(source: &SecretSource, shared: &Shared) -> Self {
        SecretCheck {
            source: source.clone(),
            placeholders: shared.placeholders.clone(),
            redactor: shared.redactor.clone(),
            hub: shared.watch_hub.clone(),
            watch: None,
        }
    }

    pub fn prepare(&mut self) -> io::Result<()> {
        if let SecretSource::File(path) = &self.source {
            self.watch = Some(PathWatch::new(&self.hub, path)?);
        }
        Ok(())
    }

    pub fn watch(&mut self) -> Option<&mut PathWatch> {
        self.watch.as_mut()
    }

    pub fn attempt(&mut self) -> Attempt {
        match &self.source {
            SecretSource::Env(var) => self.judge_env(var),
            SecretSource::File(path) => self.judge_file(path),
        }
    }

    /// A container's environment is fixed when it starts, so a bad env secret fails at once.
    fn judge_env(&self, var: &str) -> Attempt {
        let Some(value) = std::env::var_os(var) else {
            let names: Vec<String> = std::env::vars_os()
                .map(|(k, _)| k.to_string_lossy().into_owned())
                .collect();
            return Err(Failure::fatal(format!(
                "env {var} is not set{}",
                suggest::hint(var, names.iter().map(String::as_str))
            )));
        };
        let value = value.to_string_lossy();
        self.judge_value(&format!("env {var}"), value.trim())
            .map_err(Failure::fatal)
    }

    fn judge_file(&self, path: &PathBuf) -> Attempt {
        let shown = path.display();
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Failure::retry(format!("file {shown} does not exist")),
            _ => Failure::retry(format!("cannot read {shown}: {}", io_phrase(&e))),
        })?;
        if meta.is_dir() {
            return Err(Failure::retry(format!(
                "{shown} is a directory, not a secret file"
            )));
        }
        if meta.len() > MAX_SECRET_BYTES {
            return Err(Failure::retry(format!(
                "{shown} is {} bytes, larger than any Kubernetes Secret",
                meta.len()
            )));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| Failure::retry(format!("cannot read {shown}: {}", io_phrase(&e))))?;
        let text = String::from_utf8_lossy(&bytes);
        let value = text.trim();
        let verdict = self.judge_value(&format!("file {shown}"), value);
        // A placeholder is no secret, and hiding it would hide the reason it failed.
        if verdict.is_ok() {
            self.redactor.add(value.to_string());
        }
        verdict.map_err(Failure::retry)
    }

    fn judge_value(&self, what: &str, value: &str) -> Result<String, String> {
        if value.is_empty() {
            return Err(format!("{what} is empty"));
        }
        if let Some(pattern) = self.placeholders.iter().find(|p| is_placeholder(value, p)) {
            return Err(format!(
                "{what} holds a placeholder, not a secret (it matches `{pattern}`)"
            ));
        }
        Ok(format!("{} bytes", value.len()))
    }
}

/// `pattern` matches case-insensitively; a `...` inside it stands for anything, so `<...>`
/// matches `<your key here>`.
pub fn is_placeholder(value: &str, pattern: &str) -> bool {
    let value = value.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    match pattern.split_once("...") {
        Some((prefix, suffix)) => {
            value.len() >= prefix.len() + suffix.len()
                && value.starts_with(prefix)
                && value.ends_with(suffix)
        }
        None => value == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert!(is_placeholder("CHANGEME", "changeme"));
        assert!(is_placeholder("<your key>", "<...>"));
        assert!(is_placeholder("${OPENAI_API_KEY}", "${...}"));
        assert!(is_placeholder("replace_me", "REPLACE_ME"));
        assert!(!is_placeholder("sk-live-123", "<...>"));
        assert!(!is_placeholder("todos", "TODO"));
        assert!(!is_placeholder("<", "<...>"));
    }
}
