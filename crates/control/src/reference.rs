//! What the robot is asked to do over time: references for the MPC's
//! horizon, sampled at the nodes' times.

use serde::{Deserialize, Serialize};

use crate::ControlError;

/// The `[reference]` table of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReferenceConfig {
    /// Hold a state and an input.
    Setpoint { state: Vec<f64>, input: Vec<f64> },
    /// P2's figure-eight for the quadrotor: `p = (A sin wt, A/2 sin 2wt, h)`
    /// with `w = v_max / (A sqrt 2)`, level attitude, hover input.
    FigureEight {
        amplitude_m: f64,
        height_m: f64,
        peak_speed_m_s: f64,
        hover_input: Vec<f64>,
    },
}

impl ReferenceConfig {
    /// Checks sizes against the robot's (nx, nu); `key` prefixes errors.
    pub fn validate(&self, nx: usize, nu: usize) -> Result<(), ControlError> {
        let len = |what: &'static str, v: &[f64], n: usize| {
            if v.len() != n || v.iter().any(|x| !x.is_finite()) {
                Err(ControlError::Length {
                    what,
                    expected: n,
                    got: v.len(),
                })
            } else {
                Ok(())
            }
        };
        match self {
            Self::Setpoint { state, input } => {
                len("reference.state", state, nx)?;
                len("reference.input", input, nu)
            }
            Self::FigureEight {
                amplitude_m,
                peak_speed_m_s,
                height_m,
                hover_input,
            } => {
                if nx != 13 {
                    return Err(ControlError::Parse {
                        origin: "reference.kind".into(),
                        message: "figure_eight is defined for the quadrotor only".into(),
                    });
                }
                for (key, v) in [
                    ("reference.amplitude_m", amplitude_m),
                    ("reference.peak_speed_m_s", peak_speed_m_s),
                ] {
                    if !(v.is_finite() && *v > 0.0) {
                        return Err(ControlError::Parse {
                            origin: key.into(),
                            message: format!("expected a value > 0, found {v}"),
                        });
                    }
                }
                if !height_m.is_finite() {
                    return Err(ControlError::Parse {
                        origin: "reference.height_m".into(),
                        message: format!("expected a finite value, found {height_m}"),
                    });
                }
                len("reference.hover_input", hover_input, nu)
            }
        }
    }

    /// Writes the reference state (length nx) and input (length nu) at
    /// time `t_secs`. Sizes must have been validated.
    pub fn sample(&self, t_secs: f64, state: &mut [f64], input: &mut [f64]) {
        match self {
            Self::Setpoint { state: s, input: u } => {
                state.copy_from_slice(s);
                input.copy_from_slice(u);
            }
            Self::FigureEight {
                amplitude_m: a,
                height_m,
                peak_speed_m_s,
                hover_input,
            } => {
                let w = peak_speed_m_s / (a * std::f64::consts::SQRT_2);
                let (s1, c1) = (w * t_secs).sin_cos();
                let (s2, c2) = (2.0 * w * t_secs).sin_cos();
                state.fill(0.0);
                state[0] = a * s1;
                state[1] = 0.5 * a * s2;
                state[2] = *height_m;
                state[3] = 1.0;
                state[7] = a * w * c1;
                state[8] = a * w * c2;
                input.copy_from_slice(hover_input);
            }
        }
    }

    /// The reference position at `t_secs` when the state starts with a
    /// position (quadrotor, diff-drive); used for tracking error.
    pub fn position(&self, t_secs: f64, nx: usize, nu: usize) -> Vec<f64> {
        let mut x = vec![0.0; nx];
        let mut u = vec![0.0; nu];
        self.sample(t_secs, &mut x, &mut u);
        x
    }
}
