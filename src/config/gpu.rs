//! The `gpu` check's part of the config: how many GPUs, which CUDA, how much free memory, which
//! MIG mode, and which XIDs the guard treats as fatal.

use super::fields::{Ctx, Expander, Fields, count, string_list};
use super::units::parse_size;
use super::{GpuSpec, Kind, MigPolicy};
use crate::cuda::{Compat, CudaVersion, DriverVersion};
use crate::echo;

pub const KEYS: &[&str] = &[
    "count",
    "cuda",
    "cuda_compat",
    "driver",
    "free_memory",
    "mig",
    "library",
    "ignore_xids",
    "fatal_xids",
];

/// The XIDs NVIDIA's device plugin ignores: application errors (13 graphics engine exception,
/// 31 memory page fault, 43 stopped processing, 45 preemptive cleanup, 68 video processor
/// exception, 109 context switch timeout), not a sick GPU.
pub const APPLICATION_XIDS: [u64; 6] = [13, 31, 43, 45, 68, 109];

/// What a build without NVML answers for every gpu check, and notes when a config has one.
pub const NO_NVML: &str = "this bootgate build has no NVML support (built without the `nvml` \
                           feature): use the default build for gpu checks";

/// Where the library is looked for when the config names none.
pub const LIBRARY_VAR: &str = "BOOTGATE_NVML_LIBRARY";

pub(super) fn read(f: &mut Fields<'_>, ex: &mut Expander<'_>, cx: &mut Ctx<'_>) -> Option<Kind> {
    let count = f
        .get("count")
        .and_then(|node| count(node, &f.path("count"), 64, cx))
        .unwrap_or(1);
    let cuda = f.parsed("cuda", cx, |text| {
        CudaVersion::parse(text).ok_or_else(|| {
            format!(
                "`{}` is not a CUDA version; write it as \"12.4\" (quoted)",
                echo::value(text)
            )
        })
    });
    let cuda_compat = f.choice_or(
        "cuda_compat",
        &[("strict", Compat::Strict), ("minor", Compat::Minor)],
        Compat::Strict,
        cx,
    );
    let driver = f.parsed("driver", cx, |text| {
        DriverVersion::parse(text).ok_or_else(|| {
            format!(
                "`{}` is not a driver version; write it as \"550.54\" (quoted)",
                echo::value(text)
            )
        })
    });
    let free_memory = f.parsed("free_memory", cx, parse_size);
    let mig = f.choice_or(
        "mig",
        &[
            ("disabled", MigPolicy::Disabled),
            ("enabled", MigPolicy::Enabled),
            ("any", MigPolicy::Any),
        ],
        MigPolicy::Any,
        cx,
    );
    let library = match f.get("library") {
        Some(node) => Some(ex.text(node, "library", cx)?),
        None => cx
            .env
            .var(LIBRARY_VAR)
            .filter(|v| !v.is_empty())
            .map(|v| super::Text {
                written: v.clone(),
                value: v,
            }),
    };
    let mut xids = |key: &str, cx: &mut Ctx<'_>| -> Vec<u64> {
        let Some(node) = f.get(key) else {
            return Vec::new();
        };
        let field = f.path(key);
        string_list(node, &field, cx)
            .into_iter()
            .filter_map(|(text, pos)| match text.parse::<u64>() {
                Ok(xid) if xid > 0 => Some(xid),
                _ => {
                    cx.problem(
                        pos,
                        &field,
                        format!("`{}` is not an XID number", echo::value(&text)),
                    );
                    None
                }
            })
            .collect()
    };
    let mut ignore_xids = APPLICATION_XIDS.to_vec();
    ignore_xids.extend(xids("ignore_xids", cx));
    let fatal_xids = xids("fatal_xids", cx);
    Some(Kind::Gpu(GpuSpec {
        count,
        cuda,
        cuda_compat,
        driver,
        free_memory,
        mig,
        library,
        ignore_xids,
        fatal_xids,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::{Kind, load_with as load};
    use super::*;

    #[test]
    fn reads_every_field() {
        let config = load(
            "checks:\n  gpu:\n    kind: gpu\n    count: 2\n    cuda: \"12.4\"\n    cuda_compat: minor\n    driver: \"550.54\"\n    free_memory: 70GiB\n    mig: disabled\n    on_fail: degrade\n    ignore_xids: [94]\n    fatal_xids: [43]\n",
            &[(LIBRARY_VAR, "/opt/nvidia/libnvidia-ml.so.1")],
        )
        .unwrap();
        let check = &config.checks[0];
        assert_eq!(check.on_fail, super::super::OnFail::Degrade);
        // NVML is not asked ten times a second.
        assert_eq!(check.max_interval, std::time::Duration::from_secs(1));
        // nvmlInit on many GPUs without persistence mode takes seconds.
        assert_eq!(check.attempt_timeout, std::time::Duration::from_secs(60));
        let Kind::Gpu(gpu) = &check.kind else {
            panic!("not a gpu check")
        };
        assert_eq!(gpu.count, 2);
        assert_eq!(gpu.cuda.unwrap().to_string(), "12.4");
        assert_eq!(gpu.cuda_compat, Compat::Minor);
        assert_eq!(gpu.free_memory, Some(70 << 30));
        assert_eq!(gpu.mig, MigPolicy::Disabled);
        assert_eq!(
            gpu.library.as_ref().unwrap().value,
            "/opt/nvidia/libnvidia-ml.so.1"
        );
        assert!(gpu.ignore_xids.contains(&13) && gpu.ignore_xids.contains(&94));
        assert_eq!(gpu.fatal_xids, [43]);
    }

    #[test]
    fn bad_values_are_named_with_a_hint() {
        let problems = load(
            "checks:\n  gpu:\n    kind: gpu\n    count: 0\n    cuda: 12.x\n    mig: disabeld\n    driver: latest\n    ignore_xids: [abc]\n    cuda_compta: minor\n",
            &[],
        )
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "checks.gpu.count: expected a whole number from 1 to 64, found `0`",
                "checks.gpu.cuda: `12.x` is not a CUDA version; write it as \"12.4\" (quoted)",
                "checks.gpu.mig: unknown value `disabeld` (did you mean disabled?); expected disabled, enabled or any",
                "checks.gpu.driver: `latest` is not a driver version; write it as \"550.54\" (quoted)",
                "checks.gpu.ignore_xids: `abc` is not an XID number",
                "checks.gpu: unknown key `cuda_compta` (did you mean cuda_compat?); expected one of: kind, after, on_fail, timeout, attempt_timeout, max_interval, stall_after, watch, count, cuda, cuda_compat, driver, free_memory, mig, library, ignore_xids, fatal_xids",
            ]
        );
    }

    #[test]
    fn degrade_without_a_way_to_degrade_is_noted() {
        let config = load(
            "checks:\n  gpu: {kind: gpu, on_fail: degrade}\n  warmup: {kind: tcp, address: \"127.0.0.1:8000\", after: [gpu]}\n",
            &[],
        )
        .unwrap();
        let notes = config.notes();
        let noted = |start: &str| notes.iter().any(|n| n.starts_with(start));
        assert!(
            noted("checks.gpu: on_fail: degrade needs a timeout shorter than the deadline 10m"),
            "{notes:?}"
        );
        assert!(
            noted(
                "checks.warmup runs after gpu (on_fail: degrade): if gpu degrades, warmup is skipped and the gate fails"
            ),
            "{notes:?}"
        );
    }
}
