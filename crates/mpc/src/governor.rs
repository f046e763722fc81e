//! The reference governor: how far the reference the OCP sees may lead the
//! measured state.
//!
//! A set point 50 m away puts a tracking error into a quadratic cost that
//! the linearised problem answers with saturated inputs and attitudes the
//! linearisation no longer describes (the quadrotor flipped and fell). The
//! governor moves each node's reference for a group of states (a position)
//! onto the ball of radius `max_lead` around the measured values: the OCP
//! then always sees a bounded error, the robot is drawn towards the goal at
//! the pace the bounded error produces, and the reference is untouched once
//! the goal is within the radius (so tracking runs whose error stays below
//! it are identical to runs without a governor).

use nalgebra::SVector;
use serde::{Deserialize, Serialize};

use crate::MpcError;

/// `[controller.governor]`: a group of state components (by index) whose
/// reference may lead the measured state by at most `max_lead` (Euclidean
/// norm over the group, in the states' units).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernorConfig {
    /// State indices of the group (a position: `[0, 1, 2]` for the
    /// quadrotor).
    pub indices: Vec<usize>,
    /// Largest distance between the reference used and the measured state
    /// over the group, > 0; `inf` switches the governor off.
    pub max_lead: f64,
}

impl GovernorConfig {
    pub(crate) fn validate(&self, nx: usize) -> Result<(), MpcError> {
        let bad = |key: &str, expected: String, found: String| MpcError::Config {
            key: format!("governor.{key}"),
            expected,
            found,
        };
        if self.indices.is_empty() {
            return Err(bad(
                "indices",
                "at least one state index".into(),
                "[]".into(),
            ));
        }
        if let Some(i) = self.indices.iter().find(|i| **i >= nx) {
            return Err(bad(
                "indices",
                format!("state indices < {nx}"),
                i.to_string(),
            ));
        }
        if !(self.max_lead > 0.0) {
            return Err(bad(
                "max_lead",
                "a distance > 0 (inf: no limit)".into(),
                self.max_lead.to_string(),
            ));
        }
        Ok(())
    }

    /// Writes the governed `reference` into `out`; true when it moved it.
    pub(crate) fn apply<const NX: usize>(
        &self,
        measured: &SVector<f64, NX>,
        reference: &SVector<f64, NX>,
        out: &mut SVector<f64, NX>,
    ) -> bool {
        *out = *reference;
        let lead: f64 = self
            .indices
            .iter()
            .map(|&i| (reference[i] - measured[i]).powi(2))
            .sum::<f64>()
            .sqrt();
        if !(lead > self.max_lead) {
            return false;
        }
        let scale = self.max_lead / lead;
        for &i in &self.indices {
            out[i] = measured[i] + (reference[i] - measured[i]) * scale;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Vector3;

    #[test]
    fn clamps_the_lead_to_the_radius_and_leaves_near_references_alone() {
        let g = GovernorConfig {
            indices: vec![0, 1],
            max_lead: 2.0,
        };
        let x = Vector3::new(1.0, 1.0, 7.0);
        let mut out = Vector3::zeros();
        assert!(g.apply(&x, &Vector3::new(31.0, 41.0, -3.0), &mut out));
        assert!((out - Vector3::new(1.0 + 1.2, 1.0 + 1.6, -3.0)).norm() < 1e-12);
        assert!(!g.apply(&x, &Vector3::new(2.0, 2.0, 5.0), &mut out));
        assert_eq!(out, Vector3::new(2.0, 2.0, 5.0));
        assert!(g.validate(3).is_ok());
        let e = GovernorConfig {
            indices: vec![3],
            max_lead: 1.0,
        };
        assert!(e
            .validate(3)
            .unwrap_err()
            .to_string()
            .contains("governor.indices"));
    }
}
