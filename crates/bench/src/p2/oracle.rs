//! P2's oracle: the MPC whose model is the nominal quadrotor plus the true
//! drag, the limit a learned residual can reach. No scenario file can name
//! that model, so the benchmark builds the MPC itself and runs it as rt's
//! policy ([`MpcPolicy`]) in the same lockstep loop, on the same true plant, as the
//! scenario's own controller.

use anyhow::Result;
use nalgebra::{SVector, Vector3};
use recede_control::ReferenceConfig;
use recede_model::robots::quadrotor::{rotation_from_quaternion, state_quaternion, NU, NX};
use recede_model::robots::Quadrotor;
use recede_model::{c, Residual, ResidualEvaluation, Scalar};
use recede_mpc::MpcConfig;
use recede_sim::plant::QuadrotorTruth;

use crate::learned::{self, MpcPolicy, ResidualMpc};

/// P2's body-frame drag, written generic over the scalar so the MPC can
/// differentiate it: the oracle's residual. Same constants as the plant.
#[derive(Debug, Clone, Copy)]
pub struct TrueDrag {
    pub linear: [f64; 3],
    pub quadratic: [f64; 3],
    pub mass_kg: f64,
}

impl TrueDrag {
    pub fn of(truth: &QuadrotorTruth) -> Self {
        Self {
            linear: truth.drag_linear.into(),
            quadratic: truth.drag_quadratic.into(),
            mass_kg: truth.nominal.params.mass_kg,
        }
    }
}

impl Residual<NX, NU> for TrueDrag {
    fn add_to<T: Scalar>(&self, x: &SVector<T, NX>, _: &SVector<T, NU>, xdot: &mut SVector<T, NX>) {
        let r = rotation_from_quaternion(&state_quaternion(x));
        let v: Vector3<T> = x.fixed_rows::<3>(7).into_owned();
        let vb = r.transpose() * v;
        let fb = Vector3::from_fn(|i, _| {
            -(vb[i] * self.linear[i] + vb[i] * vb[i].abs() * self.quadratic[i])
        });
        let a = r * fb * c::<T>(1.0 / self.mass_kg);
        for i in 0..3 {
            xdot[7 + i] += a[i];
        }
    }
}

pub type P2Mpc<R> = ResidualMpc<Quadrotor, R, NX, NU>;

/// An MPC with P2's settings (`config`, the scenario file's) and the model
/// `nominal + residual`, its plan starting at `x0` holding the hover input.
pub fn controller<R: Residual<NX, NU>>(
    config: &MpcConfig,
    residual: R,
    evaluation: ResidualEvaluation,
    x0: &SVector<f64, NX>,
) -> Result<P2Mpc<R>> {
    let hover = Quadrotor::default().hover_input();
    learned::mpc(
        Quadrotor::default(),
        config,
        residual,
        evaluation,
        x0,
        &hover,
    )
}

/// The oracle's MPC tracking the scenario's reference, as the loop's
/// policy (what `recede_runner::adapters::ControlPolicy` is for the
/// scenario's controller).
pub type OraclePolicy = MpcPolicy<Quadrotor, TrueDrag, NX, NU>;

/// The oracle with the scenario's controller settings, reference and
/// initial state; the true drag of P2's plant, integrated exactly.
pub fn oracle_policy(
    config: &MpcConfig,
    reference: ReferenceConfig,
    x0: &[f64],
) -> Result<OraclePolicy> {
    let oracle = TrueDrag::of(&QuadrotorTruth::p2(Quadrotor::default()));
    let x0 = SVector::<f64, NX>::from_column_slice(x0);
    let mpc = controller(config, oracle, ResidualEvaluation::EveryStage, &x0)?;
    Ok(MpcPolicy::new(mpc, reference, config.period_secs()))
}
