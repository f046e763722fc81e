//! `[reference] kind = "sines"`: chosen states follow sums of sinusoids
//! (a joint trajectory, a wandering path), with their rates where the
//! state holds them, and an input reference given or computed by the
//! controller from its own model ([`InputReference::InverseDynamics`]).

use nalgebra::SVector;
use recede_model::Dynamics;
use serde::{Deserialize, Serialize};

use crate::ControlError;

/// The input reference of a `sines` reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a list of input values or \"inverse_dynamics\"")]
pub enum InputReference {
    /// One input held throughout.
    Given(Vec<f64>),
    /// At each sampled point, the input under which the controller's own
    /// robot model (its physics, without a learned residual) has the
    /// reference's state derivative: a feed-forward the MPC then only
    /// corrects (the arm's inverse-dynamics torque).
    Computed(Computed),
}

/// How a computed input reference is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Computed {
    InverseDynamics,
}

/// Coordinate `i` (state `states[i]`) is `center[i] + sum_k amplitude[i][k]
/// sin(frequency_rad_s[i][k] t + phase_rad[i][k])`; `rate_states[i]`, when
/// given, holds its time derivative. The other states are 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sines {
    pub states: Vec<usize>,
    #[serde(default)]
    pub rate_states: Vec<usize>,
    pub center: Vec<f64>,
    pub amplitude: Vec<Vec<f64>>,
    pub frequency_rad_s: Vec<Vec<f64>>,
    pub phase_rad: Vec<Vec<f64>>,
    pub input: InputReference,
}

impl Sines {
    /// Value and first two time derivatives of coordinate `i` at `t`.
    fn coordinate(&self, i: usize, t: f64) -> [f64; 3] {
        let mut v = [self.center[i], 0.0, 0.0];
        for ((a, w), phase) in self.amplitude[i]
            .iter()
            .zip(&self.frequency_rad_s[i])
            .zip(&self.phase_rad[i])
        {
            let (s, c) = (w * t + phase).sin_cos();
            v[0] += a * s;
            v[1] += a * w * c;
            v[2] -= a * w * w * s;
        }
        v
    }

    /// The reference state at `t`; the input when it is given (a computed
    /// one is left to the controller: zeros here).
    pub fn sample(&self, t: f64, state: &mut [f64], input: &mut [f64]) {
        state.fill(0.0);
        for (i, &s) in self.states.iter().enumerate() {
            let [value, rate, _] = self.coordinate(i, t);
            state[s] = value;
            if let Some(&r) = self.rate_states.get(i) {
                state[r] = rate;
            }
        }
        match &self.input {
            InputReference::Given(u) => input.copy_from_slice(u),
            InputReference::Computed(_) => input.fill(0.0),
        }
    }

    /// The reference's state derivative at `t` (rates into `states`,
    /// accelerations into `rate_states`, 0 elsewhere).
    pub fn state_rate(&self, t: f64, rate: &mut [f64]) {
        rate.fill(0.0);
        for (i, &s) in self.states.iter().enumerate() {
            let [_, first, second] = self.coordinate(i, t);
            rate[s] = first;
            if let Some(&r) = self.rate_states.get(i) {
                rate[r] = second;
            }
        }
    }

    /// The input under which `model` has this reference's state derivative
    /// at `t` in the state `x` ([`super::inverse_dynamics`]), into `u`;
    /// false, `u` untouched, when there is none. Allocates nothing.
    pub fn model_input<D, const NX: usize, const NU: usize>(
        &self,
        model: &D,
        t: f64,
        x: &SVector<f64, NX>,
        u: &mut SVector<f64, NU>,
    ) -> bool
    where
        D: Dynamics<NX, NU>,
    {
        let mut rate = SVector::<f64, NX>::zeros();
        self.state_rate(t, rate.as_mut_slice());
        super::inverse_dynamics(model, x, &rate, u)
    }

    /// Whether the controller computes the input reference.
    pub fn computes_input(&self) -> bool {
        matches!(self.input, InputReference::Computed(_))
    }

    /// Indices within the state, one coordinate per index (its rate's
    /// index, if any, distinct from every other), coefficient tables of
    /// one shape, finite values, a given input of `nu` values.
    pub(super) fn validate(&self, nx: usize, nu: usize) -> Result<(), ControlError> {
        let parse = |key: &str, message: String| ControlError::Parse {
            origin: format!("reference.{key}"),
            message,
        };
        let n = self.states.len();
        if n == 0 {
            return Err(parse("states", "expected at least one state index".into()));
        }
        if !self.rate_states.is_empty() && self.rate_states.len() != n {
            return Err(parse(
                "rate_states",
                format!(
                    "expected one rate index per state ({n}) or none, found {}",
                    self.rate_states.len()
                ),
            ));
        }
        let mut used = [false; recede_msg::MAX_DIM];
        for (key, &i) in std::iter::repeat("states")
            .zip(&self.states)
            .chain(std::iter::repeat("rate_states").zip(&self.rate_states))
        {
            if i >= nx || used[i] {
                return Err(parse(
                    key,
                    format!("expected distinct state indices below {nx}, found {i}"),
                ));
            }
            used[i] = true;
        }
        if self.center.len() != n {
            return Err(parse(
                "center",
                format!("expected {n} values, found {}", self.center.len()),
            ));
        }
        super::finite("reference.center", &self.center)?;
        for (key, table) in [
            ("amplitude", &self.amplitude),
            ("frequency_rad_s", &self.frequency_rad_s),
            ("phase_rad", &self.phase_rad),
        ] {
            let terms = self.amplitude.first().map_or(0, Vec::len);
            if table.len() != n || table.iter().any(|row| row.len() != terms) {
                return Err(parse(
                    key,
                    format!("expected {n} rows of {terms} values (the shape of `amplitude`)"),
                ));
            }
            for row in table {
                super::finite(&format!("reference.{key}"), row)?;
            }
        }
        match &self.input {
            InputReference::Given(u) if u.len() != nu => Err(ControlError::Length {
                what: "reference.input",
                expected: nu,
                got: u.len(),
            }),
            InputReference::Given(u) => super::finite("reference.input", u),
            InputReference::Computed(_) => Ok(()),
        }
    }
}
