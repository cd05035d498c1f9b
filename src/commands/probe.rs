//! `bootgate probe`.

use crate::cli::ProbeArgs;
use crate::exit::Exit;

pub async fn run(_args: ProbeArgs) -> Exit {
    eprintln!("bootgate probe: not available yet");
    Exit::Failed
}
