//! NVML's failures as reasons a person can act on. nvml-wrapper names the codes it knows;
//! codes from newer headers arrive as bare numbers and get their text from the table here.

use nvml_wrapper::error::NvmlError;

use crate::checks::Failure;

const DEFAULT_LIBRARY: &str = "libnvidia-ml.so.1";

/// Why NVML could not be started.
pub fn init(error: &NvmlError, library: Option<&str>) -> Failure {
    let name = library.unwrap_or(DEFAULT_LIBRARY);
    match error {
        NvmlError::LibloadingError(e) => {
            let text = e.to_string();
            if text.contains("Dynamic loading not supported") {
                Failure::fatal(
                    "this bootgate binary is fully static and cannot load libnvidia-ml.so.1: \
                     use the glibc build (the default image) for gpu checks",
                )
            } else if text.contains("cannot open shared object file") {
                match library {
                    // A configured path may be a driver container's, still being installed.
                    Some(path) => Failure::retry(format!(
                        "{path} not found (library: in the config, or {})",
                        crate::config::gpu::LIBRARY_VAR
                    )),
                    None => Failure::fatal(format!(
                        "{DEFAULT_LIBRARY} not found: the container requests no nvidia.com/gpu, \
                         or NVIDIA_DRIVER_CAPABILITIES lacks utility"
                    )),
                }
            } else {
                Failure::fatal(format!("cannot load {name}: {}", strip_prefix(&text)))
            }
        }
        NvmlError::FailedToLoadSymbol(_) => Failure::fatal(format!(
            "{name} is not an NVML library: it has no nvmlInit_v2"
        )),
        NvmlError::DriverNotLoaded => Failure::retry(
            "the NVIDIA kernel driver is not loaded: waiting for it (a driver container may \
             still be installing it; on the node, nvidia-smi says why)",
        ),
        NvmlError::LibRmVersionMismatch => Failure::fatal(
            "libnvidia-ml.so.1 and the kernel driver are different versions: the driver was \
             upgraded without a reboot — drain and reboot the node",
        ),
        NvmlError::NoPermission => Failure::fatal(
            "no permission to open the GPU device nodes (/dev/nvidia*): the container requests \
             no nvidia.com/gpu, or they are not mounted",
        ),
        NvmlError::OperatingSystem => Failure::fatal(
            "the operating system blocks access to the GPU (device cgroup): the container \
             requests no nvidia.com/gpu",
        ),
        NvmlError::UnexpectedVariant(27) => Failure::retry(format!(
            "NVML is not ready yet ({}): waiting",
            code_text(27)
        )),
        other => {
            let text = describe(other);
            if is_device_fault(other) {
                Failure::fatal(format!("NVML cannot start: {text} — drain the node"))
            } else {
                Failure::retry(format!("NVML cannot start: {text}"))
            }
        }
    }
}

/// A failure that means the GPU itself cannot be used, as opposed to a question this driver
/// or GPU cannot answer.
pub fn is_device_fault(error: &NvmlError) -> bool {
    matches!(
        error,
        NvmlError::GpuLost
            | NvmlError::ResetRequired
            | NvmlError::IrqIssue
            | NvmlError::InsufficientPower
            | NvmlError::CorruptedInfoROM
            | NvmlError::UnexpectedVariant(28)
    )
}

/// Why one GPU cannot be used.
pub fn device(error: &NvmlError) -> String {
    match error {
        NvmlError::GpuLost => "fell off the bus (GPU lost) — drain the node".into(),
        NvmlError::ResetRequired => "needs a reset — drain the node and reset the GPU".into(),
        NvmlError::IrqIssue => "the kernel reports an interrupt problem — drain the node".into(),
        NvmlError::InsufficientPower => {
            "its power cables are not properly attached — service the node".into()
        }
        NvmlError::CorruptedInfoROM => "its infoROM is corrupted — service the GPU".into(),
        NvmlError::NoPermission => {
            "no permission to open it: its device node is not mounted in the container".into()
        }
        other => format!("cannot be opened: {}", describe(other)),
    }
}

/// An NVML error in words, including codes nvml-wrapper does not know.
pub fn describe(error: &NvmlError) -> String {
    match error {
        NvmlError::UnexpectedVariant(code) => code_text(*code),
        NvmlError::FailedToLoadSymbol(text) => {
            format!("the library lacks a function ({})", strip_prefix(text))
        }
        other => other.to_string(),
    }
}

/// NVML return codes after nvml-wrapper's enum ends (NVML 12.x and 13.0 headers).
fn code_text(code: u32) -> String {
    let text = match code {
        23 => "insufficient resources",
        24 => "frequency not supported",
        25 => "argument version mismatch: the library is older than the call",
        26 => "deprecated in this driver",
        27 => "not ready",
        28 => "GPU not found: it fell off the bus or was removed",
        29 => "invalid state",
        30 => "reset type not supported",
        _ => return format!("NVML error {code}"),
    };
    format!("{text} (NVML error {code})")
}

/// dlerror text without the library path prefix repeated by libloading.
fn strip_prefix(text: &str) -> &str {
    text.split_once(": ").map_or(text, |(_, tail)| tail)
}
