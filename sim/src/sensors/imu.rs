use nalgebra::{Isometry3, Vector3};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use recede_model::GRAVITY;
use recede_msg::Measurement;

use super::Faults;
use crate::plant::BodyState;

/// Accelerometer and gyroscope: white noise plus a bias random walk.
#[derive(Debug, Clone)]
pub struct Imu {
    pub noise_std_accel: f64,
    pub noise_std_gyro: f64,
    pub bias_walk_accel: f64,
    pub bias_walk_gyro: f64,
    pub bias_accel: Vector3<f64>,
    pub bias_gyro: Vector3<f64>,
    pub last_secs: Option<f64>,
}

fn normal3(rng: &mut ChaCha8Rng) -> Vector3<f64> {
    Vector3::from_fn(|_, _| rng.sample::<f64, _>(StandardNormal))
}

impl Imu {
    pub fn sample(
        &mut self,
        t_secs: f64,
        body: &BodyState,
        body_from_sensor: &Isometry3<f64>,
        rng: &mut ChaCha8Rng,
        faults: &mut Faults,
    ) -> Measurement {
        let dt = self.last_secs.map_or(0.0, |last| (t_secs - last).max(0.0));
        self.last_secs = Some(t_secs);
        let sq = dt.sqrt();
        self.bias_accel += normal3(rng) * (self.bias_walk_accel * sq);
        self.bias_gyro += normal3(rng) * (self.bias_walk_gyro * sq);

        let r = &body_from_sensor.translation.vector;
        let w = body.angular_velocity_body_radps;
        let alpha = body.angular_accel_body_radps2;
        let world_to_body = body.world_from_body.rotation.inverse();
        let gravity = Vector3::new(0.0, 0.0, -GRAVITY);
        let f_body = world_to_body * (body.accel_world_mps2 - gravity)
            + alpha.cross(r)
            + w.cross(&w.cross(r));
        let sensor_from_body = body_from_sensor.rotation.inverse();
        let mut specific_force =
            sensor_from_body * f_body + self.bias_accel + normal3(rng) * self.noise_std_accel;
        let gyro = sensor_from_body * w + self.bias_gyro + normal3(rng) * self.noise_std_gyro;
        if let Some(o) = faults.vector_outlier() {
            specific_force += o;
        }
        Measurement::Imu {
            specific_force_mps2: specific_force,
            gyro_radps: gyro,
        }
    }
}
