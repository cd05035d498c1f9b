//! What `/readyz` shows, as data: the lines the model decides and the server renders, and each
//! sentinel query's last answer. Below both, so neither imports the other for them.

/// One line of `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub name: String,
    pub ok: bool,
    pub reason: String,
    /// Ok for readiness, but not cleanly: said beside `ok` wherever the line is shown.
    pub caveat: Option<Caveat>,
    /// What the check saw, a line each (a gpu check's GPUs); shown where reasons are.
    pub details: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caveat {
    /// A gate check that failed with `on_fail: degrade`: the server runs in a safe mode.
    Degraded,
    /// A gate check that passed only because of `force`.
    Forced,
    /// A model server that sleeps and wakes on a request.
    Sleeping,
}

impl Caveat {
    pub fn word(self) -> &'static str {
        match self {
            Caveat::Degraded => "degraded",
            Caveat::Forced => "forced",
            Caveat::Sleeping => "sleeping",
        }
    }
}

/// A sentinel query's last answer.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryView {
    pub name: String,
    pub ok: bool,
    pub latency_ms: f64,
    pub reason: Option<String>,
}

/// A finished sentinel round, as a status page charts it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundMark {
    pub ended: tokio::time::Instant,
    pub latency_ms: f64,
    pub passed: bool,
}

/// Where the sentinel's current run of rounds stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreakView {
    pub ok: bool,
    pub passes: u32,
    pub fails: u32,
}
