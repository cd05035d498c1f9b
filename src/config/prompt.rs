//! The `prompt` check's part of the config: which templates, and which vars file declares
//! what they may use.

use super::fields::{Ctx, Expander, Fields, required};
use super::yaml::{Node, Pos, Value};
use super::{Kind, PromptSpec};
use crate::glob;

pub const KEYS: &[&str] = &["paths", "vars"];

pub(super) fn read(
    f: &mut Fields<'_>,
    pos: Pos,
    ex: &mut Expander<'_>,
    cx: &mut Ctx<'_>,
) -> Option<Kind> {
    let vars = match f.get("vars") {
        Some(node) => Some(ex.text(node, "vars", cx)?),
        None => None,
    };
    let node = required(f, "paths", pos, cx)?;
    let field = f.path("paths");
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        Value::Scalar(_) => vec![node],
        _ => {
            cx.problem(
                node.pos,
                &field,
                format!(
                    "expected a list of files or globs, found {}",
                    node.type_name()
                ),
            );
            return None;
        }
    };
    if items.is_empty() {
        cx.problem(
            node.pos,
            &field,
            "no paths; list the templates, e.g. paths: [/etc/prompts/**/*.j2]",
        );
        return None;
    }
    // A path refused is a problem, and a problem refuses the config: the rest are still read,
    // so one run names them all.
    let mut paths = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let key = format!("paths[{i}]");
        let Some(path) = ex.text(item, &key, cx) else {
            continue;
        };
        if path.value.is_empty() && !path.written.contains("${") {
            cx.problem(item.pos, &format!("{field}[{i}]"), "the path is empty");
        } else if let Err(message) = glob::check(&path.value) {
            cx.problem(item.pos, &format!("{field}[{i}]"), message);
        } else {
            paths.push(path);
        }
    }
    Some(Kind::Prompt(PromptSpec { paths, vars }))
}

#[cfg(test)]
mod tests {
    use super::super::{Kind, load_with as load};

    #[test]
    fn reads_paths_and_vars() {
        let config = load(
            "checks:\n  prompts:\n    kind: prompt\n    paths: ['${PROMPTS}/**/*.j2', /etc/prompts/system.txt]\n    vars: /etc/prompts/vars.yaml\n",
            &[("PROMPTS", "/etc/prompts")],
        )
        .unwrap();
        let check = &config.checks[0];
        let Kind::Prompt(prompt) = &check.kind else {
            panic!("not a prompt check")
        };
        assert_eq!(prompt.paths[0].value, "/etc/prompts/**/*.j2");
        assert_eq!(prompt.paths[1].written, "/etc/prompts/system.txt");
        assert_eq!(
            prompt.vars.as_ref().unwrap().value,
            "/etc/prompts/vars.yaml"
        );
        assert_eq!(check.target(), "${PROMPTS}/**/*.j2 /etc/prompts/system.txt");
    }

    #[test]
    fn bad_paths_are_named_with_a_position() {
        let problems = load(
            "checks:\n  a: {kind: prompt}\n  b: {kind: prompt, paths: []}\n  c: {kind: prompt, paths: ['p/[a-z.j2'], var: v.yaml}\n",
            &[],
        )
        .unwrap_err();
        let text: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}: {}", p.pos.unwrap(), p.field, p.message))
            .collect();
        assert_eq!(
            text,
            [
                "2:3: checks.a: missing `paths`",
                "3:28: checks.b.paths: no paths; list the templates, e.g. paths: [/etc/prompts/**/*.j2]",
                "4:29: checks.c.paths[0]: `[` in `[a-z.j2` has no closing `]`",
                "4:43: checks.c: unknown key `var` (did you mean vars?); expected one of: kind, after, on_fail, timeout, attempt_timeout, max_interval, stall_after, watch, paths, vars",
            ]
        );
    }
}
