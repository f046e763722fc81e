//! Reverse-mode derivatives of the feature list and the output map, written
//! by hand on `f64`.
//!
//! Inference needs `d g / d (x, u)` at every linearisation point. Pushing
//! 13-direction duals through the rotations and the chain rule cost about as
//! much as the nominal model's whole RK4 linearisation; the residual has few
//! outputs and reads few states, so its gradient rows are cheaper to pull
//! back on `f64` and lift onto the caller's scalar at the end
//! ([`crate::MlpResidual`]). Every function here is checked against the
//! generic (dual-number) evaluation in the tests below.

use nalgebra::{Matrix3, SVector, Vector3};

use crate::spec::{vec3_at, Feature, Output, Rotations};

/// `d/dq of sum_ij cot_ij R_ij(q)` for the rotation of [`crate::rotation`]
/// (quadratic in `q = [w, x, y, z]`), added to `gx[quat_start..+4]`.
/// Inlined: the callers build `cot` just before, and a call reloads it from
/// memory as pairs of scalars stored one by one (a store-forwarding stall).
#[inline(always)]
pub(crate) fn rotation_pullback<const NX: usize>(
    x: &SVector<f64, NX>,
    quat_start: usize,
    cot: &Matrix3<f64>,
    gx: &mut SVector<f64, NX>,
) {
    let (w, qx, qy, qz) = (
        x[quat_start],
        x[quat_start + 1],
        x[quat_start + 2],
        x[quat_start + 3],
    );
    let c = |i: usize, j: usize| cot[(i, j)];
    let dw =
        -qz * c(0, 1) + qy * c(0, 2) + qz * c(1, 0) - qx * c(1, 2) - qy * c(2, 0) + qx * c(2, 1);
    let dx = qy * c(0, 1) + qz * c(0, 2) + qy * c(1, 0) - 2.0 * qx * c(1, 1) - w * c(1, 2)
        + qz * c(2, 0)
        + w * c(2, 1)
        - 2.0 * qx * c(2, 2);
    let dy = -2.0 * qy * c(0, 0) + qx * c(0, 1) + w * c(0, 2) + qx * c(1, 0) + qz * c(1, 2)
        - w * c(2, 0)
        + qz * c(2, 1)
        - 2.0 * qy * c(2, 2);
    let dz = -2.0 * qz * c(0, 0) - w * c(0, 1) + qx * c(0, 2) + w * c(1, 0) - 2.0 * qz * c(1, 1)
        + qy * c(1, 2)
        + qx * c(2, 0)
        + qy * c(2, 1);
    for (k, d) in [dw, dx, dy, dz].into_iter().enumerate() {
        gx[quat_start + k] += 2.0 * d;
    }
}

impl Feature {
    /// Adds `cot . d(this entry's features)/d(x, u)` to `(gx, gu)`; `cot`
    /// has this entry's width.
    pub(crate) fn pullback<const NX: usize, const NU: usize>(
        &self,
        x: &SVector<f64, NX>,
        cot: &[f64],
        rotations: &mut Rotations<f64>,
        gx: &mut SVector<f64, NX>,
        gu: &mut SVector<f64, NU>,
    ) {
        match *self {
            Feature::State { index } => gx[index] += cot[0],
            Feature::Input { index } => gu[index] += cot[0],
            Feature::Inputs => {
                for j in 0..NU {
                    gu[j] += cot[j];
                }
            }
            Feature::InputSum => gu.add_scalar_mut(cot[0]),
            Feature::BodyVelocity {
                quat_start,
                vel_start,
            } => {
                let cot = Vector3::new(cot[0], cot[1], cot[2]);
                body_velocity_pullback(x, quat_start, vel_start, &cot, rotations, gx);
            }
            Feature::BodyVelocityAbsProduct {
                quat_start,
                vel_start,
            } => {
                // d(|v| v)/dv = 2|v|.
                let v = vec3_at(x, vel_start);
                let vb = rotations.of(x, quat_start).tr_mul(&v);
                let cot = Vector3::from_fn(|k, _| cot[k] * 2.0 * vb[k].abs());
                body_velocity_pullback(x, quat_start, vel_start, &cot, rotations, gx);
            }
            Feature::GravityInBody { quat_start } => {
                // gb_i = R_2i.
                let mut m = Matrix3::zeros();
                m.set_row(2, &Vector3::new(cot[0], cot[1], cot[2]).transpose());
                rotation_pullback(x, quat_start, &m, gx);
            }
            Feature::SinCos { index } => {
                let (s, c) = x[index].sin_cos();
                gx[index] += cot[0] * c - cot[1] * s;
            }
            Feature::SinCosSum { first, second } => {
                let (s, c) = (x[first] + x[second]).sin_cos();
                let d = cot[0] * c - cot[1] * s;
                gx[first] += d;
                gx[second] += d;
            }
        }
    }
}

impl Output {
    /// Calls `emit(row, value, gradient)` for each state derivative this
    /// entry adds to: `value` as [`Output::add`] computes it from the network
    /// outputs `values[at..]`, and with `jacobians` (the rows
    /// `d values_o / d (x, u)`), its gradient with respect to `(x, u)`.
    pub(crate) fn rows<const NX: usize, const NU: usize>(
        &self,
        x: &SVector<f64, NX>,
        values: &[f64],
        at: usize,
        jacobians: Option<&[Gradient<NX, NU>]>,
        rotations: &mut Rotations<f64>,
        mut emit: impl FnMut(usize, f64, Option<&Gradient<NX, NU>>),
    ) {
        match *self {
            Output::State { index } => emit(index, values[at], jacobians.map(|j| &j[at])),
            Output::Vector3 { start } => {
                for k in 0..3 {
                    emit(start + k, values[at + k], jacobians.map(|j| &j[at + k]));
                }
            }
            Output::WorldFromBody { quat_start, start } => {
                let ab = Vector3::new(values[at], values[at + 1], values[at + 2]);
                let r = *rotations.of(x, quat_start);
                let aw = r * ab;
                for k in 0..3 {
                    let Some(j) = jacobians else {
                        emit(start + k, aw[k], None);
                        continue;
                    };
                    // d(R a)_k = sum_m R_km d a_m + a . dR_k/dq.
                    let mut g = Gradient::zeros();
                    for m in 0..3 {
                        g.x += j[at + m].x * r[(k, m)];
                        g.u += j[at + m].u * r[(k, m)];
                    }
                    let mut cot = Matrix3::zeros();
                    cot.set_row(k, &ab.transpose());
                    rotation_pullback(x, quat_start, &cot, &mut g.x);
                    emit(start + k, aw[k], Some(&g));
                }
            }
        }
    }
}

/// The gradient of one scalar with respect to the state and the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Gradient<const NX: usize, const NU: usize> {
    pub x: SVector<f64, NX>,
    pub u: SVector<f64, NU>,
}

impl<const NX: usize, const NU: usize> Gradient<NX, NU> {
    pub(crate) fn zeros() -> Self {
        Self {
            x: SVector::zeros(),
            u: SVector::zeros(),
        }
    }
}

/// Pulls `cot` back through `v_b = R(q)^T v`.
#[inline(always)]
fn body_velocity_pullback<const NX: usize>(
    x: &SVector<f64, NX>,
    quat_start: usize,
    vel_start: usize,
    cot: &Vector3<f64>,
    rotations: &mut Rotations<f64>,
    gx: &mut SVector<f64, NX>,
) {
    let v = vec3_at(x, vel_start);
    // d/dv: R cot. d/dR_mi: v_m cot_i.
    let dv = rotations.of(x, quat_start) * cot;
    for k in 0..3 {
        gx[vel_start + k] += dv[k];
    }
    rotation_pullback(x, quat_start, &(v * cot.transpose()), gx);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Features;
    use num_dual::{Derivative, DualSVec64};

    type D = DualSVec64<17>;

    fn point() -> (SVector<f64, 13>, SVector<f64, 4>) {
        // A non-unit quaternion: the pullbacks must not assume |q| = 1.
        let x = SVector::<f64, 13>::from_column_slice(&[
            0.3, -1.0, 2.0, 0.8, 0.3, -0.5, 0.2, 4.0, -7.0, 1.5, 0.4, -0.2, 0.9,
        ]);
        (x, SVector::<f64, 4>::new(1.0, 2.5, -0.5, 3.0))
    }

    /// `(x, u)` as duals seeded on all 17 variables.
    fn seeded(x: &SVector<f64, 13>, u: &SVector<f64, 4>) -> (SVector<D, 13>, SVector<D, 4>) {
        (
            SVector::from_fn(|i, _| D::from_re(x[i]).derivative(i)),
            SVector::from_fn(|j, _| D::from_re(u[j]).derivative(13 + j)),
        )
    }

    fn eps(d: &D) -> SVector<f64, 17> {
        match d.eps {
            Derivative(Some(v)) => v,
            Derivative(None) => SVector::zeros(),
        }
    }

    #[test]
    fn rotation_pullback_matches_duals() {
        let (x, u) = point();
        let (xd, _) = seeded(&x, &u);
        let r = crate::spec::rotation(&xd, 3);
        let cot = Matrix3::new(0.3, -1.2, 0.7, 2.0, 0.1, -0.4, 0.9, 1.3, -2.2);
        let mut expected = SVector::<f64, 17>::zeros();
        for i in 0..3 {
            for j in 0..3 {
                expected += eps(&r[(i, j)]) * cot[(i, j)];
            }
        }
        let mut gx = SVector::<f64, 13>::zeros();
        rotation_pullback(&x, 3, &cot, &mut gx);
        assert!((gx - expected.fixed_rows::<13>(0)).amax() < 1e-12, "{gx}");
    }

    #[test]
    fn every_feature_pullback_matches_duals() {
        let (x, u) = point();
        let (xd, ud) = seeded(&x, &u);
        let features = [
            Feature::State { index: 11 },
            Feature::Input { index: 2 },
            Feature::Inputs,
            Feature::InputSum,
            Feature::BodyVelocity {
                quat_start: 3,
                vel_start: 7,
            },
            Feature::BodyVelocityAbsProduct {
                quat_start: 3,
                vel_start: 7,
            },
            Feature::GravityInBody { quat_start: 3 },
            Feature::SinCos { index: 12 },
            Feature::SinCosSum {
                first: 10,
                second: 12,
            },
        ];
        for feature in features {
            let mut out = Features::<D>::new();
            feature.eval(&xd, &ud, &mut out, &mut Rotations::new());
            let cot: Vec<f64> = (0..out.len()).map(|k| 0.7 - 0.45 * k as f64).collect();
            let mut expected = SVector::<f64, 17>::zeros();
            for (f, w) in out.iter().zip(&cot) {
                expected += eps(f) * *w;
            }
            let (mut gx, mut gu) = (SVector::<f64, 13>::zeros(), SVector::<f64, 4>::zeros());
            feature.pullback(&x, &cot, &mut Rotations::new(), &mut gx, &mut gu);
            let got = SVector::<f64, 17>::from_iterator(gx.iter().chain(gu.iter()).copied());
            assert!(
                (got - expected).amax() < 1e-12,
                "{feature:?}: {got} vs {expected}"
            );
        }
    }
}
