//! Jinja's lexical layer: the tokens of an expression, and a template cut into its `{{ … }}`
//! outputs and `{% … %}` tags, with comments and `{% raw %}` blocks left out.
//!
//! Only what finding names needs is kept: names with their offsets, literals as opaque
//! tokens (so a word inside a string is never taken for a name), and operators.

/// One token of an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tok<'a> {
    Name(&'a str),
    /// A string or a number.
    Literal,
    Op(&'a str),
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Token<'a> {
    pub(super) tok: Tok<'a>,
    /// Byte offset in the template.
    pub(super) at: usize,
}

impl<'a> Token<'a> {
    pub(super) fn name(&self) -> Option<&'a str> {
        match self.tok {
            Tok::Name(name) => Some(name),
            _ => None,
        }
    }

    pub(super) fn is_name(&self, word: &str) -> bool {
        self.tok == Tok::Name(word)
    }

    pub(super) fn is_op(&self, op: &str) -> bool {
        self.tok == Tok::Op(op)
    }
}

/// A part of a Jinja template that holds code.
pub(super) enum Piece<'a> {
    /// `{{ … }}`.
    Output { tokens: Vec<Token<'a>> },
    /// `{% … %}`, starting at `at`.
    Tag { at: usize, tokens: Vec<Token<'a>> },
}

/// Something that makes the template unreadable to Jinja, at a byte offset.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Problem {
    pub(super) at: usize,
    pub(super) message: String,
}

/// Why an expression has no end.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Unclosed {
    /// A string literal starting at this offset.
    String(usize),
    /// The closing delimiter never came.
    Delimiter,
}

pub(super) fn is_name_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

pub(super) fn is_name_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Skips the whitespace-control sign (`-` or `+`) that may follow an opening delimiter.
pub(super) fn after_opening(text: &str, at: usize) -> usize {
    match text.as_bytes().get(at) {
        Some(b'-' | b'+') => at + 1,
        _ => at,
    }
}

/// Reads tokens from `from` up to `close` (`}}` or `%}`, possibly preceded by `-` or `+`)
/// outside any bracket, as Jinja does: `{{ {'a': {'b': 1}} }}` ends at the last `}}`.
/// Returns the tokens and the offset just past `close`.
pub(super) fn expression<'a>(
    text: &'a str,
    from: usize,
    close: &str,
) -> Result<(Vec<Token<'a>>, usize), Unclosed> {
    let mut tokens = Vec::new();
    let mut depth = 0usize;
    let mut i = from;
    loop {
        let rest = &text[i..];
        let Some(c) = rest.chars().next() else {
            return Err(Unclosed::Delimiter);
        };
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        if depth == 0 {
            if rest.starts_with(close) {
                return Ok((tokens, i + close.len()));
            }
            if matches!(c, '-' | '+') && rest[1..].starts_with(close) {
                return Ok((tokens, i + 1 + close.len()));
            }
        }
        let start = i;
        let tok = if is_name_start(c) {
            let len = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
            i += len;
            Tok::Name(&rest[..len])
        } else if c.is_ascii_digit() {
            i += number_len(rest);
            Tok::Literal
        } else if c == '\'' || c == '"' {
            i += string_len(rest, c).ok_or(Unclosed::String(start))?;
            Tok::Literal
        } else {
            let len = ["==", "!=", "<=", ">=", "**", "//"]
                .iter()
                .find(|op| rest.starts_with(**op))
                .map_or(c.len_utf8(), |op| op.len());
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            i += len;
            Tok::Op(&rest[..len])
        };
        tokens.push(Token { tok, at: start });
    }
}

/// `12`, `1_000`, `1.5`, `2e-3`: the length of the number `rest` starts with.
fn number_len(rest: &str) -> usize {
    let b = rest.as_bytes();
    let digits = |mut i: usize| {
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
        i
    };
    let mut i = digits(0);
    if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i = digits(i + 1);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
        if b.get(i + 1 + sign).is_some_and(u8::is_ascii_digit) {
            i = digits(i + 1 + sign);
        }
    }
    i
}

/// The length of the string literal `rest` starts with, quotes included; `None` when it has
/// no closing quote.
fn string_len(rest: &str, quote: char) -> Option<usize> {
    let mut chars = rest.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            c if c == quote => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// Cuts a Jinja template into its outputs and tags. Stops at the first thing Jinja could not
/// read, and says what and where.
pub(super) fn pieces(text: &str) -> (Vec<Piece<'_>>, Option<Problem>) {
    let mut pieces = Vec::new();
    let mut i = 0;
    while let Some(found) = text[i..].find('{') {
        let at = i + found;
        i = at + 1;
        let unclosed = |what: &str| Problem {
            at,
            message: format!("\"{what}\" is never closed"),
        };
        match text.as_bytes().get(at + 1) {
            Some(b'#') => match text[at + 2..].find("#}") {
                Some(end) => i = at + 2 + end + 2,
                None => return (pieces, Some(unclosed("{#"))),
            },
            Some(b'{') => match expression(text, after_opening(text, at + 2), "}}") {
                Ok((tokens, end)) => {
                    pieces.push(Piece::Output { tokens });
                    i = end;
                }
                Err(e) => return (pieces, Some(problem(e, unclosed("{{")))),
            },
            Some(b'%') => {
                let start = after_opening(text, at + 2);
                if let Some(body) = raw_opening(text, start) {
                    match raw_end(text, body) {
                        Some(end) => i = end,
                        None => return (pieces, Some(unclosed("{% raw %}"))),
                    }
                    continue;
                }
                match expression(text, start, "%}") {
                    Ok((tokens, end)) => {
                        pieces.push(Piece::Tag { at, tokens });
                        i = end;
                    }
                    Err(e) => return (pieces, Some(problem(e, unclosed("{%")))),
                }
            }
            _ => {}
        }
    }
    (pieces, None)
}

fn problem(e: Unclosed, delimiter: Problem) -> Problem {
    match e {
        Unclosed::String(at) => Problem {
            at,
            message: "a string is never closed".into(),
        },
        Unclosed::Delimiter => delimiter,
    }
}

/// When `{%` at `start` opens `{% raw %}`, the offset where its body begins.
fn raw_opening(text: &str, start: usize) -> Option<usize> {
    let rest = text[start..].trim_start();
    let after = rest.strip_prefix("raw")?;
    if after.starts_with(is_name_char) {
        return None;
    }
    let after = after.trim_start();
    let after = after
        .strip_prefix(['-', '+'])
        .unwrap_or(after)
        .strip_prefix("%}")?;
    Some(text.len() - after.len())
}

/// The offset just past the `{% endraw %}` that closes a raw block whose body begins at `from`.
fn raw_end(text: &str, from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(found) = text[i..].find("{%") {
        let at = i + found;
        let rest = text[after_opening(text, at + 2)..].trim_start();
        if let Some(after) = rest.strip_prefix("endraw") {
            let after = after.trim_start();
            let after = after.strip_prefix(['-', '+']).unwrap_or(after);
            if let Some(after) = after.strip_prefix("%}") {
                return Some(text.len() - after.len());
            }
        }
        i = at + 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok<'_>> {
        let (tokens, end) = expression(text, 0, "}}").expect("closed");
        assert_eq!(end, text.len());
        tokens.into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn names_literals_and_operators() {
        assert_eq!(
            toks(" message.content | trim }}"),
            [
                Tok::Name("message"),
                Tok::Op("."),
                Tok::Name("content"),
                Tok::Op("|"),
                Tok::Name("trim"),
            ]
        );
        assert_eq!(
            toks("'a}}b' ~ \"it\\\"s\" ~ 1.5e3 == x }}"),
            [
                Tok::Literal,
                Tok::Op("~"),
                Tok::Literal,
                Tok::Op("~"),
                Tok::Literal,
                Tok::Op("=="),
                Tok::Name("x"),
            ]
        );
    }

    #[test]
    fn a_close_inside_brackets_is_not_the_end_and_a_dash_before_it_is() {
        assert_eq!(toks("{'a': {'b': x}} }}").len(), 9);
        assert_eq!(toks(" x -}}"), [Tok::Name("x")]);
        assert_eq!(toks(" x - y }}").len(), 3);
    }

    #[test]
    fn unclosed_strings_and_delimiters() {
        assert_eq!(
            expression(" 'abc }}", 0, "}}").err(),
            Some(Unclosed::String(1))
        );
        assert_eq!(
            expression(" abc ", 0, "}}").err(),
            Some(Unclosed::Delimiter)
        );
        assert_eq!(
            expression(" f(x }}", 0, "}}").err(),
            Some(Unclosed::Delimiter)
        );
    }

    #[test]
    fn comments_and_raw_blocks_are_left_out() {
        let text = "{# {{ a }} #}{% raw %}{{ b }}{%- endraw -%}{{ c }}{%- if d -%}";
        let (pieces, problem) = pieces(text);
        assert_eq!(problem, None);
        let names: Vec<&str> = pieces
            .iter()
            .flat_map(|p| match p {
                Piece::Output { tokens } | Piece::Tag { tokens, .. } => tokens.clone(),
            })
            .filter_map(|t| t.name())
            .collect();
        assert_eq!(names, ["c", "if", "d"]);
    }

    #[test]
    fn what_is_never_closed_is_named_where_it_opens() {
        let (_, problem) = pieces("ok {{ a }} {% if x ");
        assert_eq!(
            problem,
            Some(Problem {
                at: 11,
                message: "\"{%\" is never closed".into()
            })
        );
        let (_, problem) = pieces("{% raw %} {{ x }}");
        assert_eq!(problem.unwrap().message, "\"{% raw %}\" is never closed");
        let (_, problem) = pieces("a {# b");
        assert_eq!(problem.unwrap().at, 2);
        let (_, problem) = pieces("{{ 'x }}");
        assert_eq!(problem.unwrap().message, "a string is never closed");
    }
}
