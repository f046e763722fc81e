//! A planar soft link on a cart, as a piecewise-constant-strain (PCS)
//! Cosserat rod: `NS` segments of equal length, each with a constant
//! curvature `kappa`, axial strain `epsilon` (stretch is `1 + epsilon`) and
//! shear `gamma`. Written once, generic over the scalar and the number of
//! generalised coordinates `NQ = 2 + 3 NS` (`[p, theta, kappa_1, epsilon_1,
//! gamma_1, ...]`), so the controller's 1-segment model and the simulator's
//! finer plant are the same code.
//!
//! The rod's mass is lumped at two Gauss points per segment (each with its
//! slice's rotary inertia), the tip body at the end. The equations of
//! motion follow from virtual work (Kane): each lumped point's acceleration
//! is `J q'' + a_bias(q, q')`, so `M = sum m J^T J + I j^T j` and
//! `M q'' = Q - sum m J^T (a_bias + g z) - K q - D q'`. Angles are linear in
//! `q`, so only positions carry velocity-product terms.

use nalgebra::{SMatrix, SVector};
use num_dual::DualSVec64;

use super::soft_cartpole::SoftCartPoleParams;
use crate::{c, Scalar, GRAVITY};

mod one_segment;
mod tangent;
pub use tangent::acceleration_tangent;

/// Gauss-Legendre abscissae on [0, 1] (two points, weight 1/2 each).
const GAUSS: [f64; 2] = [0.211_324_865_405_187_1, 0.788_675_134_594_812_9];

/// Below this |kappa s| the shape functions use their Taylor series: the
/// closed forms divide by up to its cube, and near zero lose digits (C''
/// at 1e-2 keeps only 7).
const SERIES_BELOW: f64 = 0.1;

/// The number of segments of a link with `nq` generalised coordinates.
pub const fn segments(nq: usize) -> usize {
    (nq - 2) / 3
}

/// `S = sin a / a`, `C = (1 - cos a) / a` and their first and second
/// derivatives in `a`, smooth through `a = 0`.
fn shape<T: Scalar>(a: T) -> [T; 6] {
    if a.re().abs() < SERIES_BELOW {
        shape_series(a)
    } else {
        shape_closed(a)
    }
}

fn shape_series<T: Scalar>(a: T) -> [T; 6] {
    {
        // Taylor series through a^9: the first term left out is below
        // 1e-16 relative at the switch.
        let z = a * a;
        let poly = |k: [f64; 5]| (((z * k[4] + k[3]) * z + k[2]) * z + k[1]) * z + k[0];
        let s = poly([1.0, -1.0 / 6.0, 1.0 / 120.0, -1.0 / 5040.0, 1.0 / 362_880.0]);
        let cc = a * poly([
            0.5,
            -1.0 / 24.0,
            1.0 / 720.0,
            -1.0 / 40_320.0,
            1.0 / 3_628_800.0,
        ]);
        let s1 = a * poly([
            -1.0 / 3.0,
            1.0 / 30.0,
            -1.0 / 840.0,
            1.0 / 45_360.0,
            -1.0 / 3_991_680.0,
        ]);
        let c1 = poly([0.5, -1.0 / 8.0, 1.0 / 144.0, -1.0 / 5760.0, 1.0 / 403_200.0]);
        let s2 = poly([
            -1.0 / 3.0,
            0.1,
            -1.0 / 168.0,
            1.0 / 6480.0,
            -1.0 / 443_520.0,
        ]);
        let c2 = a * poly([
            -0.25,
            1.0 / 36.0,
            -1.0 / 960.0,
            1.0 / 50_400.0,
            -1.0 / 4_354_560.0,
        ]);
        [s, cc, s1, c1, s2, c2]
    }
}

fn shape_closed<T: Scalar>(a: T) -> [T; 6] {
    {
        let (sn, cs) = a.sin_cos();
        let r = a.recip();
        let r2 = r * r;
        let r3 = r2 * r;
        let s = sn * r;
        let cc = (-cs + 1.0) * r;
        let s1 = (a * cs - sn) * r2;
        let c1 = (a * sn + cs - 1.0) * r2;
        let s2 = (-(a * a * sn) - a * cs * 2.0 + sn * 2.0) * r3;
        let c2 = (a * a * cs - a * sn * 2.0 - cs * 2.0 + 2.0) * r3;
        [s, cc, s1, c1, s2, c2]
    }
}

/// `R(phi) v`: local (axial, transverse) components to world (x, z); the
/// axis at angle `phi` from upright points along `(-sin phi, cos phi)`.
#[inline(always)]
fn world<T: Scalar>(sn: T, cs: T, v: [T; 2]) -> [T; 2] {
    [-(sn * v[0]) - cs * v[1], cs * v[0] - sn * v[1]]
}

/// A quarter turn towards increasing angle: `(a, t) -> (-t, a)`.
#[inline(always)]
pub(crate) fn perp<T: Scalar>(v: [T; 2]) -> [T; 2] {
    [-v[1], v[0]]
}

/// One lumped point's mass, rotary inertia and arc position.
#[derive(Debug, Clone, Copy)]
struct Lump {
    segment: usize,
    /// Arc length from the segment's base, m.
    sigma: f64,
    mass: f64,
    inertia: f64,
}

/// The lumped points of a link of `ns` segments, base to tip, tip body last.
fn lumps(p: &SoftCartPoleParams, ns: usize) -> impl Iterator<Item = Lump> + '_ {
    let l = p.link_length_m / ns as f64;
    let density = p.link_mass_kg / p.link_length_m;
    let section = density * 0.25 * p.link_radius_m * p.link_radius_m;
    (0..ns)
        .flat_map(move |j| {
            GAUSS.map(|g| Lump {
                segment: j,
                sigma: g * l,
                mass: density * 0.5 * l,
                inertia: section * 0.5 * l,
            })
        })
        .chain(std::iter::once(Lump {
            segment: ns - 1,
            sigma: l,
            mass: p.tip_mass_kg,
            inertia: p.tip_inertia_kg_m2,
        }))
}

/// The mass matrix, the velocity-product and gravity terms and the
/// gravitational potential at `(q, qd)`.
#[derive(Debug, Clone, Copy)]
pub struct Assembled<T: Scalar, const NQ: usize> {
    pub mass: SMatrix<T, NQ, NQ>,
    /// `sum m J^T (a_bias + g z)`: moves to the right-hand side.
    pub bias: SVector<T, NQ>,
    pub gravity_potential: T,
}

/// The frame at a segment's base: position, angle, their Jacobians, and the
/// base's acceleration at `q'' = 0`.
struct Frame<T: Scalar, const NQ: usize> {
    position: [T; 2],
    jacobian: SMatrix<T, 2, NQ>,
    angle: T,
    angle_jacobian: [f64; NQ],
    angle_rate: T,
    accel_bias: [T; 2],
}

/// Where a point at arc `sigma` of segment `j` is, relative to the
/// segment's base frame (local axes), with its Jacobian columns in the
/// segment's strains and its velocity-product acceleration.
struct Local<T: Scalar> {
    d: [T; 2],
    d_kappa: [T; 2],
    d_epsilon: [T; 2],
    d_gamma: [T; 2],
    rate: [T; 2],
    accel_bias: [T; 2],
}

fn local<T: Scalar>(strain: [T; 3], rates: [T; 3], sigma: f64) -> Local<T> {
    let [kappa, epsilon, gamma] = strain;
    let [kd, ed, gd] = rates;
    let [s, cc, s1, c1, s2, c2] = shape(kappa * sigma);
    let e = epsilon + 1.0;
    let (sg2, sg3) = (sigma * sigma, sigma * sigma * sigma);
    let d = [(e * s - gamma * cc) * sigma, (e * cc + gamma * s) * sigma];
    let d_kappa = [(e * s1 - gamma * c1) * sg2, (e * c1 + gamma * s1) * sg2];
    let d_epsilon = [s * sigma, cc * sigma];
    let d_gamma = [-cc * sigma, s * sigma];
    let d_kk = [(e * s2 - gamma * c2) * sg3, (e * c2 + gamma * s2) * sg3];
    let d_ke = [s1 * sg2, c1 * sg2];
    let d_kg = [-c1 * sg2, s1 * sg2];
    let rate = std::array::from_fn(|i| d_kappa[i] * kd + d_epsilon[i] * ed + d_gamma[i] * gd);
    let accel_bias =
        std::array::from_fn(|i| d_kk[i] * kd * kd + (d_ke[i] * ed + d_kg[i] * gd) * kd * 2.0);
    Local {
        d,
        d_kappa,
        d_epsilon,
        d_gamma,
        rate,
        accel_bias,
    }
}

impl<T: Scalar, const NQ: usize> Frame<T, NQ> {
    fn cart(q: &SVector<T, NQ>, qd: &SVector<T, NQ>) -> Self {
        let mut jacobian = SMatrix::<T, 2, NQ>::zeros();
        jacobian[(0, 0)] = c(1.0);
        let mut angle_jacobian = [0.0; NQ];
        angle_jacobian[1] = 1.0;
        Self {
            position: [q[0], c(0.0)],
            jacobian,
            angle: q[1],
            angle_jacobian,
            angle_rate: qd[1],
            accel_bias: [c(0.0); 2],
        }
    }

    /// The frame of the point at arc `sigma` along segment `j` (its base's
    /// frame is `self`).
    fn along(&self, q: &SVector<T, NQ>, qd: &SVector<T, NQ>, j: usize, sigma: f64) -> Self {
        let k = 2 + 3 * j;
        let lp = local(
            [q[k], q[k + 1], q[k + 2]],
            [qd[k], qd[k + 1], qd[k + 2]],
            sigma,
        );
        let (sn, cs) = self.angle.sin_cos();
        let w = self.angle_rate;
        let rd = world(sn, cs, lp.d);
        let rpd = world(sn, cs, perp(lp.d));
        let mut jacobian = self.jacobian;
        for col in 0..NQ {
            let a = self.angle_jacobian[col];
            if a != 0.0 {
                for i in 0..2 {
                    jacobian[(i, col)] += rpd[i] * a;
                }
            }
        }
        for (col, v) in [(k, lp.d_kappa), (k + 1, lp.d_epsilon), (k + 2, lp.d_gamma)] {
            let rv = world(sn, cs, v);
            jacobian[(0, col)] = rv[0];
            jacobian[(1, col)] = rv[1];
        }
        let rprate = world(sn, cs, perp(lp.rate));
        let rbias = world(sn, cs, lp.accel_bias);
        let accel_bias = std::array::from_fn(|i| {
            self.accel_bias[i] - rd[i] * w * w + rprate[i] * w * 2.0 + rbias[i]
        });
        let mut angle_jacobian = self.angle_jacobian;
        angle_jacobian[k] += sigma;
        Self {
            position: [self.position[0] + rd[0], self.position[1] + rd[1]],
            jacobian,
            angle: self.angle + q[k] * sigma,
            angle_jacobian,
            angle_rate: w + qd[k] * sigma,
            accel_bias,
        }
    }
}

/// Mass matrix, bias and gravitational potential of the link and cart
/// (one segment: written out, `one_segment.rs`).
pub fn assemble<T: Scalar, const NQ: usize>(
    p: &SoftCartPoleParams,
    q: &SVector<T, NQ>,
    qd: &SVector<T, NQ>,
) -> Assembled<T, NQ> {
    let ns = segments(NQ);
    if ns == 1 {
        let pts = one_segment::points(p, q, qd);
        return one_segment::assemble_points(p, qd, one_segment::world_axes(q[1]), &pts);
    }
    assemble_by_frames(p, q, qd)
}

/// [`assemble`] for any number of segments, frame to frame (the
/// 1-segment path's reference in tests).
fn assemble_by_frames<T: Scalar, const NQ: usize>(
    p: &SoftCartPoleParams,
    q: &SVector<T, NQ>,
    qd: &SVector<T, NQ>,
) -> Assembled<T, NQ> {
    let ns = segments(NQ);
    let l = p.link_length_m / ns as f64;
    let mut mass = SMatrix::<T, NQ, NQ>::zeros();
    mass[(0, 0)] = c(p.cart_mass_kg);
    let mut bias = SVector::<T, NQ>::zeros();
    let mut gravity_potential: T = c(0.0);
    let mut base = Frame::cart(q, qd);
    let mut current = 0;
    for lump in lumps(p, ns) {
        if lump.segment != current {
            base = base.along(q, qd, current, l);
            current = lump.segment;
        }
        let pt = base.along(q, qd, current, lump.sigma);
        let m = lump.mass;
        let force = [pt.accel_bias[0] * m, (pt.accel_bias[1] + GRAVITY) * m];
        for a in 0..NQ {
            let (ja0, ja1) = (pt.jacobian[(0, a)], pt.jacobian[(1, a)]);
            bias[a] += ja0 * force[0] + ja1 * force[1];
            let ia = pt.angle_jacobian[a] * lump.inertia;
            for b in a..NQ {
                let mut v = (ja0 * pt.jacobian[(0, b)] + ja1 * pt.jacobian[(1, b)]) * m;
                if ia != 0.0 {
                    v += c::<T>(ia * pt.angle_jacobian[b]);
                }
                mass[(a, b)] += v;
            }
        }
        gravity_potential += pt.position[1] * (m * GRAVITY);
    }
    mass.fill_lower_triangle_with_upper_triangle();
    Assembled {
        mass,
        bias,
        gravity_potential,
    }
}

/// The elastic and visco-elastic (Kelvin-Voigt, retardation time
/// `retardation_secs`) generalised forces of the strains, sign included.
pub fn elastic_forces<T: Scalar, const NQ: usize>(
    p: &SoftCartPoleParams,
    retardation_secs: f64,
    q: &SVector<T, NQ>,
    qd: &SVector<T, NQ>,
) -> SVector<T, NQ> {
    let l = p.link_length_m / segments(NQ) as f64;
    let k = [
        p.bending_stiffness_n_m2,
        p.axial_stiffness_n,
        p.shear_stiffness_n,
    ];
    SVector::from_fn(|i, _| {
        if i < 2 {
            c(0.0)
        } else {
            let ki = k[(i - 2) % 3] * l;
            -(q[i] * ki) - qd[i] * (ki * retardation_secs)
        }
    })
}

/// The strain energy, J (f64: tests and reports).
pub fn strain_energy<const NQ: usize>(p: &SoftCartPoleParams, q: &SVector<f64, NQ>) -> f64 {
    let f = elastic_forces(p, 0.0, q, &SVector::zeros());
    -0.5 * f.dot(q)
}

/// `q''` under the cart force `force` (N), with strain damping of
/// retardation time `retardation_secs`.
pub fn acceleration<T: Scalar, const NQ: usize>(
    p: &SoftCartPoleParams,
    retardation_secs: f64,
    q: &SVector<T, NQ>,
    qd: &SVector<T, NQ>,
    force: T,
) -> SVector<T, NQ> {
    let a = assemble(p, q, qd);
    let mut rhs = elastic_forces(p, retardation_secs, q, qd) - a.bias;
    rhs[0] += force;
    solve_spd(a.mass, rhs)
}

/// Solves `M x = b` for a symmetric positive definite `M` by Cholesky,
/// on any scalar (no pivoting: `M` is a mass matrix). The continuum
/// arm's model ([`super::pcc`]) solves its mass matrix with it too.
pub(crate) fn solve_spd<T: Scalar, const N: usize>(
    m: SMatrix<T, N, N>,
    b: SVector<T, N>,
) -> SVector<T, N> {
    substitute(&cholesky(m), b)
}

/// The Cholesky factor `L` of `M = L L^T` in the lower triangle (the upper
/// triangle keeps `M`'s entries): factored once, it solves every column of
/// a Jacobian ([`acceleration_tangent`]).
pub(crate) fn cholesky<T: Scalar, const N: usize>(mut m: SMatrix<T, N, N>) -> SMatrix<T, N, N> {
    for j in 0..N {
        let mut d = m[(j, j)];
        for k in 0..j {
            d -= m[(j, k)] * m[(j, k)];
        }
        let ljj = d.sqrt();
        let inv = ljj.recip();
        m[(j, j)] = ljj;
        for i in j + 1..N {
            let mut s = m[(i, j)];
            for k in 0..j {
                s -= m[(i, k)] * m[(j, k)];
            }
            m[(i, j)] = s * inv;
        }
    }
    m
}

/// `L^-T L^-1 b` for the factor of [`cholesky`].
pub(crate) fn substitute<T: Scalar, const N: usize>(
    m: &SMatrix<T, N, N>,
    mut b: SVector<T, N>,
) -> SVector<T, N> {
    for i in 0..N {
        let mut s = b[i];
        for k in 0..i {
            s -= m[(i, k)] * b[k];
        }
        b[i] = s * m[(i, i)].recip();
    }
    for i in (0..N).rev() {
        let mut s = b[i];
        for k in i + 1..N {
            s -= m[(k, i)] * b[k];
        }
        b[i] = s * m[(i, i)].recip();
    }
    b
}

/// [`acceleration`] with its exact Jacobians for any number of segments,
/// cheaper than duals through the whole of it (the 1-segment model's own
/// tangent is [`acceleration_tangent`], in closed form; this is its
/// reference in tests): the mass matrix and bias are assembled on duals of
/// `D = NQ - 1` directions (every coordinate but the cart's, which neither
/// enters), once seeded on `q` and once on `q'` (where the mass matrix's
/// entries stay constants), and the Cholesky factor is formed once on f64
/// for all columns: `da/dq_k = M^-1 (dQ/dq_k - dM/dq_k a)`, `da/dq'_k =
/// M^-1 dQ/dq'_k`, `da/dF = M^-1 e_0`. The value is [`acceleration`]'s on
/// f64 bit for bit (duals compute their real parts by the same f64
/// operations). Returns `(a, da/dq, da/dq', da/dF)`.
#[allow(clippy::type_complexity)]
pub fn acceleration_tangent_by_duals<const NQ: usize, const D: usize>(
    p: &SoftCartPoleParams,
    retardation_secs: f64,
    q: &SVector<f64, NQ>,
    qd: &SVector<f64, NQ>,
    force: f64,
) -> (
    SVector<f64, NQ>,
    SMatrix<f64, NQ, NQ>,
    SMatrix<f64, NQ, NQ>,
    SVector<f64, NQ>,
) {
    assert!(
        D + 1 == NQ,
        "one dual direction per coordinate but the cart's"
    );
    let seeded = |v: &SVector<f64, NQ>| -> SVector<DualSVec64<D>, NQ> {
        SVector::from_fn(|i, _| match i {
            0 => DualSVec64::from_re(v[0]),
            _ => DualSVec64::from_re(v[i]).derivative(i - 1),
        })
    };
    let constant = |v: &SVector<f64, NQ>| v.map(DualSVec64::<D>::from_re);
    let on_q = assemble(p, &seeded(q), &constant(qd));
    let on_qd = assemble(p, &constant(q), &seeded(qd));
    let mass = on_q.mass.map(|v| v.re);
    let mut rhs = elastic_forces(p, retardation_secs, q, qd) - on_q.bias.map(|v| v.re);
    rhs[0] += force;
    let factor = cholesky(mass);
    let a = substitute(&factor, rhs);
    let column = |v: &DualSVec64<D>, k: usize| v.eps.0.map_or(0.0, |d| d[k]);
    let l = p.link_length_m / segments(NQ) as f64;
    let stiffness = [
        p.bending_stiffness_n_m2,
        p.axial_stiffness_n,
        p.shear_stiffness_n,
    ];
    let mut d_q = SMatrix::<f64, NQ, NQ>::zeros();
    let mut d_qd = SMatrix::<f64, NQ, NQ>::zeros();
    for k in 1..NQ {
        // The elastic forces are diagonal: -k l q_k - k l tau q'_k.
        let elastic = if k >= 2 {
            stiffness[(k - 2) % 3] * l
        } else {
            0.0
        };
        let mut by_q = SVector::<f64, NQ>::from_fn(|i, _| {
            let dm_a: f64 = (0..NQ)
                .map(|j| column(&on_q.mass[(i, j)], k - 1) * a[j])
                .sum();
            -column(&on_q.bias[i], k - 1) - dm_a
        });
        by_q[k] -= elastic;
        d_q.set_column(k, &substitute(&factor, by_q));
        let mut by_qd = SVector::<f64, NQ>::from_fn(|i, _| -column(&on_qd.bias[i], k - 1));
        by_qd[k] -= elastic * retardation_secs;
        d_qd.set_column(k, &substitute(&factor, by_qd));
    }
    let mut e0 = SVector::<f64, NQ>::zeros();
    e0[0] = 1.0;
    (a, d_q, d_qd, substitute(&factor, e0))
}

/// The tip's position `(x, z)` and angle from upright.
pub fn tip<T: Scalar, const NQ: usize>(p: &SoftCartPoleParams, q: &SVector<T, NQ>) -> ([T; 2], T) {
    let ns = segments(NQ);
    let l = p.link_length_m / ns as f64;
    let qd = SVector::<T, NQ>::zeros();
    let mut frame = Frame::cart(q, &qd);
    for j in 0..ns {
        frame = frame.along(q, &qd, j, l);
    }
    (frame.position, frame.angle)
}

/// The single segment `[kappa, epsilon, gamma]` whose tip has the same
/// pose relative to the pivot as the link `q`'s (any number of segments):
/// the state a 1-segment model sees of a finer link. Curvature from the tip
/// angle, stretch and shear from the tip position.
pub fn equivalent_segment<T: Scalar, const NQ: usize>(
    p: &SoftCartPoleParams,
    q: &SVector<T, NQ>,
) -> [T; 3] {
    let l = p.link_length_m;
    let ([tx, tz], angle) = tip(p, q);
    let kappa = (angle - q[1]) * (1.0 / l);
    let (sn, cs) = q[1].sin_cos();
    let (dx, dz) = (tx - q[0], tz);
    // The tip in the pivot's local (axial, transverse) axes, over L.
    let da = (-(sn * dx) + cs * dz) * (1.0 / l);
    let dt = (-(cs * dx) - sn * dz) * (1.0 / l);
    let [s, cc, ..] = shape(kappa * l);
    // [[S, -C], [C, S]] [1 + epsilon, gamma] = d / L.
    let inv = (s * s + cc * cc).recip();
    [
        kappa,
        (s * da + cc * dt) * inv - 1.0,
        (s * dt - cc * da) * inv,
    ]
}

/// Points along the link's centre line, base to tip, `per_segment` per
/// segment after the base (world x, z): what a viewer draws.
pub fn centre_line<const NQ: usize>(
    p: &SoftCartPoleParams,
    q: &SVector<f64, NQ>,
    per_segment: usize,
    out: &mut Vec<[f64; 2]>,
) {
    let ns = segments(NQ);
    let l = p.link_length_m / ns as f64;
    let qd = SVector::<f64, NQ>::zeros();
    let mut frame = Frame::cart(q, &qd);
    out.push(frame.position);
    for j in 0..ns {
        for i in 1..=per_segment {
            out.push(
                frame
                    .along(q, &qd, j, l * i as f64 / per_segment as f64)
                    .position,
            );
        }
        frame = frame.along(q, &qd, j, l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The written-out 1-segment assembly is the frame-to-frame one to
    /// round-off, at bent, stretched, sheared, moving states on both sides
    /// of the shape functions' series switch.
    #[test]
    fn one_segment_assembly_matches_frames() {
        let p = SoftCartPoleParams::default();
        let states: [[f64; 10]; 4] = [
            [0.3, 0.6, 0.8, 0.02, -0.03, 0.3, -1.0, 2.0, 0.5, 0.1],
            [-1.0, 2.9, -3.0, -0.1, 0.2, -2.0, 8.0, -20.0, 1.0, -3.0],
            [0.0, 0.1, 0.05, 0.0, 0.0, 0.0, 1.0, 0.3, -0.2, 0.4],
            [1.5, 3.1, 12.0, 0.08, 0.15, 0.7, 15.0, -12.0, -1.0, 3.0],
        ];
        for x in &states {
            let q = SVector::<f64, 5>::from_fn(|i, _| x[i]);
            let qd = SVector::<f64, 5>::from_fn(|i, _| x[5 + i]);
            let (ours, frames) = (assemble(&p, &q, &qd), assemble_by_frames(&p, &q, &qd));
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-13 * b.abs().max(1.0);
            for i in 0..5 {
                assert!(close(ours.bias[i], frames.bias[i]), "bias {i} at {x:?}");
                for j in 0..5 {
                    let (a, b) = (ours.mass[(i, j)], frames.mass[(i, j)]);
                    assert!(close(a, b), "mass ({i}, {j}) at {x:?}: {a} vs {b}");
                }
            }
            assert!(close(ours.gravity_potential, frames.gravity_potential));
        }
    }

    /// The series and the closed forms agree where they meet, and the
    /// closed forms are what they say (their derivatives by differences).
    #[test]
    fn shape_functions_meet() {
        for a in [-0.1f64, 0.1, 0.099, -0.101] {
            let (series, closed) = (shape_series(a), shape_closed(a));
            for i in 0..6 {
                assert!(
                    (series[i] - closed[i]).abs() < 1e-12,
                    "a = {a}, function {i}: {} vs {}",
                    series[i],
                    closed[i]
                );
            }
        }
        for a in [0.3f64, -1.2, 2.5] {
            let h = 1e-6;
            let (f, fp, fm) = (shape_closed(a), shape_closed(a + h), shape_closed(a - h));
            for i in 0..4 {
                let fd = (fp[i] - fm[i]) / (2.0 * h);
                assert!(
                    (fd - f[i + 2]).abs() < 1e-8,
                    "a = {a}, d f{i}: {fd} vs {}",
                    f[i + 2]
                );
            }
            assert!(
                (f[0] - a.sin() / a).abs() < 1e-15 && (f[1] - (1.0 - a.cos()) / a).abs() < 1e-15
            );
        }
    }
}
