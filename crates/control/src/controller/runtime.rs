//! What a firmware loop changes on a running controller, and the two halves
//! of a real-time iteration (feedback at the sample, preparation between
//! samples). Nothing here allocates; a refused value changes nothing.

use recede_model::robots::{self, RobotConfig};
use recede_model::WithResidual;
use recede_mpc::StepReport;

use super::{checked_io, copy_checked, vector, ControlError, Controller, FileController};
use crate::residual::ResidualModel;

macro_rules! set_robot {
    ([] $(($variant:ident, $module:ident, $robot:ident, $params:ident)),* $(,)?) => {
        impl Controller {
            /// Replaces the prediction model's physical parameters with
            /// `robot`'s (same robot kind; checked as a scenario's are).
            /// They enter at the next preparation. The safe policy and the
            /// input bounds keep the values they were built with.
            pub fn set_robot_params(&mut self, robot: &RobotConfig) -> Result<(), ControlError> {
                let expected = self.robot_kind();
                match (self, robot) {
                    $((Controller::$variant(m), RobotConfig::$variant(p)) => {
                        m.mpc.model_mut().dynamics.nominal = robots::$robot::new(*p)?;
                        Ok(())
                    })*
                    #[allow(unreachable_patterns)]
                    _ => Err(ControlError::WrongRobot { expected, got: robot.kind() }),
                }
            }

            /// The robot's name as a scenario's `kind` writes it.
            pub fn robot_kind(&self) -> &'static str {
                match self {
                    $(Controller::$variant(_) => {
                        <robots::$robot as robots::Robot<{ robots::$module::NX }, { robots::$module::NU }>>::KIND
                    })*
                    Controller::ModelFile(_) => robots::ModelFileConfig::KIND,
                }
            }
        }
    };
}

recede_model::for_each_robot!(set_robot);

impl Controller {
    /// The feedback half of [`Self::step`]: solves the QP the last
    /// preparation built for the measured state `x` and writes the command.
    /// The plan is not shifted; call [`Self::prepare`] before the next
    /// feedback.
    pub fn feedback(&mut self, x: &[f64], command: &mut [f64]) -> Result<StepReport, ControlError> {
        each!(self, m => {
            let (x0, mut u) = checked_io(&m.mpc, x, command)?;
            if let Some(adaptation) = &mut m.adaptation {
                let WithResidual { nominal, residual, .. } = &mut m.mpc.model_mut().dynamics;
                if let ResidualModel::Mlp(mlp) = residual {
                    adaptation.observe(nominal, mlp, &x0);
                }
            }
            let report = m.mpc.feedback_step(&x0, &mut u);
            if let Some(adaptation) = &mut m.adaptation {
                adaptation.record(&x0, &u);
            }
            command.copy_from_slice(u.as_slice());
            Ok(report)
        })
    }

    /// The preparation half of [`Self::step`]: shifts the plan by one
    /// control period and builds the next QP.
    pub fn prepare(&mut self) -> StepReport {
        each!(self, m => m.mpc.prepare_next(m.period_secs))
    }

    /// Rebuilds the QP around the current plan without shifting it: after
    /// weights, state bounds, obstacles or parameters changed.
    pub fn refresh(&mut self) -> StepReport {
        each!(self, m => m.mpc.refresh())
    }

    /// Sets the input reference of interval `node` (0..N).
    pub fn set_input_reference(&mut self, node: usize, u: &[f64]) -> Result<(), ControlError> {
        each!(self, m => {
            let (_, ur) = m.mpc.references_mut();
            let n = ur.len();
            match ur.get_mut(node) {
                Some(slot) => copy_checked("input reference", u, slot.as_mut_slice()),
                None => Err(ControlError::Length { what: "input reference node", expected: n, got: node + 1 }),
            }
        })
    }

    /// The planned inputs, flattened interval by interval into `out`
    /// (length N * NU).
    pub fn planned_inputs(&self, out: &mut [f64]) -> Result<(), ControlError> {
        each!(self, m => {
            let (_, us) = m.mpc.plan();
            let nu = us[0].len();
            if out.len() != us.len() * nu {
                return Err(ControlError::Length { what: "planned inputs", expected: us.len() * nu, got: out.len() });
            }
            for (chunk, u) in out.chunks_exact_mut(nu).zip(us) {
                chunk.copy_from_slice(u.as_slice());
            }
            Ok(())
        })
    }

    /// Replaces the diagonals of the state, terminal and input weights
    /// (lengths NX, NX, NU); they enter at the next preparation.
    pub fn set_weights(
        &mut self,
        state: &[f64],
        terminal: &[f64],
        input: &[f64],
    ) -> Result<(), ControlError> {
        each!(self, m => {
            let q = vector("state weights", state)?;
            let qt = vector("terminal weights", terminal)?;
            let r = vector("input weights", input)?;
            Ok(m.mpc.set_weights(&q, &qt, &r)?)
        })
    }

    /// Replaces the input bounds (length NU each; infinite for none).
    pub fn set_input_bounds(&mut self, lower: &[f64], upper: &[f64]) -> Result<(), ControlError> {
        each!(self, m => {
            let lo = vector("input lower bounds", lower)?;
            let hi = vector("input upper bounds", upper)?;
            Ok(m.mpc.set_input_bounds(&lo, &hi)?)
        })
    }

    /// How many state bounds the scenario configured (the slots
    /// [`Self::set_state_bound`] changes).
    pub fn state_bound_count(&self) -> usize {
        each!(self, m => m.mpc.state_bound_count())
    }

    /// Replaces the limits of configured state bound `slot` (infinite on an
    /// open side); they enter at the next preparation.
    pub fn set_state_bound(&mut self, slot: usize, min: f64, max: f64) -> Result<(), ControlError> {
        each!(self, m => Ok(m.mpc.set_state_bound(slot, Some(min), Some(max))?))
    }
}
