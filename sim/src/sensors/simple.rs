//! Encoders and position fixes.

use nalgebra::{Isometry3, Vector3};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use recede_msg::Measurement;

use super::Faults;
use crate::plant::BodyState;

/// Angles quantised to whole ticks (rounded towards minus infinity), each
/// channel counted from angle 0.
pub fn encoders(angles_rad: &[f64], ticks_per_rev: u32, faults: &mut Faults) -> Measurement {
    let per_rad = ticks_per_rev as f64 / std::f64::consts::TAU;
    let ticks = angles_rad
        .iter()
        .map(|a| {
            let mut t = (a * per_rad).floor();
            if let Some(o) = faults.scalar_outlier() {
                t += o.round();
            }
            t as i64
        })
        .collect();
    Measurement::Encoders { ticks }
}

/// The sensor's position in the world and the body's yaw, with noise.
pub fn position_fix(
    body: &BodyState,
    body_from_sensor: &Isometry3<f64>,
    noise_std_position_m: f64,
    noise_std_yaw_rad: f64,
    rng: &mut ChaCha8Rng,
    faults: &mut Faults,
) -> Measurement {
    let p = body.world_from_body * nalgebra::Point3::from(body_from_sensor.translation.vector);
    let n = Vector3::from_fn(|_, _| rng.sample::<f64, _>(StandardNormal));
    let mut position = p.coords + n * noise_std_position_m;
    if let Some(o) = faults.vector_outlier() {
        position += o;
    }
    let x_axis = body.world_from_body.rotation * Vector3::x();
    let yaw = x_axis.y.atan2(x_axis.x) + rng.sample::<f64, _>(StandardNormal) * noise_std_yaw_rad;
    let yaw = (yaw + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI;
    Measurement::PositionFix {
        position_m: position,
        yaw_rad: yaw,
    }
}
