//! The arm's evaluated and training references: a sum of sinusoids per
//! joint drawn from a seed (a `sines` reference whose input the controller
//! computes: the nominal arm's inverse-dynamics torque).

use anyhow::Result;
use nalgebra::SVector;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recede_control::{Computed, InputReference, Sines};
use recede_model::robots::arm::{NU, NX};
use recede_model::robots::Arm;
use recede_model::{ResidualEvaluation, WithResidual};

use super::oracle::TrueArmResidual;

/// The reference's torque (true arm) stays within this share of the limits.
pub const TORQUE_MARGIN: f64 = 0.8;

/// A joint reference drawn from `seed`: per joint `q_j(t) = centre_j +
/// sum_k a_jk sin(w_jk t + phase_jk)` (three terms), its rates in the rate
/// states, shrunk until the torque the true arm needs along it stays
/// within 80% of the limits.
pub fn draw(seed: u64) -> Result<Sines> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let reach = [rng.random_range(0.4..0.9), rng.random_range(0.5..1.1)];
    let center = vec![rng.random_range(-1.3..-0.3), rng.random_range(-1.0..1.0)];
    let (mut amplitude, mut frequency, mut phase) = (vec![], vec![], vec![]);
    for reach in reach {
        let weights: [f64; 3] = std::array::from_fn(|_| rng.random_range(0.1..1.0));
        let total: f64 = weights.iter().sum();
        let (mut a, mut w, mut p) = (vec![0.0; 3], vec![0.0; 3], vec![0.0; 3]);
        for k in 0..3 {
            a[k] = reach * weights[k] / total;
            w[k] = rng.random_range(0.5..3.0);
            p[k] = rng.random_range(0.0..std::f64::consts::TAU);
        }
        amplitude.push(a);
        frequency.push(w);
        phase.push(p);
    }
    let mut sines = Sines {
        states: vec![0, 1],
        rate_states: vec![2, 3],
        center,
        amplitude,
        frequency_rad_s: frequency,
        phase_rad: phase,
        input: InputReference::Computed(Computed::InverseDynamics),
    };
    let limits = Arm::default().input_bounds().upper;
    for _ in 0..40 {
        if peak_torque_share(&sines, &limits, 20.0)? <= TORQUE_MARGIN {
            return Ok(sines);
        }
        for a in sines.amplitude.iter_mut().flatten() {
            *a *= 0.9;
        }
    }
    anyhow::bail!("no feasible amplitude for the arm reference of seed {seed}")
}

/// Largest `|tau_j| / limit_j` the true arm (payload and friction) needs
/// over 0..horizon s, every 5 ms.
pub(super) fn peak_torque_share(sines: &Sines, limits: &[f64; NU], horizon: f64) -> Result<f64> {
    let actual = WithResidual::new(Arm::default(), TrueArmResidual::new()?)
        .with_evaluation(ResidualEvaluation::EveryStage);
    let (mut x, mut u) = (SVector::<f64, NX>::zeros(), SVector::<f64, NU>::zeros());
    let mut peak: f64 = 0.0;
    for k in 0..(horizon / 0.005) as usize {
        let t = k as f64 * 0.005;
        sines.sample(t, x.as_mut_slice(), u.as_mut_slice());
        anyhow::ensure!(
            sines.model_input(&actual, t, &x, &mut u),
            "the true arm has no torque for the reference at {t} s"
        );
        for j in 0..NU {
            peak = peak.max(u[j].abs() / limits[j]);
        }
    }
    Ok(peak)
}
