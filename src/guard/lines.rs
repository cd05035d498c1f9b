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

impl Line {
    /// The line as the JSON views (`/readyz?format=json`, `/status?format=json`) write it;
    /// why it fails and what it saw only for a client that may see details.
    pub fn json(&self, details: bool) -> serde_json::Value {
        let mut v = serde_json::json!({"name": self.name, "ok": self.ok});
        if let Some(caveat) = self.caveat {
            v[caveat.word()] = true.into();
        }
        if details && !self.ok {
            v["reason"] = self.reason.as_str().into();
        }
        if details && !self.details.is_empty() {
            v["details"] = self.details.clone().into();
        }
        v
    }
}

impl QueryView {
    /// The query's last answer as the JSON views write it; why it failed only for a client
    /// that may see details.
    pub fn json(&self, details: bool) -> serde_json::Value {
        let mut v =
            serde_json::json!({"name": self.name, "ok": self.ok, "latency_ms": self.latency_ms});
        if details && let Some(reason) = &self.reason {
            v["reason"] = reason.as_str().into();
        }
        v
    }
}

/// The config's pins as a JSON object.
pub fn pins_json(pins: &[(String, String)]) -> serde_json::Map<String, serde_json::Value> {
    pins.iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
        .collect()
}
