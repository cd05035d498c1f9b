//! Whether one GPU can serve, from what NVML answered about it. The thresholds are DCGM's
//! defaults, the ones NVIDIA's own health watches use.

use crate::config::{GpuSpec, MigPolicy};
use crate::text::human_bytes;

use super::inventory::{GpuFacts, GpuVerdict};

/// DCGM fails a GPU with this many retired pages (`DCGM_LIMIT_MAX_RETIRED_PAGES`).
pub const RETIRED_PAGES_LIMIT: u64 = 63;
/// DCGM warns from this many uncorrectable row remaps.
pub const UNCORRECTABLE_REMAPS_WARNING: u64 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub total: u64,
    pub free: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Remap {
    pub uncorrectable: u64,
    pub pending: bool,
    pub failed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mig {
    pub enabled: bool,
    pub pending_enabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComputeMode {
    Default,
    ExclusiveThread,
    Prohibited,
    ExclusiveProcess,
}

/// What stands in the way, and whether waiting can clear all of it.
#[derive(Debug, Default)]
pub struct Problems {
    pub lines: Vec<String>,
    any_fatal: bool,
}

impl Problems {
    /// A problem no wait will fix.
    pub fn fatal(&mut self, text: impl Into<String>) {
        self.any_fatal = true;
        self.lines.push(text.into());
    }

    /// A problem time may clear (memory another process holds).
    pub fn wait(&mut self, text: impl Into<String>) {
        self.lines.push(text.into());
    }

    pub fn transient(&self) -> bool {
        !self.any_fatal
    }
}

/// NVML's answers about one GPU; `None` where the query could not be answered.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    pub index: u32,
    pub uuid: Option<String>,
    pub name: Option<String>,
    /// Why the GPU cannot be used at all: its handle did not open, or a query said it is lost.
    pub broken: Option<String>,
    pub memory: Option<Memory>,
    /// Why memory could not be read, when it could not.
    pub memory_error: Option<String>,
    pub uncorrectable_ecc: Option<u64>,
    pub retired_pages: Option<u64>,
    pub retirement_pending: Option<bool>,
    pub remap: Option<Remap>,
    pub recovery_action: Option<u64>,
    pub mig: Option<Mig>,
    pub compute_mode: Option<ComputeMode>,
    pub unknown: Vec<&'static str>,
}

pub fn evaluate(reading: Reading, spec: &GpuSpec) -> GpuFacts {
    let mut problems = Problems::default();
    let mut warnings = Vec::new();
    if let Some(broken) = &reading.broken {
        problems.fatal(broken.clone());
    }
    if let Some(n) = reading.uncorrectable_ecc.filter(|&n| n > 0) {
        let s = if n == 1 { "" } else { "s" };
        problems.fatal(format!(
            "{n} uncorrectable ECC error{s} since boot — drain the node"
        ));
    }
    if let Some(n) = reading.retired_pages.filter(|&n| n >= RETIRED_PAGES_LIMIT) {
        problems.fatal(format!(
                "{n} retired memory pages (limit {RETIRED_PAGES_LIMIT}) — the GPU needs replacing: drain the node"
            ),
        );
    }
    if reading.retirement_pending == Some(true) {
        warnings.push("a page retirement is pending: a GPU reset applies it".to_string());
    }
    if let Some(remap) = reading.remap {
        if remap.failed {
            problems.fatal(
                "a row remapping failed — the GPU needs service: drain the node".to_string(),
            );
        } else if remap.pending {
            warnings.push("a row remapping is pending: a GPU reset applies it".to_string());
        }
        if remap.uncorrectable >= UNCORRECTABLE_REMAPS_WARNING {
            warnings.push(format!(
                "{} rows remapped for uncorrectable errors",
                remap.uncorrectable
            ));
        }
    }
    match reading.recovery_action {
        Some(1) => problems.fatal(
            "the driver asks for a GPU reset — drain the node and reset the GPU".to_string(),
        ),
        Some(2) => problems
            .fatal("the driver asks for a node reboot — drain and reboot the node".to_string()),
        Some(3) => warnings.push("the driver asks to drain peer-to-peer traffic".to_string()),
        Some(4) => problems
            .fatal("the driver asks to drain the GPU and reset it — drain the node".to_string()),
        _ => {}
    }
    if let Some(mig) = reading.mig {
        let word = |on: bool| if on { "enabled" } else { "disabled" };
        let wanted = match spec.mig {
            MigPolicy::Disabled => Some(false),
            MigPolicy::Enabled => Some(true),
            MigPolicy::Any => None,
        };
        if let Some(wanted) = wanted
            && mig.enabled != wanted
        {
            problems.fatal(format!(
                "MIG mode is {}; this check needs it {} (mig: {})",
                word(mig.enabled),
                word(wanted),
                word(wanted)
            ));
        } else if mig.pending_enabled != mig.enabled {
            let text = format!(
                "a MIG mode change is pending a GPU reset ({} now, {} after the reset)",
                word(mig.enabled),
                word(mig.pending_enabled)
            );
            if wanted.is_some() {
                problems.fatal(text);
            } else {
                warnings.push(text);
            }
        }
    } else if spec.mig == MigPolicy::Enabled {
        problems.fatal(
            "MIG mode is unknown (the GPU or driver cannot say); this check needs it enabled"
                .to_string(),
        );
    }
    if reading.compute_mode == Some(ComputeMode::Prohibited) {
        problems.fatal(format!(
                "compute mode is Prohibited: no process may use it — set it to Default (nvidia-smi -i {} -c DEFAULT)",
                reading.index
            ),
        );
    }
    if let Some(need) = spec.free_memory {
        match reading.memory {
            Some(memory) if memory.free < need => problems.wait(format!(
                "{} free of {}, needs {} — another process holds GPU memory",
                human_bytes(memory.free),
                human_bytes(memory.total),
                human_bytes(need)
            )),
            Some(_) => {}
            // A MIG parent's memory is per instance, and unprivileged containers cannot read
            // the aggregate.
            None if reading.mig.is_some_and(|m| m.enabled) => warnings.push(
                "free memory not checked: with MIG enabled it belongs to the MIG instances"
                    .to_string(),
            ),
            None if reading.broken.is_none() => problems.fatal(format!(
                "cannot read its free memory ({})",
                reading.memory_error.as_deref().unwrap_or("no answer")
            )),
            None => {}
        }
    }
    let transient = problems.transient();
    let problems = problems.lines;
    let verdict = if !problems.is_empty() {
        GpuVerdict::Unusable
    } else if !warnings.is_empty() {
        GpuVerdict::Warning
    } else {
        GpuVerdict::Ok
    };
    GpuFacts {
        index: reading.index,
        uuid: reading.uuid,
        name: reading.name,
        memory_total: reading.memory.map(|m| m.total),
        memory_free: reading.memory.map(|m| m.free),
        verdict,
        problems,
        warnings,
        unknown: reading.unknown.into_iter().map(String::from).collect(),
        transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cuda::Compat;

    fn spec() -> GpuSpec {
        GpuSpec {
            count: 1,
            cuda: None,
            cuda_compat: Compat::Strict,
            driver: None,
            free_memory: None,
            mig: MigPolicy::Any,
            library: None,
            ignore_xids: Vec::new(),
            fatal_xids: Vec::new(),
        }
    }

    #[test]
    fn unknown_answers_are_never_held_against_a_gpu() {
        let facts = evaluate(
            Reading {
                unknown: vec!["ecc", "remapped rows", "recovery action"],
                ..Reading::default()
            },
            &spec(),
        );
        assert_eq!(facts.verdict, GpuVerdict::Ok);
    }

    #[test]
    fn dcgm_thresholds() {
        let sick = |reading: Reading| evaluate(reading, &spec()).verdict;
        assert_eq!(
            sick(Reading {
                retired_pages: Some(62),
                ..Reading::default()
            }),
            GpuVerdict::Ok
        );
        assert_eq!(
            sick(Reading {
                retired_pages: Some(63),
                ..Reading::default()
            }),
            GpuVerdict::Unusable
        );
        assert_eq!(
            sick(Reading {
                remap: Some(Remap {
                    pending: true,
                    ..Remap::default()
                }),
                ..Reading::default()
            }),
            GpuVerdict::Warning
        );
        assert_eq!(
            sick(Reading {
                recovery_action: Some(3),
                ..Reading::default()
            }),
            GpuVerdict::Warning
        );
        assert_eq!(
            sick(Reading {
                recovery_action: Some(1),
                ..Reading::default()
            }),
            GpuVerdict::Unusable
        );
    }

    #[test]
    fn unreadable_memory_fails_unless_mig_owns_it() {
        let need = GpuSpec {
            free_memory: Some(1 << 30),
            ..spec()
        };
        let plain = evaluate(Reading::default(), &need);
        assert_eq!(plain.verdict, GpuVerdict::Unusable);
        let mig = evaluate(
            Reading {
                mig: Some(Mig {
                    enabled: true,
                    pending_enabled: true,
                }),
                ..Reading::default()
            },
            &need,
        );
        assert_eq!(mig.verdict, GpuVerdict::Warning, "{:?}", mig.problems);
    }

    #[test]
    fn only_short_memory_is_worth_waiting_for() {
        let need = GpuSpec {
            free_memory: Some(70 << 30),
            ..spec()
        };
        let memory = Some(Memory {
            total: 80 << 30,
            free: 10 << 30,
        });
        let short = evaluate(
            Reading {
                memory,
                ..Reading::default()
            },
            &need,
        );
        assert!(short.transient && short.verdict == GpuVerdict::Unusable);
        let also_ecc = evaluate(
            Reading {
                memory,
                uncorrectable_ecc: Some(2),
                ..Reading::default()
            },
            &need,
        );
        assert!(!also_ecc.transient);
    }
}
