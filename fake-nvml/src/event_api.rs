//! The exported event functions: sets are created and waited on through `events`, and only
//! critical XIDs are ever delivered.
//!
//! Safety contract of every function here, NVML's own: handles are any value (unknown ones are
//! refused), and every output pointer is null or valid for writing the documented type for the
//! duration of the call.

use std::ffi::{c_uint, c_ulonglong};

use crate::abi::{Device, EVENT_XID, EventData, EventSet, NO_INSTANCE, Return};
use crate::call;
use crate::codes::NOT_SUPPORTED;
use crate::device;
use crate::events;
use crate::out;

#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlEventSetCreate(set: *mut EventSet) -> Return {
    // SAFETY: forwarded from the module's contract.
    let slot = unsafe { out::slot(set) };
    call::system("nvmlEventSetCreate", format_args!(""), |_| {
        out::need(slot)?.write(events::create());
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetSupportedEventTypes(
    device: Device,
    event_types: *mut c_ulonglong,
) -> Return {
    // SAFETY: forwarded from the module's contract.
    let slot = unsafe { out::slot(event_types) };
    call::device(
        "nvmlDeviceGetSupportedEventTypes",
        device,
        format_args!(""),
        |gpu| {
            out::need(slot)?.write(gpu.event_types());
            Ok(())
        },
    )
}

/// NOT_SUPPORTED when `event_types` asks for anything the GPU cannot report, as NVML does; the
/// set itself stays usable.
#[unsafe(no_mangle)]
pub extern "C" fn nvmlDeviceRegisterEvents(
    device: Device,
    event_types: c_ulonglong,
    set: EventSet,
) -> Return {
    call::device(
        "nvmlDeviceRegisterEvents",
        device,
        format_args!("mask={event_types:#x}, set={set:p}"),
        |gpu| {
            if event_types & !gpu.event_types() != 0 {
                return Err(NOT_SUPPORTED);
            }
            events::register(set, gpu.index, event_types)
        },
    )
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlEventSetWait_v2(
    set: EventSet,
    data: *mut EventData,
    timeoutms: c_uint,
) -> Return {
    // SAFETY: forwarded from the module's contract.
    let slot = unsafe { out::slot(data) };
    call::system(
        "nvmlEventSetWait_v2",
        format_args!("set={set:p}, timeout_ms={timeoutms}"),
        |config| {
            let slot = out::need(slot)?;
            let event = events::wait(set, timeoutms, config)?;
            slot.write(EventData {
                device: device::handle(event.gpu),
                event_type: EVENT_XID,
                event_data: event.xid,
                gpu_instance_id: NO_INSTANCE,
                compute_instance_id: NO_INSTANCE,
            });
            Ok(())
        },
    )
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlEventSetFree(set: EventSet) -> Return {
    call::system("nvmlEventSetFree", format_args!("set={set:p}"), |_| {
        events::free(set)
    })
}
