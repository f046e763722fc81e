//! A Cartesian path for a URDF arm's end effector, turned into a joint
//! path once, at setup, by inverse kinematics on the arm's own forward
//! kinematics ([`ModelFile::reach`]): a table of joint angles and rates
//! over one lap, so a sample is an interpolation and allocates nothing.

use std::sync::Arc;

use recede_model::file::ModelFile;
use recede_model::robots::{continuum_arm, ContinuumArm, Robot, RobotConfig};
use serde::{Deserialize, Serialize};

use super::shapes::{circle, Plane};
use crate::ControlError;

/// `[reference] kind = "end_effector_circle"` as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndEffectorCircleConfig {
    /// The circle's centre, m, in the arm's base frame.
    pub center_m: [f64; 3],
    pub radius_m: f64,
    /// The plane it lies in, through its centre.
    #[serde(default)]
    pub plane: Plane,
    /// The end effector's speed along it, m/s.
    pub speed_m_s: f64,
    /// Until this time the arm is asked to hold the circle's first point
    /// (it gets there from wherever it starts); the lap starts then.
    #[serde(default = "default_start_secs")]
    pub start_secs: f64,
    /// Laps drawn; after them the arm is asked to hold the circle's first
    /// point at rest (a goal it can be judged on). Endless when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub laps: Option<f64>,
    /// Joint angles, rad: where the inverse kinematics starts, and the
    /// posture the joints the path leaves free are kept nearest.
    pub posture: Vec<f64>,
    pub input: Vec<f64>,
    /// The continuum arm only: the input reference is the model's own
    /// tensions along the path (inverse dynamics of the curvature table;
    /// the holding tensions at rest) instead of `input`, so the input
    /// weights pull towards what the path needs rather than towards fixed
    /// tensions. A path needing more than the tendons' limit is refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub input_from_model: bool,
}

fn default_start_secs() -> f64 {
    1.0
}

/// Spacing of the joint table, s (before it is fitted to a whole lap).
const TABLE_STEP_SECS: f64 = 0.005;
/// The most table rows: a lap longer than this many steps has its rows
/// spread over it.
const MAX_ROWS: usize = 4_000;

/// Whose forward and inverse kinematics place the end effector.
#[derive(Debug, Clone, PartialEq)]
enum Kinematics {
    /// A URDF arm's chain.
    File(Arc<ModelFile>),
    /// The continuum arm's tip on its PCC model (curvatures for angles).
    Continuum(ContinuumArm),
}

impl Kinematics {
    fn end_effector(&self, x: &[f64]) -> Option<[f64; 3]> {
        match self {
            Self::File(m) => m.end_effector(x),
            Self::Continuum(arm) => {
                let x: &[f64; continuum_arm::NX] = x.get(..continuum_arm::NX)?.try_into().ok()?;
                Some(arm.point(x))
            }
        }
    }

    /// Angles reaching `target` from `guess`, nearest `posture`.
    fn reach(
        &self,
        target: [f64; 3],
        guess: &[f64],
        posture: &[f64],
    ) -> Option<Result<Vec<f64>, f64>> {
        match self {
            Self::File(m) => m.reach(target, guess, posture),
            Self::Continuum(arm) => {
                let three = |v: &[f64]| -> Option<[f64; continuum_arm::NS]> { v.try_into().ok() };
                let (g, p) = (three(guess)?, three(posture)?);
                if target[1].abs() > 1e-9 {
                    // The arm bends in the x-z plane only.
                    return Some(Err(target[1].abs()));
                }
                Some(arm.reach([target[0], target[2]], g, p).map(|q| q.to_vec()))
            }
        }
    }
}

/// The joint path of an [`EndEffectorCircleConfig`], once resolved
/// against the arm ([`EndEffectorCircle::resolve`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "EndEffectorCircleConfig", into = "EndEffectorCircleConfig")]
pub struct EndEffectorCircle {
    pub config: EndEffectorCircleConfig,
    resolved: Option<Resolved>,
}

#[derive(Debug, Clone, PartialEq)]
struct Resolved {
    model: Kinematics,
    /// Joint angles then rates (`nx` values) at `k * step_secs` into the lap.
    rows: Vec<Vec<f64>>,
    /// With `input_from_model`: the input at each row, and at rest on the
    /// first row (before and after the laps); empty otherwise.
    inputs: Vec<Vec<f64>>,
    hold_input: Vec<f64>,
    step_secs: f64,
}

impl From<EndEffectorCircleConfig> for EndEffectorCircle {
    fn from(config: EndEffectorCircleConfig) -> Self {
        Self {
            config,
            resolved: None,
        }
    }
}

impl From<EndEffectorCircle> for EndEffectorCircleConfig {
    fn from(c: EndEffectorCircle) -> Self {
        c.config
    }
}

fn parse_error(key: &str, message: String) -> ControlError {
    ControlError::Parse {
        origin: format!("reference.{key}"),
        message,
    }
}

impl EndEffectorCircle {
    fn lap_secs(&self) -> f64 {
        std::f64::consts::TAU * self.config.radius_m / self.config.speed_m_s
    }

    /// The end effector's target at `t_secs`, m.
    pub fn target(&self, t_secs: f64) -> [f64; 3] {
        let c = &self.config;
        let (mut p, mut v) = ([0.0; 3], [0.0; 3]);
        let mut into = (t_secs - c.start_secs).max(0.0);
        if self.finished(t_secs) {
            into = 0.0;
        }
        circle(
            c.center_m,
            c.radius_m,
            c.speed_m_s,
            c.plane,
            into,
            &mut p,
            &mut v,
        );
        p
    }

    /// Whether the laps are drawn at `t_secs` (never for endless laps).
    fn finished(&self, t_secs: f64) -> bool {
        let c = &self.config;
        c.laps
            .is_some_and(|laps| t_secs - c.start_secs >= laps * self.lap_secs())
    }

    /// Whether the lap has started at `t_secs` (tracking is scored from then).
    pub fn started(&self, t_secs: f64) -> bool {
        t_secs >= self.config.start_secs
    }

    /// The distance from the end effector at state `x` to its target at
    /// `t_secs`, m; `None` until resolved.
    pub fn error_m(&self, t_secs: f64, x: &[f64]) -> Option<f64> {
        let tip = self.resolved.as_ref()?.model.end_effector(x)?;
        let target = self.target(t_secs);
        Some(
            (0..3)
                .map(|k| (tip[k] - target[k]).powi(2))
                .sum::<f64>()
                .sqrt(),
        )
    }

    pub fn is_resolved(&self) -> bool {
        self.resolved.is_some()
    }

    /// Checks the keys and solves the joint path on `robot`'s arm: one
    /// lap, each row's inverse kinematics started from the previous row,
    /// rates by central differences around the lap. An error names the key
    /// and, out of reach, the point and how far it stayed.
    pub fn resolve(&mut self, robot: &RobotConfig) -> Result<(), ControlError> {
        let c = &self.config;
        for (key, v) in [("radius_m", c.radius_m), ("speed_m_s", c.speed_m_s)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(parse_error(key, format!("expected a value > 0, found {v}")));
            }
        }
        if let Some(laps) = c.laps {
            if !(laps.is_finite() && laps > 0.0) {
                return Err(parse_error(
                    "laps",
                    format!("expected a count > 0, found {laps}"),
                ));
            }
        }
        if !(c.start_secs.is_finite() && c.start_secs >= 0.0) {
            return Err(parse_error(
                "start_secs",
                format!("expected a time >= 0, found {}", c.start_secs),
            ));
        }
        if c.center_m.iter().any(|v| !v.is_finite()) {
            return Err(parse_error(
                "center_m",
                format!("expected finite values, found {:?}", c.center_m),
            ));
        }
        let (model, nx, nu) = match robot {
            RobotConfig::ModelFile(f) => {
                let model = f.model().map_err(recede_model::ModelError::from)?;
                if model.end_effector(&model.initial_state).is_none() {
                    return Err(not_an_arm());
                }
                let (nx, nu) = (model.nx(), model.nu());
                (Kinematics::File(model), nx, nu)
            }
            RobotConfig::ContinuumArm(p) => (
                Kinematics::Continuum(ContinuumArm::new(*p)?),
                continuum_arm::NX,
                continuum_arm::NU,
            ),
            _ => return Err(not_an_arm()),
        };
        let joints = nx / 2;
        if c.posture.len() != joints || c.posture.iter().any(|v| !v.is_finite()) {
            return Err(parse_error(
                "posture",
                format!(
                    "expected {joints} finite joint angles, found {:?}",
                    c.posture
                ),
            ));
        }
        if c.input.len() != nu || c.input.iter().any(|v| !v.is_finite()) {
            return Err(parse_error(
                "input",
                format!("expected {nu} finite values, found {:?}", c.input),
            ));
        }
        let lap = self.lap_secs();
        if !lap.is_finite() {
            return Err(parse_error(
                "speed_m_s",
                format!("a lap (2 pi radius_m / speed_m_s) of {lap} s"),
            ));
        }
        // A slow lap gets rows further apart in time (the same distance
        // along the circle), so setup stays bounded.
        let count = ((lap / TABLE_STEP_SECS).ceil() as usize).clamp(4, MAX_ROWS);
        let step_secs = lap / count as f64;
        let mut angles: Vec<Vec<f64>> = Vec::with_capacity(count);
        let mut guess = c.posture.clone();
        for k in 0..count {
            let t = c.start_secs + k as f64 * step_secs;
            let target = self.target(t);
            let q = match model.reach(target, &guess, &c.posture) {
                Some(Ok(q)) => q,
                Some(Err(miss)) => {
                    return Err(parse_error(
                        "center_m",
                        format!(
                            "the circle's point {target:?} m (at {t:.3} s) is out of the arm's reach: the inverse kinematics stayed {miss:.3e} m away"
                        ),
                    ))
                }
                None => return Err(not_an_arm()),
            };
            guess.clone_from(&q);
            angles.push(q);
        }
        let rows = (0..count)
            .map(|k| {
                let (prev, next) = (&angles[(k + count - 1) % count], &angles[(k + 1) % count]);
                let mut row = angles[k].clone();
                row.extend((0..joints).map(|i| (next[i] - prev[i]) / (2.0 * step_secs)));
                row
            })
            .collect::<Vec<Vec<f64>>>();
        let (inputs, hold_input) = if c.input_from_model {
            model_inputs(&model, &rows, step_secs)?
        } else {
            (Vec::new(), Vec::new())
        };
        self.resolved = Some(Resolved {
            model,
            rows,
            inputs,
            hold_input,
            step_secs,
        });
        Ok(())
    }

    /// The joint reference at `t_secs` into `state` (angles, rates): the
    /// lap's first row, at rest, until it starts and after the last lap;
    /// linear between rows in between. Unresolved (which [`super::ReferenceConfig::validate`]
    /// refuses), the posture at rest.
    pub(super) fn sample(&self, t_secs: f64, state: &mut [f64], input: &mut [f64]) {
        input.copy_from_slice(&self.config.input);
        state.fill(0.0);
        let Some(r) = &self.resolved else {
            let n = self.config.posture.len().min(state.len());
            state[..n].copy_from_slice(&self.config.posture[..n]);
            return;
        };
        let joints = state.len() / 2;
        let count = r.rows.len();
        if t_secs < self.config.start_secs || count == 0 || self.finished(t_secs) {
            if let Some(first) = r.rows.first() {
                state[..joints].copy_from_slice(&first[..joints]);
            }
            if r.hold_input.len() == input.len() {
                input.copy_from_slice(&r.hold_input);
            }
            return;
        }
        let s = (t_secs - self.config.start_secs) / r.step_secs;
        let whole = s.floor();
        let frac = s - whole;
        // `whole` is finite and >= 0 here; rem_euclid keeps it in the lap.
        let k = (whole.rem_euclid(count as f64) as usize).min(count - 1);
        let (a, b) = (&r.rows[k], &r.rows[(k + 1) % count]);
        for (i, v) in state.iter_mut().enumerate().take(a.len()) {
            *v = a[i] + (b[i] - a[i]) * frac;
        }
        if r.inputs.len() == count {
            let (a, b) = (&r.inputs[k], &r.inputs[(k + 1) % count]);
            for (i, v) in input.iter_mut().enumerate().take(a.len()) {
                *v = a[i] + (b[i] - a[i]) * frac;
            }
        }
    }
}

/// The continuum arm's tensions along the table (accelerations by central
/// differences of the rates around the lap) and at rest on its first row.
/// Setup time.
fn model_inputs(
    model: &Kinematics,
    rows: &[Vec<f64>],
    step_secs: f64,
) -> Result<(Vec<Vec<f64>>, Vec<f64>), ControlError> {
    let Kinematics::Continuum(arm) = model else {
        return Err(parse_error(
            "input_from_model",
            "expected false: the model's input along the path is defined for the continuum arm only".into(),
        ));
    };
    const NS: usize = continuum_arm::NS;
    let three = |v: &[f64]| -> [f64; NS] { std::array::from_fn(|i| v[i]) };
    let count = rows.len();
    let refuse = |at: String, pull: f64| {
        parse_error(
            "input_from_model",
            format!(
                "the path needs a tendon pull of {pull:.1} N {at}, beyond max_tension_n = {} N: move the circle or slow it",
                arm.params.max_tension_n
            ),
        )
    };
    // The whole lap is checked, so a refusal names its worst row.
    let mut inputs = Vec::with_capacity(count);
    let mut worst: Option<(usize, f64)> = None;
    for k in 0..count {
        let (prev, next) = (&rows[(k + count - 1) % count], &rows[(k + 1) % count]);
        let qdd: [f64; NS] =
            std::array::from_fn(|i| (next[NS + i] - prev[NS + i]) / (2.0 * step_secs));
        match arm.tensions_for(three(&rows[k]), three(&rows[k][NS..]), qdd) {
            Ok(u) => inputs.push(u.to_vec()),
            Err(pull) => {
                if worst.is_none_or(|(_, w)| pull > w || pull.is_nan()) {
                    worst = Some((k, pull));
                }
            }
        }
    }
    if let Some((k, pull)) = worst {
        return Err(refuse(format!("at row {k} of {count} of the lap"), pull));
    }
    let hold = arm
        .tensions_for(three(&rows[0]), [0.0; NS], [0.0; NS])
        .map_err(|pull| refuse("holding the first point".into(), pull))?;
    Ok((inputs, hold.to_vec()))
}

fn not_an_arm() -> ControlError {
    parse_error(
        "kind",
        "end_effector_circle is defined for URDF arms (`[robot] kind = \"urdf\"`) and the continuum arm (`kind = \"continuum_arm\"`)".into(),
    )
}
