//! Differential-drive ground robot as a unicycle with acceleration inputs.
//!
//! State (5) `[x, y, yaw, v, yaw_rate]`: position in the world plane (m),
//! heading (rad, 0 along +x, counter-clockwise positive), forward speed (m/s),
//! yaw rate (rad/s). Input (2) `[a, alpha]`: forward acceleration (m/s^2) and
//! yaw acceleration (rad/s^2).
//!
//! - `x' = v cos(yaw)`, `y' = v sin(yaw)`, `yaw' = yaw_rate`
//! - `v' = a`, `yaw_rate' = alpha`
//!
//! Speed and yaw-rate limits are state bounds, acceleration limits input
//! bounds; both are symmetric (reverse as fast as forward). The wheel geometry
//! only converts between body and wheel speeds, for encoders.

use nalgebra::SVector;
use serde::{Deserialize, Serialize};

use super::{Body, Pose, Robot};
use crate::error::check_positive;
use crate::{Bounds, Dynamics, ModelError, Scalar};

pub const NX: usize = 5;
pub const NU: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiffDriveParams {
    /// `|v| <= max_speed_m_s`.
    pub max_speed_m_s: f64,
    /// `|yaw_rate| <= max_yaw_rate_rad_s`.
    pub max_yaw_rate_rad_s: f64,
    /// `|a| <= max_accel_m_s2`.
    pub max_accel_m_s2: f64,
    /// `|alpha| <= max_yaw_accel_rad_s2`.
    pub max_yaw_accel_rad_s2: f64,
    /// Distance between the two wheels' contact points.
    pub track_width_m: f64,
    pub wheel_radius_m: f64,
}

impl Default for DiffDriveParams {
    fn default() -> Self {
        Self {
            max_speed_m_s: 1.5,
            max_yaw_rate_rad_s: 2.0,
            max_accel_m_s2: 1.0,
            max_yaw_accel_rad_s2: 3.0,
            track_width_m: 0.4,
            wheel_radius_m: 0.08,
        }
    }
}

impl DiffDriveParams {
    /// The chassis: 1.2 track widths long, 0.3 m high (drawn, and counted
    /// by the contact check as [`Body::balls`]).
    pub fn body(&self) -> Body {
        let width_m = self.track_width_m;
        Body::GroundBox {
            length_m: 1.2 * width_m,
            width_m,
            height_m: 0.3,
        }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        check_positive("max_speed_m_s", self.max_speed_m_s)?;
        check_positive("max_yaw_rate_rad_s", self.max_yaw_rate_rad_s)?;
        check_positive("max_accel_m_s2", self.max_accel_m_s2)?;
        check_positive("max_yaw_accel_rad_s2", self.max_yaw_accel_rad_s2)?;
        check_positive("track_width_m", self.track_width_m)?;
        check_positive("wheel_radius_m", self.wheel_radius_m)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DiffDrive {
    pub params: DiffDriveParams,
}

impl DiffDrive {
    pub fn new(params: DiffDriveParams) -> Result<Self, ModelError> {
        params.validate()?;
        Ok(Self { params })
    }

    /// `|a| <= max_accel_m_s2`, `|alpha| <= max_yaw_accel_rad_s2`.
    pub fn input_bounds(&self) -> Bounds<NU> {
        Bounds::symmetric([self.params.max_accel_m_s2, self.params.max_yaw_accel_rad_s2])
    }

    /// `|v| <= max_speed_m_s`, `|yaw_rate| <= max_yaw_rate_rad_s`; position and
    /// heading unbounded.
    pub fn state_bounds(&self) -> Bounds<NX> {
        let inf = f64::INFINITY;
        Bounds::symmetric([
            inf,
            inf,
            inf,
            self.params.max_speed_m_s,
            self.params.max_yaw_rate_rad_s,
        ])
    }

    /// Wheel angular speeds `(left, right)`, rad/s, for a body speed `v` (m/s)
    /// and yaw rate (rad/s).
    pub fn wheel_speeds_rad_s(&self, v_m_s: f64, yaw_rate_rad_s: f64) -> (f64, f64) {
        let half_track = 0.5 * self.params.track_width_m;
        let r = self.params.wheel_radius_m;
        (
            (v_m_s - yaw_rate_rad_s * half_track) / r,
            (v_m_s + yaw_rate_rad_s * half_track) / r,
        )
    }

    /// Body speed (m/s) and yaw rate (rad/s) from wheel angular speeds
    /// `(left, right)`, rad/s; the inverse of [`Self::wheel_speeds_rad_s`].
    pub fn body_velocity(&self, left_rad_s: f64, right_rad_s: f64) -> (f64, f64) {
        let r = self.params.wheel_radius_m;
        (
            0.5 * r * (left_rad_s + right_rad_s),
            r * (right_rad_s - left_rad_s) / self.params.track_width_m,
        )
    }
}

impl Dynamics<NX, NU> for DiffDrive {
    fn derivative<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>) -> SVector<T, NX> {
        let (yaw, v, yaw_rate) = (x[2], x[3], x[4]);
        SVector::<T, NX>::from([v * yaw.cos(), v * yaw.sin(), yaw_rate, u[0], u[1]])
    }
}

impl Robot<NX, NU> for DiffDrive {
    const KIND: &'static str = "diff_drive";
    const STATE_NAMES: &'static [&'static str; NX] = &["x", "y", "yaw", "v", "yaw_rate"];
    const INPUT_NAMES: &'static [&'static str; NU] = &["a", "alpha"];
    const STATE_UNITS: &'static [&'static str; NX] = &["m", "m", "rad", "m/s", "rad/s"];
    const INPUT_UNITS: &'static [&'static str; NU] = &["m/s^2", "rad/s^2"];
    const POSITION_STATES: usize = 2;
    type Params = DiffDriveParams;

    fn from_params(params: DiffDriveParams) -> Result<Self, ModelError> {
        Self::new(params)
    }
    fn input_bounds(&self) -> Bounds<NU> {
        DiffDrive::input_bounds(self)
    }
    fn point(&self, x: &[f64; NX]) -> [f64; 3] {
        [x[0], x[1], 0.0]
    }
    fn pose(&self, x: &[f64; NX]) -> Pose {
        Pose::planar(x[0], x[1], x[2])
    }
    fn body(&self) -> Body {
        self.params.body()
    }
}
