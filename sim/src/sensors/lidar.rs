use nalgebra::{Isometry3, Point3, Vector3};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use recede_msg::LidarScan;

use super::Faults;
use crate::world::{Ray, World};

/// A planar fan of beams in the sensor's x-y plane.
#[derive(Debug, Clone)]
pub struct Lidar {
    pub beam_count: u32,
    pub fov_rad: f64,
    pub min_range_m: f64,
    pub max_range_m: f64,
    pub noise_std_m: f64,
}

impl Lidar {
    fn angles(&self) -> (f64, f64) {
        let inc = if self.beam_count > 1 {
            self.fov_rad / (self.beam_count - 1) as f64
        } else {
            0.0
        };
        let min = if self.beam_count > 1 {
            -0.5 * self.fov_rad
        } else {
            0.0
        };
        (min, inc)
    }

    pub fn scan(
        &self,
        world: &World,
        world_from_sensor: &Isometry3<f64>,
        rng: &mut ChaCha8Rng,
        faults: &mut Faults,
    ) -> LidarScan {
        let (angle_min, inc) = self.angles();
        let origin = Point3::from(world_from_sensor.translation.vector);
        let ranges = (0..self.beam_count)
            .map(|i| {
                let a = angle_min + i as f64 * inc;
                let dir = world_from_sensor.rotation * Vector3::new(a.cos(), a.sin(), 0.0);
                let ray = Ray::new(origin, dir);
                let Some(hit) = world.cast(&ray, self.max_range_m) else {
                    return f32::NAN;
                };
                let r = hit.hit.t
                    + rng.sample::<f64, _>(StandardNormal) * self.noise_std_m
                    + faults.scalar_outlier().unwrap_or(0.0);
                if r >= self.min_range_m && r <= self.max_range_m {
                    r as f32
                } else {
                    f32::NAN
                }
            })
            .collect();
        LidarScan {
            angle_min_rad: angle_min,
            angle_increment_rad: inc,
            range_max_m: self.max_range_m,
            ranges_m: ranges,
        }
    }
}
