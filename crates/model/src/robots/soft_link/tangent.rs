//! The 1-segment link's derivative tangent in closed form: the controller's
//! model (`SoftCartPole`) differentiated by hand instead of on duals
//! (docs/soft-robots.md, "A closed-form tangent").
//!
//! With the accelerations `a` fixed, the equations of motion are
//! `G(q, q', a) = M(q) a + bias(q, q') - Q(q, q') = F e_0`, so
//! `da/dq = -M^-1 dG/dq` and `da/dq' = -M^-1 dG/dq'`. Each lumped point at
//! `r(q)` contributes `m J^T (J a + a_bias + g z)` to `G`; with `r_b`,
//! `r_bl`, `r_bcl` its derivatives in the coordinates,
//! `dG_b/dq_l = m (r_bl . w + r_b . (sum_c r_cl a_c + sum_cd r_cdl q'_c q'_d))`
//! (`w` the point's acceleration plus gravity) and
//! `dG_b/dq'_l = m r_b . 2 sum_c r_cl q'_c`. On one segment
//! `r = (p, 0) + R(theta) d(kappa, epsilon, gamma)`, and turning by theta is
//! a quarter turn `P` in the segment's own axes, so every derivative is
//! `R P^n` of a strain derivative of `d`: everything below is written in
//! the segment's axes, where dot products are the same. `d` is linear in
//! stretch and shear, so only `kappa` has second and third derivatives
//! (the shape functions' third derivatives, [`shape3`]). The rotary
//! inertias' angles are linear in `q`: they add nothing.

use nalgebra::{SMatrix, SVector};

use super::one_segment::{add, assemble_points, dot, points, sc, strained, world_axes, Point};
use super::{cholesky, elastic_forces, perp, substitute, SERIES_BELOW};
use crate::robots::soft_cartpole::SoftCartPoleParams;
use crate::GRAVITY;

/// The 1-segment link's generalised coordinates `[p, theta, kappa,
/// epsilon, gamma]`.
const NQ: usize = 5;

type V2 = [f64; 2];

/// The third derivatives of `S = sin a / a` and `C = (1 - cos a) / a`,
/// on the Taylor series below [`SERIES_BELOW`] like [`super::shape`].
pub(super) fn shape3(a: f64) -> [f64; 2] {
    let z = a * a;
    if a.abs() < SERIES_BELOW {
        let poly = |k: [f64; 5]| (((z * k[4] + k[3]) * z + k[2]) * z + k[1]) * z + k[0];
        let s3 = a * poly([
            0.2,
            -1.0 / 42.0,
            1.0 / 1080.0,
            -1.0 / 55_440.0,
            1.0 / 4_717_440.0,
        ]);
        let c3 = poly([
            -0.25,
            1.0 / 12.0,
            -1.0 / 192.0,
            1.0 / 7200.0,
            -1.0 / 483_840.0,
        ]);
        [s3, c3]
    } else {
        let (sn, cs) = a.sin_cos();
        let r4 = (z * z).recip();
        let s3 = (-(z * a * cs) + 3.0 * z * sn + 6.0 * a * cs - 6.0 * sn) * r4;
        let c3 = (-(z * a * sn) - 3.0 * z * cs + 6.0 * a * sn + 6.0 * cs - 6.0) * r4;
        [s3, c3]
    }
}

/// `dG/dq` and `dG/dq'` (columns 1..5; the cart's column is zero: nothing
/// depends on `p` or `v`) of one lumped point (its kinematics `pt`, from
/// the assembly), added to `dq` and `dqd`, at accelerations `a`; `(ex,
/// ez)` the world's axes in the pivot's.
fn add_point(
    q: &SVector<f64, NQ>,
    qd: &SVector<f64, NQ>,
    a: &SVector<f64, NQ>,
    (ex, ez): (V2, V2),
    pt: &Point<f64>,
    dq: &mut [[f64; NQ]; NQ],
    dqd: &mut [[f64; NQ]; NQ],
) {
    let (kappa, epsilon, gamma) = (q[2], q[3], q[4]);
    let (w, kd, ed, gd) = (qd[1], qd[2], qd[3], qd[4]);
    let (sigma, m) = (pt.sigma, pt.mass);
    let [s3, c3] = shape3(kappa * sigma);
    let e = epsilon + 1.0;
    let sg3 = sigma * sigma * sigma;
    let (d, dk, de, dg) = (pt.d, pt.dk, pt.de, pt.dg);
    let (dkk, dke, dkg) = (pt.dkk, pt.dke, pt.dkg);
    let dkkk = strained(s3, c3, e, gamma, sg3 * sigma);
    let dkke = [pt.s2 * sg3, pt.c2 * sg3];
    let dkkg = [-pt.c2 * sg3, pt.s2 * sg3];
    let (rate, strain_bias) = (pt.rate, pt.strain_bias);
    // The rates of d's strain derivatives.
    let rate_k = add(add(sc(dkk, kd), sc(dke, ed)), sc(dkg, gd));
    let (rate_e, rate_g) = (sc(dke, kd), sc(dkg, kd));
    let w2 = w * w;
    let bias = add(add(sc(d, -w2), sc(perp(rate), 2.0 * w)), strain_bias);
    let jac = [ex, perp(d), dk, de, dg];
    let acc = (0..NQ).fold(bias, |acc, b| add(acc, sc(jac[b], a[b])));
    let wg = add(acc, sc(ez, GRAVITY));
    let a_theta = a[1];
    let strain_a = add(add(sc(dk, a[2]), sc(de, a[3])), sc(dg, a[4]));
    // sum_c r_cl a_c + sum_cd r_cdl q'_c q'_d, l = theta, kappa, epsilon, gamma.
    let x = [
        add(
            add(sc(d, -a_theta), perp(strain_a)),
            add(perp(add(sc(d, -w2), strain_bias)), sc(rate, -2.0 * w)),
        ),
        add(
            add(
                add(sc(perp(dk), a_theta), sc(dkk, a[2])),
                add(sc(dke, a[3]), sc(dkg, a[4])),
            ),
            add(
                add(sc(dk, -w2), sc(perp(rate_k), 2.0 * w)),
                add(
                    sc(dkkk, kd * kd),
                    sc(add(sc(dkke, ed), sc(dkkg, gd)), 2.0 * kd),
                ),
            ),
        ),
        add(
            add(sc(perp(de), a_theta), sc(dke, a[2])),
            add(
                add(sc(de, -w2), sc(perp(rate_e), 2.0 * w)),
                sc(dkke, kd * kd),
            ),
        ),
        add(
            add(sc(perp(dg), a_theta), sc(dkg, a[2])),
            add(
                add(sc(dg, -w2), sc(perp(rate_g), 2.0 * w)),
                sc(dkkg, kd * kd),
            ),
        ),
    ];
    // 2 sum_c r_cl q'_c.
    let y = [
        sc(add(sc(d, -w), perp(rate)), 2.0),
        sc(add(sc(perp(dk), w), rate_k), 2.0),
        sc(add(sc(perp(de), w), rate_e), 2.0),
        sc(add(sc(perp(dg), w), rate_g), 2.0),
    ];
    // r_bl . w for b, l in theta..gamma (symmetric; zero in epsilon and
    // gamma alone: d is linear in them).
    let (pk, pe, pg) = (dot(perp(dk), wg), dot(perp(de), wg), dot(perp(dg), wg));
    let (kk, ke, kg) = (dot(dkk, wg), dot(dke, wg), dot(dkg, wg));
    let z = [
        [-dot(d, wg), pk, pe, pg],
        [pk, kk, ke, kg],
        [pe, ke, 0.0, 0.0],
        [pg, kg, 0.0, 0.0],
    ];
    for b in 0..NQ {
        for l in 1..NQ {
            let curvature = if b == 0 { 0.0 } else { z[b - 1][l - 1] };
            dq[b][l] += m * (curvature + dot(jac[b], x[l - 1]));
            dqd[b][l] += m * dot(jac[b], y[l - 1]);
        }
    }
}

/// The 1-segment link's `q''` under the cart force `force` with its exact
/// Jacobians, in closed form (module docs). The value is
/// [`super::acceleration`]'s bit for bit (the same f64 assembly and
/// factor); the Jacobians agree with [`super::acceleration_tangent_by_duals`]
/// to round-off. Returns `(a, da/dq, da/dq', da/dF)`.
#[allow(clippy::type_complexity)]
pub fn acceleration_tangent(
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
    let pts = points(p, q, qd);
    let axes = world_axes(q[1]);
    let assembled = assemble_points(p, qd, axes, &pts);
    let mut rhs = elastic_forces(p, retardation_secs, q, qd) - assembled.bias;
    rhs[0] += force;
    let factor = cholesky(assembled.mass);
    let a = substitute(&factor, rhs);
    let (mut dq, mut dqd) = ([[0.0; NQ]; NQ], [[0.0; NQ]; NQ]);
    for pt in &pts {
        add_point(q, qd, &a, axes, pt, &mut dq, &mut dqd);
    }
    let l = p.link_length_m;
    let stiffness = [
        p.bending_stiffness_n_m2,
        p.axial_stiffness_n,
        p.shear_stiffness_n,
    ];
    let mut d_q = SMatrix::<f64, NQ, NQ>::zeros();
    let mut d_qd = SMatrix::<f64, NQ, NQ>::zeros();
    for k in 1..NQ {
        // The elastic forces are diagonal: -k l q_k - k l tau q'_k.
        let elastic = if k >= 2 { stiffness[k - 2] * l } else { 0.0 };
        let mut by_q = SVector::<f64, NQ>::from_fn(|i, _| -dq[i][k]);
        by_q[k] -= elastic;
        d_q.set_column(k, &substitute(&factor, by_q));
        let mut by_qd = SVector::<f64, NQ>::from_fn(|i, _| -dqd[i][k]);
        by_qd[k] -= elastic * retardation_secs;
        d_qd.set_column(k, &substitute(&factor, by_qd));
    }
    let mut e0 = SVector::<f64, NQ>::zeros();
    e0[0] = 1.0;
    (a, d_q, d_qd, substitute(&factor, e0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::robots::soft_link::{acceleration_tangent_by_duals, shape};

    /// The third derivatives: series and closed forms meet, and they are
    /// the second derivatives' differences.
    #[test]
    fn third_derivatives_of_the_shape_functions() {
        for a in [-0.1f64, 0.1, 0.099, -0.101, 0.0999999] {
            let lo = shape3(a * (1.0 - 1e-9));
            let hi = shape3(a * (1.0 + 1e-9));
            for i in 0..2 {
                assert!((lo[i] - hi[i]).abs() < 1e-9, "a = {a}: {lo:?} vs {hi:?}");
            }
        }
        for a in [0.05f64, -0.08, 0.3, -1.2, 2.5] {
            let h = 1e-6;
            let (fp, fm) = (shape(a + h), shape(a - h));
            let third = shape3(a);
            for i in 0..2 {
                let fd = (fp[4 + i] - fm[4 + i]) / (2.0 * h);
                assert!(
                    (fd - third[i]).abs() < 1e-8,
                    "a = {a}, {i}: {fd} vs {}",
                    third[i]
                );
            }
        }
    }

    /// Against the dual-number tangent at bent, stretched, sheared,
    /// moving states on both sides of the series switch: the same value
    /// bit for bit, the Jacobians to round-off.
    #[test]
    fn closed_form_matches_duals() {
        let p = SoftCartPoleParams::default();
        let states: [[f64; 10]; 5] = [
            [0.3, 0.6, 0.8, 0.02, -0.03, 0.3, -1.0, 2.0, 0.5, 0.1],
            [-1.0, 2.9, -3.0, -0.1, 0.2, -2.0, 8.0, -20.0, 1.0, -3.0],
            [0.0, 0.1, 0.05, 0.0, 0.0, 0.0, 1.0, 0.3, -0.2, 0.4],
            [0.5, -1.5, 0.0, 0.0, 0.0, 1.0, -3.0, 0.0, 0.0, 0.0],
            [1.5, 3.1, 12.0, 0.08, 0.15, 0.7, 15.0, -12.0, -1.0, 3.0],
        ];
        for (n, x) in states.iter().enumerate() {
            let q = SVector::<f64, NQ>::from_fn(|i, _| x[i]);
            let qd = SVector::<f64, NQ>::from_fn(|i, _| x[NQ + i]);
            let force = 13.0 - 9.0 * n as f64;
            let ours = acceleration_tangent(&p, p.retardation_time_secs, &q, &qd, force);
            let duals = acceleration_tangent_by_duals::<NQ, { NQ - 1 }>(
                &p,
                p.retardation_time_secs,
                &q,
                &qd,
                force,
            );
            for i in 0..NQ {
                assert_eq!(
                    ours.0[i].to_bits(),
                    duals.0[i].to_bits(),
                    "state {n}: a[{i}]"
                );
                for j in 0..NQ {
                    for (what, u, v) in [("q", &ours.1, &duals.1), ("q'", &ours.2, &duals.2)] {
                        let e = (u[(i, j)] - v[(i, j)]).abs() / v[(i, j)].abs().max(1.0);
                        assert!(
                            e < 1e-11,
                            "state {n}: da{i}/d{what}{j} {} vs {}",
                            u[(i, j)],
                            v[(i, j)]
                        );
                    }
                }
                assert_eq!(ours.3[i], duals.3[i], "state {n}: da{i}/dF");
            }
        }
    }
}
