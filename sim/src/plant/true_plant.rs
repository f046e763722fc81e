use nalgebra::SVector;

use super::{Actuator, BodyState, Disturbances, Environment, Plant};
use crate::SimError;

/// A robot's true continuous-time dynamics: its nominal model plus the
/// effects the controller does not know. Evaluated on `f64` only.
pub trait TrueDynamics<const NX: usize, const NU: usize>: std::fmt::Debug + Send {
    /// The robot's `kind` (its descriptor's).
    fn kind(&self) -> &'static str;
    /// `x'` under the applied input `u` and the environment `env`.
    fn derivative(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
        env: &Environment,
    ) -> SVector<f64, NX>;
    /// Brings `x` back onto its manifold (the nominal model's projection).
    fn project(&self, x: &mut SVector<f64, NX>);
    /// The sensor-carrying body's motion at `x` with derivative `xdot`.
    fn body(&self, x: &SVector<f64, NX>, xdot: &SVector<f64, NX>) -> BodyState;
    /// Encoder angles at the initial state, rad.
    fn initial_encoder_angles(&self, x: &SVector<f64, NX>) -> Vec<f64>;
    /// Updates the encoder angles after a step of `h_secs` that ended at `x`.
    fn update_encoder_angles(&self, x: &SVector<f64, NX>, h_secs: f64, angles: &mut [f64]);
    /// `Some(period)` for a discrete-time robot, whose [`Self::derivative`]
    /// is the state one period later: the plant then steps by that period
    /// and applies the map once per step.
    fn discrete_period_secs(&self) -> Option<f64> {
        None
    }
}

/// A [`TrueDynamics`] behind an [`Actuator`], under [`Disturbances`],
/// integrated with one classic RK4 step of `step_secs` per call (the same
/// arithmetic as `recede_model::Rk4`, so a plant without extra effects
/// reproduces the nominal model's RK4 bit for bit).
#[derive(Debug, Clone)]
pub struct TruePlant<R, const NX: usize, const NU: usize> {
    pub dynamics: R,
    pub actuator: Actuator<NU>,
    disturbances: Disturbances,
    step_secs: f64,
    x: SVector<f64, NX>,
    env: Environment,
    encoders: Vec<f64>,
}

impl<R: TrueDynamics<NX, NU>, const NX: usize, const NU: usize> TruePlant<R, NX, NU> {
    pub fn new(
        dynamics: R,
        actuator: Actuator<NU>,
        disturbances: Disturbances,
        step_secs: f64,
        x0: SVector<f64, NX>,
    ) -> Result<Self, SimError> {
        if !(step_secs.is_finite() && step_secs > 0.0) {
            return Err(SimError::BadTimeStep(step_secs));
        }
        if let Some(period_secs) = dynamics.discrete_period_secs() {
            if (step_secs - period_secs).abs() > 1e-9 * period_secs {
                return Err(SimError::DiscretePeriod {
                    step_secs,
                    period_secs,
                });
            }
        }
        let encoders = dynamics.initial_encoder_angles(&x0);
        Ok(Self {
            dynamics,
            actuator,
            disturbances,
            step_secs,
            x: x0,
            env: Environment::default(),
            encoders,
        })
    }

    pub fn x(&self) -> &SVector<f64, NX> {
        &self.x
    }

    fn rk4(&self, u: &SVector<f64, NU>) -> SVector<f64, NX> {
        let h = self.step_secs;
        let f = |x: &SVector<f64, NX>| self.dynamics.derivative(x, u, &self.env);
        let (half, full, sixth, two) = (0.5 * h, h, h / 6.0, 2.0);
        let mut x = self.x;
        let k1 = f(&x);
        let k2 = f(&(x + k1 * half));
        let k3 = f(&(x + k2 * half));
        let k4 = f(&(x + k3 * full));
        x += (k1 + (k2 + k3) * two + k4) * sixth;
        self.dynamics.project(&mut x);
        x
    }
}

impl<R: TrueDynamics<NX, NU>, const NX: usize, const NU: usize> Plant for TruePlant<R, NX, NU> {
    fn kind(&self) -> &'static str {
        self.dynamics.kind()
    }

    fn state(&self) -> &[f64] {
        self.x.as_slice()
    }

    fn set_state(&mut self, x: &[f64]) -> Result<(), SimError> {
        if x.len() != NX {
            return Err(SimError::StateLength {
                expected: NX,
                got: x.len(),
            });
        }
        self.x = SVector::from_column_slice(x);
        self.encoders = self.dynamics.initial_encoder_angles(&self.x);
        Ok(())
    }

    fn input_len(&self) -> usize {
        NU
    }

    fn applied_input(&self) -> &[f64] {
        self.actuator.applied()
    }

    fn step_secs(&self) -> f64 {
        self.step_secs
    }

    fn step(&mut self, t_secs: f64, command: &[f64]) -> Result<(), SimError> {
        let cmd = super::checked_command::<NU>(command)?;
        let h = self.step_secs;
        self.env = self.disturbances.advance(t_secs, h);
        let u = SVector::from(*self.actuator.update(&cmd, h));
        let x = if self.dynamics.discrete_period_secs().is_some() {
            self.dynamics.derivative(&self.x, &u, &self.env)
        } else {
            self.rk4(&u)
        };
        if x.iter().any(|v| !v.is_finite()) {
            return Err(SimError::NonFiniteState { t_secs: t_secs + h });
        }
        self.x = x;
        self.dynamics
            .update_encoder_angles(&self.x, h, &mut self.encoders);
        Ok(())
    }

    fn body(&self) -> BodyState {
        let u = SVector::from(*self.actuator.applied());
        let xdot = self.dynamics.derivative(&self.x, &u, &self.env);
        self.dynamics.body(&self.x, &xdot)
    }

    fn encoder_angles_rad(&self) -> &[f64] {
        &self.encoders
    }
}
