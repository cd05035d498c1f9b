//! What the gpu check saw, GPU by GPU: the part of status.json, `check` and the guard's state
//! that names each GPU by index and UUID with its driver, CUDA, memory and verdict.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::text::human_bytes;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The newest CUDA the driver supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda: Option<String>,
    /// Who said so: `libcuda` (NVML's v2 call), `nvml` (the v1 call, when the container has no
    /// libcuda.so.1) or `driver table`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_source: Option<String>,
    pub visible: u32,
    pub gpus: Vec<GpuFacts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuVerdict {
    Ok,
    /// Usable, with something to look at.
    Warning,
    Unusable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuFacts {
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_free: Option<u64>,
    pub verdict: GpuVerdict,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Health queries this driver or GPU cannot answer: unknown, never held against it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
    /// Every problem is one that waiting can fix (memory another process holds).
    #[serde(skip)]
    pub transient: bool,
}

impl GpuFacts {
    /// `GPU 1 (GPU-8c1f…)`: the index CUDA uses and the UUID `nvidia-smi` shows.
    pub fn label(&self) -> String {
        match &self.uuid {
            Some(uuid) => format!("GPU {} ({uuid})", self.index),
            None => format!("GPU {}", self.index),
        }
    }

    pub fn memory(&self) -> Option<String> {
        match (self.memory_free, self.memory_total) {
            (Some(free), Some(total)) => Some(format!(
                "{} free of {}",
                human_bytes(free),
                human_bytes(total)
            )),
            _ => None,
        }
    }
}

impl Inventory {
    /// One line per GPU for people, e.g. for `bootgate check`.
    pub fn lines(&self) -> Vec<String> {
        self.gpus
            .iter()
            .map(|g| {
                let mut line = g.label();
                if let Some(name) = &g.name {
                    let _ = write!(line, " {name}");
                }
                if let Some(memory) = g.memory() {
                    let _ = write!(line, ", {memory}");
                }
                match g.verdict {
                    GpuVerdict::Ok => line.push_str(": ok"),
                    GpuVerdict::Warning => {
                        let _ = write!(line, ": ok, warning: {}", g.warnings.join("; "));
                    }
                    GpuVerdict::Unusable => {
                        let _ = write!(line, ": unusable: {}", g.problems.join("; "));
                    }
                }
                if !g.unknown.is_empty() {
                    let _ = write!(line, " (unknown: {})", g.unknown.join(", "));
                }
                line
            })
            .collect()
    }

    /// `driver 550.54.15, CUDA 12.4`.
    pub fn platform(&self) -> String {
        let mut parts = Vec::new();
        if let Some(driver) = &self.driver {
            parts.push(format!("driver {driver}"));
        }
        if let Some(cuda) = &self.cuda {
            parts.push(format!("CUDA {cuda}"));
        }
        parts.join(", ")
    }
}
