//! The exported `nvmlDevice*` queries. Each turns its output pointers into slots (see `out`) and
//! hands the rest to `call::device`, which refuses unknown handles and lost GPUs first.
//!
//! Safety contract of every function here, NVML's own: `device` is any value (unknown handles
//! are refused), and every output pointer is null or valid for writing the documented type
//! (arrays: the documented number of entries) for the duration of the call.

use std::ffi::{c_char, c_int, c_uint, c_ulonglong};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::abi::{self, Device, FieldValue, MEMORY_V2_VERSION, Return, VALUE_TYPE_ULL};
use crate::call;
use crate::codes::{INSUFFICIENT_SIZE, INVALID_ARGUMENT, NOT_SUPPORTED, SUCCESS};
use crate::device::Gpu;
use crate::out::{self, Buf, Slot};

fn string(
    symbol: &str,
    device: Device,
    buf: Buf<'_, c_char>,
    length: c_uint,
    text: impl FnOnce(&Gpu<'_>) -> String,
) -> Return {
    call::device(symbol, device, format_args!("length={length}"), |gpu| {
        out::put_str(buf, &text(gpu))
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetIndex(device: Device, index: *mut c_uint) -> Return {
    // SAFETY: forwarded from the module's contract.
    let slot = unsafe { out::slot(index) };
    call::device("nvmlDeviceGetIndex", device, format_args!(""), |gpu| {
        out::need(slot)?.write(gpu.index);
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetName(
    device: Device,
    name: *mut c_char,
    length: c_uint,
) -> Return {
    // SAFETY: forwarded from the module's contract; `name` holds `length` bytes.
    let buf = unsafe { out::buf(name, length as usize) };
    string("nvmlDeviceGetName", device, buf, length, |gpu| gpu.name())
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetUUID(
    device: Device,
    uuid: *mut c_char,
    length: c_uint,
) -> Return {
    // SAFETY: forwarded from the module's contract; `uuid` holds `length` bytes.
    let buf = unsafe { out::buf(uuid, length as usize) };
    string("nvmlDeviceGetUUID", device, buf, length, |gpu| gpu.uuid())
}

/// One value into one slot; most device queries are this shape.
fn scalar<T>(
    symbol: &str,
    device: Device,
    slot: Slot<'_, T>,
    value: impl FnOnce(&Gpu<'_>) -> Result<T, u32>,
) -> Return {
    call::device(symbol, device, format_args!(""), |gpu| {
        let slot = out::need(slot)?;
        slot.write(value(gpu)?);
        Ok(())
    })
}

/// Not exported by the `r470` build: the symbol first shipped with R510.
#[cfg_attr(not(feature = "r470"), unsafe(no_mangle))]
#[cfg_attr(
    feature = "r470",
    expect(
        dead_code,
        non_snake_case,
        reason = "R470 drivers lack this symbol: kept under its C name, not exported"
    )
)]
pub unsafe extern "C" fn nvmlDeviceGetMemoryInfo_v2(
    device: Device,
    memory: *mut abi::MemoryV2,
) -> Return {
    let version = if memory.is_null() {
        None
    } else {
        // SAFETY: non-null, so it points to an `nvmlMemory_v2_t` whose `version` the caller set.
        Some(unsafe { (&raw const (*memory).version).read() })
    };
    // SAFETY: forwarded from the module's contract.
    let slot = unsafe { out::slot(memory) };
    let shown = version.map(|v| format!("{v:#x}")).unwrap_or_default();
    call::device(
        "nvmlDeviceGetMemoryInfo_v2",
        device,
        format_args!("version={shown}"),
        |gpu| {
            let slot = out::need(slot)?;
            if version != Some(MEMORY_V2_VERSION) {
                return Err(crate::codes::ARGUMENT_VERSION_MISMATCH);
            }
            let memory = gpu.memory();
            slot.write(abi::MemoryV2 {
                version: MEMORY_V2_VERSION,
                total: memory.total,
                reserved: memory.reserved,
                free: memory.free(),
                used: memory.used,
            });
            Ok(())
        },
    )
}

/// The v1 struct has no `reserved`: NVML counts it in `used`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetMemoryInfo(
    device: Device,
    memory: *mut abi::MemoryV1,
) -> Return {
    // SAFETY: forwarded from the module's contract.
    let slot = unsafe { out::slot(memory) };
    scalar("nvmlDeviceGetMemoryInfo", device, slot, |gpu| {
        let memory = gpu.memory();
        Ok(abi::MemoryV1 {
            total: memory.total,
            free: memory.free(),
            used: memory.reserved.saturating_add(memory.used),
        })
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetComputeMode(device: Device, mode: *mut c_uint) -> Return {
    // SAFETY: forwarded from the module's contract.
    let slot = unsafe { out::slot(mode) };
    scalar("nvmlDeviceGetComputeMode", device, slot, |gpu| {
        Ok(gpu.compute_mode())
    })
}

/// Not exported by the `r470` build: MIG queries arrived after R470's NVML.
#[cfg_attr(not(feature = "r470"), unsafe(no_mangle))]
#[cfg_attr(
    feature = "r470",
    expect(
        dead_code,
        non_snake_case,
        reason = "R470 drivers lack this symbol: kept under its C name, not exported"
    )
)]
pub unsafe extern "C" fn nvmlDeviceGetMigMode(
    device: Device,
    current_mode: *mut c_uint,
    pending_mode: *mut c_uint,
) -> Return {
    // SAFETY: forwarded from the module's contract.
    let (current, pending) = unsafe { (out::slot(current_mode), out::slot(pending_mode)) };
    call::device("nvmlDeviceGetMigMode", device, format_args!(""), |gpu| {
        let (current, pending) = (out::need(current)?, out::need(pending)?);
        let (now, next) = gpu.mig_mode().ok_or(NOT_SUPPORTED)?;
        current.write(now);
        pending.write(next);
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetTotalEccErrors(
    device: Device,
    error_type: c_uint,
    counter_type: c_uint,
    ecc_counts: *mut c_ulonglong,
) -> Return {
    // SAFETY: forwarded from the module's contract.
    let slot = unsafe { out::slot(ecc_counts) };
    call::device(
        "nvmlDeviceGetTotalEccErrors",
        device,
        format_args!("error_type={error_type}, counter_type={counter_type}"),
        |gpu| {
            let slot = out::need(slot)?;
            // Both enums have exactly two members: corrected/uncorrected, volatile/aggregate.
            let (Some(uncorrected), Some(aggregate)) = (as_bool(error_type), as_bool(counter_type))
            else {
                return Err(INVALID_ARGUMENT);
            };
            slot.write(
                gpu.ecc_errors(uncorrected, aggregate)
                    .ok_or(NOT_SUPPORTED)?,
            );
            Ok(())
        },
    )
}

fn as_bool(value: c_uint) -> Option<bool> {
    match value {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

/// Both retired-page calls: a call whose `*page_count` is too small (0 in nvml-wrapper's count
/// query) learns the count and gets INSUFFICIENT_SIZE; one with no pages gets SUCCESS.
fn retired_pages(
    symbol: &str,
    device: Device,
    cause: c_uint,
    count: Option<&mut c_uint>,
    addresses: Buf<'_, c_ulonglong>,
    timestamps: Buf<'_, c_ulonglong>,
) -> Return {
    let capacity = count.as_deref().copied().unwrap_or(0);
    call::device(
        symbol,
        device,
        format_args!("cause={cause}, count={capacity}"),
        |gpu| {
            let count = out::need(count)?;
            let double_bit = as_bool(cause).ok_or(INVALID_ARGUMENT)?;
            let pages = gpu.retired_pages(double_bit).ok_or(NOT_SUPPORTED)?;
            let needed = c_uint::try_from(pages.len()).unwrap_or(c_uint::MAX);
            if capacity < needed {
                *count = needed;
                return Err(INSUFFICIENT_SIZE);
            }
            if !pages.is_empty() {
                let addresses = out::need(addresses)?;
                for (cell, page) in addresses.iter_mut().zip(&pages) {
                    cell.write(page.address);
                }
                // Timestamps are optional in `_v2` and absent in v1.
                for (cell, page) in timestamps.into_iter().flatten().zip(&pages) {
                    cell.write(page.timestamp);
                }
            }
            *count = needed;
            Ok(())
        },
    )
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetRetiredPages(
    device: Device,
    cause: c_uint,
    page_count: *mut c_uint,
    addresses: *mut c_ulonglong,
) -> Return {
    // SAFETY: forwarded from the module's contract; `*page_count` is an input too, so the
    // caller initialised it.
    let count = unsafe { page_count.as_mut() };
    let capacity = count.as_deref().map_or(0, |c| *c as usize);
    // SAFETY: forwarded from the module's contract; the array holds `*page_count` entries.
    let addresses = unsafe { out::buf(addresses, capacity) };
    retired_pages(
        "nvmlDeviceGetRetiredPages",
        device,
        cause,
        count,
        addresses,
        None,
    )
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetRetiredPages_v2(
    device: Device,
    cause: c_uint,
    page_count: *mut c_uint,
    addresses: *mut c_ulonglong,
    timestamps: *mut c_ulonglong,
) -> Return {
    // SAFETY: forwarded from the module's contract; `*page_count` is an input too, so the
    // caller initialised it.
    let count = unsafe { page_count.as_mut() };
    let capacity = count.as_deref().map_or(0, |c| *c as usize);
    // SAFETY: forwarded from the module's contract; both arrays hold `*page_count` entries.
    let (addresses, timestamps) = unsafe {
        (
            out::buf(addresses, capacity),
            out::buf(timestamps, capacity),
        )
    };
    retired_pages(
        "nvmlDeviceGetRetiredPages_v2",
        device,
        cause,
        count,
        addresses,
        timestamps,
    )
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetRetiredPagesPendingStatus(
    device: Device,
    is_pending: *mut c_uint,
) -> Return {
    // SAFETY: forwarded from the module's contract.
    let slot = unsafe { out::slot(is_pending) };
    scalar(
        "nvmlDeviceGetRetiredPagesPendingStatus",
        device,
        slot,
        |gpu| {
            gpu.retirement_pending()
                .map(c_uint::from)
                .ok_or(NOT_SUPPORTED)
        },
    )
}

/// Not exported by the `r470` build: row remapping queries arrived with R510's NVML.
#[cfg_attr(not(feature = "r470"), unsafe(no_mangle))]
#[cfg_attr(
    feature = "r470",
    expect(
        dead_code,
        non_snake_case,
        reason = "R470 drivers lack this symbol: kept under its C name, not exported"
    )
)]
pub unsafe extern "C" fn nvmlDeviceGetRemappedRows(
    device: Device,
    corr_rows: *mut c_uint,
    unc_rows: *mut c_uint,
    is_pending: *mut c_uint,
    failure_occurred: *mut c_uint,
) -> Return {
    // SAFETY: forwarded from the module's contract.
    let slots = unsafe {
        (
            out::slot(corr_rows),
            out::slot(unc_rows),
            out::slot(is_pending),
            out::slot(failure_occurred),
        )
    };
    call::device(
        "nvmlDeviceGetRemappedRows",
        device,
        format_args!(""),
        |gpu| {
            let (corr, unc, pending, failure) = (
                out::need(slots.0)?,
                out::need(slots.1)?,
                out::need(slots.2)?,
                out::need(slots.3)?,
            );
            let remap = gpu.remap().ok_or(NOT_SUPPORTED)?;
            corr.write(remap.corrected);
            unc.write(remap.uncorrected);
            pending.write(remap.pending.into());
            failure.write(remap.failure.into());
            Ok(())
        },
    )
}

/// Answers each requested field in its own entry: SUCCESS with an `unsigned long long` for a
/// field the fake knows, NOT_SUPPORTED in the entry (not for the call) for any other.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetFieldValues(
    device: Device,
    values_count: c_int,
    values: *mut FieldValue,
) -> Return {
    let len = usize::try_from(values_count).unwrap_or(0);
    // SAFETY: forwarded from the module's contract; the array holds `values_count` entries.
    let entries = unsafe { out::buf(values, len) };
    let requested: Option<Vec<(c_uint, c_uint)>> = entries.as_ref().map(|entries| {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ptr();
                // SAFETY: the caller sets `fieldId` and `scopeId` of every entry it passes; only
                // those two are read.
                unsafe {
                    (
                        (&raw const (*entry).field_id).read(),
                        (&raw const (*entry).scope_id).read(),
                    )
                }
            })
            .collect()
    });
    let ids: Vec<c_uint> = requested.iter().flatten().map(|(id, _)| *id).collect();
    call::device(
        "nvmlDeviceGetFieldValues",
        device,
        format_args!("fields={ids:?}"),
        |gpu| {
            if values_count < 0 {
                return Err(INVALID_ARGUMENT);
            }
            let (entries, requested) = (out::need(entries)?, out::need(requested)?);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
            for (entry, (field_id, scope_id)) in entries.iter_mut().zip(requested) {
                let value = gpu.field(field_id);
                entry.write(FieldValue {
                    field_id,
                    scope_id,
                    timestamp: now,
                    latency_usec: 0,
                    value_type: VALUE_TYPE_ULL,
                    nvml_return: if value.is_some() {
                        SUCCESS
                    } else {
                        NOT_SUPPORTED
                    },
                    value: value.unwrap_or(0),
                });
            }
            Ok(())
        },
    )
}
