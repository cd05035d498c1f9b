//! The toolkit for reading the position-keeping tree: a mapping's keys as they are used, single
//! values, counts, durations, choices, lists and `${VAR}` text, each refusal a [`Diagnostic`] at
//! the value's place. What each section of the config means is read with it elsewhere.

use std::collections::HashSet;
use std::time::Duration;

use super::expand::{ExpandError, expand};
use super::units::parse_duration;
use super::yaml::{Node, Pos, Value};
use super::{Diagnostic, Environment, Text, in_file_order};
use crate::{echo, suggest};

/// What reading the config has found so far: its problems, the values never to be shown, and
/// what it takes to report each problem once and in the file's order.
pub(super) struct Ctx<'a> {
    pub(super) env: &'a dyn Environment,
    pub(super) problems: Vec<Diagnostic>,
    pub(super) sensitive: Vec<String>,
    /// Keys a mapping lacks. One the mapping has a misspelling of is no problem of its own:
    /// the misspelling is, and it is reported with a "did you mean".
    absent: Vec<Absent>,
    /// [`slot`] of each unknown key's mapping and the key it reads as a misspelling of.
    misspelt: HashSet<String>,
    /// The environment's variable names, read once for every "did you mean".
    env_names: Option<Vec<String>>,
}

struct Absent {
    mapping: String,
    key: String,
    problem: Diagnostic,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(env: &'a dyn Environment) -> Self {
        Ctx {
            env,
            problems: Vec::new(),
            sensitive: Vec::new(),
            absent: Vec::new(),
            misspelt: HashSet::new(),
            env_names: None,
        }
    }

    pub(super) fn problem(&mut self, pos: Pos, field: &str, message: impl Into<String>) {
        self.problems.push(Diagnostic {
            pos: Some(pos),
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// `key` is missing from the mapping at `mapping`.
    pub(super) fn absent(&mut self, mapping: &str, key: &str, problem: Diagnostic) {
        self.absent.push(Absent {
            mapping: mapping.to_string(),
            key: key.to_string(),
            problem,
        });
    }

    /// How many problems have been found so far, missing keys included.
    pub(super) fn reported(&self) -> usize {
        self.problems.len() + self.absent.len()
    }

    /// `key` of the mapping at `mapping` is misspelt: its absence is no problem of its own.
    pub(super) fn misspelt(&mut self, mapping: &str, key: &str) {
        self.misspelt.insert(slot(mapping, key));
    }

    fn env_hint(&mut self, var: &str) -> String {
        let names = self.env_names.get_or_insert_with(|| self.env.names());
        suggest::hint(var, names.iter().map(String::as_str))
    }

    /// Every problem in the order of the file, root causes first: a key missing because it is
    /// misspelt is reported once, as the misspelling; at one position, what is wrong comes
    /// before what is missing; problems without a position (the environment's) come last.
    pub(super) fn into_problems(self) -> Vec<Diagnostic> {
        let Ctx {
            mut problems,
            absent,
            misspelt,
            ..
        } = self;
        problems.extend(
            absent
                .into_iter()
                .filter(|a| !misspelt.contains(&slot(&a.mapping, &a.key)))
                .map(|a| a.problem),
        );
        in_file_order(&mut problems);
        problems
    }
}

/// A key of one mapping, as one string: the mapping's dotted path and the key.
fn slot(mapping: &str, key: &str) -> String {
    format!("{mapping}\0{key}")
}

/// A mapping being read: remembers which keys were used so the rest can be reported.
pub(super) struct Fields<'n> {
    pub(super) entries: &'n [(String, Pos, Node)],
    pub(super) used: Vec<bool>,
    pub(super) field: String,
}

/// Where the top level lets a file keep anchors for `<<` merges: keys starting with `x-`.
const EXTENSION_PREFIX: &str = "x-";

impl<'n> Fields<'n> {
    pub(super) fn of(node: &'n Node, field: &str, cx: &mut Ctx<'_>) -> Option<Self> {
        match &node.value {
            Value::Map(entries) => Some(Fields {
                entries,
                used: vec![false; entries.len()],
                field: field.to_string(),
            }),
            Value::Null => Some(Fields {
                entries: &[],
                used: Vec::new(),
                field: field.to_string(),
            }),
            _ => {
                cx.problem(
                    node.pos,
                    field,
                    format!("expected a mapping, found {}", node.type_name()),
                );
                None
            }
        }
    }

    pub(super) fn get(&mut self, key: &str) -> Option<&'n Node> {
        let i = self.entries.iter().position(|(k, _, _)| k == key)?;
        self.used[i] = true;
        match &self.entries[i].2.value {
            Value::Null => None,
            _ => Some(&self.entries[i].2),
        }
    }

    pub(super) fn path(&self, key: &str) -> String {
        if self.field.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.field)
        }
    }

    /// An optional single value read through `parse`. What `parse` refuses is a problem at the
    /// value, and `None`: the config is refused as a whole, so no default is ever used.
    pub(super) fn parsed<T>(
        &mut self,
        key: &str,
        cx: &mut Ctx<'_>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let node = self.get(key)?;
        let field = self.path(key);
        match parse(scalar(node, &field, cx)?) {
            Ok(value) => Some(value),
            Err(message) => {
                cx.problem(node.pos, &field, message);
                None
            }
        }
    }

    /// An optional key with a fixed set of values; `default` when absent (or refused, which
    /// refuses the config).
    pub(super) fn choice_or<T: Copy>(
        &mut self,
        key: &str,
        options: &[(&str, T)],
        default: T,
        cx: &mut Ctx<'_>,
    ) -> T {
        let Some(node) = self.get(key) else {
            return default;
        };
        let field = self.path(key);
        scalar(node, &field, cx)
            .and_then(|text| choice(text, node.pos, &field, options, "", cx))
            .unwrap_or(default)
    }

    /// Keys starting with `x-` are the file's own (anchors to merge from), not bootgate's.
    pub(super) fn allow_extensions(&mut self) {
        for ((key, _, _), used) in self.entries.iter().zip(&mut self.used) {
            if key.starts_with(EXTENSION_PREFIX) {
                *used = true;
            }
        }
    }

    /// Reports every key not read, with the closest allowed key.
    pub(super) fn finish(self, allowed: &[&str], cx: &mut Ctx<'_>) {
        self.report_unread(allowed, cx, |_| None, "");
    }

    /// [`Fields::finish`], with `note` after the allowed keys where an unknown key is no
    /// misspelling of one.
    pub(super) fn finish_noting(self, allowed: &[&str], cx: &mut Ctx<'_>, note: &str) {
        self.report_unread(allowed, cx, |_| None, note);
    }

    /// [`Fields::finish`], where `elsewhere` says where a key belongs when it belongs to
    /// something else (a key of another kind of check): that is the problem, not a misspelling.
    pub(super) fn finish_placing(
        self,
        allowed: &[&str],
        cx: &mut Ctx<'_>,
        elsewhere: impl Fn(&str) -> Option<String>,
    ) {
        self.report_unread(allowed, cx, elsewhere, "");
    }

    fn report_unread(
        self,
        allowed: &[&str],
        cx: &mut Ctx<'_>,
        elsewhere: impl Fn(&str) -> Option<String>,
        note: &str,
    ) {
        for ((key, pos, node), &used) in self.entries.iter().zip(&self.used) {
            if used {
                // `cuda:` with nothing after it reads as absent; it is a value left out.
                if matches!(node.value, Value::Null) {
                    cx.problem(
                        *pos,
                        &self.path(key),
                        "has no value; give one, or remove the key",
                    );
                }
                continue;
            }
            let message = elsewhere(key).unwrap_or_else(|| {
                let closest = suggest::closest(key, allowed.iter().copied());
                if let Some(meant) = closest {
                    cx.misspelt(&self.field, meant);
                }
                // The note is for a key that is no misspelling: one the user meant as theirs.
                let (hint, note) = match closest {
                    Some(meant) => (format!(" (did you mean {meant}?)"), ""),
                    None => (String::new(), note),
                };
                format!(
                    "unknown key `{}`{hint}; expected one of: {}{note}",
                    echo::value(key),
                    allowed.join(", ")
                )
            });
            cx.problem(*pos, &self.field, message);
        }
    }
}

pub(super) fn scalar<'n>(node: &'n Node, field: &str, cx: &mut Ctx<'_>) -> Option<&'n str> {
    match &node.value {
        Value::Scalar(s) => Some(s),
        _ => {
            cx.problem(
                node.pos,
                field,
                format!("expected a single value, found {}", node.type_name()),
            );
            None
        }
    }
}

/// A whole number from 1 to `max` (`u32::MAX`: no bound worth saying).
pub(super) fn count(node: &Node, field: &str, max: u32, cx: &mut Ctx<'_>) -> Option<u32> {
    let text = scalar(node, field, cx)?;
    match text.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Some(n),
        _ => {
            let range = if max == u32::MAX {
                "of at least 1".to_string()
            } else {
                format!("from 1 to {max}")
            };
            cx.problem(
                node.pos,
                field,
                format!(
                    "expected a whole number {range}, found `{}`",
                    echo::value(text)
                ),
            );
            None
        }
    }
}

pub(super) fn duration(node: &Node, field: &str, cx: &mut Ctx<'_>) -> Option<Duration> {
    let text = scalar(node, field, cx)?;
    match parse_duration(text) {
        Ok(d) if d.is_zero() => {
            cx.problem(node.pos, field, "must be longer than 0");
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            cx.problem(node.pos, field, e);
            None
        }
    }
}

pub(super) fn boolean(node: &Node, field: &str, cx: &mut Ctx<'_>) -> Option<bool> {
    match scalar(node, field, cx)? {
        "true" => Some(true),
        "false" => Some(false),
        other => {
            cx.problem(
                node.pos,
                field,
                format!("expected true or false, found `{}`", echo::value(other)),
            );
            None
        }
    }
}

/// `env:` takes a variable's name, not `${VAR}` or `VAR=value`; `example` shows one.
pub(super) fn variable_name(
    node: &Node,
    field: &str,
    example: &str,
    cx: &mut Ctx<'_>,
) -> Option<String> {
    let var = scalar(node, field, cx)?;
    if var.is_empty() || var.contains(['$', '{', '}', '=']) {
        cx.problem(
            node.pos,
            field,
            format!(
                "`{}` is not a variable name: write the name itself, e.g. env: {example}",
                echo::value(var)
            ),
        );
        return None;
    }
    Some(var.to_string())
}

/// One of a fixed set of words; anything else is reported with the closest word and the whole
/// set (`expected a, b or c`), followed by `note`.
pub(super) fn choice<T: Copy>(
    text: &str,
    pos: Pos,
    field: &str,
    options: &[(&str, T)],
    note: &str,
    cx: &mut Ctx<'_>,
) -> Option<T> {
    if let Some((_, value)) = options.iter().find(|(word, _)| *word == text) {
        return Some(*value);
    }
    let words: Vec<&str> = options.iter().map(|(word, _)| *word).collect();
    let expected = match words.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    cx.problem(
        pos,
        field,
        format!(
            "unknown value `{}`{}; expected {expected}{note}",
            echo::value(text),
            suggest::hint(text, words.iter().copied())
        ),
    );
    None
}

pub(super) fn string_list(node: &Node, field: &str, cx: &mut Ctx<'_>) -> Vec<(String, Pos)> {
    match &node.value {
        Value::Scalar(s) => vec![(s.clone(), node.pos)],
        Value::Seq(items) => items
            .iter()
            .filter_map(|item| scalar(item, field, cx).map(|s| (s.to_string(), item.pos)))
            .collect(),
        _ => {
            cx.problem(node.pos, field, "expected a list of names");
            Vec::new()
        }
    }
}

/// Expands `${VAR}`s in one string field; an unset variable is recorded as the check's missing
/// input rather than a config error.
pub(super) struct Expander<'a> {
    pub(super) check_field: String,
    pub(super) missing: &'a mut Option<String>,
}

impl Expander<'_> {
    pub(super) fn text(&mut self, node: &Node, key: &str, cx: &mut Ctx<'_>) -> Option<Text> {
        let field = format!("{}.{key}", self.check_field);
        let written = scalar(node, &field, cx)?.to_string();
        match expand(&written, cx.env) {
            Ok(e) => {
                cx.sensitive.extend(e.substituted);
                Some(Text {
                    written,
                    value: e.value,
                })
            }
            Err(ExpandError::Unset(var)) => {
                if self.missing.is_none() {
                    let hint = cx.env_hint(&var);
                    *self.missing = Some(format!(
                        "{} uses ${{{}}}, which is not set{hint}",
                        echo::value(&field),
                        echo::value(&var)
                    ));
                }
                Some(Text {
                    written,
                    value: String::new(),
                })
            }
            Err(ExpandError::Syntax(message)) => {
                cx.problem(node.pos, &field, message);
                None
            }
        }
    }
}

/// The value of `key`, which the mapping must have: without it, a problem at the mapping.
pub(super) fn required<'n>(
    f: &mut Fields<'n>,
    key: &str,
    pos: Pos,
    cx: &mut Ctx<'_>,
) -> Option<&'n Node> {
    let node = f.get(key);
    if node.is_none() {
        let problem = Diagnostic {
            pos: Some(pos),
            field: f.field.clone(),
            message: format!("missing `{key}`"),
        };
        cx.absent(&f.field, key, problem);
    }
    node
}

/// What is wrong with `address` as `host:port` with a port from `lowest` to 65535. The port is
/// not echoed: it may come from a `${VAR}`.
pub(super) fn address_problem(address: &str, lowest: u16) -> Option<String> {
    let Some((host, port)) = address
        .rsplit_once(':')
        .filter(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
    else {
        return Some("needs a port".into());
    };
    if host.is_empty() {
        return Some("needs a host".into());
    }
    match port.parse::<u16>() {
        Ok(p) if p >= lowest => None,
        _ => Some(format!(
            "has a port out of range (a port is {lowest} to 65535)"
        )),
    }
}
