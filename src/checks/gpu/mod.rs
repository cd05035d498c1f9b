//! The `gpu` check: the driver loaded and new enough for the image's CUDA, enough healthy GPUs
//! with enough free memory, in the MIG mode the server expects. NVML is loaded at run time, so
//! one binary serves GPU and CPU pods; a build without the `nvml` feature says so instead.

#[cfg(feature = "nvml")]
mod explain;
pub mod health;
pub mod inventory;
#[cfg(feature = "nvml")]
mod nvml;
#[cfg(feature = "nvml")]
pub mod xid;

use std::sync::Arc;

use super::discovered::Discovered;
use super::{Attempt, Facts, Shared};
use crate::config::GpuSpec;
#[cfg(not(feature = "nvml"))]
use crate::config::gpu::NO_NVML;

#[cfg(feature = "nvml")]
type Observation = (inventory::Inventory, Attempt);

pub struct GpuCheck {
    name: String,
    spec: Arc<GpuSpec>,
    last: Option<Facts>,
    /// Where what it saw is posted for checks that pin it.
    discovered: Discovered,
    /// An NVML call still running from an attempt that was given up (timed out or stalled):
    /// the next attempt waits for it rather than start a second one beside a hung driver.
    #[cfg(feature = "nvml")]
    in_flight: Option<tokio::task::JoinHandle<Observation>>,
    #[cfg(feature = "nvml")]
    xids: Option<xid::XidWatch>,
}

impl GpuCheck {
    pub fn new(name: &str, spec: &GpuSpec, shared: &Shared) -> GpuCheck {
        GpuCheck {
            name: name.to_string(),
            spec: Arc::new(spec.clone()),
            last: None,
            discovered: shared.discovered.clone(),
            #[cfg(feature = "nvml")]
            in_flight: None,
            #[cfg(feature = "nvml")]
            xids: None,
        }
    }

    pub async fn attempt(&mut self) -> Attempt {
        #[cfg(feature = "nvml")]
        {
            let spec = Arc::clone(&self.spec);
            // NVML calls block, for seconds when a driver initialises many GPUs.
            let call = self
                .in_flight
                .get_or_insert_with(|| tokio::task::spawn_blocking(move || nvml::observe(&spec)));
            let finished = call.await;
            self.in_flight = None;
            let (inventory, verdict) =
                finished.map_err(|_| super::Failure::retry("the NVML call was cancelled"))?;
            let facts = Arc::new(inventory);
            self.discovered.post(&self.name, facts.clone());
            self.last = Some(facts);
            // A fatal XID, latched while NVML was asked or before, outranks what it said: the
            // watcher reads `Check::settled` after every attempt.
            verdict
        }
        #[cfg(not(feature = "nvml"))]
        {
            let _ = (&self.spec, &mut self.last, &self.name, &self.discovered);
            Err(super::Failure::fatal(NO_NVML))
        }
    }

    pub fn facts(&self) -> Option<Facts> {
        self.last.clone()
    }

    /// Turns the check into the guard's: health and XIDs only. Free memory is the server's
    /// own by now, and the driver cannot change under a running pod.
    pub fn watch_xids(&mut self) {
        let mut watching = (*self.spec).clone();
        watching.free_memory = None;
        watching.cuda = None;
        watching.driver = None;
        self.spec = Arc::new(watching);
        #[cfg(feature = "nvml")]
        {
            self.xids = Some(xid::XidWatch::start(&self.spec));
        }
    }

    /// Completes when the XID watch latches a fatal XID; never without a watch.
    pub async fn xid_fired(&self) {
        #[cfg(feature = "nvml")]
        if let Some(xids) = &self.xids {
            return xids.fired().await;
        }
        std::future::pending().await
    }

    /// The fatal XID seen, if any: a verdict no later attempt can overturn.
    pub fn latched(&self) -> Option<String> {
        #[cfg(feature = "nvml")]
        if let Some(xids) = &self.xids {
            return xids.latched();
        }
        None
    }
}

#[cfg(all(test, not(feature = "nvml")))]
mod tests {
    use super::*;
    use crate::config::{Kind, load_with};

    #[tokio::test]
    async fn a_build_without_nvml_says_so() {
        let config = load_with("checks:\n  gpu: {kind: gpu}\n", &[]).unwrap();
        assert!(config.notes().contains(&NO_NVML.to_string()));
        let Kind::Gpu(spec) = &config.checks[0].kind else {
            panic!("not a gpu check");
        };
        let shared = Shared::new(&config, crate::redact::Redactor::default(), true);
        let failure = GpuCheck::new("gpu", spec, &shared)
            .attempt()
            .await
            .unwrap_err();
        assert_eq!(failure.reason, NO_NVML);
        assert!(!failure.retry);
    }
}
