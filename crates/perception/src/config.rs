//! Typed configuration: the scenario's `[estimator]` and `[perception]`
//! tables. Unknown keys are rejected by serde; [`EkfConfig::validate`] and
//! [`PerceptionConfig::validate`] check values and name the key at fault.

use serde::{Deserialize, Serialize};

use recede_msg::{MAX_OBSTACLES, MAX_TARGETS};

use crate::error::{at_least, at_most, non_negative, positive};
use crate::PerceptionError;

/// The EKF's settings. Noise figures are per sample unless the name says
/// `per_sqrt_s`; chi-square thresholds apply to the measurement's own
/// number of degrees of freedom (3 for a position, 1 for a yaw, the number
/// of channels for encoders, 3 for an IMU sample).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EkfConfig {
    /// How far back a late measurement may reach: the filter re-propagates
    /// from the measurement's stamp over the events kept this long, s.
    pub history_secs: f64,
    /// Longest single prediction step when no input arrives, s.
    pub max_predict_step_secs: f64,
    /// Mahalanobis gates (chi-square values; 0.999 quantiles by default).
    pub gate_chi2_position_fix: f64,
    pub gate_chi2_yaw: f64,
    pub gate_chi2_encoders: f64,
    pub gate_chi2_imu: f64,
    /// Rejections in a row (of the model-driven filters' fixes and
    /// encoders) after which the next reading is taken with the covariance
    /// re-opened to its initial spread: a filter grown overconfident would
    /// otherwise reject every reading for ever. 0.999 gates reject 25
    /// honest readings in a row with probability 1e-75.
    pub gate_reset_after: u32,
    /// IMU white noise per sample.
    pub imu_accel_noise_std_mps2: f64,
    pub imu_gyro_noise_std_radps: f64,
    pub imu_accel_bias_walk_mps2_per_sqrt_s: f64,
    pub imu_gyro_bias_walk_radps_per_sqrt_s: f64,
    /// Spread of the specific force about its low-passed value (the
    /// vehicle's own jerk); an IMU sample further out than
    /// `gate_chi2_imu` of it is an outlier and not used, m/s^2.
    pub imu_gate_std_mps2: f64,
    /// Unmodelled acceleration (wind, drag) driving the velocity, m/s^2 per sqrt(s).
    pub accel_process_std_mps2_per_sqrt_s: f64,
    pub position_fix_std_m: f64,
    pub position_fix_yaw_std_rad: f64,
    /// Encoder resolution: `ticks_per_rev` of the encoders in the scenario.
    pub encoder_ticks_per_rev: u32,
    /// Wheel speeds from encoders: spread beyond quantisation (slip), m/s.
    pub encoder_speed_std_m_s: f64,
    /// Per-state process noise for the model-driven filters (ground robot,
    /// cart-pole, arm), state units per sqrt(s); robot defaults when absent.
    pub process_std_per_sqrt_s: Option<Vec<f64>>,
    /// Initial standard deviation per state (the robot's state layout);
    /// robot defaults when absent.
    pub initial_std: Option<Vec<f64>>,
}

impl Default for EkfConfig {
    fn default() -> Self {
        Self {
            history_secs: 0.5,
            max_predict_step_secs: 0.01,
            gate_chi2_position_fix: 16.27,
            gate_chi2_yaw: 10.83,
            gate_chi2_encoders: 13.82,
            gate_chi2_imu: 16.27,
            gate_reset_after: 25,
            imu_accel_noise_std_mps2: 0.05,
            imu_gyro_noise_std_radps: 0.005,
            imu_accel_bias_walk_mps2_per_sqrt_s: 0.001,
            imu_gyro_bias_walk_radps_per_sqrt_s: 0.0001,
            imu_gate_std_mps2: 4.0,
            accel_process_std_mps2_per_sqrt_s: 0.5,
            position_fix_std_m: 0.02,
            position_fix_yaw_std_rad: 0.02,
            encoder_ticks_per_rev: 1024,
            encoder_speed_std_m_s: 0.05,
            process_std_per_sqrt_s: None,
            initial_std: None,
        }
    }
}

impl EkfConfig {
    /// Checks every value; errors name the key under `estimator.`.
    pub fn validate(&self) -> Result<(), PerceptionError> {
        let k = |f: &str| format!("estimator.{f}");
        positive(&k("history_secs"), self.history_secs)?;
        positive(&k("max_predict_step_secs"), self.max_predict_step_secs)?;
        for (name, v) in [
            ("gate_chi2_position_fix", self.gate_chi2_position_fix),
            ("gate_chi2_yaw", self.gate_chi2_yaw),
            ("gate_chi2_encoders", self.gate_chi2_encoders),
            ("gate_chi2_imu", self.gate_chi2_imu),
            ("imu_gate_std_mps2", self.imu_gate_std_mps2),
            ("position_fix_std_m", self.position_fix_std_m),
            ("position_fix_yaw_std_rad", self.position_fix_yaw_std_rad),
            ("encoder_speed_std_m_s", self.encoder_speed_std_m_s),
        ] {
            positive(&k(name), v)?;
        }
        for (name, v) in [
            ("imu_accel_noise_std_mps2", self.imu_accel_noise_std_mps2),
            ("imu_gyro_noise_std_radps", self.imu_gyro_noise_std_radps),
            (
                "imu_accel_bias_walk_mps2_per_sqrt_s",
                self.imu_accel_bias_walk_mps2_per_sqrt_s,
            ),
            (
                "imu_gyro_bias_walk_radps_per_sqrt_s",
                self.imu_gyro_bias_walk_radps_per_sqrt_s,
            ),
            (
                "accel_process_std_mps2_per_sqrt_s",
                self.accel_process_std_mps2_per_sqrt_s,
            ),
        ] {
            non_negative(&k(name), v)?;
        }
        at_least(&k("gate_reset_after"), self.gate_reset_after as usize, 1)?;
        at_least(
            &k("encoder_ticks_per_rev"),
            self.encoder_ticks_per_rev as usize,
            1,
        )?;
        for (name, list) in [
            ("process_std_per_sqrt_s", &self.process_std_per_sqrt_s),
            ("initial_std", &self.initial_std),
        ] {
            for (i, v) in list.iter().flatten().enumerate() {
                non_negative(&format!("estimator.{name}[{i}]"), *v)?;
            }
        }
        Ok(())
    }

    /// Checks the per-state lists against the robot's state size.
    pub(crate) fn check_state_len(&self, nx: usize) -> Result<(), PerceptionError> {
        for (name, list) in [
            ("process_std_per_sqrt_s", &self.process_std_per_sqrt_s),
            ("initial_std", &self.initial_std),
        ] {
            if let Some(v) = list {
                if v.len() != nx {
                    return Err(PerceptionError::Config {
                        key: format!("estimator.{name}"),
                        expected: "one value per state of the robot",
                        found: format!("{} values for {nx} states", v.len()),
                    });
                }
            }
        }
        Ok(())
    }
}

/// What perception extracts from the `[perception]` table: obstacles from
/// depth and lidar, targets from infrared. (The table's `constraints` and
/// `approach`, how these steer the controller, are `recede-control`'s.)
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PerceptionConfig {
    pub obstacles: ObstacleConfig,
    pub targets: TargetConfig,
}

impl PerceptionConfig {
    pub fn validate(&self) -> Result<(), PerceptionError> {
        self.obstacles.validate()?;
        self.targets.validate()
    }
}

/// `[perception.obstacles]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObstacleConfig {
    pub enabled: bool,
    /// Every `pixel_stride`-th row and column of a depth image is used.
    pub pixel_stride: u32,
    /// Points further than this from the sensor are ignored, m.
    pub max_range_m: f64,
    /// The ground plane's height in the world, m.
    pub ground_height_m: f64,
    /// Points within this of the ground are ground, m.
    pub ground_tolerance_m: f64,
    /// Points higher than this are ignored (ceiling), m.
    pub max_height_m: f64,
    /// Side of the clustering grid's cells, m.
    pub cell_size_m: f64,
    /// The grid covers this far around the sensor in x and y, m.
    pub grid_half_extent_m: f64,
    /// Fewer points than this make no obstacle.
    pub min_points: u32,
    /// A cluster wider than this is split into several circles, m.
    pub max_radius_m: f64,
    /// A detection joins the nearest track within this distance of its
    /// surface, m.
    pub association_gate_m: f64,
    /// Detections a track needs before it is reported.
    pub confirm_hits: u32,
    /// Depth frames in a row that see through a confirmed track before it
    /// is dropped.
    pub expiry_misses: u32,
    /// A track not confirmed within this is dropped, s.
    pub tentative_timeout_secs: f64,
    pub max_tracks: u32,
}

impl Default for ObstacleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            pixel_stride: 2,
            max_range_m: 8.0,
            ground_height_m: 0.0,
            ground_tolerance_m: 0.12,
            max_height_m: 50.0,
            cell_size_m: 0.15,
            grid_half_extent_m: 9.0,
            min_points: 8,
            max_radius_m: 1.2,
            association_gate_m: 0.6,
            confirm_hits: 3,
            expiry_misses: 8,
            tentative_timeout_secs: 1.0,
            max_tracks: 64,
        }
    }
}

impl ObstacleConfig {
    pub fn validate(&self) -> Result<(), PerceptionError> {
        let k = |f: &str| format!("perception.obstacles.{f}");
        at_least(&k("pixel_stride"), self.pixel_stride as usize, 1)?;
        positive(&k("max_range_m"), self.max_range_m)?;
        non_negative(&k("ground_tolerance_m"), self.ground_tolerance_m)?;
        positive(&k("cell_size_m"), self.cell_size_m)?;
        positive(&k("grid_half_extent_m"), self.grid_half_extent_m)?;
        positive(&k("max_radius_m"), self.max_radius_m)?;
        positive(&k("association_gate_m"), self.association_gate_m)?;
        positive(&k("tentative_timeout_secs"), self.tentative_timeout_secs)?;
        at_least(&k("min_points"), self.min_points as usize, 1)?;
        at_least(&k("confirm_hits"), self.confirm_hits as usize, 1)?;
        at_least(&k("expiry_misses"), self.expiry_misses as usize, 1)?;
        at_least(&k("max_tracks"), self.max_tracks as usize, 1)?;
        at_most(&k("max_tracks"), self.max_tracks as usize, MAX_OBSTACLES)?;
        if !self.ground_height_m.is_finite() {
            return Err(PerceptionError::Config {
                key: k("ground_height_m"),
                expected: "a finite height",
                found: self.ground_height_m.to_string(),
            });
        }
        if self.max_height_m.is_nan()
            || self.max_height_m <= self.ground_height_m + self.ground_tolerance_m
        {
            return Err(PerceptionError::Config {
                key: k("max_height_m"),
                expected: "a height above ground_height_m + ground_tolerance_m",
                found: self.max_height_m.to_string(),
            });
        }
        let cells = 2.0 * self.grid_half_extent_m / self.cell_size_m;
        if cells > 2000.0 {
            return Err(PerceptionError::Config {
                key: k("cell_size_m"),
                expected: "at most 2000 cells across the grid (2 grid_half_extent_m / cell_size_m)",
                found: format!("{cells:.0} cells"),
            });
        }
        Ok(())
    }
}

/// `[perception.targets]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetConfig {
    pub enabled: bool,
    /// A pixel this much hotter than the ambient is hot, K.
    pub threshold_above_ambient_k: f64,
    /// The ambient temperature, K; the image's median when absent.
    pub ambient_temperature_k: Option<f64>,
    /// Fewer hot pixels than this make no target.
    pub min_pixels: u32,
    /// A detection joins the nearest target within this distance, m.
    pub association_gate_m: f64,
    /// Detections a target needs before it is reported.
    pub confirm_hits: u32,
    /// A target not seen for this long is dropped, s.
    pub expiry_secs: f64,
    /// A depth image older or newer than this relative to the infrared
    /// image is not used to place its blobs, s.
    pub max_depth_offset_secs: f64,
    pub max_targets: u32,
}

impl Default for TargetConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold_above_ambient_k: 10.0,
            ambient_temperature_k: None,
            min_pixels: 3,
            association_gate_m: 1.0,
            confirm_hits: 2,
            expiry_secs: 30.0,
            max_depth_offset_secs: 0.05,
            max_targets: 16,
        }
    }
}

impl TargetConfig {
    pub fn validate(&self) -> Result<(), PerceptionError> {
        let k = |f: &str| format!("perception.targets.{f}");
        positive(
            &k("threshold_above_ambient_k"),
            self.threshold_above_ambient_k,
        )?;
        if let Some(t) = self.ambient_temperature_k {
            positive(&k("ambient_temperature_k"), t)?;
        }
        at_least(&k("min_pixels"), self.min_pixels as usize, 1)?;
        positive(&k("association_gate_m"), self.association_gate_m)?;
        at_least(&k("confirm_hits"), self.confirm_hits as usize, 1)?;
        positive(&k("expiry_secs"), self.expiry_secs)?;
        non_negative(&k("max_depth_offset_secs"), self.max_depth_offset_secs)?;
        at_least(&k("max_targets"), self.max_targets as usize, 1)?;
        at_most(&k("max_targets"), self.max_targets as usize, MAX_TARGETS)
    }
}
