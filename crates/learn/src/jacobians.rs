//! Forward derivatives of the feature list and the output map, written by
//! hand on `f64`.
//!
//! Inference needs `d g / d (x, u)` at every linearisation point. Pushing
//! 13-direction duals through the rotations and the chain rule cost about as
//! much as the nominal model's whole RK4 linearisation. Here each feature's
//! row of derivatives is formed once per evaluation (the rotation's
//! derivative `dR/dq` once, shared by every feature and output that reads
//! the quaternion), the network's rows are combined with them, and the
//! output map adds its own `dR/dq` term: a few dense 17-wide sums instead of
//! a reverse pass per output and feature ([`crate::MlpResidual`]). Every
//! function here is checked against the generic (dual-number) evaluation in
//! the tests below.

use arrayvec::ArrayVec;
use nalgebra::{Matrix3, SVector, Vector3};
use recede_model::Tangent;

use crate::spec::{vec3_at, Block, Feature, Output, ResidualSpec, Rotations};

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

    /// `self += a * other`, on slices (vectorised; nalgebra's `+=` on
    /// these sizes is a strided loop).
    #[inline(always)]
    pub(crate) fn add_scaled(&mut self, a: f64, other: &Self) {
        for (o, v) in self.x.as_mut_slice().iter_mut().zip(other.x.as_slice()) {
            *o += a * v;
        }
        for (o, v) in self.u.as_mut_slice().iter_mut().zip(other.u.as_slice()) {
            *o += a * v;
        }
    }
}

/// How a row of derivatives is stored: every variable ([`Full`], a
/// [`Gradient`]) or only those the residual reads ([`Columns`]). The rows'
/// arithmetic is the same entry by entry in both, so the two give the same
/// bits; the compact one skips the columns that are always zero.
pub(crate) trait Layout<const NX: usize, const NU: usize> {
    type Row: Copy;
    fn zeros(&self) -> Self::Row;
    /// The entry of `d / d x[index]`.
    fn x<'a>(&self, row: &'a mut Self::Row, index: usize) -> &'a mut f64;
    /// The entry of `d / d u[index]`.
    fn u<'a>(&self, row: &'a mut Self::Row, index: usize) -> &'a mut f64;
    /// `row += a * other`.
    fn add_scaled(&self, row: &mut Self::Row, a: f64, other: &Self::Row);
    /// Adds `row` into state `index`'s row of a tangent's `d_x` and `d_u`.
    fn add_into(&self, row: &Self::Row, index: usize, t: &mut Tangent<NX, NU>);
}

/// Rows over all `NX + NU` variables.
pub(crate) struct Full;

impl<const NX: usize, const NU: usize> Layout<NX, NU> for Full {
    type Row = Gradient<NX, NU>;
    #[inline(always)]
    fn zeros(&self) -> Self::Row {
        Gradient::zeros()
    }
    #[inline(always)]
    fn x<'a>(&self, row: &'a mut Self::Row, index: usize) -> &'a mut f64 {
        &mut row.x[index]
    }
    #[inline(always)]
    fn u<'a>(&self, row: &'a mut Self::Row, index: usize) -> &'a mut f64 {
        &mut row.u[index]
    }
    #[inline(always)]
    fn add_scaled(&self, row: &mut Self::Row, a: f64, other: &Self::Row) {
        row.add_scaled(a, other);
    }
    #[inline(always)]
    fn add_into(&self, row: &Self::Row, index: usize, t: &mut Tangent<NX, NU>) {
        for j in 0..NX {
            t.d_x[(index, j)] += row.x[j];
        }
        for j in 0..NU {
            t.d_u[(index, j)] += row.u[j];
        }
    }
}

/// Most variables a compact row holds (P2's drag model reads 7 of 17):
/// rows of a fixed 9 entries are summed unrolled, in registers.
pub(crate) const MAX_ACTIVE: usize = 8;

/// A compact row: the read variables' entries in `..n`, and one last entry
/// that takes writes to a variable the residual does not read (none by
/// construction; it keeps indexing free of panics).
pub(crate) type CompactRow = [f64; MAX_ACTIVE + 1];

/// The variables the residual's features and outputs read, found once at
/// load: rows over these alone.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Columns {
    /// Read variables in increasing order: `x[j]` is `j`, `u[k]` is `nx + k`.
    pub(crate) vars: ArrayVec<usize, MAX_ACTIVE>,
    /// Each variable's entry in a compact row (`MAX_ACTIVE` if unread).
    slot: Vec<usize>,
    nx: usize,
}

impl Columns {
    /// `None` when the residual reads more than [`MAX_ACTIVE`] variables
    /// (it then runs on [`Full`] rows).
    pub(crate) fn of(spec: &ResidualSpec, nx: usize, nu: usize) -> Option<Self> {
        let mut read = vec![false; nx + nu];
        let mut mark = |from: usize, n: usize| read[from..from + n].fill(true);
        for feature in &spec.features {
            for (block, start, len, _) in feature.reads(nu) {
                let offset = match block {
                    Block::State => 0,
                    Block::Input => nx,
                };
                mark(offset + start, len);
            }
        }
        for output in &spec.outputs {
            if let Output::WorldFromBody { quat_start, .. } = *output {
                mark(quat_start, 4);
            }
        }
        let mut vars = ArrayVec::new();
        let mut slot = vec![MAX_ACTIVE; nx + nu];
        for (v, _) in read.iter().enumerate().filter(|(_, &r)| r) {
            slot[v] = vars.len();
            vars.try_push(v).ok()?;
        }
        Some(Self { vars, slot, nx })
    }
}

impl<const NX: usize, const NU: usize> Layout<NX, NU> for Columns {
    type Row = CompactRow;
    #[inline(always)]
    fn zeros(&self) -> Self::Row {
        [0.0; MAX_ACTIVE + 1]
    }
    #[inline(always)]
    fn x<'a>(&self, row: &'a mut Self::Row, index: usize) -> &'a mut f64 {
        let at = self.slot.get(index).copied().unwrap_or(MAX_ACTIVE);
        &mut row[at.min(MAX_ACTIVE)]
    }
    #[inline(always)]
    fn u<'a>(&self, row: &'a mut Self::Row, index: usize) -> &'a mut f64 {
        let at = self
            .slot
            .get(self.nx + index)
            .copied()
            .unwrap_or(MAX_ACTIVE);
        &mut row[at.min(MAX_ACTIVE)]
    }
    #[inline(always)]
    fn add_scaled(&self, row: &mut Self::Row, a: f64, other: &Self::Row) {
        // The whole fixed row (the entries past `n` stay zero): unrolled.
        for (o, v) in row.iter_mut().zip(other) {
            *o += a * v;
        }
    }
    #[inline(always)]
    fn add_into(&self, row: &Self::Row, index: usize, t: &mut Tangent<NX, NU>) {
        for (&v, &d) in self.vars.iter().zip(row.iter()) {
            if v < NX {
                t.d_x[(index, v)] += d;
            } else {
                t.d_u[(index, v - NX)] += d;
            }
        }
    }
}

/// `dR/dq_l` for `q = [w, x, y, z]`, `l = 0..4`, of the rotation of
/// [`crate::rotation`] (quadratic in `q`; no unit norm assumed), cached per
/// quaternion like [`Rotations`].
/// Empty until asked (no 288 bytes of zeros for a residual without a
/// quaternion).
pub(crate) struct RotationDerivatives {
    cache: Option<(usize, [Matrix3<f64>; 4])>,
}

impl RotationDerivatives {
    pub(crate) fn new() -> Self {
        Self { cache: None }
    }

    #[inline]
    pub(crate) fn of<const NX: usize>(
        &mut self,
        x: &SVector<f64, NX>,
        quat_start: usize,
    ) -> &[Matrix3<f64>; 4] {
        if self.cache.is_some_and(|(q, _)| q != quat_start) {
            self.cache = None;
        }
        &self
            .cache
            .get_or_insert_with(|| (quat_start, rotation_derivative(x, quat_start)))
            .1
    }
}

#[inline]
fn rotation_derivative<const NX: usize>(x: &SVector<f64, NX>, at: usize) -> [Matrix3<f64>; 4] {
    let (w, qx, qy, qz) = (
        2.0 * x[at],
        2.0 * x[at + 1],
        2.0 * x[at + 2],
        2.0 * x[at + 3],
    );
    let (x2, y2, z2) = (2.0 * qx, 2.0 * qy, 2.0 * qz);
    [
        Matrix3::new(0.0, -qz, qy, qz, 0.0, -qx, -qy, qx, 0.0),
        Matrix3::new(0.0, qy, qz, qy, -x2, -w, qz, w, -x2),
        Matrix3::new(-y2, qx, w, qx, 0.0, qz, -w, qz, -y2),
        Matrix3::new(-z2, -w, qx, w, -z2, qy, qx, qy, 0.0),
    ]
}

impl Feature {
    /// `|v_b| v_b`'s three rows when `rows` ends with `v_b`'s own (the
    /// feature before it was [`Feature::BodyVelocity`] of the same
    /// quaternion and velocity): `2|v_b,i|` times them, the rows
    /// [`Self::jacobian`] would form again entry by entry (the same bits),
    /// without the second pass through the rotation's derivative.
    #[inline]
    pub(crate) fn abs_product_rows<const NX: usize, const NU: usize, L: Layout<NX, NU>>(
        &self,
        previous: Option<&Feature>,
        layout: &L,
        x: &SVector<f64, NX>,
        rows: &[L::Row],
        rotations: &mut Rotations<f64>,
    ) -> Option<[L::Row; 3]> {
        let Feature::BodyVelocityAbsProduct {
            quat_start,
            vel_start,
        } = *self
        else {
            return None;
        };
        let same = previous
            == Some(&Feature::BodyVelocity {
                quat_start,
                vel_start,
            });
        let [.., r0, r1, r2] = rows else {
            return None;
        };
        if !same {
            return None;
        }
        let vb = rotations.of(x, quat_start).tr_mul(&vec3_at(x, vel_start));
        Some(abs_product_scaled(layout, &vb, [r0, r1, r2]))
    }

    /// Pushes this entry's rows `d feature / d (x, u)` (one per raw
    /// feature, in order) onto `rows`, laid out by `layout`.
    #[inline]
    pub(crate) fn jacobian<const NX: usize, const NU: usize, L: Layout<NX, NU>>(
        &self,
        layout: &L,
        x: &SVector<f64, NX>,
        rotations: &mut Rotations<f64>,
        derivatives: &mut RotationDerivatives,
        mut push: impl FnMut(L::Row),
    ) {
        let row = || layout.zeros();
        match *self {
            Feature::State { index } => {
                let mut g = row();
                *layout.x(&mut g, index) = 1.0;
                push(g);
            }
            Feature::Input { index } => {
                let mut g = row();
                *layout.u(&mut g, index) = 1.0;
                push(g);
            }
            Feature::Inputs => {
                for j in 0..NU {
                    let mut g = row();
                    *layout.u(&mut g, j) = 1.0;
                    push(g);
                }
            }
            Feature::InputSum => {
                let mut g = row();
                for j in 0..NU {
                    *layout.u(&mut g, j) = 1.0;
                }
                push(g);
            }
            Feature::BodyVelocity {
                quat_start,
                vel_start,
            } => body_velocity_rows(layout, x, (quat_start, vel_start), (rotations, derivatives))
                .into_iter()
                .for_each(push),
            Feature::BodyVelocityAbsProduct {
                quat_start,
                vel_start,
            } => {
                // d(|v| v)/dv = 2|v|.
                let v = vec3_at(x, vel_start);
                let vb = rotations.of(x, quat_start).tr_mul(&v);
                let rows = body_velocity_rows(
                    layout,
                    x,
                    (quat_start, vel_start),
                    (rotations, derivatives),
                );
                if let [r0, r1, r2] = rows.as_slice() {
                    abs_product_scaled(layout, &vb, [r0, r1, r2])
                        .into_iter()
                        .for_each(&mut push);
                }
            }
            Feature::GravityInBody { quat_start } => {
                // gb_i = R_2i.
                let d = derivatives.of(x, quat_start);
                for i in 0..3 {
                    let mut g = row();
                    for (l, dl) in d.iter().enumerate() {
                        *layout.x(&mut g, quat_start + l) = dl[(2, i)];
                    }
                    push(g);
                }
            }
            Feature::SinCos { index } => {
                let (s, c) = x[index].sin_cos();
                let (mut gs, mut gc) = (row(), row());
                *layout.x(&mut gs, index) = c;
                *layout.x(&mut gc, index) = -s;
                push(gs);
                push(gc);
            }
            Feature::SinCosSum { first, second } => {
                let (s, c) = (x[first] + x[second]).sin_cos();
                let (mut gs, mut gc) = (row(), row());
                *layout.x(&mut gs, first) = c;
                *layout.x(&mut gs, second) += c;
                *layout.x(&mut gc, first) = -s;
                *layout.x(&mut gc, second) += -s;
                push(gs);
                push(gc);
            }
        }
    }
}

/// `|v_b| v_b`'s rows from `v_b`'s: `d(|v| v)/dv = 2|v|`, row by row.
#[inline(always)]
fn abs_product_scaled<const NX: usize, const NU: usize, L: Layout<NX, NU>>(
    layout: &L,
    vb: &Vector3<f64>,
    rows: [&L::Row; 3],
) -> [L::Row; 3] {
    let mut out = [layout.zeros(); 3];
    for (i, (o, g)) in out.iter_mut().zip(rows).enumerate() {
        layout.add_scaled(o, 2.0 * vb[i].abs(), g);
    }
    out
}

/// The rows of `v_b = R(q)^T v`: `d v_b,i / d v_m = R_mi` and
/// `d v_b,i / d q_l = sum_m dR_mi/dq_l v_m`, for `(quat_start, vel_start)`.
#[inline(always)]
fn body_velocity_rows<const NX: usize, const NU: usize, L: Layout<NX, NU>>(
    layout: &L,
    x: &SVector<f64, NX>,
    (quat_start, vel_start): (usize, usize),
    (rotations, derivatives): (&mut Rotations<f64>, &mut RotationDerivatives),
) -> ArrayVec<L::Row, 3> {
    let mut rows = ArrayVec::new();
    let (q, v) = (quat_start, vel_start);
    push_body_velocity_rows(layout, x, q, v, rotations, derivatives, &mut rows);
    rows
}

/// [`body_velocity_rows`] pushed onto `rows` and written there in place:
/// a row written entry by entry and then copied is read back by wide loads
/// before its narrow stores have left the store buffer, which stalls.
#[inline]
pub(crate) fn push_body_velocity_rows<const NX: usize, const NU: usize, L, const N: usize>(
    layout: &L,
    x: &SVector<f64, NX>,
    quat_start: usize,
    vel_start: usize,
    rotations: &mut Rotations<f64>,
    derivatives: &mut RotationDerivatives,
    rows: &mut ArrayVec<L::Row, N>,
) where
    L: Layout<NX, NU>,
{
    let v = vec3_at(x, vel_start);
    let r = *rotations.of(x, quat_start);
    let d = derivatives.of(x, quat_start);
    for i in 0..3 {
        let pushed = rows.try_push(layout.zeros());
        debug_assert!(pushed.is_ok(), "at most MAX_WIDTH features");
        if let (Ok(()), Some(g)) = (pushed, rows.last_mut()) {
            body_velocity_row(layout, g, i, &r, d, &v, quat_start, vel_start);
        }
    }
}

/// Row `i` of [`body_velocity_rows`], added into `g`.
#[allow(clippy::too_many_arguments)] // the evaluation's shared state
#[inline(always)]
fn body_velocity_row<const NX: usize, const NU: usize, L: Layout<NX, NU>>(
    layout: &L,
    g: &mut L::Row,
    i: usize,
    r: &Matrix3<f64>,
    d: &[Matrix3<f64>; 4],
    v: &Vector3<f64>,
    quat_start: usize,
    vel_start: usize,
) {
    for m in 0..3 {
        *layout.x(g, vel_start + m) += r[(m, i)];
    }
    for (l, dl) in d.iter().enumerate() {
        *layout.x(g, quat_start + l) += dl.column(i).dot(v);
    }
}

impl Output {
    /// Calls `emit(row, value, gradient)` for each state derivative this
    /// entry adds to: `value` as [`Output::add`] computes it from the network
    /// outputs `values[at..]`, and with `jacobians` (the rows
    /// `d values_o / d (x, u)`), its gradient with respect to `(x, u)`.
    #[allow(clippy::too_many_arguments)] // the evaluation's shared state
    #[inline]
    pub(crate) fn rows<const NX: usize, const NU: usize, L: Layout<NX, NU>>(
        &self,
        layout: &L,
        x: &SVector<f64, NX>,
        values: &[f64],
        at: usize,
        jacobians: Option<&[L::Row]>,
        rotations: &mut Rotations<f64>,
        derivatives: &mut RotationDerivatives,
        mut emit: impl FnMut(usize, f64, Option<&L::Row>),
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
                let Some(j) = jacobians else {
                    for k in 0..3 {
                        emit(start + k, aw[k], None);
                    }
                    return;
                };
                let d = derivatives.of(x, quat_start);
                for k in 0..3 {
                    // d(R a)_k = sum_m R_km d a_m + sum_l (dR/dq_l a)_k dq_l.
                    let mut g = layout.zeros();
                    for m in 0..3 {
                        layout.add_scaled(&mut g, r[(k, m)], &j[at + m]);
                    }
                    for (l, dl) in d.iter().enumerate() {
                        *layout.x(&mut g, quat_start + l) += dl.row(k).transpose().dot(&ab);
                    }
                    emit(start + k, aw[k], Some(&g));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Features;
    use num_dual::{Derivative, DualSVec64};

    type D = DualSVec64<17>;

    fn point() -> (SVector<f64, 13>, SVector<f64, 4>) {
        // A non-unit quaternion: the derivatives must not assume |q| = 1.
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

    fn flat(g: &Gradient<13, 4>) -> SVector<f64, 17> {
        SVector::from_iterator(g.x.iter().chain(g.u.iter()).copied())
    }

    /// `feature`'s rows by [`Feature::jacobian`], over every variable.
    fn full_rows(feature: Feature, x: &SVector<f64, 13>) -> Vec<Gradient<13, 4>> {
        let mut rows = Vec::new();
        feature.jacobian::<13, 4, _>(
            &Full,
            x,
            &mut Rotations::new(),
            &mut RotationDerivatives::new(),
            |g| rows.push(g),
        );
        rows
    }

    #[test]
    fn rotation_derivative_matches_duals() {
        let (x, u) = point();
        let (xd, _) = seeded(&x, &u);
        let r = crate::spec::rotation(&xd, 3);
        let d = *RotationDerivatives::new().of(&x, 3);
        for (l, dl) in d.iter().enumerate() {
            for i in 0..3 {
                for j in 0..3 {
                    assert_eq!(dl[(i, j)], eps(&r[(i, j)])[3 + l], "dR_{i}{j}/dq_{l}");
                }
            }
        }
    }

    #[test]
    fn every_feature_jacobian_matches_duals() {
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
            Feature::SinCosSum {
                first: 10,
                second: 10,
            },
        ];
        for feature in features {
            let mut out = Features::<D>::new();
            feature.eval(&xd, &ud, &mut out, &mut Rotations::new());
            let rows = full_rows(feature, &x);
            assert_eq!(rows.len(), out.len(), "{feature:?}");
            for (f, g) in out.iter().zip(&rows) {
                let (got, expected) = (flat(g), eps(f));
                assert!(
                    (got - expected).amax() < 1e-12,
                    "{feature:?}: {got} vs {expected}"
                );
            }
        }
    }

    /// The rows the evaluation writes in place or shares are those
    /// `Feature::jacobian` forms, bit for bit.
    #[test]
    fn shared_and_in_place_body_velocity_rows_are_the_jacobians() {
        let (x, _) = point();
        let (q, v) = (3, 7);
        let body = Feature::BodyVelocity {
            quat_start: q,
            vel_start: v,
        };
        let abs = Feature::BodyVelocityAbsProduct {
            quat_start: q,
            vel_start: v,
        };
        let rows_of = |f: Feature| full_rows(f, &x);
        let mut in_place = ArrayVec::<Gradient<13, 4>, 8>::new();
        push_body_velocity_rows::<13, 4, _, 8>(
            &Full,
            &x,
            q,
            v,
            &mut Rotations::new(),
            &mut RotationDerivatives::new(),
            &mut in_place,
        );
        assert_eq!(in_place.as_slice(), rows_of(body).as_slice());
        let shared = abs.abs_product_rows::<13, 4, _>(
            Some(&body),
            &Full,
            &x,
            &in_place,
            &mut Rotations::new(),
        );
        assert_eq!(shared.map(Vec::from), Some(rows_of(abs)));
        // Not after another feature, nor after v_b of another velocity.
        let other = Feature::BodyVelocity {
            quat_start: q,
            vel_start: 10,
        };
        for previous in [None, Some(&other), Some(&abs)] {
            let got = abs.abs_product_rows::<13, 4, _>(
                previous,
                &Full,
                &x,
                &in_place,
                &mut Rotations::new(),
            );
            assert!(got.is_none(), "{previous:?}");
        }
    }

    #[test]
    fn every_output_row_matches_duals() {
        let (x, u) = point();
        let (xd, _) = seeded(&x, &u);
        // Network outputs with derivatives of their own (arbitrary rows).
        let values = [0.7, -1.3, 2.1];
        let jacobians: Vec<Gradient<13, 4>> = (0..3)
            .map(|o| Gradient {
                x: SVector::from_fn(|i, _| 0.1 * (i as f64 - 4.0) + o as f64),
                u: SVector::from_fn(|j, _| 0.3 - 0.2 * (j + o) as f64),
            })
            .collect();
        let values_d: Vec<D> = (0..3)
            .map(|o| D::new(values[o], Derivative::some(flat(&jacobians[o]))))
            .collect();
        for output in [
            Output::State { index: 5 },
            Output::Vector3 { start: 7 },
            Output::WorldFromBody {
                quat_start: 3,
                start: 7,
            },
        ] {
            let mut expected = SVector::<D, 13>::from_element(D::from_re(0.0));
            let features: Features<D> = values_d.iter().copied().collect();
            output.add(&xd, &features, 0, &mut expected, &mut Rotations::new());
            let mut got = SVector::<f64, 13>::zeros();
            let mut grads = vec![Gradient::<13, 4>::zeros(); 13];
            output.rows(
                &Full,
                &x,
                &values,
                0,
                Some(&jacobians),
                &mut Rotations::new(),
                &mut RotationDerivatives::new(),
                |i, v, g| {
                    got[i] += v;
                    grads[i] = *g.expect("asked for gradients");
                },
            );
            for i in 0..13 {
                assert_eq!(got[i], expected[i].re, "{output:?} row {i}");
                let gap = (flat(&grads[i]) - eps(&expected[i])).amax();
                assert!(gap < 1e-12, "{output:?} row {i}: gradient differs by {gap}");
            }
        }
    }
}
