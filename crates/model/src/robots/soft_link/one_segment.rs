//! The 1-segment link's assembly written out (the controller's model, and
//! a plant of `segments = 1`): [`super::assemble`] takes this path when
//! `NQ = 5`. The generic path builds each lumped point's world Jacobian
//! by `Frame::along` (a 2 x NQ copy per point, loops over zero columns,
//! the base angle's sine and cosine once per point); on one segment every
//! column is a strain derivative of the point's offset `d` in the
//! segment's own axes (the pivot's angle column a quarter turn of `d`, the
//! cart's the world's x axis seen from those axes), and dot products are
//! the same in any axes, so the mass matrix and the bias are sums of
//! products of 2-vectors. [`points`] computes each point's kinematics
//! once: the closed-form tangent (`tangent.rs`) reuses them.

use nalgebra::{SMatrix, SVector};

use super::{perp, shape, Assembled, GAUSS};
use crate::robots::soft_cartpole::SoftCartPoleParams;
use crate::{c, Scalar, GRAVITY};

/// Lumped points of one segment: two Gauss points and the tip body.
pub(super) const POINTS: usize = 3;

type V2<T> = [T; 2];

#[inline(always)]
pub(super) fn add<T: Scalar>(a: V2<T>, b: V2<T>) -> V2<T> {
    [a[0] + b[0], a[1] + b[1]]
}

#[inline(always)]
pub(super) fn sc<T: Scalar>(a: V2<T>, s: T) -> V2<T> {
    [a[0] * s, a[1] * s]
}

#[inline(always)]
pub(super) fn dot<T: Scalar>(a: V2<T>, b: V2<T>) -> T {
    a[0] * b[0] + a[1] * b[1]
}

/// `(e S - gamma C, e C + gamma S) scale` for a shape pair `(S, C)`.
#[inline(always)]
pub(super) fn strained<T: Scalar>(s: T, c: T, e: T, gamma: T, scale: f64) -> V2<T> {
    [(e * s - gamma * c) * scale, (e * c + gamma * s) * scale]
}

/// One lumped point's kinematics in the segment's axes: its offset `d`
/// from the pivot, the strain derivatives of `d` (k: kappa, e: epsilon,
/// g: gamma), `d`'s rate and the strain rates' velocity-product term
/// `sum_ij d_ij s'_i s'_j`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Point<T: Scalar> {
    pub sigma: f64,
    pub mass: f64,
    pub inertia: f64,
    /// `S''(a)`, `C''(a)` at `a = kappa sigma` (the tangent's third
    /// strain derivatives start from them).
    pub s2: T,
    pub c2: T,
    pub d: V2<T>,
    pub dk: V2<T>,
    pub de: V2<T>,
    pub dg: V2<T>,
    pub dkk: V2<T>,
    pub dke: V2<T>,
    pub dkg: V2<T>,
    pub rate: V2<T>,
    pub strain_bias: V2<T>,
}

/// The three points' kinematics at `(q, q')` (`q = [p, theta, kappa,
/// epsilon, gamma]`), in [`super::lumps`]' order. (Built without the
/// lumps' iterator and `array::from_fn`: the derivative paid a
/// `memcpy` per point for them.)
#[inline(always)]
pub(super) fn points<T: Scalar, const NQ: usize>(
    p: &SoftCartPoleParams,
    q: &SVector<T, NQ>,
    qd: &SVector<T, NQ>,
) -> [Point<T>; POINTS] {
    // As `lumps(p, 1)` computes them.
    let l = p.link_length_m;
    let density = p.link_mass_kg / l;
    let section = density * 0.25 * p.link_radius_m * p.link_radius_m;
    let (mass, inertia) = (density * 0.5 * l, section * 0.5 * l);
    [
        point(q, qd, GAUSS[0] * l, mass, inertia),
        point(q, qd, GAUSS[1] * l, mass, inertia),
        point(q, qd, l, p.tip_mass_kg, p.tip_inertia_kg_m2),
    ]
}

#[inline(always)]
fn point<T: Scalar, const NQ: usize>(
    q: &SVector<T, NQ>,
    qd: &SVector<T, NQ>,
    sigma: f64,
    mass: f64,
    inertia: f64,
) -> Point<T> {
    let (kappa, gamma) = (q[2], q[4]);
    let e = q[3] + 1.0;
    let (kd, ed, gd) = (qd[2], qd[3], qd[4]);
    let [s, cc, s1, c1, s2, c2] = shape(kappa * sigma);
    let (sg2, sg3) = (sigma * sigma, sigma * sigma * sigma);
    let d = strained(s, cc, e, gamma, sigma);
    let dk = strained(s1, c1, e, gamma, sg2);
    let de = [s * sigma, cc * sigma];
    let dg = [-cc * sigma, s * sigma];
    let dkk = strained(s2, c2, e, gamma, sg3);
    let dke = [s1 * sg2, c1 * sg2];
    let dkg = [-c1 * sg2, s1 * sg2];
    let rate = [
        dk[0] * kd + de[0] * ed + dg[0] * gd,
        dk[1] * kd + de[1] * ed + dg[1] * gd,
    ];
    let strain_bias = [
        dkk[0] * kd * kd + (dke[0] * ed + dkg[0] * gd) * kd * 2.0,
        dkk[1] * kd * kd + (dke[1] * ed + dkg[1] * gd) * kd * 2.0,
    ];
    Point {
        sigma,
        mass,
        inertia,
        s2,
        c2,
        d,
        dk,
        de,
        dg,
        dkk,
        dke,
        dkg,
        rate,
        strain_bias,
    }
}

/// The world's x and z axes in the pivot's axes at angle `theta`
/// (`R(theta)^T e_x`, `R(theta)^T e_z`).
#[inline(always)]
pub(super) fn world_axes<T: Scalar>(theta: T) -> (V2<T>, V2<T>) {
    let (sn, cs) = theta.sin_cos();
    ([-sn, -cs], [cs, -sn])
}

/// [`super::assemble`] for `NQ = 5` from the points' kinematics.
/// `axes` are [`world_axes`] at `q[1]`.
pub(super) fn assemble_points<T: Scalar, const NQ: usize>(
    p: &SoftCartPoleParams,
    qd: &SVector<T, NQ>,
    (ex, ez): (V2<T>, V2<T>),
    pts: &[Point<T>; POINTS],
) -> Assembled<T, NQ> {
    debug_assert!(NQ == 5, "one segment");
    let w = qd[1];
    let w2 = w * w;
    let mut mass = SMatrix::<T, NQ, NQ>::zeros();
    let mut bias = SVector::<T, NQ>::zeros();
    let mut gravity_potential: T = c(0.0);
    let mut cart_mass = p.cart_mass_kg;
    for pt in pts {
        let m = pt.mass;
        cart_mass += m;
        let jac = [ex, perp(pt.d), pt.dk, pt.de, pt.dg];
        // The point's acceleration at q'' = 0, plus gravity, times m.
        let accel = add(
            add(sc(pt.d, -w2), sc(perp(pt.rate), w * 2.0)),
            pt.strain_bias,
        );
        let force = sc(add(accel, sc(ez, c(GRAVITY))), c(m));
        for a in 0..5 {
            bias[a] += dot(jac[a], force);
            // The cart's own column is the world's x: |e_x| = 1 exactly.
            for b in a.max(1)..5 {
                mass[(a, b)] += dot(jac[a], jac[b]) * m;
            }
        }
        // The slice's rotary inertia: its angle is theta + kappa sigma.
        let i = pt.inertia;
        mass[(1, 1)] += c::<T>(i);
        mass[(1, 2)] += c::<T>(i * pt.sigma);
        mass[(2, 2)] += c::<T>(i * pt.sigma * pt.sigma);
        gravity_potential += dot(ez, pt.d) * (m * GRAVITY);
    }
    mass[(0, 0)] = c(cart_mass);
    mass.fill_lower_triangle_with_upper_triangle();
    Assembled {
        mass,
        bias,
        gravity_potential,
    }
}
