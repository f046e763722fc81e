//! Planar piecewise-constant-curvature (PCC) kinematics and dynamics of a
//! continuum arm: `NS` inextensible sections of equal length, each bent to
//! a constant curvature `kappa_j`, base clamped at the origin. Written once,
//! generic over the scalar (num-dual Jacobians) and the section count.
//!
//! Planar coordinates are world `(x, z)`; angles are measured from +x
//! towards +z. A section starting at angle `phi` puts the point at arc
//! `sigma` at `sigma (S t + C n)` from its base, `t = (cos phi, sin phi)`,
//! `n = (-sin phi, cos phi)`, `S = sin a / a`, `C = (1 - cos a) / a`,
//! `a = kappa sigma`.
//!
//! Mass is lumped at two Gauss points per section (with their slices'
//! rotary inertia) and the payload at the tip. Each point's acceleration
//! is `J q'' + a_bias(q, q')`, so virtual work gives `M q'' = Q - sum m J^T
//! (a_bias + g z)`, with `Q` the elastic, damping and tendon forces.

use nalgebra::{SMatrix, SVector};

use super::continuum_arm::ContinuumArmParams;
use super::soft_link::{perp, solve_spd};
use crate::{c, Scalar, GRAVITY};

/// Gauss-Legendre abscissae on [0, 1] (two points, weight 1/2 each).
const GAUSS: [f64; 2] = [0.211_324_865_405_187_1, 0.788_675_134_594_812_9];

/// Below this |kappa sigma| the shape functions use their Taylor series:
/// the closed forms divide by up to its cube and lose digits near zero.
const SERIES_BELOW: f64 = 0.1;

/// Powers `a^0 .. a^11`: the first term left out is below 1e-20 at the
/// switch.
const TERMS: usize = 12;

/// Taylor coefficients of `S` and `C` (`S = sum (-1)^n a^2n / (2n+1)!`,
/// `C = sum (-1)^(n+1) a^(2n-1) / (2n)!`).
const fn taylor() -> [[f64; TERMS]; 2] {
    let mut out = [[0.0; TERMS]; 2];
    let mut fact = 1.0;
    let mut k = 0;
    while k < TERMS {
        fact *= (k + 1) as f64;
        let sign = if (k / 2) % 2 == 0 { 1.0 } else { -1.0 };
        out[k % 2][k] = sign / fact;
        k += 1;
    }
    out
}

const TAYLOR: [[f64; TERMS]; 2] = taylor();

/// The `d`-th derivative of the series `coef` at `a`, by Horner.
fn series<T: Scalar>(a: T, coef: &[f64; TERMS], d: usize) -> T {
    let mut r: T = c(0.0);
    for k in (d..TERMS).rev() {
        let falling = (0..d).fold(1.0, |f, i| f * (k - i) as f64);
        r = r * a + falling * coef[k];
    }
    r
}

/// `[S, C, S', C', S'', C'']` at `a`, smooth through `a = 0`.
pub(crate) fn shape<T: Scalar>(a: T) -> [T; 6] {
    if a.re().abs() < SERIES_BELOW {
        let [s, cc] = &TAYLOR;
        return [
            series(a, s, 0),
            series(a, cc, 0),
            series(a, s, 1),
            series(a, cc, 1),
            series(a, s, 2),
            series(a, cc, 2),
        ];
    }
    let (sn, cs) = a.sin_cos();
    let r = a.recip();
    let r2 = r * r;
    let r3 = r2 * r;
    [
        sn * r,
        (-cs + 1.0) * r,
        (a * cs - sn) * r2,
        (a * sn + cs - 1.0) * r2,
        (-(a * a * sn) - a * cs * 2.0 + sn * 2.0) * r3,
        (a * a * cs - a * sn * 2.0 - cs * 2.0 + 2.0) * r3,
    ]
}

/// A point on the arm: position, angle, their Jacobians in the curvatures,
/// angular rate and the acceleration at `q'' = 0`.
#[derive(Debug, Clone, Copy)]
pub struct Frame<T: Scalar, const NS: usize> {
    pub position: [T; 2],
    pub jacobian: SMatrix<T, 2, NS>,
    pub angle: T,
    /// Constant: the angle is linear in the curvatures.
    pub angle_jacobian: [f64; NS],
    pub angle_rate: T,
    pub accel_bias: [T; 2],
}

impl<T: Scalar, const NS: usize> Frame<T, NS> {
    /// The clamped base.
    pub fn base(p: &ContinuumArmParams) -> Self {
        Self {
            position: [c(0.0), c(0.0)],
            jacobian: SMatrix::zeros(),
            angle: c(p.base_angle_rad),
            angle_jacobian: [0.0; NS],
            angle_rate: c(0.0),
            accel_bias: [c(0.0); 2],
        }
    }

    /// The frame at arc `sigma` along section `j`, whose base is `self`.
    pub fn along(&self, q: &SVector<T, NS>, qd: &SVector<T, NS>, j: usize, sigma: f64) -> Self {
        let [s, cc, s1, c1, s2, c2] = shape(q[j] * sigma);
        let (sn, cs) = self.angle.sin_cos();
        let world = |a: T, b: T, scale: f64| [(cs * a - sn * b) * scale, (sn * a + cs * b) * scale];
        let d = world(s, cc, sigma);
        let dk = world(s1, c1, sigma * sigma);
        let dkk = world(s2, c2, sigma * sigma * sigma);
        let pd = perp(d);
        let mut jacobian = self.jacobian;
        for col in 0..NS {
            let a = self.angle_jacobian[col];
            if a != 0.0 {
                jacobian[(0, col)] += pd[0] * a;
                jacobian[(1, col)] += pd[1] * a;
            }
        }
        jacobian[(0, j)] = dk[0];
        jacobian[(1, j)] = dk[1];
        let (w, kd) = (self.angle_rate, qd[j]);
        let pdk = perp(dk);
        let accel_bias = std::array::from_fn(|i| {
            self.accel_bias[i] - d[i] * w * w + pdk[i] * w * kd * 2.0 + dkk[i] * kd * kd
        });
        let mut angle_jacobian = self.angle_jacobian;
        angle_jacobian[j] += sigma;
        Self {
            position: [self.position[0] + d[0], self.position[1] + d[1]],
            jacobian,
            angle: self.angle + q[j] * sigma,
            angle_jacobian,
            angle_rate: w + kd * sigma,
            accel_bias,
        }
    }
}

/// Length of one section, m.
pub fn section_length(p: &ContinuumArmParams, ns: usize) -> f64 {
    p.length_m / ns as f64
}

/// The mass matrix, the velocity-product and gravity terms and the
/// gravitational potential at `(q, qd)`.
#[derive(Debug, Clone, Copy)]
pub struct Assembled<T: Scalar, const NS: usize> {
    pub mass: SMatrix<T, NS, NS>,
    /// `sum m J^T (a_bias + g z)`: moves to the right-hand side.
    pub bias: SVector<T, NS>,
    pub gravity_potential: T,
}

/// Adds a lumped point of mass `m` and rotary inertia `inertia` at `pt`.
fn add_lump<T: Scalar, const NS: usize>(
    out: &mut Assembled<T, NS>,
    pt: &Frame<T, NS>,
    m: f64,
    inertia: f64,
) {
    let force = [pt.accel_bias[0] * m, (pt.accel_bias[1] + GRAVITY) * m];
    for a in 0..NS {
        let (ja0, ja1) = (pt.jacobian[(0, a)], pt.jacobian[(1, a)]);
        out.bias[a] += ja0 * force[0] + ja1 * force[1];
        let ia = pt.angle_jacobian[a] * inertia;
        for b in a..NS {
            let v = (ja0 * pt.jacobian[(0, b)] + ja1 * pt.jacobian[(1, b)]) * m;
            out.mass[(a, b)] += v + ia * pt.angle_jacobian[b];
        }
    }
    out.gravity_potential += pt.position[1] * (m * GRAVITY);
}

/// Mass matrix, bias and gravitational potential of the arm.
pub fn assemble<T: Scalar, const NS: usize>(
    p: &ContinuumArmParams,
    q: &SVector<T, NS>,
    qd: &SVector<T, NS>,
) -> Assembled<T, NS> {
    let l = section_length(p, NS);
    let lump_mass = 0.5 * p.mass_kg / NS as f64;
    let lump_inertia = lump_mass * 0.25 * p.radius_m * p.radius_m;
    let mut out = Assembled {
        mass: SMatrix::zeros(),
        bias: SVector::zeros(),
        gravity_potential: c(0.0),
    };
    let mut base = Frame::base(p);
    for j in 0..NS {
        for g in GAUSS {
            let pt = base.along(q, qd, j, g * l);
            add_lump(&mut out, &pt, lump_mass, lump_inertia);
        }
        base = base.along(q, qd, j, l);
    }
    if p.payload_mass_kg > 0.0 {
        add_lump(&mut out, &base, p.payload_mass_kg, 0.0);
    }
    out.mass.fill_lower_triangle_with_upper_triangle();
    out
}

/// The generalised forces of bending stiffness, Kelvin-Voigt damping and
/// the tendons. Section `j`'s pair runs from the base to its end at
/// `tendon_offset_m` either side of the centre line, so it bends every
/// section up to `j` by the moment `(T_a - T_b) r`: `Q_i = r L sum_{j >=
/// i} (T_a,j - T_b,j)`.
pub fn generalised_forces<T: Scalar, const NS: usize>(
    p: &ContinuumArmParams,
    retardation_secs: f64,
    q: &SVector<T, NS>,
    qd: &SVector<T, NS>,
    tensions: &[T],
) -> SVector<T, NS> {
    let l = section_length(p, NS);
    let k = p.bending_stiffness_n_m2 * l;
    let mut moment: T = c(0.0);
    let mut out = SVector::<T, NS>::zeros();
    for i in (0..NS).rev() {
        moment += (tensions[2 * i] - tensions[2 * i + 1]) * p.tendon_offset_m;
        out[i] = moment * l - q[i] * k - qd[i] * (k * retardation_secs);
    }
    out
}

/// `q''` under the tendon tensions (`2 NS` of them, pairs per section).
pub fn acceleration<T: Scalar, const NS: usize>(
    p: &ContinuumArmParams,
    retardation_secs: f64,
    q: &SVector<T, NS>,
    qd: &SVector<T, NS>,
    tensions: &[T],
) -> SVector<T, NS> {
    let a = assemble(p, q, qd);
    let rhs = generalised_forces(p, retardation_secs, q, qd, tensions) - a.bias;
    solve_spd(a.mass, rhs)
}

/// Kinetic, gravitational and bending energy, J.
pub fn energy<const NS: usize>(
    p: &ContinuumArmParams,
    q: &SVector<f64, NS>,
    qd: &SVector<f64, NS>,
) -> f64 {
    let a = assemble(p, q, qd);
    let k = p.bending_stiffness_n_m2 * section_length(p, NS);
    0.5 * qd.dot(&(a.mass * qd)) + a.gravity_potential + 0.5 * k * q.norm_squared()
}

/// The point at fraction `f` (0 = base, 1 = tip) of the arm's length:
/// world `(x, z)` and tangent angle. What tracking (`f = 1`) and whole-body
/// keep-out rows read.
pub fn point_at<T: Scalar, const NS: usize>(
    p: &ContinuumArmParams,
    q: &SVector<T, NS>,
    f: f64,
) -> ([T; 2], T) {
    let l = section_length(p, NS);
    let s = (f.clamp(0.0, 1.0) * p.length_m).min(p.length_m);
    let qd = SVector::<T, NS>::zeros();
    let mut frame = Frame::base(p);
    for j in 0..NS {
        let start = j as f64 * l;
        if s <= start + l || j == NS - 1 {
            frame = frame.along(q, &qd, j, (s - start).min(l));
            break;
        }
        frame = frame.along(q, &qd, j, l);
    }
    (frame.position, frame.angle)
}

/// The tip's world `(x, z)` and tangent angle.
pub fn tip<T: Scalar, const NS: usize>(p: &ContinuumArmParams, q: &SVector<T, NS>) -> ([T; 2], T) {
    point_at(p, q, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The series and the closed forms meet at the switch, and the closed
    /// forms' derivatives are what they say (central differences).
    #[test]
    fn shape_functions_meet() {
        for a in [-0.1f64, 0.1, 0.0999, -0.1001] {
            let series = [
                series(a, &TAYLOR[0], 0),
                series(a, &TAYLOR[1], 0),
                series(a, &TAYLOR[0], 1),
                series(a, &TAYLOR[1], 1),
                series(a, &TAYLOR[0], 2),
                series(a, &TAYLOR[1], 2),
            ];
            let closed = {
                let (sn, cs) = a.sin_cos();
                [
                    sn / a,
                    (1.0 - cs) / a,
                    (a * cs - sn) / (a * a),
                    (a * sn + cs - 1.0) / (a * a),
                    (-a * a * sn - 2.0 * a * cs + 2.0 * sn) / (a * a * a),
                    (a * a * cs - 2.0 * a * sn - 2.0 * cs + 2.0) / (a * a * a),
                ]
            };
            for i in 0..6 {
                assert!(
                    (series[i] - closed[i]).abs() < 1e-11,
                    "a = {a}, function {i}: {} vs {}",
                    series[i],
                    closed[i]
                );
            }
        }
        for a in [0.3f64, -1.2, 2.5, 0.05] {
            let h = 1e-6;
            let (f, fp, fm) = (shape(a), shape(a + h), shape(a - h));
            for i in 0..4 {
                let fd = (fp[i] - fm[i]) / (2.0 * h);
                assert!(
                    (fd - f[i + 2]).abs() < 1e-8,
                    "a = {a}, d f{i}: {fd} vs {}",
                    f[i + 2]
                );
            }
        }
        assert!((shape(0.7f64)[0] - 0.7f64.sin() / 0.7).abs() < 1e-15);
    }
}
