//! Views of the gate's state for people and machines: log lines, status.json, the termination
//! message, the `check` report, and `explain`'s plain words.

pub mod explain;
pub mod human;
pub mod log;
pub mod safe_mode;
pub mod status;
pub mod termination;
