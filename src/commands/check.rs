//! `bootgate check`: the same checks for a person or CI, once each, with a ✔/✖ report.

use tokio::time::Instant;

use super::{Execution, execute, exit_for, load, print};
use crate::cli::CheckArgs;
use crate::engine::Mode;
use crate::exit::Exit;
use crate::redact::Redactor;
use crate::report::human;
use crate::signals::Stop;
use crate::suggest;

pub async fn run(args: CheckArgs, mut stop: Stop) -> Exit {
    let started = Instant::now();
    let Ok((mut config, graph)) = load(&args.config.config) else {
        return Exit::BadInput;
    };
    if args.force {
        config.force_manifests();
    }
    let mut selected = vec![args.only.is_empty(); config.checks.len()];
    for name in &args.only {
        match graph.names.iter().position(|n| n == name) {
            Some(i) => selected[i] = true,
            None => {
                crate::stderr::line(&format!(
                    "--only {name}: no such check{}",
                    suggest::hint(name, graph.names.iter().map(String::as_str))
                ));
                return Exit::BadInput;
            }
        }
    }
    let redactor = Redactor::new(config.sensitive.iter().cloned());
    let state = execute(
        Execution {
            config: &config,
            graph: &graph,
            selected,
            mode: if args.wait { Mode::Gate } else { Mode::Once },
            started,
            redactor: redactor.clone(),
            log: args.wait,
        },
        None,
        &mut stop,
    )
    .await;
    print(&redactor.clean(&human::render(&state)));
    exit_for(state.outcome)
}
