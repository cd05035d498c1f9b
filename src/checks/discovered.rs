//! Values one check learns that another pins: a gpu check's CUDA version, compared by a
//! manifest check that runs `after` it. Each gpu check posts what its latest attempt saw.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Facts;
use crate::config::Discovery;

#[derive(Clone, Default)]
pub struct Discovered {
    board: Arc<Mutex<HashMap<String, Facts>>>,
}

impl Discovered {
    pub fn post(&self, check: &str, facts: Facts) {
        self.lock().insert(check.to_string(), facts);
    }

    /// The value, or why there is none.
    pub fn value(&self, check: &str, fact: Discovery) -> Result<String, String> {
        let Some(facts) = self.lock().get(check).cloned() else {
            return Err(format!(
                "check {check} has not run (it runs first under `init`; `check --only` leaves it out)"
            ));
        };
        let found = match fact {
            Discovery::Cuda => facts.cuda.clone(),
            Discovery::Driver => facts.driver.clone(),
            Discovery::Gpus => Some(facts.visible.to_string()),
            Discovery::GpuName => {
                // Each product once, in index order: `A, B` for a mixed node, never `A, B, A`.
                let mut names: Vec<&str> = Vec::new();
                for name in facts.gpus.iter().filter_map(|g| g.name.as_deref()) {
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                (!names.is_empty()).then(|| names.join(", "))
            }
        };
        found.ok_or_else(|| format!("check {check} did not learn {}", fact.word()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Facts>> {
        // A poisoned board still holds whole entries: each is replaced in one insert.
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }
}
