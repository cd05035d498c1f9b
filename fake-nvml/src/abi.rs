//! The C types of NVML's interface, laid out exactly as `nvml.h` (and the bindgen output in
//! `nvml-wrapper-sys`) declares them. Only what the exported functions need is here. The items
//! are `pub` because the signatures of the exported functions name them.

use std::ffi::{c_longlong, c_uint, c_ulonglong};

/// `nvmlReturn_t`: a C enum, passed as an unsigned int.
pub type Return = c_uint;

/// The pointee of `nvmlDevice_t`. Never read or written: the fake hands out the addresses of
/// its own tokens (see `device::handle`) and only compares them.
#[repr(C)]
pub struct DeviceSt {
    _opaque: [u8; 0],
}
pub type Device = *mut DeviceSt;

/// The pointee of `nvmlEventSet_t`; the fake's handles are registry keys, not addresses.
#[repr(C)]
pub struct EventSetSt {
    _opaque: [u8; 0],
}
pub type EventSet = *mut EventSetSt;

/// `nvmlMemory_t`: in v1, `used` includes the memory the driver reserves.
#[repr(C)]
pub struct MemoryV1 {
    pub total: c_ulonglong,
    pub free: c_ulonglong,
    pub used: c_ulonglong,
}

/// `nvmlMemory_v2_t`; the caller sets `version` and the library checks it.
#[repr(C)]
pub struct MemoryV2 {
    pub version: c_uint,
    pub total: c_ulonglong,
    pub reserved: c_ulonglong,
    pub free: c_ulonglong,
    pub used: c_ulonglong,
}

/// `NVML_STRUCT_VERSION(Memory, 2)`: the size of the struct with the version in the top byte.
pub const MEMORY_V2_VERSION: c_uint = (size_of::<MemoryV2>() as c_uint) | (2 << 24);

/// `nvmlEventData_t`.
#[repr(C)]
pub struct EventData {
    pub device: Device,
    pub event_type: c_ulonglong,
    pub event_data: c_ulonglong,
    pub gpu_instance_id: c_uint,
    pub compute_instance_id: c_uint,
}

/// `nvmlFieldValue_t`. The value is a C union of 8-byte-or-smaller members; the fake only ever
/// writes its `unsigned long long` member, so a `u64` stands in for the whole union.
#[repr(C)]
pub struct FieldValue {
    pub field_id: c_uint,
    pub scope_id: c_uint,
    pub timestamp: c_longlong,
    pub latency_usec: c_longlong,
    pub value_type: c_uint,
    pub nvml_return: Return,
    pub value: c_ulonglong,
}

/// `NVML_VALUE_TYPE_UNSIGNED_LONG_LONG`.
pub const VALUE_TYPE_ULL: c_uint = 3;

/// `nvmlEventTypeXidCriticalError`.
pub const EVENT_XID: c_ulonglong = 0x8;

/// `gpuInstanceId`/`computeInstanceId` of an event that is not about a MIG instance.
pub const NO_INSTANCE: c_uint = 0xFFFF_FFFF;

// The layouts nvml-wrapper 0.13 was generated against (64-bit Linux).
const _: () = assert!(size_of::<MemoryV1>() == 24);
const _: () = assert!(size_of::<MemoryV2>() == 40);
#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<EventData>() == 32);
const _: () = assert!(size_of::<FieldValue>() == 40);
