//! The `gpu` check: the driver loaded and new enough for the image's CUDA, enough healthy GPUs
//! with enough free memory, in the MIG mode the server expects. NVML is loaded at run time, so
//! one binary serves GPU and CPU pods; a build without the `nvml` feature says so instead.

pub mod cuda;
#[cfg(feature = "nvml")]
mod explain;
pub mod health;
pub mod inventory;
#[cfg(feature = "nvml")]
mod nvml;
#[cfg(feature = "nvml")]
pub mod xid;

use std::sync::Arc;

use super::{Attempt, Facts};
use crate::config::GpuSpec;

/// What a build without NVML answers for every gpu check.
pub const NO_NVML: &str = "this bootgate build has no NVML support (built without the `nvml` \
                           feature): use the default build for gpu checks";

pub struct GpuCheck {
    spec: Arc<GpuSpec>,
    last: Option<Facts>,
    #[cfg(feature = "nvml")]
    xids: Option<xid::XidWatch>,
}

impl GpuCheck {
    pub fn new(spec: &GpuSpec) -> GpuCheck {
        GpuCheck {
            spec: Arc::new(spec.clone()),
            last: None,
            #[cfg(feature = "nvml")]
            xids: None,
        }
    }

    pub async fn attempt(&mut self) -> Attempt {
        #[cfg(feature = "nvml")]
        {
            if let Some(reason) = self.xids.as_ref().and_then(xid::XidWatch::latched) {
                return Err(super::Failure::fatal(reason));
            }
            let spec = Arc::clone(&self.spec);
            // NVML calls block, for seconds when a driver initialises many GPUs.
            let (inventory, verdict) = super::blocking(move || nvml::observe(&spec)).await?;
            self.last = inventory.map(Arc::new);
            verdict
        }
        #[cfg(not(feature = "nvml"))]
        {
            let _ = (&self.spec, &mut self.last);
            Err(super::Failure::fatal(NO_NVML))
        }
    }

    pub fn facts(&self) -> Option<Facts> {
        self.last.clone()
    }

    /// Starts watching for critical XIDs (in the guard; an init container is gone before any
    /// event could matter).
    pub fn watch_xids(&mut self) {
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

    /// True once a fatal XID was seen: a verdict no later attempt can overturn.
    pub fn latched(&self) -> bool {
        #[cfg(feature = "nvml")]
        if let Some(xids) = &self.xids {
            return xids.latched().is_some();
        }
        false
    }
}
