//! `bootgate wait`.

use crate::cli::WaitArgs;
use crate::exit::Exit;

pub async fn run(_args: WaitArgs) -> Exit {
    eprintln!("bootgate wait: not available yet");
    Exit::Failed
}
