//! Sensor models: when each samples, what it measures, its noise, dropout
//! and outliers. Each sensor draws from two streams named after it (noise,
//! and fault events), so adding a sensor leaves the others' draws alone.

mod camera;
mod faults;
mod gauss;
mod imu;
mod lidar;
mod simple;

pub use camera::{
    BodyShape, CameraRays, CastScratch, Hits, RenderCache, Tiles, BODY, BODY_COLOR_RGB,
    BODY_TEMPERATURE_K, CAMERA_FAR_M,
};
pub use faults::Faults;
pub use imu::Imu;
pub use lidar::Lidar;

use nalgebra::Vector3;
use rand_chacha::ChaCha8Rng;
use recede_msg::{CameraIntrinsics, Measurement, Reading, SensorId, SensorInfo, Stamp};

use crate::config::{SensorConfig, SensorModelConfig};
use crate::plant::BodyState;
use crate::world::World;

/// What a sensor can look at when it samples.
#[derive(Debug, Clone, Copy)]
pub struct SampleContext<'a> {
    pub t_secs: f64,
    pub body: &'a BodyState,
    pub encoder_angles_rad: &'a [f64],
    pub world: &'a World,
    /// The plant's deformable body, which the cameras see.
    pub shape: BodyShape<'a>,
}

#[derive(Debug, Clone)]
enum Model {
    Imu(Imu),
    Encoders {
        ticks_per_rev: u32,
    },
    PositionFix {
        std_position: f64,
        std_yaw: f64,
    },
    Rgb {
        rays: CameraRays,
        noise_std_levels: f32,
    },
    Depth {
        rays: CameraRays,
        range_m: (f64, f64),
        noise: (f64, f64),
    },
    Infrared {
        rays: CameraRays,
        noise_std_k: f32,
    },
    Lidar(Lidar),
}

/// Index of the next sample once the sample at `t_secs` is taken: strictly
/// after `t_secs`, even if several were due (a sensor faster than the
/// integration step samples once per step).
fn next_index_after(next_index: u64, t_secs: f64, rate_hz: f64) -> u64 {
    (next_index + 1).max((t_secs * rate_hz + 1e-9).floor() as u64 + 1)
}

/// One configured sensor and its schedule.
#[derive(Debug, Clone)]
pub struct Sensor {
    pub info: SensorInfo,
    model: Model,
    noise_rng: ChaCha8Rng,
    faults: Faults,
    /// Index of the next sample; sample `k` is due at `k / rate_hz`.
    next_index: u64,
    counts: SensorCounts,
}

/// What happened to one sensor's scheduled samples so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SensorCounts {
    /// Samples taken and queued for delivery.
    pub taken: u64,
    /// Samples lost to dropout (random or scripted outages).
    pub dropped: u64,
}

impl Sensor {
    /// Builds a sensor from a validated config; streams derive from `seed`
    /// and the sensor's name.
    pub fn new(id: SensorId, config: &SensorConfig, seed: u64) -> Self {
        let camera =
            |w: u32, h: u32, hfov: f64| CameraRays::new(CameraIntrinsics::from_hfov(w, h, hfov));
        let model = match config.model {
            SensorModelConfig::Imu {
                noise_std_accel_mps2,
                noise_std_gyro_radps,
                bias_walk_std_accel_mps2_per_sqrt_s,
                bias_walk_std_gyro_radps_per_sqrt_s,
            } => Model::Imu(Imu {
                noise_std_accel: noise_std_accel_mps2,
                noise_std_gyro: noise_std_gyro_radps,
                bias_walk_accel: bias_walk_std_accel_mps2_per_sqrt_s,
                bias_walk_gyro: bias_walk_std_gyro_radps_per_sqrt_s,
                bias_accel: Vector3::zeros(),
                bias_gyro: Vector3::zeros(),
                last_secs: None,
            }),
            SensorModelConfig::Encoders { ticks_per_rev } => Model::Encoders { ticks_per_rev },
            SensorModelConfig::PositionFix {
                noise_std_position_m,
                noise_std_yaw_rad,
            } => Model::PositionFix {
                std_position: noise_std_position_m,
                std_yaw: noise_std_yaw_rad,
            },
            SensorModelConfig::RgbCamera {
                width_px,
                height_px,
                hfov_rad,
                noise_std_levels,
            } => Model::Rgb {
                rays: camera(width_px, height_px, hfov_rad),
                noise_std_levels: noise_std_levels as f32,
            },
            SensorModelConfig::DepthCamera {
                width_px,
                height_px,
                hfov_rad,
                min_range_m,
                max_range_m,
                noise_std_m,
                noise_std_quadratic_per_m,
            } => Model::Depth {
                rays: camera(width_px, height_px, hfov_rad),
                range_m: (min_range_m, max_range_m),
                noise: (noise_std_m, noise_std_quadratic_per_m),
            },
            SensorModelConfig::InfraredCamera {
                width_px,
                height_px,
                hfov_rad,
                noise_std_k,
            } => Model::Infrared {
                rays: camera(width_px, height_px, hfov_rad),
                noise_std_k: noise_std_k as f32,
            },
            SensorModelConfig::Lidar2d {
                beam_count,
                fov_rad,
                min_range_m,
                max_range_m,
                noise_std_m,
            } => Model::Lidar(Lidar {
                beam_count,
                fov_rad,
                min_range_m,
                max_range_m,
                noise_std_m,
            }),
        };
        let intrinsics = match &model {
            Model::Rgb { rays, .. } | Model::Depth { rays, .. } | Model::Infrared { rays, .. } => {
                Some(rays.intrinsics)
            }
            _ => None,
        };
        Self {
            info: SensorInfo {
                id,
                name: config.name.clone(),
                kind: config.model.kind(),
                body_from_sensor: config.body_from_sensor(),
                world_fixed: config.world_fixed(),
                rate_hz: config.rate_hz,
                latency_secs: config.latency_secs,
                intrinsics,
            },
            model,
            noise_rng: crate::rng::stream(seed, &config.name, 0),
            faults: Faults {
                dropout: config.dropout.clone(),
                outliers: config.outliers.clone(),
                rng: crate::rng::stream(seed, &config.name, 1),
            },
            next_index: 0,
            counts: SensorCounts::default(),
        }
    }

    /// Time of the next scheduled sample, s.
    pub fn next_due_secs(&self) -> f64 {
        self.next_index as f64 / self.info.rate_hz
    }

    /// Samples taken and lost so far.
    pub fn counts(&self) -> SensorCounts {
        self.counts
    }

    /// Whether sampling renders a camera image (worth doing off the
    /// simulator's thread).
    pub fn is_camera(&self) -> bool {
        matches!(
            self.model,
            Model::Rgb { .. } | Model::Depth { .. } | Model::Infrared { .. }
        )
    }

    /// When the next sample falls due once the sample at `t_secs` is taken.
    pub fn next_due_after(&self, t_secs: f64) -> f64 {
        next_index_after(self.next_index, t_secs, self.info.rate_hz) as f64 / self.info.rate_hz
    }

    /// Whether a sample is due at `t_secs` (within `tol_secs`).
    pub fn is_due(&self, t_secs: f64, tol_secs: f64) -> bool {
        self.next_due_secs() <= t_secs + tol_secs
    }

    /// Takes the sample due now and schedules the next one after `t_secs`;
    /// `None` when the sample is lost to dropout.
    pub fn sample(&mut self, ctx: &SampleContext<'_>, cache: &mut RenderCache) -> Option<Reading> {
        let t = ctx.t_secs;
        // Next sample strictly after t, even if several were due (a sensor
        // faster than the integration step samples once per step).
        self.next_index = next_index_after(self.next_index, t, self.info.rate_hz);
        let dropped = self.faults.dropped(t);
        if dropped {
            self.counts.dropped += 1;
        } else {
            self.counts.taken += 1;
        }
        let body_from_sensor = self.info.body_from_sensor;
        let world_from_sensor = if self.info.world_fixed {
            body_from_sensor
        } else {
            ctx.body.world_from_body * body_from_sensor
        };
        let rng = &mut self.noise_rng;
        let faults = &mut self.faults;
        let measurement = match &mut self.model {
            // The IMU's bias walks whether or not the sample is delivered.
            Model::Imu(imu) => {
                let m = imu.sample(t, ctx.body, &body_from_sensor, rng, faults);
                if dropped {
                    return None;
                }
                m
            }
            _ if dropped => return None,
            Model::Encoders { ticks_per_rev } => {
                simple::encoders(ctx.encoder_angles_rad, *ticks_per_rev, faults)
            }
            Model::PositionFix {
                std_position,
                std_yaw,
            } => simple::position_fix(
                ctx.body,
                &body_from_sensor,
                *std_position,
                *std_yaw,
                rng,
                faults,
            ),
            Model::Rgb {
                rays,
                noise_std_levels,
            } => {
                let hits = cache.hits(rays, ctx.world, ctx.shape, &world_from_sensor);
                Measurement::RgbImage(camera::rgb(
                    &rays.intrinsics,
                    hits,
                    ctx.world,
                    *noise_std_levels,
                    rng,
                    faults,
                ))
            }
            Model::Depth {
                rays,
                range_m,
                noise,
            } => {
                let hits = cache.hits(rays, ctx.world, ctx.shape, &world_from_sensor);
                Measurement::DepthImage(camera::depth(
                    &rays.intrinsics,
                    hits,
                    *range_m,
                    *noise,
                    rng,
                    faults,
                ))
            }
            Model::Infrared { rays, noise_std_k } => {
                let hits = cache.hits(rays, ctx.world, ctx.shape, &world_from_sensor);
                Measurement::InfraredImage(camera::infrared(
                    &rays.intrinsics,
                    hits,
                    ctx.world,
                    *noise_std_k,
                    rng,
                    faults,
                ))
            }
            Model::Lidar(lidar) => {
                Measurement::LidarScan(lidar.scan(ctx.world, &world_from_sensor, rng, faults))
            }
        };
        Some(Reading {
            sensor: self.info.id,
            stamp: Stamp::new(t, self.info.latency_secs),
            measurement,
        })
    }
}
