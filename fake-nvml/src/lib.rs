//! A stand-in for NVIDIA's `libnvidia-ml.so.1`, for tests of code that loads NVML at run time.
//!
//! It exports the NVML functions bootgate's GPU checks use, with NVML's exact C interface, and
//! answers them from `FAKE_NVML_*` variables read on every call: the process environment, then
//! the `FAKE_NVML_KEY=VALUE` lines of the file named by `FAKE_NVML_CONFIG_FILE`, which win (so a
//! test can change the "driver" under a running process by renaming a new file into place).
//! Tests copy or link the built `libfake_nvml.so` as `libnvidia-ml.so.1`.
//!
//! | variable | effect |
//! |---|---|
//! | `LOG=1` | trace every call and every ignored value to stderr |
//! | `INIT_ERROR=<code>` | the init functions return that code |
//! | `INIT_BLOCK_FILE=<path>` | init returns DRIVER_NOT_LOADED while the path exists |
//! | `FAIL_<symbol>=<code>` | that function returns that code |
//! | `DRIVER`, `CUDA` (`12040` or `12.4`) | versions |
//! | `LIBCUDA=0` | `nvmlSystemGetCudaDriverVersion_v2` returns LIBRARY_NOT_FOUND |
//! | `GPUS=<n>` | device count (default 1, at most 64) |
//! | `EVENT_WAIT_MAX_MS=<ms>` | caps how long `nvmlEventSetWait_v2` waits |
//!
//! Per GPU, as `FAKE_NVML_GPU<i>_<KEY>` or for all GPUs as `FAKE_NVML_<KEY>`: `NAME`, `UUID`,
//! `MEM_TOTAL_MIB`, `MEM_RESERVED_MIB`, `MEM_USED_MIB`, `COMPUTE_MODE`, `ECC_SUPPORTED`, `ECC_{CORRECTED,UNCORRECTED}_{VOLATILE,AGGREGATE}`,
//! `RETIRED_SUPPORTED`, `RETIRED_SBE`, `RETIRED_DBE`, `RETIRED_PENDING`, `REMAP_SUPPORTED`,
//! `REMAP_CORR`, `REMAP_UNC`, `REMAP_PENDING`, `REMAP_FAILURE`, `MIG`, `MIG_PENDING`,
//! `MIG_SUPPORTED`, `RECOVERY_ACTION`, `FIELD_<id>`, `EVENT_TYPES`, `XID` (`79,48`), `LOST`, and
//! `FAIL_<symbol>`.
//!
//! Codes are a number or a name with or without `NVML_ERROR_`; a mask (`EVENT_TYPES`) is
//! hexadecimal, its terms may be joined with `|`; other numbers are decimal or
//! `0x` hexadecimal; flags are `0`/`1`. With the `r470` feature the library lacks the symbols a
//! driver older than R510 lacks: `nvmlDeviceGetMemoryInfo_v2`, `nvmlDeviceGetMigMode` and
//! `nvmlDeviceGetRemappedRows`.
//!
//! Every exported function is `extern "C"` and reached only from C callers; those that write
//! through pointers are `unsafe` and rely on NVML's documented contract for them (null or valid
//! for the documented size). Nothing panics across the boundary: see `call`.

mod abi;
mod call;
mod codes;
mod config;
mod device;
mod device_api;
mod event_api;
mod events;
mod out;
mod system;

use std::ffi::{c_char, c_int, c_uint};
use std::path::Path;

use abi::{Device, Return};
use codes::{DRIVER_NOT_LOADED, LIBRARY_NOT_FOUND, SUCCESS};

fn init_library(symbol: &str, flags: Option<c_uint>) -> Return {
    let flags = flags.map(|f| format!("flags={f:#x}")).unwrap_or_default();
    call::init(symbol, format_args!("{flags}"), |config| {
        if let Some(code) = config.code(None, "INIT_ERROR")
            && code != SUCCESS
        {
            return Err(code);
        }
        if let Some((_, path)) = config.lookup(None, "INIT_BLOCK_FILE")
            && !path.is_empty()
            && Path::new(path).exists()
        {
            config.note(format_args!("{path} exists: the driver is not loaded yet"));
            return Err(DRIVER_NOT_LOADED);
        }
        call::acquire();
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlInit_v2() -> Return {
    init_library("nvmlInit_v2", None)
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlInit() -> Return {
    init_library("nvmlInit", None)
}

/// The flags (`NO_GPUS`, `NO_ATTACH`) change nothing here: the fake has no GPUs to attach.
#[unsafe(no_mangle)]
pub extern "C" fn nvmlInitWithFlags(flags: c_uint) -> Return {
    init_library("nvmlInitWithFlags", Some(flags))
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlShutdown() -> Return {
    call::init("nvmlShutdown", format_args!(""), |_| call::release())
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlErrorString(result: Return) -> *const c_char {
    call::trace("nvmlErrorString", format_args!("{result}"));
    codes::description(result).as_ptr()
}

/// # Safety
///
/// `version` is null or has room for `length` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlSystemGetDriverVersion(
    version: *mut c_char,
    length: c_uint,
) -> Return {
    // SAFETY: forwarded from this function's contract.
    let buf = unsafe { out::buf(version, length as usize) };
    call::system(
        "nvmlSystemGetDriverVersion",
        format_args!("length={length}"),
        |config| out::put_str(buf, &system::driver_version(config)),
    )
}

/// # Safety
///
/// `cuda_driver_version` is null or valid for writing an `int`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlSystemGetCudaDriverVersion_v2(
    cuda_driver_version: *mut c_int,
) -> Return {
    // SAFETY: forwarded from this function's contract.
    let slot = unsafe { out::slot(cuda_driver_version) };
    call::system(
        "nvmlSystemGetCudaDriverVersion_v2",
        format_args!(""),
        |config| {
            let slot = out::need(slot)?;
            // `_v2` asks libcuda itself; without it there is no answer.
            if !system::has_libcuda(config) {
                return Err(LIBRARY_NOT_FOUND);
            }
            slot.write(system::cuda_version(config));
            Ok(())
        },
    )
}

/// # Safety
///
/// `cuda_driver_version` is null or valid for writing an `int`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlSystemGetCudaDriverVersion(cuda_driver_version: *mut c_int) -> Return {
    // SAFETY: forwarded from this function's contract.
    let slot = unsafe { out::slot(cuda_driver_version) };
    // v1 answers the version the driver supports even where libcuda is missing.
    call::system(
        "nvmlSystemGetCudaDriverVersion",
        format_args!(""),
        |config| {
            out::need(slot)?.write(system::cuda_version(config));
            Ok(())
        },
    )
}

fn device_count(symbol: &str, slot: out::Slot<'_, c_uint>) -> Return {
    call::system(symbol, format_args!(""), |config| {
        out::need(slot)?.write(device::count(config));
        Ok(())
    })
}

/// # Safety
///
/// `device_count` is null or valid for writing an `unsigned int`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetCount_v2(device_count: *mut c_uint) -> Return {
    // SAFETY: forwarded from this function's contract.
    let slot = unsafe { out::slot(device_count) };
    self::device_count("nvmlDeviceGetCount_v2", slot)
}

fn handle_by_index(symbol: &str, index: c_uint, slot: out::Slot<'_, Device>) -> Return {
    call::index(symbol, index, format_args!(""), |gpu| {
        out::need(slot)?.write(device::handle(gpu.index));
        Ok(())
    })
}

/// # Safety
///
/// `device` is null or valid for writing an `nvmlDevice_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetHandleByIndex_v2(
    index: c_uint,
    device: *mut Device,
) -> Return {
    // SAFETY: forwarded from this function's contract.
    let slot = unsafe { out::slot(device) };
    handle_by_index("nvmlDeviceGetHandleByIndex_v2", index, slot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    // The only test that touches the process-wide init count, so it cannot race another.
    #[test]
    fn calls_before_init_are_refused_and_shutdown_balances_init() {
        let mut count = 0;
        // SAFETY: a valid, writable `unsigned int`.
        let before = unsafe { nvmlDeviceGetCount_v2(&mut count) };
        assert_eq!(before, codes::UNINITIALIZED);
        assert_eq!(nvmlShutdown(), codes::UNINITIALIZED);
        assert_eq!(nvmlInit_v2(), SUCCESS);
        assert_eq!(nvmlInitWithFlags(0), SUCCESS);
        assert_eq!(nvmlShutdown(), SUCCESS);
        // SAFETY: null is allowed and must be refused, not written through.
        let null = unsafe { nvmlDeviceGetCount_v2(std::ptr::null_mut()) };
        assert_eq!(null, codes::INVALID_ARGUMENT);
        assert_eq!(nvmlShutdown(), SUCCESS);
        assert_eq!(nvmlShutdown(), codes::UNINITIALIZED);
    }

    #[test]
    fn error_strings_are_static_c_strings() {
        // SAFETY: `nvmlErrorString` returns a pointer to a `'static` C string.
        let text = unsafe { CStr::from_ptr(nvmlErrorString(DRIVER_NOT_LOADED)) };
        assert_eq!(text, c"Driver Not Loaded");
    }
}
