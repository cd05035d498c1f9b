//! Asking NVML: load the library, read the driver, the CUDA version and each GPU. Optional
//! queries that this driver or GPU cannot answer become "unknown"; only answers count against
//! a GPU.

use std::ffi::OsStr;

use nvml_wrapper::Device;
use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::{
    ComputeMode as NvmlComputeMode, EccCounter, MemoryError, RetirementCause,
};
use nvml_wrapper::enums::device::SampleValue;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::structs::device::FieldId;

use super::explain;
use super::health::{self, ComputeMode, Memory, Mig, Problems, Reading, Remap};
use super::inventory::Inventory;
use crate::checks::Failure;
use crate::config::GpuSpec;
use crate::cuda::{self, CudaVersion, DriverVersion, Judgement};

/// Problems named in one failure reason; status.json has them all.
const MAX_REASONS: usize = 4;

/// `NVML_FI_DEV_GET_GPU_RECOVERY_ACTION` (R570+).
const RECOVERY_ACTION_FIELD: u32 = 230;

pub fn open(library: Option<&str>) -> Result<Nvml, Failure> {
    let mut builder = Nvml::builder();
    if let Some(path) = library {
        builder.lib_path(OsStr::new(path));
    }
    builder.init().map_err(|e| explain::init(&e, library))
}

/// One look at the driver and every GPU, judged against the spec.
/// Without NVML the inventory is empty: a GPU seen by an earlier attempt is not vouched for.
pub fn observe(spec: &GpuSpec) -> (Inventory, Result<String, Failure>) {
    let library = spec.library.as_ref().map(|l| l.value.as_str());
    let nvml = match open(library) {
        Ok(nvml) => nvml,
        Err(failure) => return (Inventory::default(), Err(failure)),
    };
    let mut inventory = Inventory::default();
    let mut problems = Problems::default();
    let mut warnings: Vec<String> = Vec::new();

    let driver = nvml.sys_driver_version();
    let parsed_driver = driver.as_ref().ok().and_then(|d| DriverVersion::parse(d));
    inventory.driver = driver.as_ref().ok().cloned();
    let (cuda, source) = cuda_version(&nvml, parsed_driver.as_ref());
    inventory.cuda = cuda.map(|c| c.to_string());
    inventory.cuda_source = cuda.map(|_| source.to_string());

    if let Some(min) = &spec.driver {
        match (&parsed_driver, &driver) {
            (Some(have), _) if have >= min => {}
            (Some(have), _) => {
                problems.fatal(format!("driver {have} is older than the required {min}"));
            }
            (None, Err(e)) => {
                problems.fatal(format!(
                    "cannot read the driver version: {}",
                    explain::describe(e)
                ));
            }
            (None, Ok(text)) => {
                problems.fatal(format!("cannot read the driver version `{text}`"));
            }
        }
    }
    if let Some(needed) = spec.cuda {
        match cuda {
            Some(supported) => {
                match cuda::judge(needed, spec.cuda_compat, supported, parsed_driver.as_ref()) {
                    Judgement::Supported => {}
                    Judgement::Compatible(caveat) => warnings.push(caveat),
                    Judgement::TooOld(reason) => {
                        problems.fatal(reason);
                    }
                }
            }
            None => {
                problems.fatal(format!(
                    "cannot tell which CUDA version the driver supports; this image needs CUDA {needed}"
                ));
            }
        }
    }

    let (visible, counted) = match nvml.device_count() {
        Ok(n) => (n, true),
        Err(e) => {
            problems.fatal(format!("cannot count the GPUs: {}", explain::describe(&e)));
            (0, false)
        }
    };
    inventory.visible = visible;
    for index in 0..visible {
        inventory
            .gpus
            .push(health::evaluate(read_gpu(&nvml, index), spec));
    }

    for gpu in &inventory.gpus {
        for problem in &gpu.problems {
            let line = format!("{}: {problem}", gpu.label());
            if gpu.transient {
                problems.wait(line);
            } else {
                problems.fatal(line);
            }
        }
        for warning in &gpu.warnings {
            warnings.push(format!("{}: {warning}", gpu.label()));
        }
    }
    let usable = inventory
        .gpus
        .iter()
        .filter(|g| g.problems.is_empty())
        .count() as u32;
    if !counted {
        // Already said: the count is unknown, not short.
    } else if visible < spec.count {
        problems.fatal(format!(
            "need {} GPU{}, {visible} visible: request nvidia.com/gpu: {} for this container",
            spec.count,
            plural(spec.count),
            spec.count
        ));
    } else if usable < spec.count {
        problems.wait(format!(
            "need {} GPU{}, {usable} usable of {visible}",
            spec.count,
            plural(spec.count)
        ));
    }

    let transient = problems.transient();
    let problems = problems.lines;
    if !problems.is_empty() {
        // Every problem, up to a few: the termination message is all most people read.
        let mut reason = problems[..problems.len().min(MAX_REASONS)].join("; ");
        if problems.len() > MAX_REASONS {
            reason.push_str(&format!(" (and {} more)", problems.len() - MAX_REASONS));
        }
        let failure = if transient {
            Failure::retry(reason)
        } else {
            Failure::fatal(reason)
        };
        return (inventory, Err(failure));
    }
    let mut summary = format!("{visible} GPU{}", plural(visible));
    if let Some(name) = inventory.gpus.first().and_then(|g| g.name.as_ref()) {
        summary.push_str(&format!(" ({name})"));
    }
    let platform = inventory.platform();
    if !platform.is_empty() {
        summary.push_str(&format!(", {platform}"));
    }
    if !warnings.is_empty() {
        summary.push_str(&format!("; warning: {}", warnings.join("; ")));
    }
    (inventory, Ok(summary))
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The newest CUDA the driver supports. The v2 call asks libcuda.so.1, which a container
/// with only the `utility` capability does not have; the v1 call answers from NVML itself.
fn cuda_version(
    nvml: &Nvml,
    driver: Option<&DriverVersion>,
) -> (Option<CudaVersion>, &'static str) {
    if let Some(v) = nvml
        .sys_cuda_driver_version()
        .ok()
        .and_then(CudaVersion::from_nvml)
    {
        return (Some(v), "libcuda");
    }
    if let Some(v) = raw::cuda_driver_version_v1(nvml)
        .ok()
        .and_then(CudaVersion::from_nvml)
    {
        return (Some(v), "nvml");
    }
    (driver.and_then(cuda::supported_by), "driver table")
}

fn read_gpu(nvml: &Nvml, index: u32) -> Reading {
    let mut reading = Reading {
        index,
        ..Reading::default()
    };
    let device = match nvml.device_by_index(index) {
        Ok(device) => device,
        Err(e) => {
            reading.broken = Some(explain::device(&e));
            return reading;
        }
    };
    reading.uuid = ask(&mut reading, "uuid", device.uuid());
    reading.name = ask(&mut reading, "name", device.name());
    if reading.broken.is_some() {
        return reading;
    }
    reading.memory = match device.memory_info() {
        Ok(m) => Some(Memory {
            total: m.total,
            free: m.free,
        }),
        // Drivers before R510 have no nvmlDeviceGetMemoryInfo_v2; some answer it with "not
        // supported" or an argument version mismatch.
        Err(
            NvmlError::FailedToLoadSymbol(_)
            | NvmlError::NotSupported
            | NvmlError::UnexpectedVariant(25),
        ) => match raw::memory_info_v1(&device) {
            Ok(m) => Some(m),
            Err(e) => note_memory(&mut reading, e),
        },
        Err(e) => note_memory(&mut reading, e),
    };
    reading.uncorrectable_ecc = ask(
        &mut reading,
        "ecc",
        device.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile),
    );
    // Ampere and newer remap rows instead of retiring pages, and answer "not supported" for
    // page retirement by design: where the remap counters can be read, that answer is no gap.
    let remapped = raw::remapped_rows(&device);
    let by_design =
        |error: &NvmlError| remapped.is_ok() && matches!(error, NvmlError::NotSupported);
    let single = match device.retired_pages(RetirementCause::MultipleSingleBitEccErrors) {
        Err(e) if by_design(&e) => None,
        answer => ask(&mut reading, "retired pages", answer),
    };
    let double = single.as_ref().and_then(|_| {
        ask(
            &mut reading,
            "retired pages",
            device.retired_pages(RetirementCause::DoubleBitEccError),
        )
    });
    if let (Some(single), Some(double)) = (single, double) {
        reading.retired_pages = Some((single.len() + double.len()) as u64);
    }
    reading.retirement_pending = match device.are_pages_pending_retired() {
        Err(e) if by_design(&e) => None,
        answer => ask(&mut reading, "pending retirement", answer),
    };
    reading.remap = ask(&mut reading, "remapped rows", remapped);
    reading.recovery_action = ask(&mut reading, "recovery action", recovery_action(&device));
    reading.mig = ask(&mut reading, "mig", device.mig_mode()).map(|m| Mig {
        enabled: m.current == 1,
        pending_enabled: m.pending == 1,
    });
    reading.compute_mode =
        ask(&mut reading, "compute mode", device.compute_mode()).map(|m| match m {
            NvmlComputeMode::Default => ComputeMode::Default,
            NvmlComputeMode::ExclusiveThread => ComputeMode::ExclusiveThread,
            NvmlComputeMode::Prohibited => ComputeMode::Prohibited,
            NvmlComputeMode::ExclusiveProcess => ComputeMode::ExclusiveProcess,
        });
    reading
}

/// An answer, or a note of why there is none: a lost GPU is broken, anything else is unknown.
fn ask<T>(reading: &mut Reading, what: &'static str, answer: Result<T, NvmlError>) -> Option<T> {
    match answer {
        Ok(value) => Some(value),
        Err(e) if explain::is_device_fault(&e) => {
            reading.broken.get_or_insert_with(|| explain::device(&e));
            None
        }
        Err(_) => {
            if !reading.unknown.contains(&what) {
                reading.unknown.push(what);
            }
            None
        }
    }
}

fn note_memory(reading: &mut Reading, error: NvmlError) -> Option<Memory> {
    reading.memory_error = Some(explain::describe(&error));
    ask::<Memory>(reading, "memory", Err(error))
}

fn recovery_action(device: &Device<'_>) -> Result<u64, NvmlError> {
    let samples = device.field_values_for(&[FieldId(RECOVERY_ACTION_FIELD)])?;
    let sample = samples
        .into_iter()
        .next()
        .ok_or(NvmlError::NotSupported)??;
    match sample.value? {
        SampleValue::U32(v) => Ok(v.into()),
        SampleValue::U64(v) => Ok(v),
        SampleValue::I64(v) => u64::try_from(v).map_err(|_| NvmlError::NotSupported),
        SampleValue::F64(_) => Err(NvmlError::NotSupported),
    }
}

/// Calls nvml-wrapper does not wrap, or wraps only in their newest form.
#[allow(unsafe_code)]
mod raw {
    use nvml_wrapper::error::{NvmlError, nvml_sym, nvml_try};
    use nvml_wrapper::{Device, Nvml};
    use nvml_wrapper_sys::bindings::nvmlMemory_t;

    use super::{Memory, Remap};

    pub fn cuda_driver_version_v1(nvml: &Nvml) -> Result<i32, NvmlError> {
        let call = nvml_sym(nvml.lib().nvmlSystemGetCudaDriverVersion.as_ref())?;
        let mut version = 0;
        // SAFETY: the symbol has NVML's documented signature (bindgen from nvml.h); the
        // pointer is to a live local that outlives the call.
        nvml_try(unsafe { call(&mut version) })?;
        Ok(version)
    }

    pub fn memory_info_v1(device: &Device<'_>) -> Result<Memory, NvmlError> {
        let call = nvml_sym(device.nvml().lib().nvmlDeviceGetMemoryInfo.as_ref())?;
        let mut memory = nvmlMemory_t {
            total: 0,
            free: 0,
            used: 0,
        };
        // SAFETY: the handle comes from this NVML instance and lives as long as `device`; the
        // out-pointer is to a live local of the type the signature names.
        nvml_try(unsafe { call(device.handle(), &mut memory) })?;
        Ok(Memory {
            total: memory.total,
            free: memory.free,
        })
    }

    pub fn remapped_rows(device: &Device<'_>) -> Result<Remap, NvmlError> {
        let call = nvml_sym(device.nvml().lib().nvmlDeviceGetRemappedRows.as_ref())?;
        let (mut corrected, mut uncorrectable, mut pending, mut failed) = (0, 0, 0, 0);
        // SAFETY: as above: a valid handle and four live locals for NVML to fill.
        nvml_try(unsafe {
            call(
                device.handle(),
                &mut corrected,
                &mut uncorrectable,
                &mut pending,
                &mut failed,
            )
        })?;
        Ok(Remap {
            uncorrectable: uncorrectable.into(),
            pending: pending != 0,
            failed: failed != 0,
        })
    }
}
