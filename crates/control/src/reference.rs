//! What the robot is asked to do over time: references for the MPC's
//! horizon, sampled at the nodes' times.

use serde::{Deserialize, Serialize};

use crate::ControlError;

mod end_effector;
mod feed_forward;
mod shapes;
mod sines;
pub use end_effector::{EndEffectorCircle, EndEffectorCircleConfig};
pub use feed_forward::inverse_dynamics;
pub use shapes::{CircleVariation, Plane, Spline, SplineConfig, MAX_KNOTS};
pub use sines::{Computed, InputReference, Sines};

/// The `[reference]` table of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReferenceConfig {
    /// Hold a state and an input.
    Setpoint { state: Vec<f64>, input: Vec<f64> },
    /// P2's figure-eight for the quadrotor: `p = (A sin wt, A/2 sin 2wt, h)`
    /// with `w = v_max / (A sqrt 2)`, level attitude, hover input (or,
    /// with `flat_feedforward`, the attitude and thrusts that fly it).
    FigureEight {
        amplitude_m: f64,
        height_m: f64,
        peak_speed_m_s: f64,
        hover_input: Vec<f64>,
        /// Attitude and thrusts from the path's acceleration (as the
        /// spline's); level and hover when false, as files before it meant.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        flat_feedforward: bool,
    },
    /// A circle for the quadrotor: `radius_m` about `(0, 0, height_m)`
    /// (or `center_m`) in `plane` (`xy`, `xz`, `yz`), flown at `speed_m_s`
    /// from its point on the plane's first axis, level attitude, hover input.
    Circle {
        radius_m: f64,
        speed_m_s: f64,
        height_m: f64,
        #[serde(default)]
        plane: Plane,
        /// The centre's x and y (z is `height_m`); the origin when absent.
        #[serde(default)]
        center_xy_m: [f64; 2],
        hover_input: Vec<f64>,
        /// A speed that swings, a start phase, a direction and a bob across
        /// the plane (`[reference.variation]`); a steady circle when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variation: Option<CircleVariation>,
        /// Attitude and thrusts from the path's acceleration (as the
        /// spline's); level and hover when false, as files before it meant.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        flat_feedforward: bool,
    },
    /// A smooth closed random curve for the quadrotor: a cubic B-spline
    /// through `knots` control points drawn from `seed` in the box
    /// `center_m ± half_extent_m`, its fastest point at `peak_speed_m_s`.
    Spline(Spline),
    /// A sequence of set points: `states[i]` from `times_secs[i]` on (the
    /// first time is 0, times increase), one input held throughout.
    Waypoints {
        states: Vec<Vec<f64>>,
        times_secs: Vec<f64>,
        input: Vec<f64>,
    },
    /// Chosen states following sums of sinusoids, with their rates; the
    /// input given, or computed by the controller from its own model
    /// (`input = "inverse_dynamics"`).
    Sines(Sines),
    /// A circle for a URDF arm's end effector, turned into joint
    /// references by inverse kinematics when the scenario loads
    /// ([`Self::resolve`]).
    EndEffectorCircle(EndEffectorCircle),
}

impl ReferenceConfig {
    /// Solves what needs the robot's model (an end-effector path's joint
    /// angles); the other kinds need nothing.
    pub fn resolve(
        &mut self,
        robot: &recede_model::robots::RobotConfig,
    ) -> Result<(), ControlError> {
        match self {
            Self::EndEffectorCircle(c) => c.resolve(robot),
            _ => Ok(()),
        }
    }

    /// How far the robot's end effector at true state `x` is from the
    /// reference's at `t_secs`, m, for an end-effector path once its lap
    /// has started; `None` otherwise.
    pub fn end_effector_error_m(&self, t_secs: f64, x: &[f64]) -> Option<f64> {
        match self {
            Self::EndEffectorCircle(c) if c.started(t_secs) => c.error_m(t_secs, x),
            _ => None,
        }
    }

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
                ..
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
            Self::Circle {
                radius_m,
                speed_m_s,
                height_m,
                center_xy_m,
                hover_input,
                variation,
                ..
            } => {
                quadrotor_only(nx, "circle")?;
                positive("reference.radius_m", *radius_m)?;
                positive("reference.speed_m_s", *speed_m_s)?;
                finite("reference.height_m", &[*height_m])?;
                finite("reference.center_xy_m", center_xy_m)?;
                if let Some(v) = variation {
                    v.validate()?;
                }
                len("reference.hover_input", hover_input, nu)
            }
            Self::Spline(spline) => {
                let c = &spline.config;
                quadrotor_only(nx, "spline")?;
                positive("reference.peak_speed_m_s", c.peak_speed_m_s)?;
                finite("reference.center_m", &c.center_m)?;
                finite("reference.half_extent_m", &c.half_extent_m)?;
                if c.half_extent_m.iter().any(|h| *h < 0.0)
                    || c.half_extent_m.iter().all(|h| *h == 0.0)
                {
                    return Err(ControlError::Parse {
                        origin: "reference.half_extent_m".into(),
                        message: format!(
                            "expected sizes >= 0, not all 0, found {:?}",
                            c.half_extent_m
                        ),
                    });
                }
                len("reference.hover_input", &c.hover_input, nu)
            }
            Self::Waypoints {
                states,
                times_secs,
                input,
            } => {
                if states.is_empty() || states.len() != times_secs.len() {
                    return Err(ControlError::Parse {
                        origin: "reference.times_secs".into(),
                        message: format!(
                            "expected one time per waypoint ({} states), found {}",
                            states.len(),
                            times_secs.len()
                        ),
                    });
                }
                if times_secs[0] != 0.0
                    || times_secs.windows(2).any(|w| w[1] <= w[0])
                    || times_secs.iter().any(|t| !t.is_finite())
                {
                    return Err(ControlError::Parse {
                        origin: "reference.times_secs".into(),
                        message: format!(
                            "expected finite increasing times starting at 0, found {times_secs:?}"
                        ),
                    });
                }
                for s in states {
                    len("reference.states", s, nx)?;
                }
                len("reference.input", input, nu)
            }
            Self::EndEffectorCircle(c) => {
                if !c.is_resolved() {
                    return Err(ControlError::Parse {
                        origin: "reference.kind".into(),
                        message: "end_effector_circle is solved against the robot's URDF when the scenario loads (ReferenceConfig::resolve), and was not".into(),
                    });
                }
                len("reference.posture", &c.config.posture, nx / 2)?;
                len("reference.input", &c.config.input, nu)
            }
            Self::Sines(sines) => sines.validate(nx, nu),
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
                flat_feedforward,
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
                if *flat_feedforward {
                    let acceleration = [-a * w * w * s1, -2.0 * a * w * w * s2, 0.0];
                    flat_attitude_and_thrust(acceleration, &mut state[3..7], input);
                }
            }
            Self::Circle {
                radius_m,
                speed_m_s,
                height_m,
                plane,
                center_xy_m,
                hover_input,
                variation,
                flat_feedforward,
            } => {
                state.fill(0.0);
                state[3] = 1.0;
                let center = [center_xy_m[0], center_xy_m[1], *height_m];
                let sample = |t: f64, position: &mut [f64], velocity: &mut [f64]| match variation {
                    None => {
                        shapes::circle(center, *radius_m, *speed_m_s, *plane, t, position, velocity)
                    }
                    Some(v) => {
                        v.sample(center, *radius_m, *speed_m_s, *plane, t, position, velocity)
                    }
                };
                let (position, rest) = state.split_at_mut(7);
                sample(t_secs, &mut position[..3], &mut rest[..3]);
                input.copy_from_slice(hover_input);
                if *flat_feedforward {
                    let acceleration = circle_acceleration(sample, t_secs);
                    flat_attitude_and_thrust(acceleration, &mut state[3..7], input);
                }
            }
            Self::Spline(spline) => {
                state.fill(0.0);
                state[3] = 1.0;
                let (position, rest) = state.split_at_mut(7);
                spline.sample(t_secs, &mut position[..3], &mut rest[..3]);
                input.copy_from_slice(&spline.config.hover_input);
                if spline.config.flat_feedforward {
                    flat_attitude_and_thrust(spline.acceleration(t_secs), &mut state[3..7], input);
                }
            }
            Self::Waypoints {
                states,
                times_secs,
                input: u,
            } => {
                let i = times_secs.partition_point(|t| *t <= t_secs).max(1) - 1;
                state.copy_from_slice(&states[i]);
                input.copy_from_slice(u);
            }
            Self::EndEffectorCircle(c) => c.sample(t_secs, state, input),
            Self::Sines(sines) => sines.sample(t_secs, state, input),
        }
    }

    /// The `sines` reference whose input the controller computes from its
    /// model, if this is one.
    pub fn computed_input(&self) -> Option<&Sines> {
        match self {
            Self::Sines(sines) if sines.computes_input() => Some(sines),
            _ => None,
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

fn quadrotor_only(nx: usize, kind: &str) -> Result<(), ControlError> {
    if nx == 13 {
        return Ok(());
    }
    Err(ControlError::Parse {
        origin: "reference.kind".into(),
        message: format!("{kind} is defined for the quadrotor only"),
    })
}

fn positive(key: &str, v: f64) -> Result<(), ControlError> {
    if v.is_finite() && v > 0.0 {
        return Ok(());
    }
    Err(ControlError::Parse {
        origin: key.into(),
        message: format!("expected a value > 0, found {v}"),
    })
}

fn finite(key: &str, values: &[f64]) -> Result<(), ControlError> {
    match values.iter().find(|v| !v.is_finite()) {
        None => Ok(()),
        Some(v) => Err(ControlError::Parse {
            origin: key.into(),
            message: format!("expected finite values, found {v}"),
        }),
    }
}

/// The acceleration of a circle reference at `t`: a central difference of
/// its velocity over +-1 ms (the swing and bob make the closed form long;
/// the difference's error, `h^2/6 |v'''|`, is ~1e-7 m/s^2 on the shipped
/// circles).
fn circle_acceleration(sample: impl Fn(f64, &mut [f64], &mut [f64]), t: f64) -> [f64; 3] {
    const H: f64 = 1e-3;
    let (mut p, mut v_plus, mut v_minus) = ([0.0; 3], [0.0; 3], [0.0; 3]);
    sample(t + H, &mut p, &mut v_plus);
    sample(t - H, &mut p, &mut v_minus);
    std::array::from_fn(|i| (v_plus[i] - v_minus[i]) / (2.0 * H))
}

/// A quadrotor's attitude `q` (`[w, x, y, z]`) and rotor thrusts `input`
/// (hover's, scaled) for the acceleration `a`: the body's z axis along
/// `a + g` by the shortest rotation from level (no turn about z), total
/// thrust `|a + g| / g` times hover's. Free fall or a thrust pointing down
/// keeps hover's (no attitude gives them).
fn flat_attitude_and_thrust(a: [f64; 3], q: &mut [f64], input: &mut [f64]) {
    let g = recede_model::GRAVITY;
    let f = [a[0], a[1], a[2] + g];
    let norm = (f[0] * f[0] + f[1] * f[1] + f[2] * f[2]).sqrt();
    if !(norm > 1e-9 && norm.is_finite()) {
        return;
    }
    let z = f.map(|v| v / norm);
    // cos of half the tilt; the axis is e_z x z = (-z_y, z_x, 0).
    let w = (0.5 * (1.0 + z[2])).sqrt();
    if w <= 1e-6 {
        return;
    }
    q.copy_from_slice(&[w, -z[1] / (2.0 * w), z[0] / (2.0 * w), 0.0]);
    for u in input {
        *u *= norm / g;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With `flat_feedforward` the reference is a trajectory of the
    /// nominal quadrotor: its derivative at the reference state and input
    /// is the curve's acceleration, at speeds up to 12 m/s.
    #[test]
    fn a_flat_spline_reference_is_flown_by_the_nominal_quadrotor() {
        use nalgebra::SVector;
        use recede_model::robots::{Quadrotor, QuadrotorParams};
        use recede_model::Dynamics;
        let params = QuadrotorParams::default();
        let hover = params.mass_kg * recede_model::GRAVITY / 4.0;
        let config = |flat| SplineConfig {
            seed: 42,
            knots: 8,
            center_m: [0.0, 0.0, 6.0],
            half_extent_m: [20.0, 15.0, 2.0],
            peak_speed_m_s: 12.0,
            hover_input: vec![hover; 4],
            flat_feedforward: flat,
        };
        let quad = Quadrotor::new(params).unwrap();
        let flat = ReferenceConfig::Spline(Spline::try_from(config(true)).unwrap());
        let level = ReferenceConfig::Spline(Spline::try_from(config(false)).unwrap());
        let (mut x, mut u) = ([0.0; 13], [0.0; 4]);
        let mut worst_level = 0.0_f64;
        for k in 0..300 {
            let t = 0.1 * k as f64;
            let ReferenceConfig::Spline(sp) = &flat else {
                unreachable!()
            };
            let a = sp.acceleration(t);
            for (r, worst) in [(&flat, None), (&level, Some(&mut worst_level))] {
                r.sample(t, &mut x, &mut u);
                let q = SVector::<f64, 4>::from_column_slice(&x[3..7]);
                assert!((q.norm() - 1.0).abs() < 1e-12, "unit quaternion");
                let dx = quad.derivative(
                    &SVector::<f64, 13>::from_column_slice(&x),
                    &SVector::<f64, 4>::from_column_slice(&u),
                );
                let err = (0..3).map(|i| (dx[7 + i] - a[i]).abs()).fold(0.0, f64::max);
                match worst {
                    None => assert!(err < 1e-9, "t {t}: acceleration off by {err}"),
                    Some(w) => *w = w.max(err),
                }
            }
        }
        // The level reference is not flyable at this speed.
        assert!(worst_level > 5.0, "{worst_level}");
    }

    /// The worst gap over `t` in [0, 30) s between the nominal quadrotor's
    /// acceleration at the reference's state and input and the reference
    /// velocity's own central difference (h = 1e-5, not the code's).
    fn worst_unflown_acceleration(r: &ReferenceConfig) -> f64 {
        use nalgebra::SVector;
        use recede_model::robots::{Quadrotor, QuadrotorParams};
        use recede_model::Dynamics;
        let quad = Quadrotor::new(QuadrotorParams::default()).unwrap();
        let (mut x, mut u, mut scratch) = ([0.0; 13], [0.0; 4], [0.0; 4]);
        let (mut plus, mut minus) = ([0.0; 13], [0.0; 13]);
        let h = 1e-5;
        let mut worst = 0.0_f64;
        for k in 0..300 {
            let t = 0.1 * k as f64;
            r.sample(t + h, &mut plus, &mut scratch);
            r.sample(t - h, &mut minus, &mut scratch);
            r.sample(t, &mut x, &mut u);
            let q = SVector::<f64, 4>::from_column_slice(&x[3..7]);
            assert!((q.norm() - 1.0).abs() < 1e-12, "unit quaternion at {t}");
            let dx = quad.derivative(
                &SVector::<f64, 13>::from_column_slice(&x),
                &SVector::<f64, 4>::from_column_slice(&u),
            );
            for i in 0..3 {
                let a = (plus[7 + i] - minus[7 + i]) / (2.0 * h);
                worst = worst.max((dx[7 + i] - a).abs());
            }
        }
        worst
    }

    /// The figure-eight and the circle (steady and varied, in a vertical
    /// plane) with `flat_feedforward` are trajectories of the nominal
    /// quadrotor; their level references are not, and a file without the
    /// key keeps the level one.
    #[test]
    fn flat_figure_eight_and_circles_are_flown_by_the_nominal_quadrotor() {
        let params = recede_model::robots::QuadrotorParams::default();
        let hover = params.mass_kg * recede_model::GRAVITY / 4.0;
        let eight = |flat| ReferenceConfig::FigureEight {
            amplitude_m: 10.0,
            height_m: 2.0,
            peak_speed_m_s: 9.0,
            hover_input: vec![hover; 4],
            flat_feedforward: flat,
        };
        let circle = |flat, variation| ReferenceConfig::Circle {
            radius_m: 10.0,
            speed_m_s: 7.0,
            height_m: 12.0,
            plane: Plane::Xz,
            center_xy_m: [1.0, -2.0],
            hover_input: vec![hover; 4],
            variation,
            flat_feedforward: flat,
        };
        let varied = Some(CircleVariation {
            speed_swing: 0.3,
            swing_rate_rad_s: 0.7,
            clockwise: true,
            phase_rad: 0.4,
            bob_m: 1.5,
            bob_rate_rad_s: 1.1,
        });
        for (flat, level) in [
            (eight(true), eight(false)),
            (circle(true, None), circle(false, None)),
            (circle(true, varied), circle(false, varied)),
        ] {
            let (flown, unflown) = (
                worst_unflown_acceleration(&flat),
                worst_unflown_acceleration(&level),
            );
            assert!(flown < 1e-4, "{flat:?}: off by {flown} m/s^2");
            assert!(unflown > 3.0, "{level:?}: only {unflown} m/s^2");
        }
        let file = "kind = \"figure_eight\"\namplitude_m = 10.0\nheight_m = 2.0\n\
                    peak_speed_m_s = 9.0\nhover_input = [2.4525, 2.4525, 2.4525, 2.4525]\n";
        let parsed: ReferenceConfig = toml::from_str(file).unwrap();
        assert_eq!(parsed, eight(false));
        let written = toml::to_string(&parsed).unwrap();
        assert!(!written.contains("flat_feedforward"), "{written}");
    }

    #[test]
    fn waypoints_hold_each_state_from_its_time() {
        let r = ReferenceConfig::Waypoints {
            states: vec![vec![1.0, 0.0], vec![2.0, 0.0], vec![3.0, 0.0]],
            times_secs: vec![0.0, 1.0, 2.5],
            input: vec![0.5],
        };
        r.validate(2, 1).unwrap();
        let (mut x, mut u) = (vec![0.0; 2], vec![0.0; 1]);
        for (t, want) in [
            (0.0, 1.0),
            (0.99, 1.0),
            (1.0, 2.0),
            (2.4, 2.0),
            (2.5, 3.0),
            (9.0, 3.0),
        ] {
            r.sample(t, &mut x, &mut u);
            assert_eq!(x[0], want, "t = {t}");
            assert_eq!(u[0], 0.5);
        }
        let bad = ReferenceConfig::Waypoints {
            states: vec![vec![1.0, 0.0], vec![2.0, 0.0]],
            times_secs: vec![0.0, 0.0],
            input: vec![0.0],
        };
        assert!(bad
            .validate(2, 1)
            .unwrap_err()
            .to_string()
            .contains("times_secs"));
        let short = ReferenceConfig::Waypoints {
            states: vec![vec![1.0]],
            times_secs: vec![0.0],
            input: vec![0.0],
        };
        assert!(short.validate(2, 1).is_err());
    }

    /// A `sines` reference is refused with the key at fault: indices
    /// beyond the state or repeated, tables of another shape, an input of
    /// the wrong length or an unknown computed input.
    #[test]
    fn sines_errors_name_the_key() {
        let text = |extra: &str| {
            format!(
                "kind = \"sines\"\nstates = [0, 1]\nrate_states = [2, 3]\ncenter = [0.0, 0.5]\n\
                 amplitude = [[0.3], [0.2]]\nfrequency_rad_s = [[1.0], [2.0]]\n\
                 phase_rad = [[0.0], [1.0]]\n{extra}"
            )
        };
        let parse = |extra: &str| toml::from_str::<ReferenceConfig>(&text(extra));
        let good = parse("input = \"inverse_dynamics\"").unwrap();
        good.validate(4, 2).unwrap();
        assert!(good.computed_input().is_some());
        let given = parse("input = [1.0, 2.0]").unwrap();
        given.validate(4, 2).unwrap();
        assert!(given.computed_input().is_none());
        let (mut x, mut u) = ([0.0; 4], [0.0; 2]);
        given.sample(0.0, &mut x, &mut u);
        assert_eq!(
            (x[1], x[3], u),
            (0.5 + 0.2 * 1.0_f64.sin(), 0.4 * 1.0_f64.cos(), [1.0, 2.0])
        );
        let message = |r: ReferenceConfig, nx: usize| r.validate(nx, 2).unwrap_err().to_string();
        assert!(message(given.clone(), 3).contains("reference.rate_states"));
        assert!(message(parse("input = [1.0]").unwrap(), 4).contains("reference.input"));
        let repeated =
            text("input = [1.0, 2.0]").replace("rate_states = [2, 3]", "rate_states = [2, 0]");
        let repeated: ReferenceConfig = toml::from_str(&repeated).unwrap();
        assert!(message(repeated, 4).contains("reference.rate_states"));
        let ragged = text("input = [1.0, 2.0]").replace("[[1.0], [2.0]]", "[[1.0, 2.0], [2.0]]");
        let ragged: ReferenceConfig = toml::from_str(&ragged).unwrap();
        assert!(message(ragged, 4).contains("reference.frequency_rad_s"));
        let unknown = parse("input = \"inverse_kinematics\"")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("inverse_dynamics"), "{unknown}");
    }
}
