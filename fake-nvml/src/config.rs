//! Reads the `FAKE_NVML_*` variables that stand in for a driver's state.
//!
//! They are read again on every call, so a test can change the fake under a process that has
//! already loaded it: first the process environment, then, when `FAKE_NVML_CONFIG_FILE` names a
//! file that exists, that file's `FAKE_NVML_KEY=VALUE` lines, which win. A key for one GPU,
//! `FAKE_NVML_GPU<i>_<KEY>`, wins over `FAKE_NVML_<KEY>`, which wins over the built-in default.
//!
//! A value that does not parse falls back to the default; with `FAKE_NVML_LOG` set the fake
//! says so on stderr, because a silently ignored typo makes a test pass for the wrong reason.

use std::collections::{BTreeSet, HashMap};
use std::fmt::{Debug, Display};
use std::io::Write;
use std::sync::{Mutex, PoisonError};

use crate::codes;

const PREFIX: &str = "FAKE_NVML_";

/// Complaints already written. The configuration is re-read on every call, and one typo
/// repeated on every line of a trace would bury the calls themselves.
static WARNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// One reading of every `FAKE_NVML_*` variable.
pub(crate) struct Config {
    vars: HashMap<String, String>,
    log: bool,
}

impl Config {
    /// Takes a fresh reading; cheap enough for every call (a few variables, a tiny file).
    pub(crate) fn load() -> Self {
        let mut vars: HashMap<String, String> = std::env::vars_os()
            .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
            .filter(|(key, _)| key.starts_with(PREFIX))
            .collect();
        let mut problems = Vec::new();
        if let Some(path) = vars.get("FAKE_NVML_CONFIG_FILE").cloned() {
            match std::fs::read_to_string(&path) {
                Ok(text) => overlay(&mut vars, &text, &path, &mut problems),
                // A test may remove the file on purpose to fall back to the environment.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => problems.push(format!("cannot read {path}: {e}; using the environment")),
            }
        }
        let log = vars
            .get("FAKE_NVML_LOG")
            .is_some_and(|v| !v.trim().is_empty() && flag(v) != Some(false));
        let config = Self { vars, log };
        for problem in problems {
            config.warn(problem);
        }
        config
    }

    /// Builds a reading from `KEY=VALUE` lines alone, for unit tests that must not touch the
    /// environment of the test runner.
    #[cfg(test)]
    pub(crate) fn from_lines(text: &str) -> Self {
        let mut vars = HashMap::new();
        overlay(&mut vars, text, "test", &mut Vec::new());
        Self { vars, log: false }
    }

    pub(crate) fn logging(&self) -> bool {
        self.log
    }

    /// Writes one line to stderr when `FAKE_NVML_LOG` is set. A failed write is ignored: a
    /// closed stderr must never become a panic inside a C caller.
    pub(crate) fn note(&self, message: impl Display) {
        if self.log {
            let _ = writeln!(std::io::stderr().lock(), "fake-nvml: {message}");
        }
    }

    /// Like `note`, but says each distinct complaint once per process.
    pub(crate) fn warn(&self, message: String) {
        if self.log {
            let mut warned = WARNED.lock().unwrap_or_else(PoisonError::into_inner);
            if warned.insert(message.clone()) {
                drop(warned);
                self.note(message);
            }
        }
    }

    /// The raw value of `FAKE_NVML_<key>`, or for a GPU of `FAKE_NVML_GPU<i>_<key>` first, with
    /// the name it was found under (for messages).
    pub(crate) fn lookup(&self, gpu: Option<u32>, key: &str) -> Option<(String, &str)> {
        let per_gpu = gpu.map(|i| format!("{PREFIX}GPU{i}_{key}"));
        per_gpu
            .into_iter()
            .chain(std::iter::once(format!("{PREFIX}{key}")))
            .find_map(|name| {
                let value = self.vars.get(&name)?;
                Some((name, value.as_str()))
            })
    }

    /// The parsed value of a key, or `default` when it is unset or does not parse.
    pub(crate) fn value<T: Debug>(
        &self,
        gpu: Option<u32>,
        key: &str,
        default: T,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> T {
        let Some((name, raw)) = self.lookup(gpu, key) else {
            return default;
        };
        match parse(raw.trim()) {
            Some(value) => value,
            None => {
                self.warn(format!("{name}={raw:?} is not valid; using {default:?}"));
                default
            }
        }
    }

    pub(crate) fn text(&self, gpu: Option<u32>, key: &str, default: impl Into<String>) -> String {
        self.value(gpu, key, default.into(), |v| Some(v.to_owned()))
    }

    pub(crate) fn number(&self, gpu: Option<u32>, key: &str, default: u64) -> u64 {
        self.value(gpu, key, default, number)
    }

    pub(crate) fn number32(&self, gpu: Option<u32>, key: &str, default: u32) -> u32 {
        self.value(gpu, key, default, |v| number(v)?.try_into().ok())
    }

    pub(crate) fn flag(&self, gpu: Option<u32>, key: &str, default: bool) -> bool {
        self.value(gpu, key, default, flag)
    }

    pub(crate) fn mask(&self, gpu: Option<u32>, key: &str, default: u64) -> u64 {
        self.value(gpu, key, default, mask)
    }

    /// An NVML return code, when the key is set; `None` when it is unset or does not parse.
    pub(crate) fn code(&self, gpu: Option<u32>, key: &str) -> Option<u32> {
        let (name, raw) = self.lookup(gpu, key)?;
        let code = codes::parse(raw);
        if code.is_none() {
            self.warn(format!(
                "{name}={raw:?} is not an NVML return code; ignored"
            ));
        }
        code
    }
}

/// Applies the lines of a config file over the environment's values.
fn overlay(vars: &mut HashMap<String, String>, text: &str, path: &str, problems: &mut Vec<String>) {
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            problems.push(format!("{path}:{}: no `=`; line ignored", number + 1));
            continue;
        };
        let key = key.trim();
        if !key.starts_with(PREFIX) {
            problems.push(format!(
                "{path}:{}: {key} is not a {PREFIX}* key; line ignored",
                number + 1
            ));
            continue;
        }
        vars.insert(key.to_owned(), unquote(value.trim()).to_owned());
    }
}

/// Lets a file written for a shell (`FAKE_NVML_NAME="NVIDIA A100"`) mean the same here.
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

/// A count or an id: decimal, or hexadecimal after `0x`.
pub(crate) fn number(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// A bit mask: hexadecimal, `0x` optional, terms may be joined with `|` (`0x1|0x2|0x8`), the way
/// nvml.h writes its masks.
pub(crate) fn mask(text: &str) -> Option<u64> {
    text.split('|').try_fold(0u64, |acc, term| {
        let term = term.trim();
        let hex = term
            .strip_prefix("0x")
            .or_else(|| term.strip_prefix("0X"))
            .unwrap_or(term);
        Some(acc | u64::from_str_radix(hex, 16).ok()?)
    })
}

pub(crate) fn flag(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A comma-separated list of numbers (`79,48`); an empty value is an empty list.
pub(crate) fn list(text: &str) -> Option<Vec<u64>> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(number)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_gpu_key_wins_over_the_shared_one() {
        let config = Config::from_lines(
            "FAKE_NVML_NAME=shared\nFAKE_NVML_GPU1_NAME=one\n# FAKE_NVML_GPU2_NAME=comment\n\n",
        );
        assert_eq!(config.text(Some(0), "NAME", "default"), "shared");
        assert_eq!(config.text(Some(1), "NAME", "default"), "one");
        assert_eq!(config.text(Some(2), "NAME", "default"), "shared");
        assert_eq!(config.text(None, "SERIAL", "default"), "default");
    }

    #[test]
    fn bad_values_fall_back_to_the_default() {
        let config = Config::from_lines("FAKE_NVML_TEMP=hot\nFAKE_NVML_INIT_ERROR=NOPE");
        assert_eq!(config.number32(Some(0), "TEMP", 35), 35);
        assert_eq!(config.code(None, "INIT_ERROR"), None);
    }

    #[test]
    fn file_lines_are_trimmed_and_unquoted() {
        let config =
            Config::from_lines("  FAKE_NVML_NAME = \"NVIDIA A100\"  \nnot a line\nOTHER=1");
        assert_eq!(config.text(None, "NAME", ""), "NVIDIA A100");
        assert!(config.lookup(None, "OTHER").is_none());
    }

    #[test]
    fn numbers_masks_flags_and_lists() {
        assert_eq!(number("0x10"), Some(16));
        assert_eq!(number("16"), Some(16));
        assert_eq!(number("-1"), None);
        assert_eq!(mask("0x1|0x2|0x8"), Some(0xb));
        assert_eq!(mask("40"), Some(0x40));
        assert_eq!(mask("0xzz"), None);
        assert_eq!(flag("Yes"), Some(true));
        assert_eq!(flag("2"), None);
        assert_eq!(list("79, 48,"), Some(vec![79, 48]));
        assert_eq!(list(""), Some(vec![]));
        assert_eq!(list("79,x"), None);
    }
}
