//! The guard's XID watch: NVML events for critical XIDs on every visible GPU, the way NVIDIA's
//! device plugin watches them. A fatal XID is latched: a GPU that fell off the bus does not
//! come back without a reset, so the pod stays unready until it is restarted.
//!
//! NVML only records events after registration, so this runs for the life of the guard on a
//! thread of its own (the wait blocks), and only where the server's GPUs are visible.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use nvml_wrapper::bitmasks::event::EventTypes;
use nvml_wrapper::enums::event::XidError;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::{EventSet, Nvml};
use tokio::sync::Notify;

use super::nvml::open;
use crate::config::GpuSpec;

/// NVML's `nvmlEventDataUnknown`: an XID the driver could not name.
const UNKNOWN_XID: u64 = 999;
/// How long one wait blocks: also how soon the thread notices the guard is gone.
const WAIT: Duration = Duration::from_millis(500);
/// How long to wait before trying NVML again after it could not be started.
const REOPEN: Duration = Duration::from_secs(10);

/// What happened, shared between the watching thread and the check.
#[derive(Default)]
struct Latch {
    reason: Mutex<Option<String>>,
    wake: Notify,
}

pub struct XidWatch {
    latch: Arc<Latch>,
}

impl XidWatch {
    /// Starts the watch; it ends when the returned value is dropped.
    pub fn start(spec: &GpuSpec) -> XidWatch {
        let latch = Arc::new(Latch::default());
        let weak = Arc::downgrade(&latch);
        let library = spec.library.as_ref().map(|l| l.value.clone());
        let policy = Policy {
            ignore: spec.ignore_xids.clone(),
            fatal: spec.fatal_xids.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name("xid-watch".into())
            .spawn(move || watch(library.as_deref(), &policy, &weak));
        if let Err(e) = spawned {
            tracing::warn!("cannot start the XID watch: {e}");
        }
        XidWatch { latch }
    }

    /// The fatal XID seen, if any.
    pub fn latched(&self) -> Option<String> {
        self.latch.reason.lock().ok().and_then(|r| r.clone())
    }

    /// Completes when a fatal XID is seen.
    pub async fn fired(&self) {
        self.latch.wake.notified().await;
    }
}

struct Policy {
    ignore: Vec<u64>,
    fatal: Vec<u64>,
}

impl Policy {
    fn is_fatal(&self, xid: u64) -> bool {
        self.fatal.contains(&xid) || !self.ignore.contains(&xid)
    }
}

fn watch(library: Option<&str>, policy: &Policy, latch: &Weak<Latch>) {
    let mut warned = false;
    while latch.strong_count() > 0 {
        let nvml = match open(library) {
            Ok(nvml) => nvml,
            Err(failure) => {
                if !warned {
                    tracing::warn!("XID watch: {}; trying again every 10s", failure.reason);
                    warned = true;
                }
                std::thread::sleep(REOPEN);
                continue;
            }
        };
        match register(&nvml) {
            Ok(Some(set)) => wait_for_xids(&set, policy, latch),
            Ok(None) => {
                tracing::warn!("XID watch: no GPU here supports XID events; not watching");
                return;
            }
            Err(e) => {
                latch_reason(
                    latch,
                    format!("the XID watch cannot register for events: {e}"),
                );
                return;
            }
        }
    }
}

/// An event set with every GPU that supports critical-XID events registered. A GPU that
/// cannot be registered is left out with a warning (the health check judges the GPU itself);
/// registering frees the set on failure, so the set is then built again without it.
fn register(nvml: &Nvml) -> Result<Option<EventSet<'_>>, NvmlError> {
    let mut left_out: Vec<u32> = Vec::new();
    'build: loop {
        let mut set = nvml.create_event_set()?;
        let mut any = false;
        for index in 0..nvml.device_count()? {
            if left_out.contains(&index) {
                continue;
            }
            let supported = nvml
                .device_by_index(index)
                .and_then(|device| device.supported_event_types().map(|types| (device, types)));
            let (device, types) = match supported {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!("XID watch: GPU {index}: {e}; not watching it");
                    left_out.push(index);
                    continue;
                }
            };
            // Registering a type the GPU lacks fails, so ask first.
            let mask = types & EventTypes::CRITICAL_XID_ERROR;
            if mask.is_empty() {
                tracing::warn!(
                    "XID watch: GPU {index} does not report XID events; not watching it"
                );
                left_out.push(index);
                continue;
            }
            match device.register_events(mask, set) {
                Ok(registered) => set = registered,
                Err(e) => {
                    tracing::warn!("XID watch: GPU {index}: {}; not watching it", e.error);
                    left_out.push(index);
                    continue 'build;
                }
            }
            any = true;
        }
        return Ok(any.then_some(set));
    }
}

fn wait_for_xids(set: &EventSet<'_>, policy: &Policy, latch: &Weak<Latch>) {
    tracing::info!("XID watch: watching for critical XIDs");
    while latch.strong_count() > 0 {
        let event = match set.wait(WAIT.as_millis() as u32) {
            Ok(event) => event,
            Err(NvmlError::Timeout) => continue,
            // As the device plugin does: a watch that cannot wait cannot vouch for any GPU.
            Err(e) => {
                latch_reason(latch, format!("the XID watch failed: {e} — drain the node"));
                return;
            }
        };
        // The device plugin counts an XID the driver cannot name as critical; so does this.
        let xid = match event.event_data {
            Some(XidError::Value(xid)) => xid,
            Some(XidError::Unknown) => UNKNOWN_XID,
            None => continue,
        };
        let index = event
            .device
            .index()
            .map_or("?".to_string(), |i| i.to_string());
        let gpu = match event.device.uuid() {
            Ok(uuid) => format!("GPU {index} ({uuid})"),
            Err(_) => format!("GPU {index}"),
        };
        if !policy.is_fatal(xid) {
            tracing::info!(
                "XID watch: {gpu}: XID {xid} ({}), an application error; ignored",
                meaning(xid)
            );
            continue;
        }
        let reason = format!("{gpu}: XID {xid} ({}) — drain the node", meaning(xid));
        tracing::error!("XID watch: {reason}");
        latch_reason(latch, reason);
    }
}

fn latch_reason(latch: &Weak<Latch>, reason: String) {
    let Some(latch) = latch.upgrade() else { return };
    if let Ok(mut held) = latch.reason.lock() {
        held.get_or_insert(reason);
    }
    latch.wake.notify_one();
}

/// What the common XIDs mean, from NVIDIA's XID catalogue.
fn meaning(xid: u64) -> &'static str {
    match xid {
        13 => "graphics engine exception",
        31 => "GPU memory page fault",
        43 => "GPU stopped processing",
        45 => "preemptive cleanup",
        48 => "double-bit ECC error",
        61 | 62 => "internal micro-controller error",
        63 => "ECC page retirement or row remapping event",
        64 => "ECC page retirement or row remapping failure",
        68 => "video processor exception",
        74 => "NVLink error",
        79 => "GPU has fallen off the bus",
        92 => "high single-bit ECC error rate",
        94 => "contained ECC error",
        95 => "uncontained ECC error",
        109 => "context switch timeout",
        119 => "GSP RPC timeout",
        120 => "GSP error",
        140 => "unrecovered ECC error",
        UNKNOWN_XID => "unknown to the driver",
        _ => "critical error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_xids_pass_unless_forced() {
        let policy = Policy {
            ignore: crate::config::gpu::APPLICATION_XIDS.to_vec(),
            fatal: vec![43],
        };
        assert!(!policy.is_fatal(13));
        assert!(policy.is_fatal(43));
        assert!(policy.is_fatal(79));
    }
}
