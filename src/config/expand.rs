//! `${VAR}` in config strings, filled from the environment. `$${` writes a literal `${`.

use super::env::Environment;
use crate::echo;
use crate::redact::MIN_HIDDEN_LEN;

#[derive(Debug, PartialEq, Eq)]
pub enum ExpandError {
    /// The variable is not set: a missing input, judged when the check runs, not bad syntax.
    Unset(String),
    /// `${` without `}`, or a name that is not a variable name: bad syntax.
    Syntax(String),
}

pub struct Expanded {
    pub value: String,
    /// The values substituted (of at least [`MIN_HIDDEN_LEN`] characters), so they can be
    /// kept out of every output.
    pub substituted: Vec<String>,
}

pub fn expand(template: &str, env: &dyn Environment) -> Result<Expanded, ExpandError> {
    let mut value = String::with_capacity(template.len());
    let mut substituted = Vec::new();
    let mut unset = None;
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        value.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            value.push_str("${");
            rest = after;
        } else if let Some(body) = tail.strip_prefix("${") {
            let end = body.find('}').ok_or_else(|| {
                ExpandError::Syntax(format!(
                    "`${{` without a closing `}}` in `{}`",
                    echo::value(template)
                ))
            })?;
            let name = &body[..end];
            if !is_var_name(name) {
                return Err(ExpandError::Syntax(format!(
                    "`${{{}}}` is not a variable name (letters, digits and _)",
                    echo::value(name)
                )));
            }
            match env.var(name) {
                Some(v) => {
                    value.push_str(&v);
                    // Hiding a port like `1` would garble every message that has a 1 in it,
                    // and a value that short protects nothing anyway.
                    if v.chars().count() >= MIN_HIDDEN_LEN {
                        substituted.push(v);
                    }
                }
                None => {
                    unset.get_or_insert_with(|| name.to_string());
                }
            }
            rest = &body[end + 1..];
        } else {
            value.push('$');
            rest = &tail[1..];
        }
    }
    value.push_str(rest);
    match unset {
        Some(name) => Err(ExpandError::Unset(name)),
        None => Ok(Expanded { value, substituted }),
    }
}

/// A shell variable's name: what `${…}` may hold, here and in templates.
pub(crate) fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("TOKEN".to_string(), "s3cr3t".to_string()),
            ("HOST".to_string(), "db".to_string()),
        ])
    }

    #[test]
    fn substitutes_and_remembers_values() {
        let e = expand("Bearer ${TOKEN} @ ${HOST}:5432", &env()).unwrap();
        assert_eq!(e.value, "Bearer s3cr3t @ db:5432");
        assert_eq!(e.substituted, ["s3cr3t"], "too short to hide: db");
    }

    #[test]
    fn escapes_and_lone_dollars_are_literal() {
        assert_eq!(
            expand("$${TOKEN} costs $5", &env()).unwrap().value,
            "${TOKEN} costs $5"
        );
    }

    #[test]
    fn unset_is_a_missing_input_and_bad_syntax_is_syntax() {
        assert_eq!(
            expand("${NOPE}", &env()).err(),
            Some(ExpandError::Unset("NOPE".into()))
        );
        assert!(matches!(
            expand("${TOKEN", &env()),
            Err(ExpandError::Syntax(_))
        ));
        assert!(matches!(
            expand("${1X}", &env()),
            Err(ExpandError::Syntax(_))
        ));
    }
}
