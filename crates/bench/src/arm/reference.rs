//! The arm's evaluated and training references: a sum of sinusoids per
//! joint drawn from a seed, with the nominal arm's inverse-dynamics torque
//! as the input reference.

use anyhow::Result;
use nalgebra::{SVector, Vector2};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recede_model::robots::arm::{NU, NX};
use recede_model::robots::Arm;
use recede_model::{Dynamics, Residual, ZeroResidual};

use super::oracle::TrueArmResidual;

/// The reference's torque (true arm) stays within this share of the limits.
pub const TORQUE_MARGIN: f64 = 0.8;

/// A joint reference: per joint `q_j(t) = centre_j + sum_k a_jk sin(w_jk t +
/// phase_jk)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sines {
    pub seed: u64,
    pub center_rad: [f64; 2],
    pub amplitude_rad: [[f64; 3]; 2],
    pub rate_rad_s: [[f64; 3]; 2],
    pub phase_rad: [[f64; 3]; 2],
}

impl Sines {
    /// A random draw from `seed`, shrunk until the true arm's torque along
    /// it stays within 80% of the limits.
    pub fn random(seed: u64) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let reach = [rng.random_range(0.4..0.9), rng.random_range(0.5..1.1)];
        let mut s = Self {
            seed,
            center_rad: [rng.random_range(-1.3..-0.3), rng.random_range(-1.0..1.0)],
            amplitude_rad: [[0.0; 3]; 2],
            rate_rad_s: [[0.0; 3]; 2],
            phase_rad: [[0.0; 3]; 2],
        };
        for j in 0..2 {
            let weights: [f64; 3] = std::array::from_fn(|_| rng.random_range(0.1..1.0));
            let total: f64 = weights.iter().sum();
            for k in 0..3 {
                s.amplitude_rad[j][k] = reach[j] * weights[k] / total;
                s.rate_rad_s[j][k] = rng.random_range(0.5..3.0);
                s.phase_rad[j][k] = rng.random_range(0.0..std::f64::consts::TAU);
            }
        }
        let actual = TrueArmResidual::new()?;
        let limits = Arm::default().input_bounds().upper;
        for _ in 0..40 {
            if s.peak_torque_share(&actual, &limits, 20.0) <= TORQUE_MARGIN {
                return Ok(s);
            }
            for a in s.amplitude_rad.iter_mut().flatten() {
                *a *= 0.9;
            }
        }
        anyhow::bail!("no feasible amplitude for the arm reference of seed {seed}")
    }

    /// Angles, rates and accelerations at `t`.
    pub fn at(&self, t: f64) -> ([f64; 2], [f64; 2], [f64; 2]) {
        let (mut q, mut dq, mut ddq) = ([0.0; 2], [0.0; 2], [0.0; 2]);
        for j in 0..2 {
            q[j] = self.center_rad[j];
            for k in 0..3 {
                let (a, w) = (self.amplitude_rad[j][k], self.rate_rad_s[j][k]);
                let (s, c) = (w * t + self.phase_rad[j][k]).sin_cos();
                q[j] += a * s;
                dq[j] += a * w * c;
                ddq[j] -= a * w * w * s;
            }
        }
        (q, dq, ddq)
    }

    /// Reference state and the torque `arm` needs to follow it exactly at
    /// `t` (inverse dynamics: `M(q) (ddq - f(x, 0))`, since the arm's
    /// acceleration is affine in the torque), with `residual` added.
    fn torque<R: Residual<NX, NU>>(
        &self,
        arm: &Arm,
        residual: &R,
        t: f64,
        x: &mut [f64],
        u: &mut [f64],
    ) {
        let (q, dq, ddq) = self.at(t);
        let xs = SVector::<f64, NX>::new(q[0], q[1], dq[0], dq[1]);
        x.copy_from_slice(xs.as_slice());
        // a(u) = A0 + B u (affine in u, also with the residual's payload and
        // friction, whose torque part is linear too): solve for u column by
        // column from three evaluations.
        let accel = |u: &SVector<f64, NU>| {
            let mut d = arm.derivative(&xs, u);
            residual.add_to(&xs, u, &mut d);
            Vector2::new(d[2], d[3])
        };
        let a0 = accel(&SVector::zeros());
        let b = nalgebra::Matrix2::from_columns(&[
            accel(&SVector::<f64, NU>::new(1.0, 0.0)) - a0,
            accel(&SVector::<f64, NU>::new(0.0, 1.0)) - a0,
        ]);
        let need = Vector2::new(ddq[0], ddq[1]) - a0;
        let tau = b.lu().solve(&need).unwrap_or_else(Vector2::zeros);
        u.copy_from_slice(tau.as_slice());
    }

    /// The MPC's reference at `t`: the state and the nominal arm's
    /// inverse-dynamics torque.
    pub fn sample(&self, t: f64, x: &mut [f64], u: &mut [f64]) {
        self.torque(&Arm::default(), &ZeroResidual, t, x, u);
    }

    /// Largest `|tau_j| / limit_j` the true arm needs over 0..horizon s.
    pub(super) fn peak_torque_share(
        &self,
        actual: &TrueArmResidual,
        limits: &[f64; NU],
        horizon: f64,
    ) -> f64 {
        let (mut x, mut u) = ([0.0; NX], [0.0; NU]);
        let mut peak: f64 = 0.0;
        for k in 0..(horizon / 0.005) as usize {
            self.torque(&actual.nominal, actual, k as f64 * 0.005, &mut x, &mut u);
            for j in 0..NU {
                peak = peak.max(u[j].abs() / limits[j]);
            }
        }
        peak
    }
}
