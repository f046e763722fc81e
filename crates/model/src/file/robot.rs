//! A model file as [`Dynamics`] of fixed sizes, so the MPC, the integrator
//! and the simulator run it like a built-in robot. The sizes a model file
//! may have are the pairs of [`for_each_file_size!`](crate::for_each_file_size),
//! each instantiated once (docs/adding-a-robot.md says why).

use std::sync::Arc;

use nalgebra::SVector;

use super::{FileError, ModelFile};
use crate::robots::{Body, Pose};
use crate::{c, Bounds, Dynamics, Scalar};

/// The (states, inputs) sizes a model file or URDF robot may have. Calls
/// `callback! { [extra] $((Variant, NX, NU)),* }`; adding a size is one
/// line here (and a longer build).
#[macro_export]
macro_rules! for_each_file_size {
    ($callback:ident $(, $extra:tt)*) => {
        $callback! {
            [$($extra)*]
            (Size2x1, 2, 1),
            (Size4x1, 4, 1),
            (Size4x2, 4, 2),
            (Size6x2, 6, 2),
            (Size12x4, 12, 4),
            (Size12x6, 12, 6),
        }
    };
}

macro_rules! sizes {
    ([] $(($variant:ident, $nx:literal, $nu:literal)),* $(,)?) => {
        /// The supported sizes, as written in errors.
        pub fn supported_sizes() -> String {
            [$(format!("{}x{}", $nx, $nu)),*].join(", ")
        }

        /// Whether `(nx, nu)` is one of the supported sizes.
        pub fn is_supported(nx: usize, nu: usize) -> bool {
            false $(|| (nx, nu) == ($nx, $nu))*
        }
    };
}

crate::for_each_file_size!(sizes);

/// A model file's robot with `NX` states and `NU` inputs. Cloning shares
/// the compiled model.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRobot<const NX: usize, const NU: usize> {
    pub model: Arc<ModelFile>,
}

impl<const NX: usize, const NU: usize> FileRobot<NX, NU> {
    /// The model as a robot of these sizes; an error naming the file when
    /// it has others.
    pub fn new(model: Arc<ModelFile>) -> Result<Self, FileError> {
        if model.nx() != NX || model.nu() != NU {
            return Err(FileError::UnsupportedSize {
                file: model.origin.clone(),
                nx: model.nx(),
                nu: model.nu(),
                supported: format!("{NX}x{NU} here"),
            });
        }
        Ok(Self { model })
    }

    pub fn input_bounds(&self) -> Bounds<NU> {
        Bounds {
            lower: std::array::from_fn(|i| self.model.input_min[i]),
            upper: std::array::from_fn(|i| self.model.input_max[i]),
        }
    }

    pub fn safe_input(&self) -> SVector<f64, NU> {
        SVector::from_fn(|i, _| self.model.safe_input[i])
    }

    /// The point drawn as the robot's path.
    pub fn point(&self, x: &[f64; NX]) -> [f64; 3] {
        self.model.placement(x).2
    }

    pub fn pose(&self, x: &[f64; NX]) -> Pose {
        let (position_m, attitude, _) = self.model.placement(x);
        Pose::Rigid {
            position_m,
            attitude,
        }
    }

    pub fn body(&self) -> Body {
        let [length_m, width_m, height_m] = self.model.box_m;
        Body::GroundBox {
            length_m,
            width_m,
            height_m,
        }
    }
}

impl<const NX: usize, const NU: usize> Dynamics<NX, NU> for FileRobot<NX, NU> {
    #[inline]
    fn derivative<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>) -> SVector<T, NX> {
        let mut xdot = SVector::<T, NX>::from_element(c(0.0));
        self.model
            .derivative(x.as_slice(), u.as_slice(), xdot.as_mut_slice());
        xdot
    }

    fn derivative_tangent(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
    ) -> Option<crate::Tangent<NX, NU>> {
        self.model.derivative_tangent(x, u)
    }

    fn discrete_period_secs(&self) -> Option<f64> {
        self.model.discrete_period_secs
    }

    fn is_linear(&self) -> bool {
        matches!(self.model.backend, super::Backend::Linear(_))
    }
}
