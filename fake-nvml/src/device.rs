//! One fake GPU: the opaque handle callers hold for it, and its properties as the configuration
//! describes them, with the defaults of an idle, healthy H100.

use crate::abi;
use crate::config::{Config, list, number};

/// More than any real node has; a larger `FAKE_NVML_GPUS` is clamped to it.
pub(crate) const MAX_GPUS: u32 = 64;

/// One byte per possible GPU. A handle is the address of its GPU's byte: stable for as long as
/// the library is loaded, distinct per GPU, and mapped back to an index by subtraction. The
/// bytes are never read or written through a handle.
static TOKENS: [u8; MAX_GPUS as usize] = [0; MAX_GPUS as usize];

pub(crate) fn handle(index: u32) -> abi::Device {
    TOKENS
        .as_ptr()
        .wrapping_add(index as usize)
        .cast::<abi::DeviceSt>()
        .cast_mut()
}

/// The GPU a handle stands for, or `None` for anything this library did not hand out.
pub(crate) fn index_of(handle: abi::Device) -> Option<u32> {
    let offset = handle.addr().checked_sub(TOKENS.as_ptr().addr())?;
    if offset < TOKENS.len() {
        u32::try_from(offset).ok()
    } else {
        None
    }
}

/// `FAKE_NVML_GPUS`, default 1.
pub(crate) fn count(config: &Config) -> u32 {
    let wanted = config.number32(None, "GPUS", 1);
    if wanted > MAX_GPUS {
        config.warn(format!(
            "FAKE_NVML_GPUS={wanted} is more than {MAX_GPUS}; using {MAX_GPUS}"
        ));
    }
    wanted.min(MAX_GPUS)
}

/// Retired pages are returned in arrays the caller allocates; a typo of a few zeros should not
/// turn into gigabytes there.
const MAX_RETIRED_PAGES: u64 = 1 << 16;

/// GPU `index` as the configuration describes it.
pub(crate) struct Gpu<'a> {
    pub(crate) config: &'a Config,
    pub(crate) index: u32,
}

pub(crate) struct Memory {
    pub(crate) total: u64,
    pub(crate) reserved: u64,
    pub(crate) used: u64,
}

impl Memory {
    pub(crate) fn free(&self) -> u64 {
        self.total
            .saturating_sub(self.reserved)
            .saturating_sub(self.used)
    }
}

pub(crate) struct RetiredPage {
    pub(crate) address: u64,
    pub(crate) timestamp: u64,
}

pub(crate) struct Remap {
    pub(crate) corrected: u32,
    pub(crate) uncorrected: u32,
    pub(crate) pending: bool,
    pub(crate) failure: bool,
}

/// Field ids with a meaning of their own here (nvml.h `NVML_FI_DEV_*`).
const FI_REMAPPED_COR: u32 = 142;
const FI_REMAPPED_UNC: u32 = 143;
const FI_REMAPPED_PENDING: u32 = 144;
const FI_REMAPPED_FAILURE: u32 = 145;
const FI_GPU_RECOVERY_ACTION: u32 = 230;

impl Gpu<'_> {
    fn key(&self) -> Option<u32> {
        Some(self.index)
    }

    fn number(&self, key: &str, default: u64) -> u64 {
        self.config.number(self.key(), key, default)
    }

    fn number32(&self, key: &str, default: u32) -> u32 {
        self.config.number32(self.key(), key, default)
    }

    fn flag(&self, key: &str, default: bool) -> bool {
        self.config.flag(self.key(), key, default)
    }

    /// `LOST=1`: the GPU fell off the bus; every call about it answers GPU_IS_LOST.
    pub(crate) fn lost(&self) -> bool {
        self.flag("LOST", false)
    }

    pub(crate) fn name(&self) -> String {
        self.config
            .text(self.key(), "NAME", "NVIDIA H100 80GB HBM3")
    }

    pub(crate) fn uuid(&self) -> String {
        let default = format!("GPU-00000000-fake-4e56-b1d0-{:012x}", self.index);
        self.config.text(self.key(), "UUID", default)
    }

    pub(crate) fn memory(&self) -> Memory {
        let mib = |key, default| self.number(key, default).saturating_mul(1 << 20);
        Memory {
            total: mib("MEM_TOTAL_MIB", 81559),
            reserved: mib("MEM_RESERVED_MIB", 0),
            used: mib("MEM_USED_MIB", 0),
        }
    }

    pub(crate) fn compute_mode(&self) -> u32 {
        self.config
            .value(self.key(), "COMPUTE_MODE", 0, parse_compute_mode)
    }

    /// `None` when the board has no ECC memory (`ECC_SUPPORTED=0`).
    pub(crate) fn ecc_errors(&self, uncorrected: bool, aggregate: bool) -> Option<u64> {
        if !self.flag("ECC_SUPPORTED", true) {
            return None;
        }
        let key = match (uncorrected, aggregate) {
            (false, false) => "ECC_CORRECTED_VOLATILE",
            (true, false) => "ECC_UNCORRECTED_VOLATILE",
            (false, true) => "ECC_CORRECTED_AGGREGATE",
            (true, true) => "ECC_UNCORRECTED_AGGREGATE",
        };
        Some(self.number(key, 0))
    }

    /// Pages retired for single-bit (`RETIRED_SBE`) or double-bit (`RETIRED_DBE`) errors, with
    /// made-up addresses distinct across causes and GPUs. `None` when `RETIRED_SUPPORTED=0`.
    pub(crate) fn retired_pages(&self, double_bit: bool) -> Option<Vec<RetiredPage>> {
        if !self.flag("RETIRED_SUPPORTED", true) {
            return None;
        }
        let (key, base) = if double_bit {
            ("RETIRED_DBE", 0x4000_0000)
        } else {
            ("RETIRED_SBE", 0x0010_0000)
        };
        let mut wanted = self.number(key, 0);
        if wanted > MAX_RETIRED_PAGES {
            self.config.warn(format!(
                "GPU {} {key}={wanted} is more than {MAX_RETIRED_PAGES}; using {MAX_RETIRED_PAGES}",
                self.index
            ));
            wanted = MAX_RETIRED_PAGES;
        }
        let gpu_base = u64::from(self.index) << 36;
        Some(
            (0..wanted)
                .map(|k| RetiredPage {
                    address: gpu_base + base + k * 0x1000,
                    timestamp: 1_700_000_000 + k,
                })
                .collect(),
        )
    }

    pub(crate) fn retirement_pending(&self) -> Option<bool> {
        self.flag("RETIRED_SUPPORTED", true)
            .then(|| self.flag("RETIRED_PENDING", false))
    }

    /// Row remapping (Ampere and later); `None` when `REMAP_SUPPORTED=0`.
    pub(crate) fn remap(&self) -> Option<Remap> {
        if !self.flag("REMAP_SUPPORTED", true) {
            return None;
        }
        Some(Remap {
            corrected: self.number32("REMAP_CORR", 0),
            uncorrected: self.number32("REMAP_UNC", 0),
            pending: self.flag("REMAP_PENDING", false),
            failure: self.flag("REMAP_FAILURE", false),
        })
    }

    /// (current, pending), 1 meaning enabled; `None` when `MIG_SUPPORTED=0`.
    pub(crate) fn mig_mode(&self) -> Option<(u32, u32)> {
        if !self.flag("MIG_SUPPORTED", true) {
            return None;
        }
        let current = self.flag("MIG", false);
        Some((
            u32::from(current),
            u32::from(self.flag("MIG_PENDING", current)),
        ))
    }

    /// The value of a field id, `None` for one this fake knows nothing about. `FIELD_<id>` wins
    /// over every derived value, so a test can pin any field.
    pub(crate) fn field(&self, id: u32) -> Option<u64> {
        let pinned = self
            .config
            .value(self.key(), &format!("FIELD_{id}"), None, |v| {
                number(v).map(Some)
            });
        if pinned.is_some() {
            return pinned;
        }
        let remap = || self.remap();
        match id {
            FI_GPU_RECOVERY_ACTION => Some(self.number("RECOVERY_ACTION", 0)),
            FI_REMAPPED_COR => remap().map(|r| r.corrected.into()),
            FI_REMAPPED_UNC => remap().map(|r| r.uncorrected.into()),
            FI_REMAPPED_PENDING => remap().map(|r| r.pending.into()),
            FI_REMAPPED_FAILURE => remap().map(|r| r.failure.into()),
            _ => None,
        }
    }

    /// `nvmlEventType*` bits this GPU can report; default single-bit ECC, double-bit ECC, XID.
    pub(crate) fn event_types(&self) -> u64 {
        self.config.mask(self.key(), "EVENT_TYPES", 0x1 | 0x2 | 0x8)
    }

    /// The critical XIDs this GPU has raised, oldest first (`XID=79,48`).
    pub(crate) fn xids(&self) -> Vec<u64> {
        self.config.value(self.key(), "XID", Vec::new(), list)
    }
}

/// `0`-`3` or the `nvmlComputeMode_t` name in any spelling: `EXCLUSIVE_PROCESS`,
/// `ExclusiveProcess`, `NVML_COMPUTEMODE_PROHIBITED`.
fn parse_compute_mode(text: &str) -> Option<u32> {
    if let Some(n) = number(text) {
        return u32::try_from(n).ok().filter(|n| *n <= 3);
    }
    match squash(text).trim_start_matches("NVMLCOMPUTEMODE") {
        "DEFAULT" => Some(0),
        "EXCLUSIVETHREAD" => Some(1),
        "PROHIBITED" => Some(2),
        "EXCLUSIVEPROCESS" => Some(3),
        _ => None,
    }
}

/// Upper case without separators, so the spellings of one name compare equal.
fn squash(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_map_back_to_their_index() {
        for index in [0, 1, MAX_GPUS - 1] {
            assert_eq!(index_of(handle(index)), Some(index));
        }
        assert_eq!(index_of(handle(MAX_GPUS)), None);
        assert_eq!(index_of(std::ptr::null_mut()), None);
    }

    #[test]
    fn defaults_are_a_healthy_h100_with_distinct_identities() {
        let config = Config::from_lines("");
        let (a, b) = (
            Gpu {
                config: &config,
                index: 0,
            },
            Gpu {
                config: &config,
                index: 9,
            },
        );
        assert_eq!(a.uuid(), "GPU-00000000-fake-4e56-b1d0-000000000000");
        assert_ne!(a.uuid(), b.uuid());
        assert_eq!(a.memory().free(), 81559 << 20);
        assert_eq!(a.mig_mode(), Some((0, 0)));
        assert_eq!(a.field(230), Some(0));
        assert_eq!(a.field(1), None);
    }

    #[test]
    fn memory_free_never_underflows() {
        let config = Config::from_lines(
            "FAKE_NVML_MEM_TOTAL_MIB=100\nFAKE_NVML_MEM_RESERVED_MIB=60\nFAKE_NVML_MEM_USED_MIB=60",
        );
        assert_eq!(
            Gpu {
                config: &config,
                index: 0
            }
            .memory()
            .free(),
            0
        );
    }

    #[test]
    fn modes_accept_names_and_numbers() {
        assert_eq!(parse_compute_mode("3"), Some(3));
        assert_eq!(parse_compute_mode("ExclusiveProcess"), Some(3));
        assert_eq!(parse_compute_mode("NVML_COMPUTEMODE_PROHIBITED"), Some(2));
        assert_eq!(parse_compute_mode("4"), None);
    }

    #[test]
    fn fields_derive_from_remap_keys_unless_pinned() {
        let config = Config::from_lines(
            "FAKE_NVML_GPU0_REMAP_UNC=3\nFAKE_NVML_GPU0_FIELD_143=7\nFAKE_NVML_GPU1_REMAP_SUPPORTED=0",
        );
        assert_eq!(
            Gpu {
                config: &config,
                index: 0
            }
            .field(143),
            Some(7)
        );
        assert_eq!(
            Gpu {
                config: &config,
                index: 1
            }
            .field(142),
            None
        );
        assert_eq!(
            Gpu {
                config: &config,
                index: 2
            }
            .field(145),
            Some(0)
        );
    }

    #[test]
    fn retired_pages_are_distinct() {
        let config = Config::from_lines("FAKE_NVML_RETIRED_SBE=3\nFAKE_NVML_RETIRED_DBE=2");
        let gpu = Gpu {
            config: &config,
            index: 0,
        };
        let mut addresses: Vec<u64> = (gpu.retired_pages(false).unwrap_or_default().into_iter())
            .chain(gpu.retired_pages(true).unwrap_or_default())
            .map(|page| page.address)
            .collect();
        assert_eq!(addresses.len(), 5);
        addresses.sort_unstable();
        addresses.dedup();
        assert_eq!(addresses.len(), 5);
    }
}
