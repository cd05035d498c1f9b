//! NVML's return codes: their numbers, their names (as a test writes them in a variable) and the
//! text `nvmlErrorString` gives for them.

use std::ffi::CStr;

use crate::abi::Return;

pub(crate) const SUCCESS: Return = 0;
pub(crate) const UNINITIALIZED: Return = 1;
pub(crate) const INVALID_ARGUMENT: Return = 2;
pub(crate) const NOT_SUPPORTED: Return = 3;
pub(crate) const INSUFFICIENT_SIZE: Return = 7;
pub(crate) const DRIVER_NOT_LOADED: Return = 9;
pub(crate) const TIMEOUT: Return = 10;
pub(crate) const LIBRARY_NOT_FOUND: Return = 12;
pub(crate) const GPU_IS_LOST: Return = 15;
pub(crate) const ARGUMENT_VERSION_MISMATCH: Return = 25;
pub(crate) const UNKNOWN: Return = 999;

/// Number, name without the `NVML_ERROR_` prefix, and `nvmlErrorString` text.
const TABLE: [(Return, &str, &CStr); 32] = [
    (0, "SUCCESS", c"Success"),
    (1, "UNINITIALIZED", c"Uninitialized"),
    (2, "INVALID_ARGUMENT", c"Invalid Argument"),
    (3, "NOT_SUPPORTED", c"Not Supported"),
    (4, "NO_PERMISSION", c"Insufficient Permissions"),
    (5, "ALREADY_INITIALIZED", c"Already Initialized"),
    (6, "NOT_FOUND", c"Not Found"),
    (7, "INSUFFICIENT_SIZE", c"Insufficient Size"),
    (8, "INSUFFICIENT_POWER", c"Insufficient External Power"),
    (9, "DRIVER_NOT_LOADED", c"Driver Not Loaded"),
    (10, "TIMEOUT", c"Timeout"),
    (11, "IRQ_ISSUE", c"Interrupt Request Issue"),
    (12, "LIBRARY_NOT_FOUND", c"NVML Shared Library Not Found"),
    (13, "FUNCTION_NOT_FOUND", c"Function Not Found"),
    (14, "CORRUPTED_INFOROM", c"Corrupted infoROM"),
    (15, "GPU_IS_LOST", c"GPU is lost"),
    (16, "RESET_REQUIRED", c"GPU requires restart"),
    (
        17,
        "OPERATING_SYSTEM",
        c"The operating system has blocked the request.",
    ),
    (
        18,
        "LIB_RM_VERSION_MISMATCH",
        c"RM has detected an NVML/RM version mismatch.",
    ),
    (19, "IN_USE", c"In use by another client"),
    (20, "MEMORY", c"Insufficient Memory"),
    (21, "NO_DATA", c"No data"),
    (
        22,
        "VGPU_ECC_NOT_SUPPORTED",
        c"Requested vgpu operation not available with ECC enabled",
    ),
    (23, "INSUFFICIENT_RESOURCES", c"Insufficient Resources"),
    (24, "FREQ_NOT_SUPPORTED", c"Frequency not supported"),
    (
        25,
        "ARGUMENT_VERSION_MISMATCH",
        c"Argument version mismatch",
    ),
    (26, "DEPRECATED", c"Deprecated"),
    (27, "NOT_READY", c"Not ready"),
    (28, "GPU_NOT_FOUND", c"GPU not found"),
    (29, "INVALID_STATE", c"Invalid state"),
    (30, "RESET_TYPE_NOT_SUPPORTED", c"Reset type not supported"),
    (999, "UNKNOWN", c"Unknown Error"),
];

/// Reads a code written as a number (`28`) or a name, with or without the `NVML_ERROR_` prefix
/// and in any case (`gpu_is_lost`, `NVML_ERROR_GPU_IS_LOST`, `NVML_SUCCESS`). Any number is
/// accepted, so a test can also return codes newer than this table.
pub(crate) fn parse(text: &str) -> Option<Return> {
    let text = text.trim();
    if let Ok(number) = text.parse::<Return>() {
        return Some(number);
    }
    let upper = text.to_ascii_uppercase();
    let bare = upper
        .strip_prefix("NVML_ERROR_")
        .or_else(|| upper.strip_prefix("NVML_"))
        .unwrap_or(&upper);
    TABLE
        .iter()
        .find(|(_, name, _)| *name == bare)
        .map(|(code, _, _)| *code)
}

/// The name for traces; codes outside the table read as `UNKNOWN`, as NVML's own string does.
pub(crate) fn name(code: Return) -> &'static str {
    entry(code).map_or("UNKNOWN", |(_, name, _)| name)
}

/// What `nvmlErrorString` answers; a `'static` C string, because callers keep the pointer.
pub(crate) fn description(code: Return) -> &'static CStr {
    entry(code).map_or(c"Unknown Error", |(_, _, text)| text)
}

fn entry(code: Return) -> Option<&'static (Return, &'static str, &'static CStr)> {
    TABLE.iter().find(|(number, _, _)| *number == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_prefixes_all_parse() {
        assert_eq!(parse("DRIVER_NOT_LOADED"), Some(DRIVER_NOT_LOADED));
        assert_eq!(parse("nvml_error_gpu_not_found"), Some(28));
        assert_eq!(parse("NVML_SUCCESS"), Some(SUCCESS));
        assert_eq!(parse(" 28 "), Some(28));
        assert_eq!(parse("31"), Some(31));
        assert_eq!(parse("unknown"), Some(UNKNOWN));
        assert_eq!(parse("NOT_A_CODE"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn every_code_has_a_distinct_name_and_text() {
        for (code, name, text) in TABLE {
            assert_eq!(parse(name), Some(code));
            assert!(!text.is_empty());
        }
        assert_eq!(description(9), c"Driver Not Loaded");
        assert_eq!(description(12345), c"Unknown Error");
        assert_eq!(name(12345), "UNKNOWN");
    }
}
