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
//!
//! A ball alone, recomputed from each measurement, shows the OCP an error
//! of `max_lead` forever: the robot chases a point it never reaches, each
//! plan brakes for it, and the two alternate (P2's quadrotor tilted past 90
//! degrees). With `speed` the governor keeps a target between steps
//! ([`Target`]): it moves towards the goal at `speed`, never more than
//! `max_lead` ahead of the measured state (it waits for a robot that lags),
//! and node `k` of the OCP sees it `speed t_k` further on, with that
//! velocity (`velocity_indices`) until it reaches the goal. A robot that
//! keeps up cruises at `speed` with a small tracking error and brakes for
//! the goal as the plan reaches it.

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
    /// Speed of the governed target towards the goal (units of the group
    /// per second); none: a fixed ball.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    /// The states holding the group's rates (as many as `indices`), whose
    /// reference becomes the target's velocity while it moves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub velocity_indices: Vec<usize>,
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
        if let Some(i) = self.velocity_indices.iter().find(|i| **i >= nx) {
            return Err(bad(
                "velocity_indices",
                format!("state indices < {nx}"),
                i.to_string(),
            ));
        }
        if !self.velocity_indices.is_empty() && self.velocity_indices.len() != self.indices.len() {
            return Err(bad(
                "velocity_indices",
                format!("{} indices, one per entry of `indices`", self.indices.len()),
                self.velocity_indices.len().to_string(),
            ));
        }
        if let Some(v) = self.speed.filter(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(bad("speed", "a finite speed > 0".into(), v.to_string()));
        }
        if self.max_lead.is_nan() || self.max_lead <= 0.0 {
            return Err(bad(
                "max_lead",
                "a distance > 0 (inf: no limit)".into(),
                self.max_lead.to_string(),
            ));
        }
        Ok(())
    }

    /// The stateless ball: `reference` moved to within `max_lead` of
    /// `measured` into `out`; true when it moved it.
    fn ball<const NX: usize>(
        &self,
        measured: &SVector<f64, NX>,
        reference: &SVector<f64, NX>,
        out: &mut SVector<f64, NX>,
    ) -> bool {
        *out = *reference;
        let distance = self.distance(reference, measured);
        if distance.is_nan() || distance <= self.max_lead {
            return false;
        }
        let scale = self.max_lead / distance;
        for &i in &self.indices {
            out[i] = measured[i] + (reference[i] - measured[i]) * scale;
        }
        true
    }

    fn distance<const NX: usize>(&self, a: &SVector<f64, NX>, b: &SVector<f64, NX>) -> f64 {
        self.indices
            .iter()
            .map(|&i| (a[i] - b[i]).powi(2))
            .sum::<f64>()
            .sqrt()
    }
}

/// The governor's memory: where its moving target is (the group's entries
/// of `point`), while one is active.
#[derive(Debug, Clone)]
pub(crate) struct Target<const NX: usize> {
    point: SVector<f64, NX>,
    active: bool,
}

impl<const NX: usize> Default for Target<NX> {
    fn default() -> Self {
        Self {
            point: SVector::zeros(),
            active: false,
        }
    }
}

impl<const NX: usize> Target<NX> {
    pub fn forget(&mut self) {
        self.active = false;
    }

    /// The references the OCP sees (`out`, one per node `dt_secs` apart)
    /// for the caller's `goals`, one control period (`period_secs`) after
    /// the last call; true when the governor changed them.
    pub fn govern(
        &mut self,
        g: &GovernorConfig,
        measured: &SVector<f64, NX>,
        goals: &[SVector<f64, NX>],
        dt_secs: f64,
        period_secs: f64,
        out: &mut [SVector<f64, NX>],
    ) -> bool {
        // Only the present reference (node 0) decides: the later nodes of a
        // trajectory are rightly far from where the robot is now.
        let goal = &goals[0];
        let far = g.distance(goal, measured) > g.max_lead;
        let Some(speed) = g.speed else {
            out.copy_from_slice(goals);
            if far {
                for (o, r) in out.iter_mut().zip(goals) {
                    g.ball(measured, r, o);
                }
            }
            return far;
        };
        if !self.active {
            if !far {
                out.copy_from_slice(goals);
                return false;
            }
            self.active = true;
            self.point = *measured;
        } else {
            step_towards(&g.indices, &mut self.point, goal, speed * period_secs);
        }
        // Wait for a robot that lags: never more than max_lead ahead.
        let mut waiting = SVector::zeros();
        g.ball(measured, &self.point, &mut waiting);
        self.point = waiting;
        for (k, (o, r)) in out.iter_mut().zip(goals).enumerate() {
            *o = *r;
            let mut p = self.point;
            let left = step_towards(&g.indices, &mut p, r, speed * k as f64 * dt_secs);
            for &i in &g.indices {
                o[i] = p[i];
            }
            if left > 0.0 {
                for (&v, &i) in g.velocity_indices.iter().zip(&g.indices) {
                    o[v] = (r[i] - p[i]) / left * speed;
                }
            }
        }
        if g.distance(&self.point, goal) == 0.0 {
            // Arrived: the goal itself from now on.
            self.active = false;
        }
        true
    }
}

/// Moves `point`'s `indices` entries towards `goal` by at most `by`;
/// returns the distance left.
fn step_towards<const NX: usize>(
    indices: &[usize],
    point: &mut SVector<f64, NX>,
    goal: &SVector<f64, NX>,
    by: f64,
) -> f64 {
    let distance = indices
        .iter()
        .map(|&i| (goal[i] - point[i]).powi(2))
        .sum::<f64>()
        .sqrt();
    if distance.is_nan() || distance <= by {
        for &i in indices {
            point[i] = goal[i];
        }
        return 0.0;
    }
    let scale = by / distance;
    for &i in indices {
        point[i] += (goal[i] - point[i]) * scale;
    }
    distance - by
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Vector3;

    fn governor(speed: Option<f64>) -> GovernorConfig {
        GovernorConfig {
            indices: vec![0, 1],
            max_lead: 2.0,
            speed,
            velocity_indices: if speed.is_some() { vec![2] } else { vec![] },
        }
    }

    #[test]
    fn a_ball_clamps_the_lead_and_leaves_near_references_alone() {
        let g = governor(None);
        let x = Vector3::new(1.0, 1.0, 7.0);
        let mut out = [Vector3::zeros(); 2];
        let mut t = Target::default();
        let goals = [Vector3::new(31.0, 41.0, -3.0); 2];
        assert!(t.govern(&g, &x, &goals, 0.1, 0.1, &mut out));
        assert!((out[1] - Vector3::new(1.0 + 1.2, 1.0 + 1.6, -3.0)).norm() < 1e-12);
        let near = [Vector3::new(2.0, 2.0, 5.0); 2];
        assert!(!t.govern(&g, &x, &near, 0.1, 0.1, &mut out));
        assert_eq!(out, near);
        assert!(g.validate(3).is_ok());
        assert!(
            governor(Some(1.0)).validate(3).is_err(),
            "one rate for two states"
        );
        let mut far = g.clone();
        far.indices = vec![3];
        assert!(far
            .validate(3)
            .unwrap_err()
            .to_string()
            .contains("governor.indices"));
    }

    #[test]
    fn a_moving_target_advances_at_its_speed_and_waits_for_the_robot() {
        let g = GovernorConfig {
            indices: vec![0],
            max_lead: 2.0,
            speed: Some(3.0),
            velocity_indices: vec![1],
        };
        let goals = [Vector3::new(100.0, 0.0, 0.0); 3];
        let mut out = [Vector3::zeros(); 3];
        let mut t = Target::default();
        let x = Vector3::new(0.0, 0.0, 0.0);
        assert!(t.govern(&g, &x, &goals, 1.0, 0.5, &mut out));
        // Starts at the robot; node k is 3 k further on, moving at 3.
        assert_eq!(out[0], Vector3::new(0.0, 3.0, 0.0));
        assert_eq!(out[2], Vector3::new(6.0, 3.0, 0.0));
        // Half a second later it has moved 1.5 m; the robot has not moved:
        // after four periods it waits 2 m ahead.
        t.govern(&g, &x, &goals, 1.0, 0.5, &mut out);
        assert_eq!(out[0][0], 1.5);
        for _ in 0..3 {
            t.govern(&g, &x, &goals, 1.0, 0.5, &mut out);
        }
        assert_eq!(out[0][0], 2.0);
        // Near the goal it stops there, with the goal's own velocity.
        let x = Vector3::new(99.0, 0.0, 0.0);
        for _ in 0..3 {
            t.govern(&g, &x, &goals, 1.0, 0.5, &mut out);
        }
        assert_eq!(out[2], goals[2]);
    }
}
