//! Exit codes: the contract with the kubelet, CI and the people reading `kubectl describe`.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every required check passed.
    Passed,
    /// A check failed, an input is missing, or the deadline passed.
    Failed,
    /// Bad config or arguments: nothing was run.
    BadInput,
    /// SIGTERM or SIGINT arrived before the gate finished.
    Interrupted,
    /// `run -- CMD`: the command's own exit code (128 + N when a signal N ended it).
    Child(u8),
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(match exit {
            Exit::Passed => 0,
            Exit::Failed => 1,
            Exit::BadInput => 2,
            Exit::Interrupted => 3,
            Exit::Child(code) => code,
        })
    }
}
