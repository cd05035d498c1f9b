//! Exit codes: the contract with the kubelet, CI and the people reading `kubectl describe`.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every required check passed.
    Passed = 0,
    /// A check failed, an input is missing, or the deadline passed.
    Failed = 1,
    /// Bad config or arguments: nothing was run.
    BadInput = 2,
    /// SIGTERM or SIGINT arrived before the gate finished.
    Interrupted = 3,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}
