//! `prompt`: every variable the prompt templates read is declared, as `bootgate lint` judges.
//!
//! Every failure is retried, findings included. Templates usually come from a ConfigMap,
//! which may be mounted late and is updated in place by the kubelet (the `..data` swap): a
//! fixed ConfigMap passes the gate without a pod restart, as a filled-in Secret does. The
//! check's `timeout` or the gate's deadline ends the wait.

use std::io;
use std::path::{Path, PathBuf};

use super::watch::{Hub, PathWatch};
use super::{Attempt, Failure, Shared, blocking};
use crate::config::{ProcessEnv, PromptSpec};
use crate::lint;

pub struct PromptCheck {
    spec: PromptSpec,
    hub: Hub,
    watch: Option<PathWatch>,
}

impl PromptCheck {
    pub fn new(spec: &PromptSpec, shared: &Shared) -> Self {
        PromptCheck {
            spec: spec.clone(),
            hub: shared.watch_hub.clone(),
            watch: None,
        }
    }

    /// Watches the directory the templates and the vars file share: a ConfigMap volume's
    /// `..data` swap happens there. Changes deeper below are seen by the engine's periodic
    /// re-check.
    pub fn prepare(&mut self) -> io::Result<()> {
        let mut dirs = self
            .spec
            .paths
            .iter()
            .map(|p| crate::glob::base(&p.value))
            .chain(self.spec.vars.iter().map(|v| {
                Path::new(&v.value)
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default()
            }));
        let first = dirs.next().unwrap_or_default();
        let shared = dirs.fold(common_dir(&first, &first), |a, b| common_dir(&a, &b));
        self.watch = Some(PathWatch::new(&self.hub, &shared)?);
        Ok(())
    }

    pub fn watch(&mut self) -> Option<&mut PathWatch> {
        self.watch.as_mut()
    }

    pub async fn attempt(&mut self) -> Attempt {
        let spec = self.spec.clone();
        blocking(move || judge(&spec)).await?
    }
}

/// The deepest directory holding both; `.` when they share nothing (one is relative).
fn common_dir(a: &Path, b: &Path) -> PathBuf {
    let shared: PathBuf = a
        .components()
        .zip(b.components())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect();
    if shared.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        shared
    }
}

fn judge(spec: &PromptSpec) -> Attempt {
    let patterns: Vec<&str> = spec.paths.iter().map(|p| p.value.as_str()).collect();
    let vars = spec.vars.as_ref().map(|v| Path::new(&v.value));
    let inputs = lint::gather(&patterns, vars).map_err(|errors| {
        let first = errors.first().map(ToString::to_string).unwrap_or_default();
        match errors.len() {
            0 | 1 => Failure::retry(first),
            n => Failure::retry(format!("{first} (and {} more problems)", n - 1)),
        }
    })?;
    // A container's environment is its own: that is what supplies `${VAR}` when it renders.
    let report = lint::lint(&inputs, &ProcessEnv);
    match report.reason() {
        Some(reason) => Err(Failure::retry(reason)),
        None => Ok(report.summary()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_directory() {
        let c = |a: &str, b: &str| common_dir(Path::new(a), Path::new(b));
        assert_eq!(c("/etc/prompts", "/etc/prompts"), Path::new("/etc/prompts"));
        assert_eq!(
            c("/etc/prompts/chat", "/etc/prompts"),
            Path::new("/etc/prompts")
        );
        assert_eq!(c("/etc/a", "/opt/b"), Path::new("/"));
        assert_eq!(c("prompts", "/etc"), Path::new("."));
        assert_eq!(c("", ""), Path::new("."));
    }
}
