//! `bootgate lint`: prompt templates against their vars file, for CI. Findings go to stdout,
//! one `file:line:col: message` a line, sorted by file and position.

use std::fmt::Write;

use super::print;
use crate::cli::LintArgs;
use crate::config::ProcessEnv;
use crate::exit::Exit;
use crate::lint;

pub fn run(args: LintArgs) -> Exit {
    let inputs = match lint::gather(&args.paths, args.vars.as_deref()) {
        Ok(inputs) => inputs,
        Err(errors) => {
            let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
            crate::report::log::problems(&text.join("\n"));
            return Exit::BadInput;
        }
    };
    // `${VAR}` counts as declared when it is set here: lint with the environment the
    // templates will be rendered with.
    let report = lint::lint(&inputs, &ProcessEnv);
    let mut out = String::new();
    for finding in &report.findings {
        let _ = writeln!(out, "{finding}");
    }
    print(&out);
    if report.findings.is_empty() {
        Exit::Passed
    } else {
        Exit::Failed
    }
}
