//! `bootgate validate`: is the config sound, and in what order will the checks run?

use std::fmt::Write;

use super::{load, print};
use crate::cli::ConfigArg;
use crate::config::{self, Config, units::human_duration};
use crate::exit::Exit;
use crate::graph::Graph;

pub fn run(args: ConfigArg) -> Exit {
    let Ok((config, graph)) = load(&args.config) else {
        return Exit::BadInput;
    };
    print(&report(&config, &graph));
    Exit::Passed
}

/// What `validate` prints of a sound config: its summary, the order the checks run in, and a
/// note for each setting that is valid but probably not what was meant.
pub fn report(config: &Config, graph: &Graph) -> String {
    let mut out = format!(
        "{}: valid — {} check{}, deadline {}, state_dir {}\norder (checks on one line run at once):\n",
        config::shown(&config.source),
        config.checks.len(),
        if config.checks.len() == 1 { "" } else { "s" },
        human_duration(config.deadline),
        config::shown(&config.state_dir)
    );
    for (depth, level) in graph.levels().iter().enumerate() {
        let names: Vec<&str> = level.iter().map(|&i| graph.names[i].as_str()).collect();
        let _ = writeln!(out, "  {}. {}", depth + 1, names.join(", "));
    }
    let notes = config.notes().into_iter().chain(
        graph
            .warn_orderings(&config.checks)
            .into_iter()
            .chain(graph.warn_waits_past(&config.checks, config.deadline)),
    );
    for note in notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}
