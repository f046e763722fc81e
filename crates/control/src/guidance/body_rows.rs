//! Keep-out rows on points along a deformable body (the continuum arm's):
//! `distance(p(x, f_k), c) >= clearance` for the points at fractions `f_k`
//! of its length, each point's position and its exact Jacobian from the
//! robot's model (`Robot::body_point`: the PCC forward kinematics for the
//! arm), linearised like the position rows. [`super::ObstacleConstraints`]
//! carries them ([`super::ObstacleConstraints::with_points`]) in place of
//! its position rows, one row per point and obstacle slot: the same soft
//! rows with slacks, filled by the same `Controller::set_obstacles`.

use std::fmt;
use std::sync::Arc;

use nalgebra::{SVector, Vector3};
use recede_mpc::ConstraintRow;

/// Points held clear per obstacle: every twelfth of the length, base
/// excluded (clamped), tip included. On the 0.45 m arm they are 37.5 mm
/// apart, so a chord between two points at the clearance `C` passes the
/// centre no nearer than `sqrt(C^2 - 18.75^2 mm^2)` (52 of 55 mm).
pub const BODY_POINTS: usize = 12;

/// The fraction of the length of point `k` (0-based), base to tip.
pub fn body_fraction(k: usize) -> f64 {
    (k + 1) as f64 / BODY_POINTS as f64
}

/// A point at a fraction of the body's length and its Jacobian (rows x,
/// y, z) at a state.
type PointOf<const NX: usize> =
    Arc<dyn Fn(&[f64; NX], f64) -> Option<([f64; 3], [[f64; NX]; 3])> + Send + Sync>;

/// Where the deformable body's points are at a state. Built once at setup.
#[derive(Clone)]
pub struct BodyPoints<const NX: usize> {
    at: PointOf<NX>,
}

impl<const NX: usize> BodyPoints<NX> {
    /// `None` for a rigid body (`at` gives no point).
    pub fn new(
        at: impl Fn(&[f64; NX], f64) -> Option<([f64; 3], [[f64; NX]; 3])> + Send + Sync + 'static,
    ) -> Option<Self> {
        at(&[0.0; NX], 1.0)?;
        Some(Self { at: Arc::new(at) })
    }

    /// Point `k`'s position and Jacobian at `x`; a non-finite point when
    /// the model gives none (the QP then falls back, counted).
    pub fn point(&self, x: &SVector<f64, NX>, k: usize) -> ([f64; 3], [[f64; NX]; 3]) {
        (self.at)(&x.data.0[0], body_fraction(k)).unwrap_or(([f64::NAN; 3], [[f64::NAN; NX]; 3]))
    }

    /// The keep-out row of point `(p, jac)` against a centre (an axis when
    /// `planar`: horizontal distance) with its clearance.
    pub fn row(
        p: &[f64; 3],
        jac: &[[f64; NX]; 3],
        centre: &Vector3<f64>,
        clearance: f64,
        planar: bool,
    ) -> ConstraintRow<NX> {
        let mut d = Vector3::new(p[0] - centre.x, p[1] - centre.y, p[2] - centre.z);
        if planar {
            d.z = 0.0;
        }
        let dist = d.norm();
        // At the centre any direction is a descent direction: push along x.
        let n = if dist > 1e-9 { d / dist } else { Vector3::x() };
        let gradient =
            SVector::<f64, NX>::from_fn(|c, _| n.x * jac[0][c] + n.y * jac[1][c] + n.z * jac[2][c]);
        ConstraintRow {
            value: dist,
            gradient,
            lower: clearance,
            upper: f64::INFINITY,
        }
    }
}

impl<const NX: usize> fmt::Debug for BodyPoints<NX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyPoints")
            .field("points", &BODY_POINTS)
            .finish_non_exhaustive()
    }
}

impl<const NX: usize> PartialEq for BodyPoints<NX> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.at, &other.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guidance::{ObstacleConstraintConfig, ObstacleConstraints};
    use recede_model::robots::continuum_arm::NX;
    use recede_model::robots::{ContinuumArm, Robot};
    use recede_mpc::StageConstraints;
    use recede_msg::{Obstacle, ObstacleShape};

    fn arm_rows(obstacle: Option<([f64; 3], f64)>) -> ObstacleConstraints<NX> {
        let arm = ContinuumArm::default();
        let config = ObstacleConstraintConfig {
            max_obstacles: 1,
            margin_m: 0.015,
            uncertainty_sigmas: 0.0,
            ..ObstacleConstraintConfig::default()
        };
        let mut rows = ObstacleConstraints::<NX>::new(&config, 0, 3)
            .unwrap()
            .with_points(BodyPoints::new(move |x, f| arm.body_point(x, f)));
        if let Some((c, r)) = obstacle {
            let o = Obstacle {
                id: 0,
                shape: ObstacleShape::Sphere,
                position_m: Vector3::from(c),
                radius_m: r,
                position_std_m: 0.0,
                radius_std_m: 0.0,
                hits: 1,
                last_seen_secs: 0.0,
            };
            rows.set_obstacles(&[o], &Vector3::zeros());
        }
        rows
    }

    fn rows_at(k: &ObstacleConstraints<NX>, x: &SVector<f64, NX>) -> Vec<ConstraintRow<NX>> {
        let mut out = vec![ConstraintRow::INACTIVE; k.rows()];
        k.evaluate(1, 0.0, x, &mut out);
        out
    }

    /// The rows' gradients are the central differences of their values,
    /// the points are the model's own (`ContinuumArm::point_at`), and
    /// without an obstacle every row is inactive.
    #[test]
    fn rows_match_finite_differences() {
        let arm = ContinuumArm::default();
        let x = SVector::<f64, NX>::from([1.9, 3.1, 2.9, 0.4, -0.2, 0.1]);
        let empty = arm_rows(None);
        assert_eq!(empty.rows(), BODY_POINTS);
        assert!(rows_at(&empty, &x)
            .iter()
            .all(|r| *r == ConstraintRow::INACTIVE));
        let k = arm_rows(Some(([0.1, 0.0, -0.2], 0.015)));
        let points = BodyPoints::new(move |x, f| arm.body_point(x, f)).unwrap();
        for i in 0..BODY_POINTS {
            let (p, _) = points.point(&x, i);
            let q = arm.point_at(&x, body_fraction(i));
            assert!(
                (p[0] - q[0]).abs() < 1e-12 && p[1] == 0.0 && (p[2] - q[1]).abs() < 1e-12,
                "{i}"
            );
        }
        let rows = rows_at(&k, &x);
        assert!(rows.iter().all(|r| r.lower == 0.03), "{rows:?}");
        let h = 1e-6;
        for i in 0..NX {
            let (mut a, mut b) = (x, x);
            a[i] -= h;
            b[i] += h;
            let (ra, rb) = (rows_at(&k, &a), rows_at(&k, &b));
            for r in 0..k.rows() {
                let fd = (rb[r].value - ra[r].value) / (2.0 * h);
                assert!(
                    (fd - rows[r].gradient[i]).abs() < 1e-6,
                    "row {r}, state {i}: {fd} vs {}",
                    rows[r].gradient[i]
                );
            }
        }
    }

    /// A ball beside the straight hanging arm's middle is violated by the
    /// body points there and by no point near the tip (a tip row alone
    /// would not see it), and a small step in the curvatures along a
    /// violated row's gradient moves that point out.
    #[test]
    fn a_ball_on_the_body_is_violated_and_the_gradient_leads_out() {
        // Straight down: the point at half length is at (0, -0.225).
        let k = arm_rows(Some(([0.01, 0.0, -0.225], 0.01)));
        let x = SVector::<f64, NX>::zeros();
        let rows = rows_at(&k, &x);
        let violated: Vec<usize> = (0..k.rows())
            .filter(|&r| rows[r].value < rows[r].lower)
            .collect();
        // Its neighbours, 37.5 mm along, are 39 mm from it: clear of 25.
        assert_eq!(violated, vec![5], "{rows:?}");
        let r = &rows[5];
        let step = r.gradient * (1e-3 / r.gradient.norm());
        let after = rows_at(&k, &(x + step));
        assert!(
            after[5].value > r.value,
            "{} -> {}",
            r.value,
            after[5].value
        );
    }
}
