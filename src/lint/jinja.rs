//! Which names a Jinja template reads without binding them itself.
//!
//! The template is walked in order, with a stack of open blocks. `{% set %}` binds from that
//! point on in the innermost scope; `{% for %}`, `{% macro %}`, `{% call %}` and `{% with %}`
//! open scopes of their own, whose names are gone at the matching end tag, as in Jinja. `{% if
//! x is defined %}` vouches for `x` in its body (and `{% if x is not defined %}` in its
//! `else`), so a template that checks before it reads is not faulted.

use super::lexer::{Piece, Problem, Tok, Token, pieces};
use super::position::Lines;
use super::{Scan, Use};

/// Words of the expression language that are never variables.
const KEYWORDS: &[&str] = &[
    "and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False", "None",
];

/// Globals every Jinja environment has.
pub(super) const JINJA_GLOBALS: &[&str] =
    &["range", "dict", "lipsum", "cycler", "joiner", "namespace"];

/// What a chat-template renderer hands every template: Hugging Face's `apply_chat_template`,
/// which vLLM, TGI and SGLang follow. Special tokens (`bos_token`, `eos_token`) are not here:
/// they come from the model's tokenizer config, which may lack one, so they are declared.
pub(super) const CHAT_GLOBALS: &[&str] = &[
    "messages",
    "tools",
    "documents",
    "add_generation_prompt",
    "raise_exception",
    "strftime_now",
];

/// Tags that open a block closed by `end…`. Other tags (an extension's `{% generation %}`) are
/// read for names and otherwise let be.
const BLOCKS: &[&str] = &[
    "for",
    "if",
    "macro",
    "call",
    "filter",
    "with",
    "block",
    "set",
    "autoescape",
];

/// What an expression reads, and what its truth says about which names are defined.
pub(super) struct Expr<'a> {
    /// Names looked up in the context, with their offsets.
    pub(super) refs: Vec<(&'a str, usize)>,
    /// Names a true result vouches for (`x is defined`).
    pub(super) if_true: Vec<&'a str>,
    /// Names a false result vouches for (`x is not defined`).
    pub(super) if_false: Vec<&'a str>,
}

/// Whether the name at `i` is looked up in the context rather than being an attribute
/// (`message.content`), a filter (`| trim`), a test (`is string`) or a keyword argument
/// (`tojson(indent=4)`).
fn is_root(tokens: &[Token<'_>], i: usize) -> bool {
    let prev = i.checked_sub(1).map(|j| tokens[j]);
    let before = i.checked_sub(2).map(|j| tokens[j]);
    if prev.is_some_and(|p| p.is_op(".") || p.is_op("|") || p.is_name("is")) {
        return false;
    }
    if prev.is_some_and(|p| p.is_name("not")) && before.is_some_and(|b| b.is_name("is")) {
        return false;
    }
    !tokens.get(i + 1).is_some_and(|next| next.is_op("="))
}

/// `x is defined`, `x is not undefined`, … starting at `i`: the name, and whether a true test
/// means it is defined.
fn defined_test<'a>(tokens: &[Token<'a>], i: usize) -> Option<(&'a str, bool)> {
    let name = tokens[i].name()?;
    if KEYWORDS.contains(&name) || !is_root(tokens, i) || !tokens.get(i + 1)?.is_name("is") {
        return None;
    }
    let negated = tokens.get(i + 2)?.is_name("not");
    let test = tokens.get(i + 2 + usize::from(negated))?.name()?;
    let defined = match test {
        "defined" => true,
        "undefined" => false,
        _ => return None,
    };
    Some((name, defined != negated))
}

/// Reads one expression: its root names, and the `is defined` tests at its top level.
pub(super) fn expr<'a>(tokens: &[Token<'a>]) -> Expr<'a> {
    // A name the expression tests for may be read anywhere in it: `x if x is defined else ''`.
    let tested: Vec<&str> = (0..tokens.len())
        .filter_map(|i| defined_test(tokens, i).map(|(name, _)| name))
        .collect();
    let mut refs = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let Some(name) = token.name() else { continue };
        if KEYWORDS.contains(&name) || tested.contains(&name) || !is_root(tokens, i) {
            continue;
        }
        // `x | default('…')` supplies its own value when `x` is undefined.
        let defaulted = tokens.get(i + 1).is_some_and(|t| t.is_op("|"))
            && tokens
                .get(i + 2)
                .is_some_and(|t| t.is_name("default") || t.is_name("d"));
        if !defaulted {
            refs.push((name, token.at));
        }
    }

    let (mut ands, mut ors, mut inline_if) = (false, false, false);
    let mut atoms = Vec::new();
    let mut start = 0;
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate() {
        match token.tok {
            Tok::Op("(" | "[" | "{") => depth += 1,
            Tok::Op(")" | "]" | "}") => depth = depth.saturating_sub(1),
            Tok::Name(word @ ("and" | "or")) if depth == 0 => {
                ands |= word == "and";
                ors |= word == "or";
                atoms.push(&tokens[start..i]);
                start = i + 1;
            }
            Tok::Name("if") if depth == 0 => inline_if = true,
            _ => {}
        }
    }
    atoms.push(&tokens[start..]);
    let (mut when_true, mut when_false) = (Vec::new(), Vec::new());
    for atom in atoms {
        let nots = atom.iter().take_while(|t| t.is_name("not")).count();
        let test = &atom[nots..];
        if test.is_empty() {
            continue;
        }
        let Some((name, defined)) = defined_test(test, 0) else {
            continue;
        };
        let len = if test[2].is_name("not") { 4 } else { 3 };
        if test.len() != len {
            continue;
        }
        if defined != (nots % 2 == 1) {
            when_true.push(name);
        } else {
            when_false.push(name);
        }
    }
    // A conjunction holds each of its parts when true; a disjunction fails each when false.
    Expr {
        refs,
        if_true: if ors || inline_if {
            Vec::new()
        } else {
            when_true
        },
        if_false: if ands || inline_if {
            Vec::new()
        } else {
            when_false
        },
    }
}

/// The offset of the first token at bracket depth 0 that `want` accepts.
fn top_level(tokens: &[Token<'_>], want: impl Fn(&Token<'_>) -> bool) -> Option<usize> {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate() {
        if depth == 0 && want(token) {
            return Some(i);
        }
        match token.tok {
            Tok::Op("(" | "[" | "{") => depth += 1,
            Tok::Op(")" | "]" | "}") => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Splits at the commas at bracket depth 0.
fn split_commas<'t, 'a>(tokens: &'t [Token<'a>]) -> Vec<&'t [Token<'a>]> {
    let mut groups = Vec::new();
    let mut rest = tokens;
    while let Some(comma) = top_level(rest, |t| t.is_op(",")) {
        groups.push(&rest[..comma]);
        rest = &rest[comma + 1..];
    }
    if !rest.is_empty() {
        groups.push(rest);
    }
    groups
}

/// The index of the bracket that closes the one at `open`.
fn closing(tokens: &[Token<'_>], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token.tok {
            Tok::Op("(" | "[" | "{") => depth += 1,
            Tok::Op(")" | "]" | "}") => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn names<'a>(tokens: &[Token<'a>]) -> Vec<&'a str> {
    tokens.iter().filter_map(Token::name).collect()
}

/// `… with context`, `… ignore missing`: words of `include` and `import`, not names.
fn without_context<'t, 'a>(mut tokens: &'t [Token<'a>]) -> &'t [Token<'a>] {
    const WORDS: &[&str] = &["with", "without", "context", "ignore", "missing"];
    while let Some((last, rest)) = tokens.split_last() {
        if !last.name().is_some_and(|n| WORDS.contains(&n)) {
            break;
        }
        tokens = rest;
    }
    tokens
}

struct Frame<'a> {
    /// The tag that opened it; empty for the template itself.
    tag: &'a str,
    at: usize,
    /// Names bound in this block; `None` when bindings go to the enclosing scope (an `if`).
    scope: Option<Vec<&'a str>>,
    /// Names an `is defined` test vouches for in the current branch.
    guards: Vec<&'a str>,
    /// In an `if` chain: names that every earlier condition being false vouches for.
    unset: Vec<&'a str>,
    /// A block `{% set x %}…{% endset %}`: bound at the end.
    pending: Vec<&'a str>,
}

impl<'a> Frame<'a> {
    fn new(tag: &'a str, at: usize, scope: Option<Vec<&'a str>>) -> Self {
        Frame {
            tag,
            at,
            scope,
            guards: Vec::new(),
            unset: Vec::new(),
            pending: Vec::new(),
        }
    }
}

struct Walk<'a, 'l> {
    lines: &'l Lines<'a>,
    frames: Vec<Frame<'a>>,
    uses: Vec<Use<'a>>,
    problems: Vec<Problem>,
}

/// Walks a Jinja template and returns the names it reads but neither binds nor gets from the
/// renderer.
pub(super) fn analyze<'a>(text: &'a str, lines: &Lines<'a>) -> Scan<'a> {
    let (pieces, unreadable) = pieces(text);
    let mut walk = Walk {
        lines,
        frames: vec![Frame::new("", 0, Some(Vec::new()))],
        uses: Vec::new(),
        problems: Vec::new(),
    };
    let mut placeholders = 0;
    for piece in &pieces {
        match piece {
            Piece::Output { tokens } => {
                placeholders += 1;
                walk.read(tokens);
            }
            Piece::Tag { at, tokens } => walk.tag(*at, tokens),
        }
    }
    match unreadable {
        // Blocks left open are a consequence; the first thing Jinja would stop at is the news.
        Some(problem) => walk.problems.push(problem),
        None => {
            for frame in walk.frames.drain(1..) {
                walk.problems.push(Problem {
                    at: frame.at,
                    message: format!(
                        "\"{{% {} %}}\" is never closed (no \"{{% end{} %}}\")",
                        frame.tag, frame.tag
                    ),
                });
            }
        }
    }
    Scan {
        uses: walk.uses,
        problems: walk.problems,
        placeholders,
    }
}

impl<'a> Walk<'a, '_> {
    fn visible(&self, name: &str) -> bool {
        JINJA_GLOBALS.contains(&name)
            || CHAT_GLOBALS.contains(&name)
            || self.frames.iter().any(|f| {
                f.guards.contains(&name) || f.scope.as_ref().is_some_and(|s| s.contains(&name))
            })
    }

    fn look_up(&mut self, name: &'a str, at: usize) {
        if self.visible(name) {
            return;
        }
        let locals = self
            .frames
            .iter()
            .flat_map(|f| f.guards.iter().chain(f.scope.iter().flatten()))
            .copied()
            .collect();
        self.uses.push(Use {
            name,
            at,
            dollar: false,
            locals,
        });
    }

    fn read(&mut self, tokens: &[Token<'a>]) -> Expr<'a> {
        let expr = expr(tokens);
        for &(name, at) in &expr.refs {
            self.look_up(name, at);
        }
        expr
    }

    fn bind(&mut self, name: &'a str) {
        if let Some(scope) = self.frames.iter_mut().rev().find_map(|f| f.scope.as_mut()) {
            scope.push(name);
        }
    }

    fn top(&mut self) -> &mut Frame<'a> {
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }

    fn problem(&mut self, at: usize, message: String) {
        self.problems.push(Problem { at, message });
    }

    fn tag(&mut self, at: usize, tokens: &[Token<'a>]) {
        let Some(first) = tokens.first() else {
            self.problem(at, "an empty tag \"{% %}\"".into());
            return;
        };
        let Some(word) = first.name() else {
            self.problem(first.at, "a tag must start with its name".into());
            return;
        };
        let rest = &tokens[1..];
        match word {
            "set" => self.set(at, rest),
            "for" => self.for_loop(at, rest),
            "if" => {
                let cond = self.read(rest);
                let mut frame = Frame::new("if", at, None);
                frame.guards = cond.if_true;
                frame.unset = cond.if_false;
                self.frames.push(frame);
            }
            "elif" => self.elif(at, rest),
            "else" => self.else_branch(at),
            "macro" => self.macro_def(at, rest),
            "call" => {
                let (params, call) = match rest.first() {
                    Some(t) if t.is_op("(") => {
                        let close = closing(rest, 0).unwrap_or(rest.len());
                        let params = self.params(&rest[1..close]);
                        (params, rest.get(close + 1..).unwrap_or_default())
                    }
                    _ => (Vec::new(), rest),
                };
                self.read(call);
                self.frames.push(Frame::new("call", at, Some(params)));
            }
            "filter" => {
                // The first word is the filter's name; its arguments and any chained filters
                // may read names.
                self.read(rest.get(1..).unwrap_or_default());
                self.frames.push(Frame::new("filter", at, None));
            }
            "with" => {
                let mut bound = Vec::new();
                for group in split_commas(rest) {
                    match top_level(group, |t| t.is_op("=")) {
                        Some(eq) => {
                            bound.extend(names(&group[..eq]));
                            self.read(&group[eq + 1..]);
                        }
                        None => {
                            self.read(group);
                        }
                    }
                }
                self.frames.push(Frame::new("with", at, Some(bound)));
            }
            "block" | "autoescape" => {
                if word == "autoescape" {
                    self.read(rest);
                }
                self.frames.push(Frame::new(word, at, None));
            }
            "extends" | "include" | "do" => {
                self.read(without_context(rest));
            }
            "import" => {
                let rest = without_context(rest);
                match top_level(rest, |t| t.is_name("as")) {
                    Some(k) => {
                        self.read(&rest[..k]);
                        names(&rest[k + 1..]).into_iter().for_each(|n| self.bind(n));
                    }
                    None => {
                        self.read(rest);
                    }
                }
            }
            "from" => {
                let rest = without_context(rest);
                let Some(k) = top_level(rest, |t| t.is_name("import")) else {
                    self.read(rest);
                    return;
                };
                self.read(&rest[..k]);
                for group in split_commas(&rest[k + 1..]) {
                    // `a` binds a; `a as b` binds b.
                    if let Some(name) = group.iter().rev().find_map(Token::name) {
                        self.bind(name);
                    }
                }
            }
            "break" | "continue" => {}
            _ => match word.strip_prefix("end") {
                Some(block) if BLOCKS.contains(&block) => self.end(at, block),
                Some(_) => {}
                None => {
                    self.read(rest);
                }
            },
        }
    }

    fn set(&mut self, at: usize, rest: &[Token<'a>]) {
        match top_level(rest, |t| t.is_op("=")) {
            Some(eq) => {
                // The value is read before the targets exist: `set n = n + 1` reads n.
                self.read(&rest[eq + 1..]);
                for target in split_commas(&rest[..eq]) {
                    if target.iter().any(|t| t.is_op(".") || t.is_op("[")) {
                        // `set ns.found = true` writes into `ns`, which must exist.
                        if let Some(root) = target.iter().find(|t| t.name().is_some()) {
                            self.read(std::slice::from_ref(root));
                        }
                    } else {
                        names(target).into_iter().for_each(|n| self.bind(n));
                    }
                }
            }
            None => {
                let end = top_level(rest, |t| t.is_op("|")).unwrap_or(rest.len());
                self.read(&rest[end..]);
                let mut frame = Frame::new("set", at, None);
                frame.pending = names(&rest[..end]);
                self.frames.push(frame);
            }
        }
    }

    fn for_loop(&mut self, at: usize, rest: &[Token<'a>]) {
        let Some(k) = top_level(rest, |t| t.is_name("in")) else {
            self.problem(
                at,
                "\"{% for %}\" needs `in`: {% for item in items %}".into(),
            );
            self.frames.push(Frame::new("for", at, Some(Vec::new())));
            return;
        };
        let mut bound = names(&rest[..k]);
        bound.push("loop");
        let mut tail = &rest[k + 1..];
        if tail.last().is_some_and(|t| t.is_name("recursive")) {
            tail = &tail[..tail.len() - 1];
        }
        let filter = top_level(tail, |t| t.is_name("if"));
        self.read(&tail[..filter.unwrap_or(tail.len())]);
        self.frames.push(Frame::new("for", at, Some(bound)));
        if let Some(filter) = filter {
            self.read(&tail[filter + 1..]);
        }
    }

    fn elif(&mut self, at: usize, rest: &[Token<'a>]) {
        if self.top().tag != "if" {
            self.problem(at, "\"{% elif %}\" outside \"{% if %}\"".into());
            return;
        }
        // Every earlier condition was false.
        let frame = self.top();
        frame.guards = frame.unset.clone();
        let cond = self.read(rest);
        let frame = self.top();
        frame.guards.extend(cond.if_true);
        frame.unset.extend(cond.if_false);
    }

    fn else_branch(&mut self, at: usize) {
        let frame = self.top();
        match frame.tag {
            "if" => frame.guards = frame.unset.clone(),
            // Runs when there was nothing to loop over: no loop variables.
            "for" => frame.scope = Some(Vec::new()),
            _ => self.problem(
                at,
                "\"{% else %}\" outside \"{% if %}\" or \"{% for %}\"".into(),
            ),
        }
    }

    fn macro_def(&mut self, at: usize, rest: &[Token<'a>]) {
        // Bound before its body, which may call it.
        if let Some(name) = rest.first().and_then(Token::name) {
            self.bind(name);
        }
        let mut bound = vec!["varargs", "kwargs", "caller"];
        if rest.get(1).is_some_and(|t| t.is_op("(")) {
            let close = closing(rest, 1).unwrap_or(rest.len());
            bound.extend(self.params(&rest[2..close]));
        }
        self.frames.push(Frame::new("macro", at, Some(bound)));
    }

    /// A parameter list `a, b=default`: the names, with defaults read in the enclosing scope.
    fn params(&mut self, tokens: &[Token<'a>]) -> Vec<&'a str> {
        let mut params = Vec::new();
        for group in split_commas(tokens) {
            if let Some(name) = group.first().and_then(Token::name) {
                params.push(name);
            }
            if group.get(1).is_some_and(|t| t.is_op("=")) {
                self.read(&group[2..]);
            }
        }
        params
    }

    fn end(&mut self, at: usize, block: &str) {
        let Some(open) = self.frames.iter().rposition(|f| f.tag == block) else {
            self.problem(at, format!("\"{{% end{block} %}}\" closes nothing"));
            return;
        };
        if open + 1 != self.frames.len() {
            let inner = &self.frames[self.frames.len() - 1];
            let message = format!(
                "\"{{% end{block} %}}\" while \"{{% {} %}}\" at {} is still open",
                inner.tag,
                self.lines.pos(inner.at)
            );
            self.problem(at, message);
        }
        let closed = self.frames.drain(open..).next();
        if let Some(frame) = closed {
            frame.pending.into_iter().for_each(|n| self.bind(n));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The undeclared names, each with `line:col`.
    fn undeclared(text: &str) -> Vec<String> {
        let lines = Lines::new(text);
        let scan = analyze(text, &lines);
        assert_eq!(scan.problems, [], "{text}");
        scan.uses
            .iter()
            .map(|u| format!("{} {}", u.name, lines.pos(u.at)))
            .collect()
    }

    fn problems(text: &str) -> Vec<String> {
        let lines = Lines::new(text);
        analyze(text, &lines)
            .problems
            .iter()
            .map(|p| format!("{} {}", lines.pos(p.at), p.message))
            .collect()
    }

    #[test]
    fn roots_of_attributes_items_and_filters() {
        assert_eq!(
            undeclared(
                "{{ message.content | trim }} {{ turns[0]['role'] }} {{ x|replace('a', y) }}"
            ),
            ["message 1:4", "turns 1:33", "x 1:56", "y 1:71"]
        );
    }

    #[test]
    fn literals_keywords_tests_and_keyword_arguments_are_not_names() {
        assert_eq!(
            undeclared(
                "{{ 'user' if true else none }}{{ a is string and not b is none }}{{ f(indent=4) }}{{ 'x' in c }}"
            ),
            ["a 1:34", "b 1:54", "f 1:69", "c 1:93"]
        );
    }

    #[test]
    fn set_binds_from_that_point_on() {
        assert_eq!(
            undeclared("{{ x }}{% set x = 1 %}{{ x }}{% set a, b = pair %}{{ a ~ b }}"),
            ["x 1:4", "pair 1:44"]
        );
        assert_eq!(undeclared("{% set n = n + 1 %}"), ["n 1:12"]);
        assert_eq!(
            undeclared("{% set body %}{{ who }}{% endset %}{{ body }}"),
            ["who 1:18"]
        );
    }

    #[test]
    fn loop_variables_live_in_the_loop() {
        assert_eq!(
            undeclared(
                "{% for k, v in items %}{{ k }}{{ v }}{{ loop.index }}{% set inner = 1 %}{% endfor %}{{ k }}{{ loop }}{{ inner }}"
            ),
            ["items 1:16", "k 1:88", "loop 1:95", "inner 1:105"]
        );
        assert_eq!(
            undeclared("{% for m in xs if m.ok %}{% else %}{{ m }}{% endfor %}"),
            ["xs 1:13", "m 1:39"]
        );
    }

    #[test]
    fn macro_arguments_are_scoped_to_the_body() {
        assert_eq!(
            undeclared(
                "{% macro card(title, body=fallback) %}{{ title }}{{ body }}{{ caller() }}{{ card }}{% endmacro %}{{ card('a') }}{{ title }}"
            ),
            ["fallback 1:27", "title 1:116"]
        );
        assert_eq!(
            undeclared("{% call(row) table(rows) %}{{ row }}{% endcall %}{{ row }}"),
            ["table 1:14", "rows 1:20", "row 1:53"]
        );
    }

    #[test]
    fn a_namespace_attribute_is_written_not_bound() {
        assert_eq!(
            undeclared(
                "{% set ns = namespace(found=false) %}{% for m in messages %}{% set ns.found = true %}{% set nx.found = 1 %}{% endfor %}{{ ns.found }}"
            ),
            ["nx 1:93"]
        );
    }

    #[test]
    fn defined_tests_vouch_for_what_they_test() {
        assert_eq!(
            undeclared(
                "{% if extra is defined %}{{ extra }}{% else %}{{ extra }}{% endif %}{{ x if x is defined else '' }}{{ y | default('-') }}"
            ),
            ["extra 1:50"]
        );
        assert_eq!(
            undeclared("{% if not date is defined %}{% set date = '1 Jan' %}{% endif %}{{ date }}"),
            [] as [&str; 0]
        );
        assert_eq!(
            undeclared(
                "{% if a is undefined %}{% elif a > 1 %}{{ a }}{% else %}{{ a }}{% endif %}"
            ),
            [] as [&str; 0]
        );
        assert_eq!(
            undeclared("{% if p is defined or q %}{{ p }}{% endif %}"),
            ["q 1:23", "p 1:30"]
        );
    }

    #[test]
    fn comments_raw_blocks_and_strings_hide_names() {
        assert_eq!(
            undeclared(
                "{# {{ a }} #}{% raw %}{{ b }}{% endraw %}{{ 'c {{ d }}' }}{%- if e -%}{%- endif -%}"
            ),
            ["e 1:66"]
        );
    }

    #[test]
    fn renderer_globals_and_imports() {
        assert_eq!(
            undeclared(
                "{{ raise_exception('x') }}{% for i in range(3) %}{% endfor %}{{ messages }}{{ bos_token }}{% import 'm.j2' as m %}{% from 'n.j2' import a, b as c %}{{ m.x }}{{ a }}{{ c }}{{ b }}"
            ),
            ["bos_token 1:79", "b 1:175"]
        );
    }

    #[test]
    fn unknown_tags_are_read_and_let_be() {
        assert_eq!(
            undeclared("{% generation %}{{ x }}{% endgeneration %}"),
            ["x 1:20"]
        );
    }

    #[test]
    fn blocks_that_do_not_match_are_named() {
        assert_eq!(
            problems("{% for x in xs %}\n{% if x %}\n{% endfor %}"),
            ["3:1 \"{% endfor %}\" while \"{% if %}\" at 2:1 is still open"]
        );
        assert_eq!(
            problems("{% if a %}{% endif %}{% endif %}"),
            ["1:22 \"{% endif %}\" closes nothing"]
        );
        assert_eq!(
            problems("{% macro m() %}\n  {% for x in y %}"),
            [
                "1:1 \"{% macro %}\" is never closed (no \"{% endmacro %}\")",
                "2:3 \"{% for %}\" is never closed (no \"{% endfor %}\")",
            ]
        );
        assert_eq!(
            problems("{% else %}"),
            ["1:1 \"{% else %}\" outside \"{% if %}\" or \"{% for %}\""]
        );
    }
}
