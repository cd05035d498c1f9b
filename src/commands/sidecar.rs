//! `bootgate sidecar`.

use crate::cli::SidecarArgs;
use crate::exit::Exit;

pub async fn run(_args: SidecarArgs) -> Exit {
    eprintln!("bootgate sidecar: not available yet");
    Exit::Failed
}
