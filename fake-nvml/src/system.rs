//! The driver-wide answers: versions, and whether the driver's CUDA library is present.

use crate::config::{Config, number};

pub(crate) fn driver_version(config: &Config) -> String {
    config.text(None, "DRIVER", "550.54.15")
}

/// `FAKE_NVML_CUDA`, as NVML encodes it: `1000 * major + 10 * minor` (12040 is CUDA 12.4).
pub(crate) fn cuda_version(config: &Config) -> i32 {
    config.value(None, "CUDA", 12040, parse_cuda)
}

/// `FAKE_NVML_LIBCUDA=0` models a container given only the `utility` capability: NVML is there,
/// `libcuda.so.1` is not, so the `_v2` CUDA version call cannot load it.
pub(crate) fn has_libcuda(config: &Config) -> bool {
    config.flag(None, "LIBCUDA", true)
}

/// `12040` or `12.4` (a patch level, `12.4.1`, is ignored, as NVML's encoding has no room for it).
fn parse_cuda(text: &str) -> Option<i32> {
    if !text.contains('.') {
        return number(text)?.try_into().ok();
    }
    let mut parts = text.split('.');
    let major: i32 = parts.next()?.parse().ok()?;
    let minor: i32 = parts.next()?.parse().ok()?;
    if !(0..100).contains(&minor) {
        return None;
    }
    major.checked_mul(1000)?.checked_add(minor * 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_versions_in_both_spellings() {
        assert_eq!(parse_cuda("12040"), Some(12040));
        assert_eq!(parse_cuda("12.4"), Some(12040));
        assert_eq!(parse_cuda("11.8.0"), Some(11080));
        assert_eq!(parse_cuda("13.0"), Some(13000));
        assert_eq!(parse_cuda("twelve"), None);
        assert_eq!(parse_cuda("12."), None);
    }
}
