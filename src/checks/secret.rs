//! `secret`: an env var or a file that is present, non-empty and not a placeholder.
//!
//! The value itself is never shown: reasons name the variable or the path, and a value read
//! from a file is handed to the redactor before anything else happens to it.

use std::io;
use std::path::{Path, PathBuf};

use super::watch::{Hub, PathWatch};
use super::{Attempt, Failure, Shared, blocking};
use crate::config::{CheckSpec, Kind, SecretSource};
use crate::suggest;
use crate::text::io_phrase;

/// Kubernetes caps a Secret at 1 MiB; anything larger is not a secret file.
pub(crate) const MAX_SECRET_BYTES: u64 = 1 << 20;

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
    let bytes = crate::files::read_regular(path, MAX_SECRET_BYTES).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Failure::retry(format!("file {shown} does not exist")),
        io::ErrorKind::IsADirectory => {
            Failure::retry(format!("{shown} is a directory, not a secret file"))
        }
        io::ErrorKind::InvalidInput => Failure::retry(format!("{shown} is not a regular file")),
        io::ErrorKind::FileTooLarge => Failure::retry(format!(
            "{shown} is larger than any Kubernetes Secret (1 MiB)"
        )),
        _ => Failure::retry(format!("cannot read {shown}: {}", io_phrase(&e))),
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The declared secret files, as the redactor follows them: a command or a server may echo
/// one that appeared, or changed, after start (an `optional` Secret volume filled late), so
/// each is read again whenever what its path names is a different file than last time. The
/// kubelet's `..data` swap gives it a new inode; an edit in place, a new mtime or size.
struct SecretFiles {
    files: Vec<(PathBuf, Option<Identity>)>,
    placeholders: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    device: u64,
    inode: u64,
    modified: (i64, i64),
    size: u64,
}

impl Identity {
    fn of(path: &Path) -> Option<Identity> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        Some(Identity {
            device: meta.dev(),
            inode: meta.ino(),
            modified: (meta.mtime(), meta.mtime_nsec()),
            size: meta.size(),
        })
    }
}

impl crate::redact::Source for SecretFiles {
    fn changed(&mut self) -> Vec<String> {
        let mut found = Vec::new();
        for (path, seen) in &mut self.files {
            let now = Identity::of(path);
            if now == *seen {
                continue;
            }
            *seen = now;
            if now.is_none() {
                continue;
            }
            // A file that changes again while it is read has a new identity next time; one
            // that cannot be read (yet) is tried again next time.
            match read_secret_file(path, "") {
                Ok(raw) => {
                    let value = raw.trim();
                    if !value.is_empty()
                        && !self.placeholders.iter().any(|p| is_placeholder(value, p))
                    {
                        found.push(value.to_string());
                    }
                }
                Err(_) => *seen = None,
            }
        }
        found
    }
}

/// Reads every declared secret file before any check runs, and has the redactor read each
/// again whenever it changes, so that a command or a server echoing one is redacted even when
/// it runs before (or without) the secret's own check, or the file appears only later.
pub async fn remember_files(specs: &[CheckSpec], shared: &Shared) {
    let files: Vec<(PathBuf, Option<Identity>)> = specs
        .iter()
        .filter_map(|spec| match &spec.kind {
            Kind::Secret(SecretSource::File(path)) => Some((PathBuf::from(&path.value), None)),
            _ => None,
        })
        .collect();
    if files.is_empty() {
        return;
    }
    shared.redactor.follow(SecretFiles {
        files,
        placeholders: shared.placeholders.clone(),
    });
    // A hung mount is the checks' problem to report; startup waits only so long.
    shared.redactor.refresh().await;
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
