//! The vars file: a YAML mapping of each template variable to its default.
//!
//! Any value is a default (a string, a number, a list); only null is not. `name:` alone or
//! `name: ~` declares the name without a default, and each use of it is a finding: the
//! renderer would fill in nothing. An empty default is written `name: ""`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::InputError;
use crate::config::Pos;
use crate::config::yaml::{self, Value};

#[derive(Debug, Default)]
pub struct Vars {
    /// Where the declarations came from; `None` when no vars file was given.
    pub path: Option<PathBuf>,
    pub names: BTreeMap<String, Var>,
}

#[derive(Debug, Clone, Copy)]
pub struct Var {
    pub pos: Pos,
    pub default: bool,
}

pub(super) fn read(path: &Path) -> Result<Vars, Vec<InputError>> {
    let text = super::read_text(path, "vars file ").map_err(|e| vec![e])?;
    parse(&text, path)
}

/// A name a template can use: letters, digits and `_` (any script, as Jinja allows), not
/// starting with a digit.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(super::lexer::is_name_start) && chars.all(super::lexer::is_name_char)
}

pub(super) fn parse(text: &str, path: &Path) -> Result<Vars, Vec<InputError>> {
    let problem = |pos: Pos, message: String| InputError::Vars {
        path: path.display().to_string(),
        pos,
        message,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root = yaml::parse(text)
        .map_err(|e| vec![problem(e.pos, format!("YAML syntax: {}", e.message))])?;
    let entries = match &root.value {
        Value::Null => &[][..],
        Value::Map(entries) => entries.as_slice(),
        _ => {
            return Err(vec![problem(
                root.pos,
                format!(
                    "expected a mapping of template variable names to their defaults (name: default), found {}",
                    root.type_name()
                ),
            )]);
        }
    };
    let mut problems = Vec::new();
    let mut names = BTreeMap::new();
    for (key, pos, value) in entries {
        if !is_name(key) {
            problems.push(problem(
                *pos,
                format!(
                    "`{key}` is not a variable name (letters, digits and _, not starting with a digit)"
                ),
            ));
            continue;
        }
        let default = !matches!(value.value, Value::Null);
        names.insert(key.clone(), Var { pos: *pos, default });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Vars {
        path: Some(path.to_path_buf()),
        names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> Result<Vars, Vec<String>> {
        parse(text, Path::new("vars.yaml"))
            .map_err(|errors| errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn any_value_but_null_is_a_default() {
        let v = vars("a: x\nb: 0\nc: \"\"\nd: [1]\ne:\nf: ~\ng: \"null\"\n").unwrap();
        let with: Vec<&str> = v
            .names
            .iter()
            .filter(|(_, var)| var.default)
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(with, ["a", "b", "c", "d", "g"]);
        assert_eq!(v.names["e"].pos, Pos { line: 5, col: 1 });
        assert!(vars("").unwrap().names.is_empty());
    }

    #[test]
    fn bad_files_are_named_with_a_position() {
        assert_eq!(
            vars("a: 1\nmy-var: 2\n").unwrap_err(),
            [
                "vars.yaml:2:1: `my-var` is not a variable name (letters, digits and _, not starting with a digit)"
            ]
        );
        assert_eq!(
            vars("- a\n- b\n").unwrap_err(),
            [
                "vars.yaml:1:1: expected a mapping of template variable names to their defaults (name: default), found a list"
            ]
        );
        let err = vars("a: 1\na: 2\n").unwrap_err();
        assert!(
            err[0].starts_with("vars.yaml:2:1: YAML syntax: duplicate key"),
            "{err:?}"
        );
        let err = vars("a: [1, 2\n").unwrap_err();
        assert!(err[0].contains("YAML syntax"), "{err:?}");
    }
}
