//! Placeholders in a file that is not Jinja: `${NAME}`, with `$${` as an escape (as in the
//! config), and `{{ expression }}`, whose root names are read as in Jinja.

use super::jinja::expr;
use super::lexer::{after_opening, expression};
use super::{Scan, Use};
use crate::config::is_var_name;

pub(super) fn scan(text: &str) -> Scan<'_> {
    let mut uses = Vec::new();
    let mut placeholders = 0;
    let mut i = 0;
    while let Some(found) = text[i..].find(['$', '{']) {
        let at = i + found;
        let rest = &text[at..];
        i = at + 1;
        if rest.starts_with("$${") {
            i = at + 3;
        } else if let Some(body) = rest.strip_prefix("${") {
            // Anything else after `${` is text: a shell snippet or a price in a prompt.
            if let Some(end) = body.find('}')
                && is_var_name(&body[..end])
            {
                placeholders += 1;
                uses.push(Use {
                    name: &body[..end],
                    at: at + 2,
                    dollar: true,
                    locals: Vec::new(),
                });
                i = at + 2 + end + 1;
            }
        } else if rest.starts_with("{{") {
            // Unclosed, it is text: a lone `{{` in prose is no placeholder.
            if let Ok((tokens, end)) = expression(text, after_opening(text, at + 2), "}}") {
                placeholders += 1;
                uses.extend(expr(&tokens).refs.into_iter().map(|(name, at)| Use {
                    name,
                    at,
                    dollar: false,
                    locals: Vec::new(),
                }));
                i = end;
            }
        }
    }
    Scan {
        uses,
        problems: Vec::new(),
        placeholders,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::position::Lines;

    fn found(text: &str) -> Vec<String> {
        let lines = Lines::new(text);
        scan(text)
            .uses
            .iter()
            .map(|u| {
                let sigil = if u.dollar { "$" } else { "" };
                format!("{sigil}{} {}", u.name, lines.pos(u.at))
            })
            .collect()
    }

    #[test]
    fn dollar_and_brace_placeholders_with_positions() {
        assert_eq!(
            found("Hi ${USER_NAME},\r\n  {{ topic.title | upper }} and {{user}}"),
            ["$USER_NAME 1:6", "topic 2:6", "user 2:35"]
        );
    }

    #[test]
    fn the_escape_and_other_dollars_are_text() {
        assert_eq!(
            found("$${HOME} costs $5, ${1X}, ${a b}, $$${B} {{ 'lit' }} ${OK}"),
            ["$OK 1:56"]
        );
        assert_eq!(found("$${"), [] as [&str; 0]);
    }

    #[test]
    fn an_unclosed_brace_pair_is_text() {
        assert_eq!(found("a {{ b\n${C}"), ["$C 2:3"]);
    }
}
