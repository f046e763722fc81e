//! The latest estimate, shared by the estimator (writer) and the
//! controller (reader).

use std::sync::{Mutex, PoisonError};

/// The latest estimate: written by the estimator, copied by the controller.
#[derive(Debug)]
pub(crate) struct Slot {
    pub data: Mutex<SlotData>,
}

#[derive(Debug)]
pub(crate) struct SlotData {
    pub valid: bool,
    pub state: Vec<f64>,
    pub std: Vec<f64>,
}

impl Slot {
    pub(crate) fn publish(&self, state: &[f64], std: &[f64]) {
        let mut d = self.data.lock().unwrap_or_else(PoisonError::into_inner);
        d.state.copy_from_slice(state);
        d.std.copy_from_slice(std);
        d.valid = true;
    }

    pub(crate) fn read(&self, state: &mut [f64], std: &mut [f64]) -> bool {
        let d = self.data.lock().unwrap_or_else(PoisonError::into_inner);
        if d.valid {
            state.copy_from_slice(&d.state);
            std.copy_from_slice(&d.std);
        }
        d.valid
    }
}
