//! Keep-out rows on points along the continuum arm's body: `distance(p(x,
//! f_k), c) >= clearance` for the points at fractions `f_k` of its length
//! (section midpoints and ends by default), each point's position and its
//! exact Jacobian in the curvatures from the PCC model's forward
//! kinematics (`pcc::Frame`), linearised like the other keep-out rows. One
//! circular obstacle in the arm's x-z plane (a cylinder along y).
//!
//! Not yet wired into [`crate::Controller`] (its constraint type is the
//! position rows' [`super::ObstacleConstraints`] for every robot): a
//! tested building block (docs/soft-robots.md).

use nalgebra::SVector;
use recede_model::robots::continuum_arm::{NS, NX};
use recede_model::robots::{pcc, ContinuumArm};
use recede_mpc::{BoundedSides, ConstraintRow, SoftPenalty, StageConstraints};

/// Body points: the three section midpoints and ends, base to tip.
pub const BODY_FRACTIONS: [f64; 6] = [1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0, 4.0 / 6.0, 5.0 / 6.0, 1.0];

/// A circle in the x-z plane the body keeps out of: centre `(x, z)`, m,
/// and the clearance kept from it (radius plus the arm's own radius plus
/// a margin), m.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BodyObstacle {
    pub centre_m: [f64; 2],
    pub clearance_m: f64,
}

/// Soft keep-out rows on [`BODY_FRACTIONS`] of the arm; inactive (infinite
/// bounds, same sparsity) without an obstacle.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmBodyKeepOut {
    arm: ContinuumArm,
    obstacle: Option<BodyObstacle>,
    penalty: SoftPenalty,
}

impl ArmBodyKeepOut {
    pub fn new(arm: ContinuumArm, penalty: SoftPenalty) -> Self {
        Self {
            arm,
            obstacle: None,
            penalty,
        }
    }

    pub fn set_obstacle(&mut self, obstacle: Option<BodyObstacle>) {
        self.obstacle = obstacle;
    }

    /// World `(x, z)` of the point at fraction `f` and its Jacobian in the
    /// curvatures (rows x, z).
    pub fn point(&self, x: &SVector<f64, NX>, f: f64) -> ([f64; 2], [[f64; NS]; 2]) {
        let p = &self.arm.params;
        let q = SVector::<f64, NS>::from_fn(|i, _| x[i]);
        let qd = SVector::<f64, NS>::zeros();
        let l = pcc::section_length(p, NS);
        let s = f.clamp(0.0, 1.0) * p.length_m;
        let mut frame = pcc::Frame::<f64, NS>::base(p);
        for j in 0..NS {
            let start = j as f64 * l;
            if s <= start + l || j == NS - 1 {
                frame = frame.along(&q, &qd, j, (s - start).clamp(0.0, l));
                break;
            }
            frame = frame.along(&q, &qd, j, l);
        }
        let jac = std::array::from_fn(|r| std::array::from_fn(|c| frame.jacobian[(r, c)]));
        (frame.position, jac)
    }
}

impl StageConstraints<NX> for ArmBodyKeepOut {
    fn rows(&self) -> usize {
        BODY_FRACTIONS.len()
    }

    fn soft_penalty(&self, _row: usize) -> Option<SoftPenalty> {
        Some(self.penalty)
    }

    fn bounded_sides(&self, _row: usize) -> BoundedSides {
        BoundedSides::Lower
    }

    fn evaluate(
        &self,
        _node: usize,
        _time_secs: f64,
        x: &SVector<f64, NX>,
        out: &mut [ConstraintRow<NX>],
    ) {
        for (row, &f) in out.iter_mut().zip(&BODY_FRACTIONS) {
            let Some(o) = self.obstacle else {
                *row = ConstraintRow::INACTIVE;
                continue;
            };
            let (pos, jac) = self.point(x, f);
            let d = [pos[0] - o.centre_m[0], pos[1] - o.centre_m[1]];
            let dist = d[0].hypot(d[1]);
            // At the centre any direction is a descent direction: push along x.
            let n = if dist > 1e-9 {
                [d[0] / dist, d[1] / dist]
            } else {
                [1.0, 0.0]
            };
            let mut gradient = SVector::<f64, NX>::zeros();
            for c in 0..NS {
                gradient[c] = n[0] * jac[0][c] + n[1] * jac[1][c];
            }
            *row = ConstraintRow {
                value: dist,
                gradient,
                lower: o.clearance_m,
                upper: f64::INFINITY,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_at(k: &ArmBodyKeepOut, x: &SVector<f64, NX>) -> Vec<ConstraintRow<NX>> {
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
        let mut k = ArmBodyKeepOut::new(
            arm,
            SoftPenalty {
                l1: 200.0,
                l2: 2000.0,
            },
        );
        let x = SVector::<f64, NX>::from([1.9, 3.1, 2.9, 0.4, -0.2, 0.1]);
        assert!(rows_at(&k, &x)
            .iter()
            .all(|r| *r == ConstraintRow::INACTIVE));
        k.set_obstacle(Some(BodyObstacle {
            centre_m: [0.1, -0.2],
            clearance_m: 0.03,
        }));
        for &f in &BODY_FRACTIONS {
            let (p, _) = k.point(&x, f);
            let q = arm.point_at(&x, f);
            assert!(
                (p[0] - q[0]).abs() < 1e-12 && (p[1] - q[1]).abs() < 1e-12,
                "{f}"
            );
        }
        let rows = rows_at(&k, &x);
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

    /// A circle beside the straight hanging arm's middle is violated by
    /// the body point there and no other (the tip row alone would not see
    /// it), and a small step in the curvatures along the violated row's
    /// gradient moves that point out.
    #[test]
    fn a_circle_on_the_body_is_violated_and_the_gradient_leads_out() {
        let arm = ContinuumArm::default();
        let mut k = ArmBodyKeepOut::new(
            arm,
            SoftPenalty {
                l1: 200.0,
                l2: 2000.0,
            },
        );
        // Straight down: the point at half length is at (0, -0.225).
        k.set_obstacle(Some(BodyObstacle {
            centre_m: [0.01, -0.225],
            clearance_m: 0.04,
        }));
        let x = SVector::<f64, NX>::zeros();
        let rows = rows_at(&k, &x);
        let violated: Vec<usize> = (0..k.rows())
            .filter(|&r| rows[r].value < rows[r].lower)
            .collect();
        assert_eq!(violated, vec![2], "{rows:?}");
        let r = &rows[2];
        let step = r.gradient * (1e-3 / r.gradient.norm());
        let after = rows_at(&k, &(x + step));
        assert!(
            after[2].value > r.value,
            "{} -> {}",
            r.value,
            after[2].value
        );
    }
}
