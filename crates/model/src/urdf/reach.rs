//! Inverse kinematics of a chain's tip position: damped least squares on
//! the forward kinematics, its Jacobian exact (the same [`Chain::tip`] on
//! dual numbers), with the redundant joints pulled towards a posture in
//! the Jacobian's null space. Converged, the answer is the joint angles
//! nearest the posture that put the tip on the target (a local minimum),
//! a smooth function of the target: a path of targets gives a smooth path
//! of joint angles. Setup-time code: it allocates.

use num_dual::DualSVec64;

use super::chain::{Chain, MAX_JOINTS};

/// Damping of the least-squares step, m (keeps the step bounded near a
/// singular pose).
const DAMPING: f64 = 1e-3;
/// The share of the way to the posture each iteration moves (within the
/// null space).
const POSTURE_GAIN: f64 = 0.5;
const MAX_ITERATIONS: usize = 2000;
/// The final Gauss-Newton steps: their damping (a regulariser only), m.
const POLISH_DAMPING: f64 = 1e-9;
const POLISH_ITERATIONS: usize = 50;
/// Converged: the tip within this of the target, m, and the posture step
/// this small, rad.
const TOLERANCE: f64 = 1e-10;

impl Chain {
    /// The tip's position at joint angles `q`, m, base frame.
    pub fn tip_position(&self, q: &[f64]) -> [f64; 3] {
        self.tip(q).0
    }

    /// Joint angles that put the tip at `target` (m, base frame), started
    /// from `guess`, pulled towards `posture`, kept within `[lower,
    /// upper]`; `Err` with the distance left (m) when it does not get
    /// within 1e-6 m.
    pub fn reach(
        &self,
        target: [f64; 3],
        guess: &[f64],
        posture: &[f64],
        lower: &[f64],
        upper: &[f64],
    ) -> Result<Vec<f64>, f64> {
        let n = self.dof().min(MAX_JOINTS);
        let mut q: Vec<f64> = guess[..n].to_vec();
        self.descend(&mut q, target, Some(posture), lower, upper, MAX_ITERATIONS);
        // Damping leaks a little of the posture's pull into the tip's
        // motion near a stretched arm; Gauss-Newton steps without it land
        // the tip (they move the joints by about as little).
        self.descend(&mut q, target, None, lower, upper, POLISH_ITERATIONS);
        let p = self.tip_position(&q);
        let miss = (0..3)
            .map(|k| (target[k] - p[k]).powi(2))
            .sum::<f64>()
            .sqrt();
        if miss.is_finite() && miss <= 1e-6 {
            Ok(q)
        } else {
            Err(miss)
        }
    }

    /// Damped least-squares iterations towards `target`, pulled towards
    /// `posture` in the null space when one is given.
    fn descend(
        &self,
        q: &mut [f64],
        target: [f64; 3],
        posture: Option<&[f64]>,
        lower: &[f64],
        upper: &[f64],
        iterations: usize,
    ) {
        let n = q.len();
        let (damping, gain) = match posture {
            Some(_) => (DAMPING, POSTURE_GAIN),
            None => (POLISH_DAMPING, 0.0),
        };
        for _ in 0..iterations {
            let qd: Vec<DualSVec64<MAX_JOINTS>> = q
                .iter()
                .enumerate()
                .map(|(i, v)| DualSVec64::from_re(*v).derivative(i))
                .collect();
            let (p, _) = self.tip(&qd);
            let e: [f64; 3] = std::array::from_fn(|k| target[k] - p[k].re);
            let miss = e.iter().map(|v| v * v).sum::<f64>().sqrt();
            // J (3 x n): row k is d p_k / d q.
            let jac: [[f64; MAX_JOINTS]; 3] = std::array::from_fn(|k| {
                let mut row = [0.0; MAX_JOINTS];
                if let Some(d) = &p[k].eps.0 {
                    for (r, v) in row.iter_mut().zip(d.iter()).take(n) {
                        *r = *v;
                    }
                }
                row
            });
            let jjt = nalgebra::Matrix3::from_fn(|r, k| {
                (0..n).map(|i| jac[r][i] * jac[k][i]).sum::<f64>()
                    + if r == k { damping * damping } else { 0.0 }
            });
            let Some(inv) = jjt.try_inverse() else {
                return;
            };
            // The posture's pull, projected out of the tip's motion.
            let z: Vec<f64> = (0..n)
                .map(|i| posture.map_or(0.0, |p| gain * (p[i] - q[i])))
                .collect();
            let jz = nalgebra::Vector3::from_fn(|k, _| (0..n).map(|i| jac[k][i] * z[i]).sum());
            let y = inv * (nalgebra::Vector3::from(e) - jz);
            let mut step = 0.0f64;
            for i in 0..n {
                let dq = z[i] + (0..3).map(|k| jac[k][i] * y[k]).sum::<f64>();
                // max then min: never a panic on crossed or NaN limits.
                let next = (q[i] + dq).max(lower[i]).min(upper[i]);
                step = step.max((next - q[i]).abs());
                q[i] = next;
            }
            if miss < TOLERANCE && step < TOLERANCE {
                return;
            }
        }
    }
}
