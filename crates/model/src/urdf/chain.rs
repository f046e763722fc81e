//! A serial chain's rigid-body dynamics, generic over the scalar: the
//! bias torques by the recursive Newton-Euler algorithm (gravity as a base
//! acceleration), the mass matrix by the composite-rigid-body algorithm,
//! and `M q'' = tau - bias` solved by an LDL^T factorisation. Everything
//! the joint angles do not change (joint placements, axes, inertias, the
//! payload) is fixed at load; an evaluation works in stack arrays.

use nalgebra::{Matrix3, Vector3};

use crate::{c, Scalar};

/// The most controlled joints a chain may have (`recede_msg::MAX_DIM` is
/// 16 states: 8 joints of an angle and a rate).
pub const MAX_JOINTS: usize = 8;

type V3<T> = [T; 3];

/// One controlled joint and the rigid body it moves (everything attached
/// to its child link by fixed or locked joints, lumped).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChainJoint {
    pub name: String,
    /// The joint frame in the parent body's frame at zero angle.
    pub rotation: Matrix3<f64>,
    pub translation: Vector3<f64>,
    /// Unit axis, joint frame.
    pub axis: Vector3<f64>,
    pub prismatic: bool,
    /// The moved body, in the joint frame: mass, centre of mass, inertia
    /// about the centre of mass.
    pub mass: f64,
    pub com: Vector3<f64>,
    pub inertia: Matrix3<f64>,
    /// Viscous (N m s/rad) and smooth Coulomb (N m) friction.
    pub damping: f64,
    pub friction: f64,
}

/// A serial chain ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chain {
    pub joints: Vec<ChainJoint>,
    /// Gravity's acceleration in the base frame, m/s^2.
    pub gravity: Vector3<f64>,
    /// The end effector (the drawn point) in the last body's frame.
    pub tip_rotation: Matrix3<f64>,
    pub tip_translation: Vector3<f64>,
    /// The rate at which the smooth Coulomb term reaches 71% of its
    /// value (`1 / sqrt(2)`), rad/s.
    pub coulomb_rate: f64,
    /// Scales the URDF's damping and friction (a plant's own values).
    pub friction_scale: f64,
}

#[inline(always)]
fn cross<T: Scalar>(a: &V3<T>, b: &V3<T>) -> V3<T> {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

#[inline(always)]
fn cross_f<T: Scalar>(a: &V3<T>, b: &Vector3<f64>) -> V3<T> {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

#[inline(always)]
fn add<T: Scalar>(a: &V3<T>, b: &V3<T>) -> V3<T> {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

#[inline(always)]
fn dot_f<T: Scalar>(a: &V3<T>, b: &Vector3<f64>) -> T {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

#[inline(always)]
fn scale_f<T: Scalar>(a: &Vector3<f64>, s: T) -> V3<T> {
    [s * a[0], s * a[1], s * a[2]]
}

#[inline(always)]
fn lift<T: Scalar>(a: &Vector3<f64>) -> V3<T> {
    [c(a[0]), c(a[1]), c(a[2])]
}

/// A 3x3 matrix of `T`, row-major.
type M3<T> = [[T; 3]; 3];

#[inline(always)]
fn mul<T: Scalar>(m: &M3<T>, v: &V3<T>) -> V3<T> {
    std::array::from_fn(|r| m[r][0] * v[0] + m[r][1] * v[1] + m[r][2] * v[2])
}

/// `m^T v`.
#[inline(always)]
fn mul_t<T: Scalar>(m: &M3<T>, v: &V3<T>) -> V3<T> {
    std::array::from_fn(|r| m[0][r] * v[0] + m[1][r] * v[1] + m[2][r] * v[2])
}

#[inline(always)]
fn mul_f<T: Scalar>(m: &Matrix3<f64>, v: &V3<T>) -> V3<T> {
    std::array::from_fn(|r| v[0] * m[(r, 0)] + v[1] * m[(r, 1)] + v[2] * m[(r, 2)])
}

/// The joint's motion: the rotation from the parent body's frame into
/// the body's (`E`, row-major) and the body's origin in the parent's frame.
pub(crate) struct Placement<T> {
    pub(crate) e: M3<T>,
    pub(crate) p: V3<T>,
}

impl ChainJoint {
    pub(crate) fn placement<T: Scalar>(&self, q: T) -> Placement<T> {
        let rt = self.rotation.transpose();
        if self.prismatic {
            let e = std::array::from_fn(|r| std::array::from_fn(|k| c(rt[(r, k)])));
            let d = self.rotation * self.axis;
            let p = std::array::from_fn(|k| q * d[k] + self.translation[k]);
            return Placement { e, p };
        }
        // E = Rq^T Rp^T, Rq = c I + s [a]x + (1 - c) a a^T (Rodrigues).
        let (s, co) = q.sin_cos();
        let a = &self.axis;
        let one_c = -co + 1.0;
        let rq_t: M3<T> = std::array::from_fn(|r| {
            std::array::from_fn(|k| {
                let skew = match (r, k) {
                    (0, 1) => a[2],
                    (0, 2) => -a[1],
                    (1, 0) => -a[2],
                    (1, 2) => a[0],
                    (2, 0) => a[1],
                    (2, 1) => -a[0],
                    _ => 0.0,
                };
                let diag = if r == k { co } else { c(0.0) };
                diag + s * skew + one_c * (a[r] * a[k])
            })
        });
        let e = std::array::from_fn(|r| {
            std::array::from_fn(|k| {
                rq_t[r][0] * rt[(0, k)] + rq_t[r][1] * rt[(1, k)] + rq_t[r][2] * rt[(2, k)]
            })
        });
        Placement {
            e,
            p: lift(&self.translation),
        }
    }
}

impl Chain {
    pub fn dof(&self) -> usize {
        self.joints.len()
    }

    /// `x' = [q', q'']` at `x = [q, q']` under joint efforts `u`, into
    /// `xdot`. Allocates nothing.
    pub fn derivative<T: Scalar>(&self, x: &[T], u: &[T], xdot: &mut [T]) {
        let n = self.dof().min(MAX_JOINTS);
        let zero: T = c(0.0);
        let mut place: [Placement<T>; MAX_JOINTS] = std::array::from_fn(|_| Placement {
            e: [[zero; 3]; 3],
            p: [zero; 3],
        });
        for (i, j) in self.joints.iter().take(n).enumerate() {
            place[i] = j.placement(x[i]);
        }
        let qd = &x[n..2 * n];
        let mut rhs = [zero; MAX_JOINTS];
        self.inverse_dynamics(&place[..n], qd, &[], &mut rhs[..n]);
        for i in 0..n {
            let j = &self.joints[i];
            let scale = self.friction_scale;
            let viscous = qd[i] * (j.damping * scale);
            let coulomb = smooth_sign(qd[i] * self.coulomb_rate.recip()) * (j.friction * scale);
            rhs[i] = u[i] - rhs[i] - viscous - coulomb;
        }
        let mut m = [[zero; MAX_JOINTS]; MAX_JOINTS];
        self.mass_matrix(&place[..n], &mut m);
        solve_ldlt(&mut m, &mut rhs, n);
        xdot[..n].copy_from_slice(qd);
        xdot[n..2 * n].copy_from_slice(&rhs[..n]);
    }

    /// Inverse dynamics by RNEA, the base accelerating against gravity:
    /// the efforts that give the joint accelerations `qdd` (a real point;
    /// empty for `q'' = 0`, the Coriolis, centrifugal and gravity torques).
    pub(crate) fn inverse_dynamics<T: Scalar>(
        &self,
        place: &[Placement<T>],
        qd: &[T],
        qdd: &[f64],
        tau: &mut [T],
    ) {
        let n = place.len();
        let zero: T = c(0.0);
        let mut force = [[zero; 3]; MAX_JOINTS];
        let mut moment = [[zero; 3]; MAX_JOINTS];
        let mut w: V3<T> = [zero; 3];
        let mut wd: V3<T> = [zero; 3];
        let mut vd: V3<T> = lift(&-self.gravity);
        for i in 0..n {
            let j = &self.joints[i];
            let pl = &place[i];
            // The parent's origin acceleration carried to this joint's origin.
            let at_origin = add(&add(&vd, &cross(&wd, &pl.p)), &cross(&w, &cross(&w, &pl.p)));
            let w_in = mul(&pl.e, &w);
            let wd_in = mul(&pl.e, &wd);
            vd = mul(&pl.e, &at_origin);
            let rate = scale_f(&j.axis, qd[i]);
            if j.prismatic {
                w = w_in;
                wd = wd_in;
                let coriolis = cross(&w, &rate);
                vd = add(&vd, &add(&coriolis, &coriolis));
                if let Some(&a) = qdd.get(i) {
                    vd = add(&vd, &lift(&(j.axis * a)));
                }
            } else {
                w = add(&w_in, &rate);
                wd = add(&wd_in, &cross(&w_in, &rate));
                if let Some(&a) = qdd.get(i) {
                    wd = add(&wd, &lift(&(j.axis * a)));
                }
            }
            let a_com = add(
                &add(&vd, &cross_f(&wd, &j.com)),
                &cross(&w, &cross_f(&w, &j.com)),
            );
            let f = a_com.map(|v| v * j.mass);
            let iw = mul_f(&j.inertia, &w);
            let n_com = add(&mul_f(&j.inertia, &wd), &cross(&w, &iw));
            force[i] = f;
            // Moment about the body's origin.
            moment[i] = add(&n_com, &cross(&lift(&j.com), &f));
        }
        for i in (0..n).rev() {
            let j = &self.joints[i];
            tau[i] = if j.prismatic {
                dot_f(&force[i], &j.axis)
            } else {
                dot_f(&moment[i], &j.axis)
            };
            if i > 0 {
                let pl = &place[i];
                let f_parent = mul_t(&pl.e, &force[i]);
                let n_parent = add(&mul_t(&pl.e, &moment[i]), &cross(&pl.p, &f_parent));
                force[i - 1] = add(&force[i - 1], &f_parent);
                moment[i - 1] = add(&moment[i - 1], &n_parent);
            }
        }
    }

    /// The joint-space mass matrix by composite rigid bodies, into the
    /// top-left `n x n` of `m`.
    pub(crate) fn mass_matrix<T: Scalar>(
        &self,
        place: &[Placement<T>],
        m: &mut [[T; MAX_JOINTS]; MAX_JOINTS],
    ) {
        let n = place.len();
        let zero: T = c(0.0);
        // Composite of bodies i.. in body i's frame: mass, first moment
        // about the origin, rotational inertia about the origin.
        let mut mass = [zero; MAX_JOINTS];
        let mut first = [[zero; 3]; MAX_JOINTS];
        let mut rot = [[[zero; 3]; 3]; MAX_JOINTS];
        for i in 0..n {
            let j = &self.joints[i];
            mass[i] = c(j.mass);
            first[i] = lift(&(j.com * j.mass));
            let shifted = j.inertia
                + (Matrix3::identity() * j.com.norm_squared() - j.com * j.com.transpose()) * j.mass;
            rot[i] = std::array::from_fn(|r| std::array::from_fn(|k| c(shifted[(r, k)])));
        }
        for i in (1..n).rev() {
            let pl = &place[i];
            // Child -> parent rotation R = E^T; I' = R I R^T - m [p]^2 - [p][Rh] - [Rh][p].
            let h = mul_t(&pl.e, &first[i]);
            // cols[l] = column l of E^T I; R I R^T = (E^T I) E.
            let cols: M3<T> = std::array::from_fn(|l| {
                let col: V3<T> = std::array::from_fn(|k| rot[i][k][l]);
                mul_t(&pl.e, &col)
            });
            let rir: M3<T> = std::array::from_fn(|r| {
                std::array::from_fn(|k| {
                    cols[0][r] * pl.e[0][k] + cols[1][r] * pl.e[1][k] + cols[2][r] * pl.e[2][k]
                })
            });
            let p = pl.p;
            let pp = p[0] * p[0] + p[1] * p[1] + p[2] * p[2];
            let ph = p[0] * h[0] + p[1] * h[1] + p[2] * h[2];
            let mi = mass[i];
            for r in 0..3 {
                for k in 0..3 {
                    let delta = if r == k { c::<T>(1.0) } else { zero };
                    // -[p]^2 = |p|^2 I - p p^T; -([p][h] + [h][p]) = 2 (p.h) I - p h^T - h p^T.
                    let shift = (delta * pp - p[r] * p[k]) * mi + delta * ph * 2.0
                        - p[r] * h[k]
                        - h[r] * p[k];
                    rot[i - 1][r][k] += rir[r][k] + shift;
                }
            }
            let moved = add(&h, &p.map(|v| v * mi));
            first[i - 1] = add(&first[i - 1], &moved);
            mass[i - 1] += mi;
        }
        for col in 0..n {
            let j = &self.joints[col];
            // The composite's spatial force for a unit rate of joint `col`.
            let (mut nn, mut ff) = if j.prismatic {
                (
                    cross_f(&first[col], &j.axis),
                    lift::<T>(&j.axis).map(|v| v * mass[col]),
                )
            } else {
                let a = lift::<T>(&j.axis);
                (mul(&rot[col], &a), cross(&a, &first[col]))
            };
            for row in (0..=col).rev() {
                let jr = &self.joints[row];
                let value = if jr.prismatic {
                    dot_f(&ff, &jr.axis)
                } else {
                    dot_f(&nn, &jr.axis)
                };
                m[row][col] = value;
                m[col][row] = value;
                if row > 0 {
                    let pl = &place[row];
                    let f_parent = mul_t(&pl.e, &ff);
                    nn = add(&mul_t(&pl.e, &nn), &cross(&pl.p, &f_parent));
                    ff = f_parent;
                }
            }
        }
    }

    /// The end effector's position (m) and body-to-world rotation
    /// (row-major) in the base frame at joint positions `q`.
    pub fn tip<T: Scalar>(&self, q: &[T]) -> (V3<T>, M3<T>) {
        let zero: T = c(0.0);
        let one: T = c(1.0);
        let mut position: V3<T> = [zero; 3];
        // World-from-body rotation.
        let mut rotation: M3<T> = [[one, zero, zero], [zero, one, zero], [zero, zero, one]];
        for (j, qi) in self.joints.iter().zip(q) {
            let pl = j.placement(*qi);
            position = add(&position, &mul(&rotation, &pl.p));
            // R_world_body = R_world_parent E^T.
            rotation = std::array::from_fn(|r| {
                std::array::from_fn(|k| {
                    rotation[r][0] * pl.e[k][0]
                        + rotation[r][1] * pl.e[k][1]
                        + rotation[r][2] * pl.e[k][2]
                })
            });
        }
        let tip_p: V3<T> = lift(&self.tip_translation);
        position = add(&position, &mul(&rotation, &tip_p));
        let tr = &self.tip_rotation;
        let rotation = std::array::from_fn(|r| {
            std::array::from_fn(|k| {
                rotation[r][0] * tr[(0, k)]
                    + rotation[r][1] * tr[(1, k)]
                    + rotation[r][2] * tr[(2, k)]
            })
        });
        (position, rotation)
    }

    /// Kinetic plus potential energy at `x = [q, q']`, J (potential zero
    /// at the base's origin).
    pub fn energy(&self, x: &[f64]) -> f64 {
        let n = self.dof().min(MAX_JOINTS);
        let (q, qd) = (&x[..n], &x[n..2 * n]);
        let m = mass_matrix_at(self, q);
        let mut kinetic = 0.0;
        for r in 0..n {
            for k in 0..n {
                kinetic += 0.5 * qd[r] * m[r][k] * qd[k];
            }
        }
        let mut potential = 0.0;
        let mut position = Vector3::zeros();
        let mut rotation = Matrix3::identity();
        for (j, qi) in self.joints.iter().zip(q) {
            let pl = j.placement(*qi);
            let e = Matrix3::from_fn(|r, k| pl.e[r][k]);
            position += rotation * Vector3::from(pl.p);
            rotation *= e.transpose();
            potential -= j.mass * self.gravity.dot(&(position + rotation * j.com));
        }
        kinetic + potential
    }

    /// The mapping of a chain: the tip's position (3), attitude (4,
    /// `[w, x, y, z]`) and position again as the drawn point (3).
    pub fn mapping<T: Scalar>(&self, x: &[T], out: &mut [T]) {
        let n = self.dof().min(MAX_JOINTS);
        let (p, r) = self.tip(&x[..n]);
        let q = quaternion(&r);
        out[..3].copy_from_slice(&p);
        out[3..7].copy_from_slice(&q);
        out[7..10].copy_from_slice(&p);
    }
}

/// A smooth sign, `z / sqrt(1 + z^2)`: the Coulomb term's shape. Not
/// `tanh`: num-dual's tanh of a dual divides sinh by cosh (NaN past
/// |z| = 710, and not the bits of `f64::tanh`), while sqrt and recip give
/// the `f64` evaluation's bits. Held at +-1 past |z| = 1e6 (where it is 1
/// to within 1e-12), so z^2 never overflows.
#[inline(always)]
pub(crate) fn smooth_sign<T: Scalar>(z: T) -> T {
    let re = z.re();
    if re > 1e6 {
        c(1.0)
    } else if re < -1e6 {
        c(-1.0)
    } else {
        z * (z * z + 1.0).sqrt().recip()
    }
}

/// A rotation matrix's unit quaternion `[w, x, y, z]` (Shepperd's method:
/// the branch with the largest pivot, smooth within it).
fn quaternion<T: Scalar>(r: &M3<T>) -> [T; 4] {
    let trace = r[0][0] + r[1][1] + r[2][2];
    let diag = [r[0][0].re(), r[1][1].re(), r[2][2].re()];
    let quarter = |s: T| s.recip() * 0.25;
    if trace.re() >= diag[0].max(diag[1]).max(diag[2]) {
        let s = (trace + 1.0).sqrt() * 2.0;
        let k = quarter(s);
        [
            s * 0.25,
            (r[2][1] - r[1][2]) * k,
            (r[0][2] - r[2][0]) * k,
            (r[1][0] - r[0][1]) * k,
        ]
    } else if diag[0] >= diag[1] && diag[0] >= diag[2] {
        let s = (r[0][0] - r[1][1] - r[2][2] + 1.0).sqrt() * 2.0;
        let k = quarter(s);
        [
            (r[2][1] - r[1][2]) * k,
            s * 0.25,
            (r[0][1] + r[1][0]) * k,
            (r[0][2] + r[2][0]) * k,
        ]
    } else if diag[1] >= diag[2] {
        let s = (r[1][1] - r[0][0] - r[2][2] + 1.0).sqrt() * 2.0;
        let k = quarter(s);
        [
            (r[0][2] - r[2][0]) * k,
            (r[0][1] + r[1][0]) * k,
            s * 0.25,
            (r[1][2] + r[2][1]) * k,
        ]
    } else {
        let s = (r[2][2] - r[0][0] - r[1][1] + 1.0).sqrt() * 2.0;
        let k = quarter(s);
        [
            (r[1][0] - r[0][1]) * k,
            (r[0][2] + r[2][0]) * k,
            (r[1][2] + r[2][1]) * k,
            s * 0.25,
        ]
    }
}

/// Solves `m y = b` in place (`b` becomes `y`) for a symmetric positive
/// definite `m` (its top-left `n x n`), by `L D L^T` without square roots;
/// the loader checks the mass matrix is positive definite.
fn solve_ldlt<T: Scalar>(m: &mut [[T; MAX_JOINTS]; MAX_JOINTS], b: &mut [T; MAX_JOINTS], n: usize) {
    let inv_d = factor_ldlt(m, n);
    solve_factored(m, &inv_d, b, n);
}

/// Factors `m` in place: its lower triangle becomes `L` (unit diagonal),
/// its diagonal `D`; returns `1 / D`.
pub(crate) fn factor_ldlt<T: Scalar>(
    m: &mut [[T; MAX_JOINTS]; MAX_JOINTS],
    n: usize,
) -> [T; MAX_JOINTS] {
    let mut inv_d = [c::<T>(0.0); MAX_JOINTS];
    for j in 0..n {
        let mut d = m[j][j];
        for k in 0..j {
            d -= m[j][k] * m[j][k] * m[k][k];
        }
        m[j][j] = d;
        inv_d[j] = d.recip();
        for i in j + 1..n {
            let mut v = m[i][j];
            for k in 0..j {
                v -= m[i][k] * m[j][k] * m[k][k];
            }
            m[i][j] = v * inv_d[j];
        }
    }
    inv_d
}

/// Solves with a factorisation of [`factor_ldlt`], `b` in place.
pub(crate) fn solve_factored<T: Scalar>(
    m: &[[T; MAX_JOINTS]; MAX_JOINTS],
    inv_d: &[T; MAX_JOINTS],
    b: &mut [T; MAX_JOINTS],
    n: usize,
) {
    for i in 0..n {
        for k in 0..i {
            let l = m[i][k];
            b[i] -= l * b[k];
        }
    }
    for i in 0..n {
        b[i] *= inv_d[i];
    }
    for i in (0..n).rev() {
        for k in i + 1..n {
            let l = m[k][i];
            b[i] -= l * b[k];
        }
    }
}

/// The mass matrix at `q` (f64), for the loader's check.
pub(crate) fn mass_matrix_at(chain: &Chain, q: &[f64]) -> [[f64; MAX_JOINTS]; MAX_JOINTS] {
    let n = chain.dof().min(MAX_JOINTS);
    let mut place: [Placement<f64>; MAX_JOINTS] = std::array::from_fn(|_| Placement {
        e: [[0.0; 3]; 3],
        p: [0.0; 3],
    });
    for (i, j) in chain.joints.iter().take(n).enumerate() {
        place[i] = j.placement(q[i]);
    }
    let mut m = [[0.0; MAX_JOINTS]; MAX_JOINTS];
    chain.mass_matrix(&place[..n], &mut m);
    m
}
