//! `bootgate sidecar`: the guard alone, as a native sidecar next to the model server.

use super::load;
use crate::checks::{Shared, secret};
use crate::cli::SidecarArgs;
use crate::config::ProcessEnv;
use crate::exit::Exit;
use crate::redact::Redactor;
use crate::signals::Stop;

pub async fn run(args: SidecarArgs, mut stop: Stop) -> Exit {
    let Ok((config, _graph)) = load(&args.config.config) else {
        // Not serving: the marker of an earlier sidecar must go. The gate's files stay; the
        // server may still need its `env`.
        if let Some(dir) = crate::config::state_dir_of(&args.config.config, &ProcessEnv) {
            crate::statedir::clear_after_invalid_config(&dir, &[crate::statedir::READY]);
        }
        return Exit::BadInput;
    };
    let redactor = Redactor::new(config.sensitive.iter().cloned());
    // Secret files may be echoed back by the model server; learn them before the first round.
    let shared = Shared::new(&config, redactor.clone(), true);
    secret::remember_files(&config.checks, &shared).await;
    for check in &config.checks {
        if check.watch && matches!(check.kind, crate::config::Kind::Gpu(_)) {
            tracing::warn!(
                "checks.{}: a sidecar sees only the GPUs requested for its own container, not the server's; run the XID watch in the server container (bootgate run -- <server>) or share a DRA claim (docs/gpu.md)",
                check.name
            );
        }
    }
    crate::guard::run(&config, redactor, &mut stop).await
}
