//! P2's oracle: the MPC whose model is the nominal quadrotor plus the true
//! drag, the limit a learned residual can reach. No scenario file can name
//! that model, so the benchmark builds the MPC itself and runs it as rt's
//! [`Policy`] in the same lockstep loop, on the same true plant, as the
//! scenario's own controller.

use anyhow::Result;
use nalgebra::{SVector, Vector3};
use recede_control::ReferenceConfig;
use recede_model::robots::quadrotor::{rotation_from_quaternion, state_quaternion, NU, NX};
use recede_model::robots::Quadrotor;
use recede_model::{c, Discretized, Residual, ResidualEvaluation, Rk4, Scalar, WithResidual};
use recede_mpc::{Mpc, MpcConfig};
use recede_rt::{Estimate, Policy, PolicyError, StepStatus};
use recede_sim::plant::QuadrotorTruth;

use crate::learned::{self, ResidualMpc};

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
/// `nominal + residual`, its plan starting at `x0`.
pub fn controller<R: Residual<NX, NU>>(
    config: &MpcConfig,
    residual: R,
    evaluation: ResidualEvaluation,
    x0: &SVector<f64, NX>,
) -> Result<P2Mpc<R>> {
    let spec = config.to_spec::<NX, NU>()?;
    let model = Discretized::new(
        WithResidual::new(Quadrotor::default(), residual).with_evaluation(evaluation),
        Rk4::new(spec.dt_secs, config.rk4_substeps),
    );
    Ok(Mpc::new(
        model,
        (),
        spec,
        x0,
        &Quadrotor::default().hover_input(),
    )?)
}

/// The oracle's MPC tracking the scenario's reference, as the loop's
/// policy (what `recede_runner::adapters::ControlPolicy` is for the
/// scenario's controller). Allocates nothing per step.
#[derive(Debug)]
pub struct OraclePolicy {
    mpc: P2Mpc<TrueDrag>,
    reference: ReferenceConfig,
    period_secs: f64,
}

impl OraclePolicy {
    /// The oracle with the scenario's controller settings, reference and
    /// initial state; the true drag of P2's plant, integrated exactly.
    pub fn new(config: &MpcConfig, reference: ReferenceConfig, x0: &[f64]) -> Result<Self> {
        let oracle = TrueDrag::of(&QuadrotorTruth::p2(Quadrotor::default()));
        let x0 = SVector::<f64, NX>::from_column_slice(x0);
        Ok(Self {
            mpc: controller(config, oracle, ResidualEvaluation::EveryStage, &x0)?,
            reference,
            period_secs: config.period_secs(),
        })
    }
}

impl Policy for OraclePolicy {
    fn dimensions(&self) -> (usize, usize) {
        (NX, NU)
    }

    fn step(
        &mut self,
        t_secs: f64,
        estimate: &Estimate,
        command: &mut [f64],
    ) -> Result<StepStatus, PolicyError> {
        let x = SVector::<f64, NX>::from_column_slice(estimate.state());
        let reference = &self.reference;
        learned::set_references(&mut self.mpc, t_secs, &|t, x, u| reference.sample(t, x, u));
        let mut u = SVector::<f64, NU>::zeros();
        let report = self.mpc.step(&x, self.period_secs, &mut u);
        command.copy_from_slice(u.as_slice());
        Ok(StepStatus {
            fell_back: report.outcome.is_fallback(),
            safe_input: report.outcome == recede_mpc::StepOutcome::FallbackSafe,
            iterations: report.qp_iterations,
            ..StepStatus::default()
        })
    }

    fn late_command(&self, _after_secs: f64, out: &mut [f64]) {
        out.copy_from_slice(self.mpc.plan().1[0].as_slice());
    }

    fn safe_command(&self, out: &mut [f64]) {
        out.copy_from_slice(self.mpc.spec().safe_input.as_slice());
    }
}
