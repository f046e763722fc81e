use nalgebra::Isometry3;
use serde::{Deserialize, Serialize};

use crate::CameraIntrinsics;

/// A sensor's index in the run's list of sensors. Cheap to copy into every
/// reading; [`SensorInfo`] says what it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SensorId(pub u32);

/// What a sensor measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorKind {
    Imu,
    Encoders,
    PositionFix,
    RgbCamera,
    DepthCamera,
    InfraredCamera,
    #[serde(rename = "lidar_2d")]
    Lidar2d,
}

/// The static description of one sensor: what consumers need to interpret
/// its readings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensorInfo {
    pub id: SensorId,
    /// Unique name, as in the scenario file.
    pub name: String,
    pub kind: SensorKind,
    /// Where the sensor sits on the robot: maps sensor coordinates to body
    /// coordinates (world coordinates when [`Self::world_fixed`]).
    pub body_from_sensor: Isometry3<f64>,
    /// Mounted in the world, not on the body (a camera watching the robot
    /// from outside): `body_from_sensor` is then `world_from_sensor`.
    #[serde(default)]
    pub world_fixed: bool,
    /// Nominal sample rate, Hz.
    pub rate_hz: f64,
    /// Delay between the instant described and availability, s.
    pub latency_secs: f64,
    /// Pinhole intrinsics, for cameras only.
    pub intrinsics: Option<CameraIntrinsics>,
}
