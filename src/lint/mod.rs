//! Prompt templates against the variables they may use: `bootgate lint` and the `prompt` check.
//!
//! Each placeholder a template reads (`{{ var }}`, and `${VAR}` outside Jinja) is found with its
//! line and column. Its name must be bound by the template itself, handed over by the renderer
//! (for a Jinja chat template), declared with a default in the vars file or, for `${VAR}`, set
//! in the environment. Anything else is a finding. The rules are in docs/prompts.md.

mod jinja;
mod lexer;
mod plain;
mod position;
mod vars;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

pub use vars::{Var, Vars};

use crate::config::{Environment, Pos};
use crate::glob::{self, GlobError};
use crate::suggest;

/// Larger than any ConfigMap (1 MiB) many times over; anything bigger is no template, and is
/// not read into memory on every attempt.
const MAX_TEMPLATE_BYTES: u64 = 16 << 20;

/// Why the inputs could not be linted at all: `bootgate lint` exits 2, the check waits.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// `hint` is empty, or ` (did you mean …?)`.
    #[error("{what} does not exist{hint}")]
    Missing { what: String, hint: String },
    #[error("{pattern} matches no file{hint}")]
    NoMatch { pattern: String, hint: String },
    #[error("{0} reaches more than 100000 directory entries; start it from a narrower directory")]
    TooBroad(String),
    #[error("{0} is a directory; name its files, or a glob such as {0}/**/*.j2")]
    Directory(String),
    #[error("{0} is not a regular file")]
    NotFile(String),
    #[error("cannot read {what}: {reason}")]
    Unreadable { what: String, reason: String },
    #[error("{0} is not UTF-8 text")]
    NotText(String),
    #[error("{0} is larger than 16 MiB; no template is")]
    TooLarge(String),
    #[error("{pattern}: {message}")]
    Pattern { pattern: String, message: String },
    #[error("{path}:{pos}: {message}")]
    Vars {
        path: String,
        pos: Pos,
        message: String,
    },
}

/// A template, read whole.
pub struct Template {
    pub path: PathBuf,
    pub text: String,
}

pub struct Inputs {
    pub templates: Vec<Template>,
    pub vars: Vars,
}

/// One problem in a template, at the first character of the name (or the tag) concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: PathBuf,
    pub pos: Pos,
    pub message: String,
    /// A name nobody declared, as opposed to one without a default or a template Jinja
    /// cannot read.
    pub undeclared: bool,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.pos, self.message)
    }
}

pub struct Report {
    pub files: usize,
    pub placeholders: usize,
    /// Sorted by file, then position.
    pub findings: Vec<Finding>,
}

impl Report {
    /// What a passing check shows: `3 files, 12 placeholders`.
    pub fn summary(&self) -> String {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        format!(
            "{}, {}",
            plural(self.files, "file"),
            plural(self.placeholders, "placeholder")
        )
    }

    /// What a failing check says: the first finding, and how many more there are.
    pub fn reason(&self) -> Option<String> {
        let first = self.findings.first()?;
        let count = self.findings.len();
        if count == 1 {
            return Some(first.to_string());
        }
        let what = if self.findings.iter().all(|f| f.undeclared) {
            "undeclared template variables"
        } else {
            "template problems"
        };
        Some(format!("{count} {what}: {first} (and {} more)", count - 1))
    }
}

/// A name a template reads and does not bind itself.
struct Use<'a> {
    name: &'a str,
    /// Byte offset of the name.
    at: usize,
    /// Written `${NAME}`: the environment may supply it.
    dollar: bool,
    /// Names the template has bound where it is read, for "did you mean".
    locals: Vec<&'a str>,
}

/// What scanning one template found.
struct Scan<'a> {
    uses: Vec<Use<'a>>,
    problems: Vec<lexer::Problem>,
    placeholders: usize,
}

/// Reads a file as text, refusing what cannot be a template. `label` says what it is in
/// messages (`vars file `).
fn read_text(path: &Path, label: &str) -> Result<String, InputError> {
    let what = || format!("{label}{}", path.display());
    let unreadable = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => InputError::Missing {
            what: what(),
            hint: glob::near_miss(path),
        },
        _ => InputError::Unreadable {
            what: what(),
            reason: crate::text::io_phrase(&e),
        },
    };
    // A FIFO or a device would block or never end: refused, as is a file too large.
    let bytes =
        crate::files::read_regular(path, MAX_TEMPLATE_BYTES).map_err(|e| match e.kind() {
            std::io::ErrorKind::IsADirectory => InputError::Directory(what()),
            std::io::ErrorKind::InvalidInput => InputError::NotFile(what()),
            std::io::ErrorKind::FileTooLarge => InputError::TooLarge(what()),
            _ => unreadable(e),
        })?;
    String::from_utf8(bytes).map_err(|_| InputError::NotText(what()))
}

/// Finds and reads every template the patterns name, and the vars file. Every problem is
/// collected, so one run shows them all.
pub fn gather<S: AsRef<str>>(
    patterns: &[S],
    vars: Option<&Path>,
) -> Result<Inputs, Vec<InputError>> {
    let mut errors = Vec::new();
    let vars = match vars.map(vars::read) {
        None => Vars::default(),
        Some(Ok(vars)) => vars,
        Some(Err(problems)) => {
            errors.extend(problems);
            Vars::default()
        }
    };
    let mut paths = BTreeSet::new();
    for pattern in patterns {
        match glob::files(pattern.as_ref()) {
            Ok(found) => paths.extend(found),
            Err(e) => errors.push(unmatched(pattern.as_ref(), e)),
        }
    }
    let mut templates = Vec::with_capacity(paths.len());
    for path in paths {
        match read_text(&path, "") {
            Ok(text) => templates.push(Template { path, text }),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(Inputs { templates, vars })
    } else {
        Err(errors)
    }
}

fn unmatched(pattern: &str, error: GlobError) -> InputError {
    let pattern = pattern.to_string();
    match error {
        GlobError::Syntax(message) => InputError::Pattern { pattern, message },
        GlobError::TooBroad => InputError::TooBroad(pattern),
        GlobError::NoMatch { hint } => InputError::NoMatch { pattern, hint },
    }
}

/// Whether a template is Jinja: it has `{% … %}` tags, or its name says so.
fn is_jinja(path: &Path, text: &str) -> bool {
    let named = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "j2" | "jinja" | "jinja2"));
    named || text.contains("{%")
}

/// Lints every template against the vars file and `env` (which supplies `${VAR}`s).
pub fn lint(inputs: &Inputs, env: &dyn Environment) -> Report {
    let env_names = env.names();
    let mut report = Report {
        files: inputs.templates.len(),
        placeholders: 0,
        findings: Vec::new(),
    };
    for template in &inputs.templates {
        let (findings, placeholders) = lint_text(
            &template.path,
            &template.text,
            &inputs.vars,
            env,
            &env_names,
        );
        report.findings.extend(findings);
        report.placeholders += placeholders;
    }
    report
        .findings
        .sort_by(|a, b| (&a.file, a.pos.line, a.pos.col).cmp(&(&b.file, b.pos.line, b.pos.col)));
    report
}

fn lint_text(
    path: &Path,
    text: &str,
    vars: &Vars,
    env: &dyn Environment,
    env_names: &[String],
) -> (Vec<Finding>, usize) {
    // Editors do not show a byte-order mark, so columns do not count it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = position::Lines::new(text);
    let jinja = is_jinja(path, text);
    let scan = if jinja {
        jinja::analyze(text, &lines)
    } else {
        plain::scan(text)
    };
    let finding = |at: usize, message: String, undeclared: bool| Finding {
        file: path.to_path_buf(),
        pos: lines.pos(at),
        message,
        undeclared,
    };
    let mut findings: Vec<Finding> = scan
        .problems
        .into_iter()
        .map(|p| finding(p.at, p.message, false))
        .collect();
    for used in &scan.uses {
        let from_env = used.dollar && env.var(used.name).is_some();
        match vars.names.get(used.name) {
            Some(var) if var.default || from_env => {}
            Some(var) => {
                let declared = vars.path.as_deref().unwrap_or(Path::new("the vars file"));
                findings.push(finding(
                    used.at,
                    format!(
                        "template variable \"{}\" is declared without a default ({}:{}); give it one, \"\" for empty",
                        used.name,
                        declared.display(),
                        var.pos
                    ),
                    false,
                ));
            }
            None if from_env => {}
            None => {
                let mut candidates: Vec<&str> = vars.names.keys().map(String::as_str).collect();
                candidates.extend(&used.locals);
                if jinja {
                    candidates.extend(jinja::JINJA_GLOBALS);
                    candidates.extend(jinja::CHAT_GLOBALS);
                }
                if used.dollar {
                    candidates.extend(env_names.iter().map(String::as_str));
                }
                let hint = suggest::closest(used.name, candidates)
                    .map(|c| format!(" (did you mean \"{c}\"?)"))
                    .unwrap_or_default();
                findings.push(finding(
                    used.at,
                    format!("undeclared template variable \"{}\"{hint}", used.name),
                    true,
                ));
            }
        }
    }
    (findings, scan.placeholders)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_fifo_as_the_vars_file_is_refused_not_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("vars.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let template = dir.path().join("t.txt");
        std::fs::write(&template, "hello").unwrap();
        // A blocking open would wait here for a writer that never comes.
        let errors = gather(&[template.display().to_string()], Some(&fifo))
            .err()
            .unwrap();
        assert!(
            errors.iter().any(|e| matches!(e, InputError::NotFile(_))),
            "{errors:?}"
        );
    }

    #[test]
    fn each_path_that_names_no_template_says_why() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().display();
        std::fs::create_dir(root.path().join("real")).unwrap();
        std::fs::write(root.path().join("real/b.txt"), "").unwrap();
        let errors = gather(
            &[
                format!("{dir}/rael/*.j2"),
                format!("{dir}/real/b.text"),
                format!("{dir}/real"),
                format!("{dir}/[a-z.j2"),
            ],
            None,
        )
        .err()
        .unwrap();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                format!("{dir}/rael/*.j2 matches no file (did you mean {dir}/real?)"),
                format!("{dir}/[a-z.j2: `[` in `[a-z.j2` has no closing `]`"),
                format!(
                    "{dir}/real is a directory; name its files, or a glob such as {dir}/real/**/*.j2"
                ),
                format!("{dir}/real/b.text does not exist (did you mean {dir}/real/b.txt?)"),
            ]
        );
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn run(file: &str, text: &str, vars_yaml: &str, environment: &[(&str, &str)]) -> Vec<String> {
        let inputs = Inputs {
            templates: vec![Template {
                path: PathBuf::from(file),
                text: text.to_string(),
            }],
            vars: vars::parse(vars_yaml, Path::new("vars.yaml")).unwrap(),
        };
        lint(&inputs, &env(environment))
            .findings
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn findings_name_the_position_and_a_close_name() {
        assert_eq!(
            run(
                "p.txt",
                "Hello {{ user_nme }},\n  today is ${DAY}.\n",
                "user_name: friend\n",
                &[("DATE", "x")]
            ),
            [
                "p.txt:1:10: undeclared template variable \"user_nme\" (did you mean \"user_name\"?)",
                "p.txt:2:14: undeclared template variable \"DAY\"",
            ]
        );
    }

    #[test]
    fn the_environment_supplies_dollar_placeholders_only() {
        assert_eq!(
            run(
                "p.txt",
                "${HOME} {{ HOME }} ${HOEM}",
                "",
                &[("HOME", "/root")]
            ),
            [
                "p.txt:1:12: undeclared template variable \"HOME\"",
                "p.txt:1:22: undeclared template variable \"HOEM\" (did you mean \"HOME\"?)",
            ]
        );
    }

    #[test]
    fn a_null_default_is_no_default() {
        assert_eq!(
            run(
                "p.txt",
                "{{ tone }} ${REGION}",
                "tone:\nREGION: ~\n",
                &[("REGION", "eu")]
            ),
            [
                "p.txt:1:4: template variable \"tone\" is declared without a default (vars.yaml:1:1); give it one, \"\" for empty"
            ]
        );
    }

    #[test]
    fn jinja_is_known_by_its_tags_or_its_name() {
        // Outside Jinja, `${X}` is a placeholder; in Jinja it is text.
        assert_eq!(
            run("p.txt", "${X}", "", &[]),
            ["p.txt:1:3: undeclared template variable \"X\""]
        );
        assert_eq!(run("p.j2", "${X} {{ messages }}", "", &[]), [] as [&str; 0]);
        assert_eq!(
            run("p.txt", "{% if 1 %}${X}{% endif %}", "", &[]),
            [] as [&str; 0]
        );
        assert_eq!(
            run("p.txt", "{{ messages }}", "", &[]),
            ["p.txt:1:4: undeclared template variable \"messages\""]
        );
    }

    #[test]
    fn crlf_unicode_and_a_byte_order_mark_keep_editor_columns() {
        assert_eq!(
            run(
                "p.txt",
                "\u{feff}línea\r\n«{{ grüße }}» {{ x }}\r\n",
                "grüße: hallo\n",
                &[]
            ),
            ["p.txt:2:18: undeclared template variable \"x\""]
        );
    }

    #[test]
    fn a_template_jinja_cannot_read_is_a_finding() {
        assert_eq!(
            run("p.j2", "ok\n  {{ name ", "", &[]),
            ["p.j2:2:3: \"{{\" is never closed"]
        );
    }

    /// The chat templates models ship with (tokenizer_config.json), with the special tokens
    /// they use declared.
    #[test]
    fn real_chat_templates_lint_clean() {
        const MISTRAL: &str = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";
        const LLAMA_3: &str = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
        const LLAMA_3_1: &str =
            include_str!("../../tests/fixtures/prompts/llama-3.1-instruct.jinja");
        let vars = "bos_token: \"<s>\"\neos_token: \"</s>\"\n";
        for template in [MISTRAL, LLAMA_3, LLAMA_3_1] {
            assert_eq!(run("chat.jinja", template, vars, &[]), [] as [&str; 0]);
        }
        assert_eq!(
            run("chat.jinja", MISTRAL, "bos_token: \"<s>\"\n", &[]),
            [
                "chat.jinja:1:358: undeclared template variable \"eos_token\" (did you mean \"bos_token\"?)"
            ]
        );
    }

    #[test]
    fn the_check_reason_counts_the_rest() {
        let finding = |line, undeclared| Finding {
            file: PathBuf::from("a.j2"),
            pos: Pos { line, col: 1 },
            message: "undeclared template variable \"x\"".into(),
            undeclared,
        };
        let mut report = Report {
            files: 1,
            placeholders: 1,
            findings: vec![finding(1, true)],
        };
        assert_eq!(
            report.reason().unwrap(),
            "a.j2:1:1: undeclared template variable \"x\""
        );
        report.findings.extend([finding(2, true), finding(3, true)]);
        assert_eq!(
            report.reason().unwrap(),
            "3 undeclared template variables: a.j2:1:1: undeclared template variable \"x\" (and 2 more)"
        );
        report.findings.push(finding(4, false));
        assert!(
            report
                .reason()
                .unwrap()
                .starts_with("4 template problems: ")
        );
        assert_eq!(report.summary(), "1 file, 1 placeholder");
    }
}
