//! `secret`: an env var or a file that is present, non-empty and not a placeholder.
//!
//! The value itself is never shown: reasons name the variable or the path, and a value read
//! from a file is handed to the redactor before anything else happens to it.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::watch::{Hub, PathWatch};
use super::{Attempt, Failure, Shared, blocking, io_phrase};
use crate::config::{CheckSpec, Kind, SecretSource};
use crate::suggest;

/// Kubernetes caps a Secret at 1 MiB; anything larger is not a secret file.
const MAX_SECRET_BYTES: u64 = 1 << 20;
/// How long start-up waits to learn the secret files' values.
const PRELOAD_LIMIT: Duration = Duration::from_secs(2);

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
            self.watch = Some(PathWatch::new(&self.hub, Path::new(&path.value))?);
        }
        Ok(())
    }

    pub fn watch(&mut self) -> Option<&mut PathWatch> {
        self.watch.as_mut()
    }

    pub async fn attempt(&mut self) -> Attempt {
        match &self.source {
            SecretSource::Env(var) => self.judge_env(var),
            SecretSource::File(path) => {
                let shown = format!("file {}", path.written);
                let at = PathBuf::from(&path.value);
                let shown_for_read = path.written.clone();
                let raw = blocking(move || read_secret_file(&at, &shown_for_read)).await??;
                let value = raw.trim();
                let verdict = self.judge_value(&shown, value);
                // A placeholder is no secret, and hiding it would hide the reason it failed.
                if verdict.is_ok() {
                    self.redactor.add(value.to_string());
                }
                verdict.map_err(Failure::retry)
            }
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

/// Reads a secret file: a regular file (a FIFO would block forever, a device never end) of at
/// most [`MAX_SECRET_BYTES`].
fn read_secret_file(path: &Path, shown: &str) -> Result<String, Failure> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Failure::retry(format!("file {shown} does not exist")),
        _ => Failure::retry(format!("cannot read {shown}: {}", io_phrase(&e))),
    })?;
    if meta.is_dir() {
        return Err(Failure::retry(format!(
            "{shown} is a directory, not a secret file"
        )));
    }
    if !meta.is_file() {
        return Err(Failure::retry(format!("{shown} is not a regular file")));
    }
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::retry(format!("cannot read {shown}: {}", io_phrase(&e))))?;
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::retry(format!("cannot read {shown}: {}", io_phrase(&e))))?;
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        return Err(Failure::retry(format!(
            "{shown} is larger than any Kubernetes Secret (1 MiB)"
        )));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads every declared secret file before any check runs, so that a command or a server
/// echoing one is redacted even when it runs before (or without) the secret's own check.
pub async fn remember_files(specs: &[CheckSpec], shared: &Shared) {
    let paths: Vec<PathBuf> = specs
        .iter()
        .filter_map(|spec| match &spec.kind {
            Kind::Secret(SecretSource::File(path)) => Some(PathBuf::from(&path.value)),
            _ => None,
        })
        .collect();
    if paths.is_empty() {
        return;
    }
    let read = blocking(move || {
        paths
            .iter()
            .filter_map(|p| read_secret_file(p, "").ok())
            .collect::<Vec<_>>()
    });
    // A hung mount is the checks' problem to report; startup must not wait on it.
    let Ok(Ok(values)) = tokio::time::timeout(PRELOAD_LIMIT, read).await else {
        return;
    };
    for raw in values {
        let value = raw.trim();
        if !value.is_empty() && !shared.placeholders.iter().any(|p| is_placeholder(value, p)) {
            shared.redactor.add(value.to_string());
        }
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
