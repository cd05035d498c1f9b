//! `bootgate validate`: is the config sound, and in what order will the checks run?

use super::load;
use crate::cli::ConfigArg;
use crate::config::units::human_duration;
use crate::exit::Exit;

pub fn run(args: ConfigArg) -> Exit {
    let (config, graph) = match load(&args.config) {
        Ok(loaded) => loaded,
        Err(exit) => return exit,
    };
    let levels = graph.levels();
    println!(
        "{}: valid — {} checks, deadline {}, state_dir {}",
        config.source.display(),
        config.checks.len(),
        human_duration(config.deadline),
        config.state_dir.display()
    );
    println!("order (checks on one line run at once):");
    for (depth, level) in levels.iter().enumerate() {
        let names: Vec<&str> = level.iter().map(|&i| graph.names[i].as_str()).collect();
        println!("  {}. {}", depth + 1, names.join(", "));
    }
    Exit::Passed
}
