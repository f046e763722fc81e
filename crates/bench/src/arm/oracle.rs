//! What the arm's controller does not know (a tip payload, joint
//! friction), as the simulator's true arm and as a residual the oracle's
//! MPC differentiates.

use anyhow::Result;
use nalgebra::SVector;
use recede_model::robots::arm::{ArmParams, NU, NX};
use recede_model::robots::Arm;
use recede_model::{Dynamics, Residual, Scalar};
use recede_sim::plant::ArmTruth;

/// What the controller does not know.
pub const EXTRA_PAYLOAD_KG: f64 = 0.5;
pub const VISCOUS_FRICTION: [f64; 2] = [0.1, 0.1];
pub const COULOMB_FRICTION: [f64; 2] = [0.2, 0.1];
/// The simulator's default smoothing of the Coulomb term (`tanh(dq / s)`).
pub const COULOMB_SMOOTHING_RADPS: f64 = 0.01;

pub fn truth() -> ArmTruth {
    ArmTruth::new(
        Arm::default(),
        EXTRA_PAYLOAD_KG,
        VISCOUS_FRICTION,
        COULOMB_FRICTION,
        COULOMB_SMOOTHING_RADPS,
        nalgebra::Vector3::zeros(),
    )
}

/// The true payload and friction as a residual on the nominal arm, generic
/// over the scalar: the oracle.
#[derive(Debug, Clone, Copy)]
pub struct TrueArmResidual {
    pub(super) nominal: Arm,
    actual: Arm,
}

impl TrueArmResidual {
    pub fn new() -> Result<Self> {
        let nominal = Arm::default();
        let actual = Arm::new(ArmParams {
            payload_mass_kg: nominal.params.payload_mass_kg + EXTRA_PAYLOAD_KG,
            ..nominal.params
        })?;
        Ok(Self { nominal, actual })
    }

    /// Joint friction torques at rates `dq`.
    fn friction<T: Scalar>(dq: T, j: usize) -> T {
        dq * VISCOUS_FRICTION[j]
            + (dq * (1.0 / COULOMB_SMOOTHING_RADPS)).tanh() * COULOMB_FRICTION[j]
    }
}

impl Residual<NX, NU> for TrueArmResidual {
    fn add_to<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>, xdot: &mut SVector<T, NX>) {
        let tau = SVector::<T, NU>::from_fn(|j, _| u[j] - Self::friction(x[2 + j], j));
        let d = self.actual.derivative(x, &tau) - self.nominal.derivative(x, u);
        xdot[2] += d[2];
        xdot[3] += d[3];
    }
}
