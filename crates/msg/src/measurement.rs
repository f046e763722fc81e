use nalgebra::Vector3;
use serde::{Deserialize, Serialize};

use crate::{DepthImage, InfraredImage, RgbImage, SensorId, Stamp};

/// A planar scan: beam `i` points at `angle_min_rad + i * angle_increment_rad`
/// about the sensor's z axis (0 = sensor x, counter-clockwise positive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LidarScan {
    pub angle_min_rad: f64,
    pub angle_increment_rad: f64,
    /// Ranges beyond this are not returned.
    pub range_max_m: f64,
    /// Range per beam, m; `NaN` when the beam returned nothing valid.
    pub ranges_m: Vec<f32>,
}

/// What one sensor reported, in the sensor's own frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Measurement {
    /// Specific force (acceleration minus gravity; +g up at rest) and
    /// angular rate, both in the sensor frame.
    Imu {
        specific_force_mps2: Vector3<f64>,
        gyro_radps: Vector3<f64>,
    },
    /// Tick counts per channel (wheels or joints), counted from the start.
    Encoders {
        ticks: Vec<i64>,
    },
    /// Position of the sensor in the world frame and heading of the body.
    PositionFix {
        position_m: Vector3<f64>,
        yaw_rad: f64,
    },
    RgbImage(RgbImage),
    DepthImage(DepthImage),
    InfraredImage(InfraredImage),
    LidarScan(LidarScan),
}

/// A measurement with where it came from and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub sensor: SensorId,
    pub stamp: Stamp,
    pub measurement: Measurement,
}
