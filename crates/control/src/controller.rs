use nalgebra::SVector;
use recede_model::robots::{Arm, CartPole, DiffDrive, Quadrotor, RobotConfig};
use recede_model::{Bounds, Discretized, ModelError, Rk4};
use recede_mpc::{Mpc, MpcConfig, MpcError, StepReport};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum ControlError {
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error(transparent)]
    Robot(#[from] ModelError),
    #[error(transparent)]
    Mpc(#[from] MpcError),
    /// A slice handed to the controller has the wrong length.
    #[error("{what}: expected {expected} values, got {got}")]
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
}

type Shooting<D> = Discretized<D>;

/// A running MPC for one of the built-in robots (boxed: the controllers
/// differ in size by kilobytes of fixed-size buffers).
#[derive(Debug)]
pub enum Controller {
    CartPole(Box<Mpc<Shooting<CartPole>, (), 4, 1>>),
    Quadrotor(Box<Mpc<Shooting<Quadrotor>, (), 13, 4>>),
    DiffDrive(Box<Mpc<Shooting<DiffDrive>, (), 5, 2>>),
    Arm(Box<Mpc<Shooting<Arm>, (), 4, 2>>),
}

/// Runs `$body` with `$mpc` bound to the inner controller, whatever the robot.
macro_rules! each {
    ($self:expr, $mpc:ident => $body:expr) => {
        match $self {
            Controller::CartPole($mpc) => $body,
            Controller::Quadrotor($mpc) => $body,
            Controller::DiffDrive($mpc) => $body,
            Controller::Arm($mpc) => $body,
        }
    };
}

fn with_default_bounds<const N: usize>(config: &MpcConfig, bounds: Bounds<N>) -> MpcConfig {
    let mut config = config.clone();
    config
        .input_min
        .get_or_insert_with(|| bounds.lower.to_vec());
    config
        .input_max
        .get_or_insert_with(|| bounds.upper.to_vec());
    config
}

fn build<D, const NX: usize, const NU: usize>(
    dynamics: D,
    config: &MpcConfig,
    x0: &[f64],
    u0: SVector<f64, NU>,
) -> Result<Mpc<Shooting<D>, (), NX, NU>, ControlError>
where
    D: recede_model::Dynamics<NX, NU>,
{
    let spec = config.to_spec::<NX, NU>()?;
    let x0 = vector::<NX>("initial state", x0)?;
    let model = Discretized::new(dynamics, Rk4::new(spec.dt_secs, spec.rk4_substeps));
    Ok(Mpc::new(model, (), spec, &x0, &u0)?)
}

fn vector<const N: usize>(
    what: &'static str,
    values: &[f64],
) -> Result<SVector<f64, N>, ControlError> {
    if values.len() != N {
        return Err(ControlError::Length {
            what,
            expected: N,
            got: values.len(),
        });
    }
    Ok(SVector::from_column_slice(values))
}

impl Controller {
    /// Builds the controller for `robot` around the initial state `x0`
    /// (every node of the first plan); input bounds the `[controller]`
    /// table leaves out are the robot's own limits.
    pub fn new(robot: &RobotConfig, config: &MpcConfig, x0: &[f64]) -> Result<Self, ControlError> {
        robot.validate()?;
        Ok(match robot {
            RobotConfig::CartPole(p) => {
                let model = CartPole::new(*p)?;
                Self::CartPole(Box::new(build(model, config, x0, SVector::zeros())?))
            }
            RobotConfig::Quadrotor(p) => {
                let model = Quadrotor::new(*p)?;
                let config = with_default_bounds(config, model.input_bounds());
                let hover = model.hover_input();
                Self::Quadrotor(Box::new(build(model, &config, x0, hover)?))
            }
            RobotConfig::DiffDrive(p) => {
                let model = DiffDrive::new(*p)?;
                let config = with_default_bounds(config, model.input_bounds());
                Self::DiffDrive(Box::new(build(model, &config, x0, SVector::zeros())?))
            }
            RobotConfig::Arm(p) => {
                let model = Arm::new(*p)?;
                let config = with_default_bounds(config, model.input_bounds());
                Self::Arm(Box::new(build(model, &config, x0, SVector::zeros())?))
            }
        })
    }

    /// (states, inputs, horizon).
    pub fn dimensions(&self) -> (usize, usize, usize) {
        each!(self, m => {
            let (xs, us) = m.plan();
            (xs[0].len(), us[0].len(), us.len())
        })
    }

    /// The control period the plan is shifted by after each step, s.
    pub fn period_secs(&self) -> f64 {
        each!(self, m => m.spec().period_secs)
    }

    pub fn dt_secs(&self) -> f64 {
        each!(self, m => m.spec().dt_secs)
    }

    /// Sets the reference of node `k` (0..=N for states, 0..N for inputs).
    /// Lengths are checked; nothing is allocated.
    pub fn set_reference(
        &mut self,
        node: usize,
        x: &[f64],
        u: Option<&[f64]>,
    ) -> Result<(), ControlError> {
        each!(self, m => {
            let (xr, ur) = m.references_mut();
            let n = ur.len();
            if node > n {
                return Err(ControlError::Length { what: "reference node", expected: n + 1, got: node + 1 });
            }
            copy_checked("state reference", x, xr[node].as_mut_slice())?;
            if let Some(u) = u {
                if node < n {
                    copy_checked("input reference", u, ur[node].as_mut_slice())?;
                }
            }
            Ok(())
        })
    }

    /// Sets the same reference at every node.
    pub fn set_constant_reference(&mut self, x: &[f64], u: &[f64]) -> Result<(), ControlError> {
        let (_, _, n) = self.dimensions();
        for k in 0..=n {
            self.set_reference(k, x, Some(u))?;
        }
        Ok(())
    }

    /// One control step from the estimated state `x`; the command goes to
    /// `command`. Never allocates, never panics.
    pub fn step(&mut self, x: &[f64], command: &mut [f64]) -> Result<StepReport, ControlError> {
        each!(self, m => {
            let period = m.spec().period_secs;
            let (x0, mut u) = checked_io(m, x, command)?;
            let report = m.step(&x0, period, &mut u);
            command.copy_from_slice(u.as_slice());
            Ok(report)
        })
    }

    /// The predicted states of the current plan, flattened node by node
    /// into `out` (length (N+1) * NX).
    pub fn predicted_states(&self, out: &mut [f64]) -> Result<(), ControlError> {
        each!(self, m => {
            let (xs, _) = m.plan();
            let nx = xs[0].len();
            if out.len() != xs.len() * nx {
                return Err(ControlError::Length { what: "predicted states", expected: xs.len() * nx, got: out.len() });
            }
            for (chunk, x) in out.chunks_exact_mut(nx).zip(xs) {
                chunk.copy_from_slice(x.as_slice());
            }
            Ok(())
        })
    }

    /// Samples `reference` at the nodes' times from `t_secs` on into the
    /// reference window; `scratch_x`/`scratch_u` (lengths nx, nu) avoid
    /// allocating.
    pub fn track(
        &mut self,
        reference: &crate::ReferenceConfig,
        t_secs: f64,
        scratch_x: &mut [f64],
        scratch_u: &mut [f64],
    ) -> Result<(), ControlError> {
        let (_, _, n) = self.dimensions();
        let dt = self.dt_secs();
        for k in 0..=n {
            reference.sample(t_secs + k as f64 * dt, scratch_x, scratch_u);
            self.set_reference(k, scratch_x, Some(scratch_u))?;
        }
        Ok(())
    }

    pub fn last_report(&self) -> StepReport {
        each!(self, m => *m.last_report())
    }

    /// Forgets the plan and restarts from `x` holding the safe input.
    pub fn reset(&mut self, x: &[f64]) -> Result<(), ControlError> {
        each!(self, m => {
            let x = vector("state", x)?;
            let safe = m.spec().safe_input;
            m.reset(&x, &safe);
            Ok(())
        })
    }
}

fn copy_checked(what: &'static str, from: &[f64], to: &mut [f64]) -> Result<(), ControlError> {
    if from.len() != to.len() {
        return Err(ControlError::Length {
            what,
            expected: to.len(),
            got: from.len(),
        });
    }
    to.copy_from_slice(from);
    Ok(())
}

fn checked_io<M, C, const NX: usize, const NU: usize>(
    _: &Mpc<M, C, NX, NU>,
    x: &[f64],
    command: &[f64],
) -> Result<(SVector<f64, NX>, SVector<f64, NU>), ControlError> {
    let x0 = vector::<NX>("state", x)?;
    let u = vector::<NU>("command buffer", command)?;
    Ok((x0, u))
}
