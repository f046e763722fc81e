//! The true plant of a model file robot: the file's dynamics with the
//! plant's own parameter values (`[plant.robot] params`, which may set the
//! terms the controller's values leave at zero), behind the actuators.

use std::cell::Cell;
use std::sync::Arc;

use nalgebra::{Isometry3, SVector, Translation3, UnitQuaternion, Vector3};
use recede_model::file::ModelFile;

use super::{BodyState, Environment, TrueDynamics};

/// A model file's dynamics as the simulator runs them. Scripted pushes and
/// gusts do not reach it (the file says nothing about where a force acts).
/// Its encoders read the states the file names (`[encoders] states`; a
/// URDF's controlled joints), one channel each.
#[derive(Debug, Clone)]
pub struct FileTruth<const NX: usize, const NU: usize> {
    pub model: Arc<ModelFile>,
    /// The input of the last derivative evaluated: the plant evaluates the
    /// derivative at the applied input just before asking for the body's
    /// motion, whose acceleration needs it.
    last_input: Cell<SVector<f64, NU>>,
}

impl<const NX: usize, const NU: usize> FileTruth<NX, NU> {
    pub fn new(model: Arc<ModelFile>) -> Self {
        Self {
            model,
            last_input: Cell::new(SVector::zeros()),
        }
    }
}

impl<const NX: usize, const NU: usize> TrueDynamics<NX, NU> for FileTruth<NX, NU> {
    fn kind(&self) -> &'static str {
        self.model.kind
    }

    fn derivative(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
        _env: &Environment,
    ) -> SVector<f64, NX> {
        self.last_input.set(*u);
        let mut xdot = SVector::<f64, NX>::zeros();
        self.model
            .derivative(x.as_slice(), u.as_slice(), xdot.as_mut_slice());
        xdot
    }

    fn project(&self, _x: &mut SVector<f64, NX>) {}

    /// From the file's mappings, differentiated along the motion under the
    /// input held (`xdot` is recomputed with it).
    fn body(&self, x: &SVector<f64, NX>, _xdot: &SVector<f64, NX>) -> BodyState {
        let u = self.last_input.get();
        let m = self.model.motion(x.as_slice(), u.as_slice());
        let [w, i, j, k] = m.attitude;
        BodyState {
            world_from_body: Isometry3::from_parts(
                Translation3::from(m.position_m),
                UnitQuaternion::new_normalize(nalgebra::Quaternion::new(w, i, j, k)),
            ),
            velocity_world_mps: Vector3::from(m.velocity_mps),
            accel_world_mps2: Vector3::from(m.accel_mps2),
            angular_velocity_body_radps: Vector3::from(m.angular_velocity_body_radps),
            angular_accel_body_radps2: Vector3::from(m.angular_accel_body_radps2),
        }
    }

    fn initial_encoder_angles(&self, x: &SVector<f64, NX>) -> Vec<f64> {
        self.model.encoder_states.iter().map(|&i| x[i]).collect()
    }

    fn update_encoder_angles(&self, x: &SVector<f64, NX>, _h_secs: f64, angles: &mut [f64]) {
        for (a, &i) in angles.iter_mut().zip(&self.model.encoder_states) {
            *a = x[i];
        }
    }

    fn discrete_period_secs(&self) -> Option<f64> {
        self.model.discrete_period_secs
    }
}
