//! The scenario file's `[[sensors]]` entries.

use nalgebra::{Isometry3, Matrix3, Rotation3, Translation3, UnitQuaternion, Vector3};
use serde::{Deserialize, Serialize};

use super::check::{fail, finite_all, name, non_negative, number, positive, probability};
use crate::ConfigError;
use recede_msg::SensorKind;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorConfig {
    /// Unique; also names the sensor's random stream.
    pub name: String,
    pub rate_hz: f64,
    #[serde(default)]
    pub latency_secs: f64,
    #[serde(default)]
    pub mount: MountConfig,
    #[serde(default)]
    pub dropout: DropoutConfig,
    #[serde(default)]
    pub outliers: OutlierConfig,
    pub model: SensorModelConfig,
}

/// Where the sensor sits on the body (or, with `frame = "world"`, in the
/// world). The rotation (roll, pitch, yaw about x, y, z, applied as
/// `Rz(yaw) Ry(pitch) Rx(roll)`) turns a frame with x forward, y left, z
/// up; with zero rotation a camera looks along body x (its optical frame
/// is then x right, y down, z forward).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MountConfig {
    pub translation_m: [f64; 3],
    pub rotation_rpy_rad: [f64; 3],
    /// What the translation and rotation are relative to: the body (the
    /// default; a rod's tip for the continuum arm) or the world (a camera
    /// watching the robot from outside; cameras and lidars only).
    #[serde(skip_serializing_if = "MountFrame::is_body")]
    pub frame: MountFrame,
}

/// The frame a sensor is mounted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MountFrame {
    #[default]
    Body,
    World,
}

impl MountFrame {
    fn is_body(&self) -> bool {
        *self == MountFrame::Body
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DropoutConfig {
    /// Chance that any one sample is lost.
    pub probability: f64,
    /// Windows in which every sample is lost.
    pub outages: Vec<OutageConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageConfig {
    pub start_secs: f64,
    pub end_secs: f64,
}

/// An outlier adds `magnitude` (in the measurement's units; ticks for
/// encoders) with a random sign or direction. The chance is per reading for
/// IMU, encoders and position fixes, per pixel or beam for images and scans.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutlierConfig {
    pub probability: f64,
    pub magnitude: f64,
    /// Outliers are NaN (a broken driver) instead of offsets.
    pub nan: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SensorModelConfig {
    Imu {
        #[serde(default)]
        noise_std_accel_mps2: f64,
        #[serde(default)]
        noise_std_gyro_radps: f64,
        #[serde(default)]
        bias_walk_std_accel_mps2_per_sqrt_s: f64,
        #[serde(default)]
        bias_walk_std_gyro_radps_per_sqrt_s: f64,
    },
    Encoders {
        ticks_per_rev: u32,
    },
    PositionFix {
        #[serde(default)]
        noise_std_position_m: f64,
        #[serde(default)]
        noise_std_yaw_rad: f64,
    },
    RgbCamera {
        width_px: u32,
        height_px: u32,
        hfov_rad: f64,
        /// Per channel, in 8-bit levels.
        #[serde(default)]
        noise_std_levels: f64,
    },
    /// Noise std `noise_std_m + noise_std_quadratic_per_m * depth^2`.
    DepthCamera {
        width_px: u32,
        height_px: u32,
        hfov_rad: f64,
        #[serde(default)]
        min_range_m: f64,
        max_range_m: f64,
        #[serde(default)]
        noise_std_m: f64,
        #[serde(default)]
        noise_std_quadratic_per_m: f64,
    },
    InfraredCamera {
        width_px: u32,
        height_px: u32,
        hfov_rad: f64,
        #[serde(default)]
        noise_std_k: f64,
    },
    /// Beams spread evenly over `fov_rad`, centred on the sensor's x axis,
    /// in its x-y plane.
    #[serde(rename = "lidar_2d")]
    Lidar2d {
        beam_count: u32,
        fov_rad: f64,
        #[serde(default)]
        min_range_m: f64,
        max_range_m: f64,
        #[serde(default)]
        noise_std_m: f64,
    },
}

impl SensorModelConfig {
    pub fn kind(&self) -> SensorKind {
        match self {
            SensorModelConfig::Imu { .. } => SensorKind::Imu,
            SensorModelConfig::Encoders { .. } => SensorKind::Encoders,
            SensorModelConfig::PositionFix { .. } => SensorKind::PositionFix,
            SensorModelConfig::RgbCamera { .. } => SensorKind::RgbCamera,
            SensorModelConfig::DepthCamera { .. } => SensorKind::DepthCamera,
            SensorModelConfig::InfraredCamera { .. } => SensorKind::InfraredCamera,
            SensorModelConfig::Lidar2d { .. } => SensorKind::Lidar2d,
        }
    }

    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        let image = |w: u32, h: u32, hfov: f64| -> Result<(), ConfigError> {
            if w == 0 || h == 0 || w > 8192 || h > 8192 {
                return Err(fail(
                    &k("width_px"),
                    "image sides in 1..=8192 pixels",
                    format!("{w}x{h}"),
                ));
            }
            if !(hfov > 0.0 && hfov < 3.1) {
                return Err(fail(
                    &k("hfov_rad"),
                    "a field of view in (0, 3.1) rad",
                    number(hfov),
                ));
            }
            Ok(())
        };
        match *self {
            SensorModelConfig::Imu {
                noise_std_accel_mps2,
                noise_std_gyro_radps,
                bias_walk_std_accel_mps2_per_sqrt_s,
                bias_walk_std_gyro_radps_per_sqrt_s,
            } => {
                non_negative(&k("noise_std_accel_mps2"), noise_std_accel_mps2)?;
                non_negative(&k("noise_std_gyro_radps"), noise_std_gyro_radps)?;
                non_negative(
                    &k("bias_walk_std_accel_mps2_per_sqrt_s"),
                    bias_walk_std_accel_mps2_per_sqrt_s,
                )?;
                non_negative(
                    &k("bias_walk_std_gyro_radps_per_sqrt_s"),
                    bias_walk_std_gyro_radps_per_sqrt_s,
                )
            }
            SensorModelConfig::Encoders { ticks_per_rev } => {
                if ticks_per_rev == 0 {
                    return Err(fail(&k("ticks_per_rev"), "> 0", 0));
                }
                Ok(())
            }
            SensorModelConfig::PositionFix {
                noise_std_position_m,
                noise_std_yaw_rad,
            } => {
                non_negative(&k("noise_std_position_m"), noise_std_position_m)?;
                non_negative(&k("noise_std_yaw_rad"), noise_std_yaw_rad)
            }
            SensorModelConfig::RgbCamera {
                width_px,
                height_px,
                hfov_rad,
                noise_std_levels,
            } => {
                image(width_px, height_px, hfov_rad)?;
                non_negative(&k("noise_std_levels"), noise_std_levels)
            }
            SensorModelConfig::DepthCamera {
                width_px,
                height_px,
                hfov_rad,
                min_range_m,
                max_range_m,
                noise_std_m,
                noise_std_quadratic_per_m,
            } => {
                image(width_px, height_px, hfov_rad)?;
                non_negative(&k("min_range_m"), min_range_m)?;
                positive(&k("max_range_m"), max_range_m)?;
                if max_range_m <= min_range_m {
                    return Err(fail(
                        &k("max_range_m"),
                        "> min_range_m",
                        number(max_range_m),
                    ));
                }
                non_negative(&k("noise_std_m"), noise_std_m)?;
                non_negative(&k("noise_std_quadratic_per_m"), noise_std_quadratic_per_m)
            }
            SensorModelConfig::InfraredCamera {
                width_px,
                height_px,
                hfov_rad,
                noise_std_k,
            } => {
                image(width_px, height_px, hfov_rad)?;
                non_negative(&k("noise_std_k"), noise_std_k)
            }
            SensorModelConfig::Lidar2d {
                beam_count,
                fov_rad,
                min_range_m,
                max_range_m,
                noise_std_m,
            } => {
                if !(1..=100_000).contains(&beam_count) {
                    return Err(fail(&k("beam_count"), "1..=100000 beams", beam_count));
                }
                if !(fov_rad > 0.0 && fov_rad <= std::f64::consts::TAU) {
                    return Err(fail(
                        &k("fov_rad"),
                        "a fan in (0, 2 pi] rad",
                        number(fov_rad),
                    ));
                }
                non_negative(&k("min_range_m"), min_range_m)?;
                positive(&k("max_range_m"), max_range_m)?;
                if max_range_m <= min_range_m {
                    return Err(fail(
                        &k("max_range_m"),
                        "> min_range_m",
                        number(max_range_m),
                    ));
                }
                non_negative(&k("noise_std_m"), noise_std_m)
            }
        }
    }
}

impl SensorConfig {
    /// Checks every value; the error names the key as
    /// `sensors.<name>.<field>`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let key = format!("sensors.{}", self.name);
        let k = |f: &str| format!("{key}.{f}");
        positive(&k("rate_hz"), self.rate_hz)?;
        non_negative(&k("latency_secs"), self.latency_secs)?;
        finite_all(&k("mount.translation_m"), &self.mount.translation_m)?;
        finite_all(&k("mount.rotation_rpy_rad"), &self.mount.rotation_rpy_rad)?;
        probability(&k("dropout.probability"), self.dropout.probability)?;
        for (i, o) in self.dropout.outages.iter().enumerate() {
            let ok =
                o.start_secs.is_finite() && o.end_secs.is_finite() && o.start_secs <= o.end_secs;
            if !ok {
                return Err(fail(
                    &k(&format!("dropout.outages[{i}]")),
                    "finite start_secs <= end_secs",
                    format!("[{:?}, {:?}]", o.start_secs, o.end_secs),
                ));
            }
        }
        probability(&k("outliers.probability"), self.outliers.probability)?;
        non_negative(&k("outliers.magnitude"), self.outliers.magnitude)?;
        let looks = matches!(
            self.model.kind(),
            SensorKind::RgbCamera
                | SensorKind::DepthCamera
                | SensorKind::InfraredCamera
                | SensorKind::Lidar2d
        );
        if self.mount.frame == MountFrame::World && !looks {
            // An IMU, fix or encoder measures the body's own motion.
            return Err(fail(
                &k("mount.frame"),
                "\"body\" for a sensor that is not a camera or lidar",
                "\"world\"",
            ));
        }
        self.model.validate(&k("model"))
    }

    /// Whether the sensor is mounted in the world rather than on the body.
    pub fn world_fixed(&self) -> bool {
        self.mount.frame == MountFrame::World
    }

    /// `body_from_sensor` (`world_from_sensor` when [`Self::world_fixed`]);
    /// for cameras, from the optical frame.
    pub fn body_from_sensor(&self) -> Isometry3<f64> {
        let [r, p, y] = self.mount.rotation_rpy_rad;
        let mut rotation = UnitQuaternion::from_euler_angles(r, p, y);
        if matches!(
            self.model.kind(),
            SensorKind::RgbCamera | SensorKind::DepthCamera | SensorKind::InfraredCamera
        ) {
            // Columns: the optical x (right), y (down), z (forward) axes in
            // the forward-left-up frame.
            let flu_from_optical = Rotation3::from_matrix_unchecked(Matrix3::new(
                0.0, 0.0, 1.0, //
                -1.0, 0.0, 0.0, //
                0.0, -1.0, 0.0,
            ));
            rotation *= UnitQuaternion::from_rotation_matrix(&flu_from_optical);
        }
        Isometry3::from_parts(
            Translation3::from(Vector3::from(self.mount.translation_m)),
            rotation,
        )
    }
}

/// Validates every sensor and that names are unique.
pub fn validate_sensors(sensors: &[SensorConfig]) -> Result<(), ConfigError> {
    let mut seen = std::collections::HashSet::new();
    for (i, s) in sensors.iter().enumerate() {
        name(&format!("sensors[{i}].name"), &s.name)?;
        if !seen.insert(s.name.as_str()) {
            return Err(fail(
                &format!("sensors.{}.name", s.name),
                "a name used once",
                &s.name,
            ));
        }
        s.validate()?;
    }
    Ok(())
}
