//! Resource limits checked when a scenario is loaded, so that anything
//! `check` accepts runs in bounded memory and time. Every limit is
//! documented in README's scenario section; errors name the key.

use anyhow::{bail, Result};
use recede_control::{InputReference, ReferenceConfig};
use recede_model::robots::RobotConfig;
use recede_mpc::MpcConfig;
use recede_sim::config::{SensorConfig, SensorModelConfig};

use super::{EstimatorConfig, Scenario};

/// Longest simulated run, s (one day).
pub const MAX_DURATION_SECS: f64 = 86_400.0;
/// Most control steps in a run (per-step figures are kept: 32 bytes each).
pub const MAX_CONTROL_STEPS: f64 = 5_000_000.0;
/// Fastest plant integration, Hz.
pub const MAX_PLANT_RATE_HZ: f64 = 100_000.0;
/// Fastest sensor, Hz.
pub const MAX_SENSOR_RATE_HZ: f64 = 10_000.0;
/// Most rays a camera or lidar casts per second (a 160x120 camera at 30 Hz
/// casts 5.8e5).
pub const MAX_RAYS_PER_SEC: f64 = 5e7;
/// Largest magnitude of a state or input in `initial_state` and
/// `[reference]` (squares of it must stay finite in every figure).
pub const MAX_MAGNITUDE: f64 = 1e6;
/// Longest MPC interval, s.
pub const MAX_DT_SECS: f64 = 3_600.0;
/// Most RK4 steps per interval, and most SQP iterations per step.
pub const MAX_RK4_SUBSTEPS: usize = 1_000;
pub const MAX_SQP_ITERATIONS: usize = 50;
/// Most variables of the condensed QP (inputs and slacks over the horizon):
/// its Hessian is dense and refactorised every step.
pub const MAX_QP_VARIABLES: usize = 2_000;
/// Largest estimated memory of the controller's QP, bytes.
pub const MAX_QP_BYTES: f64 = 256.0 * 1024.0 * 1024.0;
/// Finite and within ±[`MAX_MAGNITUDE`].
pub fn within_magnitude(v: f64) -> bool {
    v.is_finite() && v.abs() <= MAX_MAGNITUDE
}

/// Longest scenario name (the recording is `out/<name>.rrd`).
pub const MAX_NAME_CHARS: usize = 100;

/// `name` is used as a file name: letters, digits, `_`, `-`, `.` (not
/// first), so that it can never leave the output directory.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        bail!(
            "[scenario] `name`: expected 1 to {MAX_NAME_CHARS} letters, digits, `_`, `-` or `.` \
             (not first; the recording is out/<name>.rrd), found {:?}",
            shorten(name)
        );
    }
    Ok(())
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

/// A run's length: finite, > 0, at most a day and [`MAX_CONTROL_STEPS`]
/// control periods. `key` names where it came from.
pub fn check_duration(key: &str, duration_secs: f64, period_secs: f64) -> Result<()> {
    if !(duration_secs > 0.0 && duration_secs <= MAX_DURATION_SECS) {
        bail!("{key}: expected seconds in (0, {MAX_DURATION_SECS}], found {duration_secs:?}");
    }
    let steps = duration_secs / period_secs;
    if !(steps.is_finite() && steps <= MAX_CONTROL_STEPS) {
        bail!(
            "{key}: expected at most {MAX_CONTROL_STEPS:e} control periods of {period_secs} s, \
             found {duration_secs:?} s ({steps:e} periods)"
        );
    }
    Ok(())
}

/// `[controller]` timing and iteration counts, before anything is built
/// from them.
pub fn check_timing(c: &MpcConfig) -> Result<()> {
    if !(c.dt_secs > 0.0 && c.dt_secs <= MAX_DT_SECS) {
        bail!(
            "[controller] `dt_secs`: expected an interval in (0, {MAX_DT_SECS}] s, found {:?}",
            c.dt_secs
        );
    }
    if let Some(p) = c.period_secs {
        if !(p > 0.0 && p <= MAX_DT_SECS) {
            bail!(
                "[controller] `period_secs`: expected a period in (0, {MAX_DT_SECS}] s, found {p:?}"
            );
        }
    }
    if !(1..=MAX_RK4_SUBSTEPS).contains(&c.rk4_substeps) {
        bail!(
            "[controller] `rk4_substeps`: expected 1 to {MAX_RK4_SUBSTEPS}, found {}",
            c.rk4_substeps
        );
    }
    if !(1..=MAX_SQP_ITERATIONS).contains(&c.sqp_iterations) {
        bail!(
            "[controller] `sqp_iterations`: expected 1 to {MAX_SQP_ITERATIONS}, found {}",
            c.sqp_iterations
        );
    }
    if c.horizon_steps == 0 {
        bail!("[controller] `horizon_steps`: expected an integer >= 1, found 0");
    }
    Ok(())
}

/// The condensed QP's size: variables (inputs and one slack per soft row,
/// keep-out rows included, and node), a dense Hessian, constraint rows over every input, and the
/// prediction blocks (N^2 NX NU / 2). Checked before the controller is
/// built, which would allocate it.
pub fn check_problem_size(s: &Scenario) -> Result<()> {
    let f = &s.file;
    let c = &f.controller.mpc;
    let (nx, nu) = f.robot.dimensions();
    let n = c.horizon_steps as f64;
    let soft = c.state_bounds.iter().filter(|b| b.soft.is_some()).count() as f64;
    let mut rows = nu as f64 + c.state_bounds.len() as f64 + soft;
    let mut obstacle_rows = 0.0;
    if matches!(f.estimator, EstimatorConfig::Ekf(_)) || f.perception.constraints.known_obstacles {
        // A deformable body has a row per point along it and obstacle.
        let per_obstacle = match f.robot {
            RobotConfig::ContinuumArm(_) => recede_control::guidance::BODY_POINTS,
            _ => 1,
        };
        obstacle_rows = (f.perception.constraints.max_obstacles * per_obstacle) as f64;
        rows += obstacle_rows;
    }
    // Keep-out rows are soft: each carries a slack variable at every node.
    let vars = n * (nu as f64 + soft + obstacle_rows);
    let bytes = 8.0 * (vars * vars + n * rows * vars + 0.5 * n * n * (nx * nu) as f64);
    if !(vars <= MAX_QP_VARIABLES as f64 && bytes <= MAX_QP_BYTES) {
        bail!(
            "[controller] `horizon_steps`: {} intervals make a QP of {vars} variables (inputs, \
             and a slack per soft or keep-out row: {obstacle_rows} keep-out rows from \
             [perception.constraints] `max_obstacles`) and about {:.0} MB; expected at most \
             {MAX_QP_VARIABLES} variables and {:.0} MB",
            c.horizon_steps,
            bytes / 1e6,
            MAX_QP_BYTES / 1e6
        );
    }
    Ok(())
}

/// Reference values a summary can square: within ±[`MAX_MAGNITUDE`].
pub fn check_reference(r: &ReferenceConfig) -> Result<()> {
    let check = |key: &str, values: &[f64]| -> Result<()> {
        if let Some((i, v)) = values
            .iter()
            .enumerate()
            .find(|(_, v)| !within_magnitude(**v))
        {
            bail!("[reference] `{key}[{i}]`: expected a finite number within ±{MAX_MAGNITUDE:e}, found {v:?}");
        }
        Ok(())
    };
    match r {
        ReferenceConfig::Setpoint { state, input } => {
            check("state", state)?;
            check("input", input)
        }
        ReferenceConfig::FigureEight {
            amplitude_m,
            height_m,
            peak_speed_m_s,
            hover_input,
            ..
        } => {
            check("amplitude_m", &[*amplitude_m])?;
            check("height_m", &[*height_m])?;
            check("peak_speed_m_s", &[*peak_speed_m_s])?;
            check("hover_input", hover_input)
        }
        ReferenceConfig::Circle {
            radius_m,
            speed_m_s,
            height_m,
            center_xy_m,
            hover_input,
            variation,
            ..
        } => {
            check("radius_m", &[*radius_m])?;
            check("speed_m_s", &[*speed_m_s])?;
            check("height_m", &[*height_m])?;
            check("center_xy_m", center_xy_m)?;
            if let Some(v) = variation {
                check("variation.speed_swing", &[v.speed_swing])?;
                check("variation.swing_rate_rad_s", &[v.swing_rate_rad_s])?;
                check("variation.phase_rad", &[v.phase_rad])?;
                check("variation.bob_m", &[v.bob_m])?;
                check("variation.bob_rate_rad_s", &[v.bob_rate_rad_s])?;
            }
            check("hover_input", hover_input)
        }
        ReferenceConfig::Spline(spline) => {
            let c = &spline.config;
            check("center_m", &c.center_m)?;
            check("half_extent_m", &c.half_extent_m)?;
            check("peak_speed_m_s", &[c.peak_speed_m_s])?;
            check("hover_input", &c.hover_input)
        }
        ReferenceConfig::Waypoints { states, input, .. } => {
            for (k, s) in states.iter().enumerate() {
                check(&format!("states[{k}]"), s)?;
            }
            check("input", input)
        }
        ReferenceConfig::Sines(sines) => {
            check("center", &sines.center)?;
            for (key, table) in [
                ("amplitude", &sines.amplitude),
                ("frequency_rad_s", &sines.frequency_rad_s),
                ("phase_rad", &sines.phase_rad),
            ] {
                for (k, row) in table.iter().enumerate() {
                    check(&format!("{key}[{k}]"), row)?;
                }
            }
            match &sines.input {
                InputReference::Given(input) => check("input", input),
                InputReference::Computed(_) => Ok(()),
            }
        }
        ReferenceConfig::EndEffectorCircle(circle) => {
            let c = &circle.config;
            check("center_m", &c.center_m)?;
            check("radius_m", &[c.radius_m])?;
            check("speed_m_s", &[c.speed_m_s])?;
            check("start_secs", &[c.start_secs])?;
            check("laps", &[c.laps.unwrap_or(1.0)])?;
            check("posture", &c.posture)?;
            check("input", &c.input)
        }
    }
}

/// Sensors no faster than [`MAX_SENSOR_RATE_HZ`], and no more rays per
/// second than [`MAX_RAYS_PER_SEC`] for a camera or lidar (each ray is
/// work the simulated world does).
pub fn check_sensor_rates(sensors: &[SensorConfig]) -> Result<()> {
    for s in sensors {
        let rays = match s.model {
            SensorModelConfig::RgbCamera {
                width_px,
                height_px,
                ..
            }
            | SensorModelConfig::DepthCamera {
                width_px,
                height_px,
                ..
            }
            | SensorModelConfig::InfraredCamera {
                width_px,
                height_px,
                ..
            } => f64::from(width_px) * f64::from(height_px),
            SensorModelConfig::Lidar2d { beam_count, .. } => f64::from(beam_count),
            _ => 0.0,
        };
        if s.rate_hz > MAX_SENSOR_RATE_HZ || rays * s.rate_hz > MAX_RAYS_PER_SEC {
            bail!(
                "[[sensors]] `{}.rate_hz`: expected at most {MAX_SENSOR_RATE_HZ} Hz and \
                 {MAX_RAYS_PER_SEC:e} rays per second, found {:?} Hz ({:e} rays per second)",
                shorten(&s.name),
                s.rate_hz,
                rays * s.rate_hz
            );
        }
    }
    Ok(())
}
