use nalgebra::{SMatrix, SVector};
use num_dual::{Derivative, DualSVec64};

use crate::{c, Dynamics, Scalar};

/// Classic 4-stage Runge-Kutta over `dt`, split into `substeps` equal steps,
/// with the model's projection applied after every substep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rk4 {
    /// Length of the whole discrete step, s.
    pub dt_secs: f64,
    /// Number of RK4 steps the interval is split into (>= 1).
    pub substeps: usize,
}

/// The discrete step and its exact Jacobians at one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Linearization<const NX: usize, const NU: usize> {
    /// `F(x, u)`, the state after one discrete step.
    pub x_next: SVector<f64, NX>,
    /// `dF/dx`.
    pub a: SMatrix<f64, NX, NX>,
    /// `dF/du`.
    pub b: SMatrix<f64, NX, NU>,
}

impl Rk4 {
    pub fn new(dt_secs: f64, substeps: usize) -> Self {
        Self {
            dt_secs,
            substeps: substeps.max(1),
        }
    }

    /// One discrete step `x+ = F(x, u)` on any scalar.
    pub fn step<D, T, const NX: usize, const NU: usize>(
        &self,
        model: &D,
        x: &SVector<T, NX>,
        u: &SVector<T, NU>,
    ) -> SVector<T, NX>
    where
        D: Dynamics<NX, NU>,
        T: Scalar,
    {
        self.integrate(model, x, u, None)
    }

    /// [`Self::step`], with the held term of the first substep given (see
    /// [`Dynamics::held_tangent`]) instead of evaluated on `T`.
    fn integrate<D, T, const NX: usize, const NU: usize>(
        &self,
        model: &D,
        x: &SVector<T, NX>,
        u: &SVector<T, NU>,
        mut first_held: Option<SVector<T, NX>>,
    ) -> SVector<T, NX>
    where
        D: Dynamics<NX, NU>,
        T: Scalar,
    {
        if model.discrete_period_secs().is_some() {
            // A discrete-time model is its own step, taken once.
            let mut next = model.derivative(x, u);
            if let Some(held) = first_held.or_else(|| model.held(x, u)) {
                next += held;
            }
            model.project(&mut next);
            return next;
        }
        let h = self.dt_secs / self.substeps as f64;
        let half: T = c(0.5 * h);
        let full: T = c(h);
        let sixth: T = c(h / 6.0);
        let two: T = c(2.0);
        let mut x = *x;
        for _ in 0..self.substeps {
            let held = first_held.take().or_else(|| model.held(&x, u));
            let derivative = |x: &SVector<T, NX>| {
                let mut k = model.derivative(x, u);
                if let Some(held) = &held {
                    k += held;
                }
                k
            };
            let k1 = derivative(&x);
            let k2 = derivative(&(x + k1 * half));
            let k3 = derivative(&(x + k2 * half));
            let k4 = derivative(&(x + k3 * full));
            x += (k1 + (k2 + k3) * two + k4) * sixth;
            model.project(&mut x);
        }
        x
    }

    /// The step and its exact Jacobians. A model that gives its
    /// derivative's Jacobians ([`Dynamics::derivative_tangent`]) has them
    /// carried through the stages by the chain rule; any other is
    /// differentiated on duals ([`Self::linearize_by_duals`]). No heap
    /// allocation.
    pub fn linearize<D, const NX: usize, const NU: usize>(
        &self,
        model: &D,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
    ) -> Linearization<NX, NU>
    where
        D: Dynamics<NX, NU>,
    {
        self.linearize_by_tangents(model, x, u)
            .unwrap_or_else(|| self.linearize_by_duals(model, x, u))
    }

    /// [`Self::linearize`] from the model's derivative tangents: each
    /// stage's `dk = (df/dx) dx_stage (+ df/du)`, then the projection's
    /// Jacobian after each substep ([`Dynamics::project_tangent`]); the
    /// step's value the `f64` step's bit for bit. Only the Jacobians'
    /// entries that are not zero cost work. `None` when the model gives no tangent,
    /// or holds a term without giving its tangent.
    fn linearize_by_tangents<D, const NX: usize, const NU: usize>(
        &self,
        model: &D,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
    ) -> Option<Linearization<NX, NU>>
    where
        D: Dynamics<NX, NU>,
    {
        let mut first = Some(model.derivative_tangent(x, u)?);
        // The held term's tangent, in one buffer for every substep, made
        // on first use (1.9 kB for P2: returned through `Option`s it was
        // copied several times; a model holding nothing never makes it).
        let mut ht = None;
        let holds_first = model.held_tangent_into(x, u, &mut ht);
        if !holds_first && model.held(x, u).is_some() {
            return None;
        }
        if model.discrete_period_secs().is_some() {
            // The map's own Jacobians (it does not project: see
            // `Dynamics::derivative_tangent`), plus a held term's.
            let mut t = first.take()?;
            if let (true, Some(h)) = (holds_first, &ht) {
                t.value += h.value;
                t.d_x += h.d_x;
                t.d_u += h.d_u;
            }
            return Some(Linearization {
                x_next: t.value,
                a: t.d_x,
                b: t.d_u,
            });
        }
        let h = self.dt_secs / self.substeps as f64;
        let (half, full, sixth, two) = (0.5 * h, h, h / 6.0, 2.0);
        let mut x = *x;
        let mut s = Sensitivity::<NX, NU>::identity();
        // The stages' sensitivities and the current stage state's, written
        // in place (no copies of the 13 x 17 blocks).
        let mut ks = [Sensitivity::<NX, NU>::zeros(); 4];
        let mut at = s;
        // The held term's sensitivities after the first substep (made on
        // first use, as its tangent).
        let mut hsc: Option<Sensitivity<NX, NU>> = None;
        for step in 0..self.substeps {
            let holds = if step == 0 {
                holds_first
            } else {
                model.held_tangent_into(&x, u, &mut ht)
            };
            // The held term's derivative with respect to the step's (x, u):
            // at the first substep `s` is the identity, and `J I = J` bit for
            // bit (a zero's sign aside), so the product is skipped. Only the
            // rows the term writes (its non-zero columns here) are added to
            // the stages' sensitivities.
            // At the first substep its sensitivities are the tangent's rows,
            // added straight from it (no 1.9 kB transposed copy).
            let held = match (holds, &ht) {
                (true, Some(t)) if step == 0 => Some((t, None, nonzero_rows(t))),
                (true, Some(t)) => {
                    let hs = hsc.get_or_insert_with(Sensitivity::zeros);
                    hs.set_chained(&s, t);
                    Some((t, Some(&*hs), hs.nonzero_columns()))
                }
                _ => None,
            };
            let mut k = [SVector::<f64, NX>::zeros(); 4];
            for stage in 0..4 {
                let t = match (stage, first.take()) {
                    (0, Some(t)) => t,
                    (0, None) => model.derivative_tangent(&x, u)?,
                    _ => {
                        let c = if stage == 3 { full } else { half };
                        model.derivative_tangent(&(x + k[stage - 1] * c), u)?
                    }
                };
                if step == 0 && stage == 0 {
                    // `J I = J`, the product's result bit for bit.
                    ks[0].set_transposed(&t);
                } else {
                    ks[stage].set_chained(if stage == 0 { &s } else { &at }, &t);
                }
                k[stage] = t.value;
                if let Some((t, hs, columns)) = &held {
                    k[stage] += t.value;
                    match hs {
                        Some(hs) => ks[stage].add_columns(hs, columns),
                        None => ks[stage].add_rows(t, columns),
                    }
                }
                if stage < 3 {
                    let c = if stage == 2 { full } else { half };
                    at.set_plus(&s, c, &ks[stage]);
                }
            }
            x += (k[0] + (k[1] + k[2]) * two + k[3]) * sixth;
            s.add_weighted(sixth, &ks);
            if let Some(p) = model.project_tangent(&x) {
                s = s.left_multiplied(&p);
            }
            model.project(&mut x);
        }
        Some(Linearization {
            x_next: x,
            a: s.x.transpose(),
            b: s.u.transpose(),
        })
    }

    /// The step and its exact Jacobians by forward-mode AD: one pass with
    /// `NX + NU` directions, state and input seeded together
    /// ([`Self::linearize_jointly`]), when `NX + NU <= 6`; else
    /// one pass seeded on the state and one on the input. Either way the
    /// same numbers (each direction's arithmetic is its own). A term the
    /// model holds over the step is evaluated once, with its Jacobians, and
    /// seeds the passes. No heap allocation.
    pub fn linearize_by_duals<D, const NX: usize, const NU: usize>(
        &self,
        model: &D,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
    ) -> Linearization<NX, NU>
    where
        D: Dynamics<NX, NU>,
    {
        // Stable Rust cannot name `DualSVec64<{ NX + NU }>`: the size is
        // picked among constants, a branch that monomorphisation folds
        // (only the matching pass is compiled for each model).
        macro_rules! joint {
            ($($m:literal)*) => {
                $(if NX + NU == $m {
                    return self.linearize_jointly::<D, NX, NU, $m>(model, x, u);
                })*
            };
        }
        // Small models only: the joint pass saves the second pass's values,
        // but wide duals cost more than the two narrower ones (measured on
        // `linearize` alone, fastest of 6 runs under load: cart-pole, 5
        // directions, 0.19 against 0.47 us; diff-drive, 7, even, 0.145
        // against 0.148; quadrotor, 17, 7.3 against 2.1).
        joint!(2 3 4 5 6);
        self.linearize_in_two_passes(model, x, u)
    }

    /// [`Self::linearize_by_duals`] in one pass of `M = NX + NU` directions:
    /// the state's values and the shared arithmetic (a trigonometric
    /// function, a reciprocal) are evaluated once instead of once per pass.
    fn linearize_jointly<D, const NX: usize, const NU: usize, const M: usize>(
        &self,
        model: &D,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
    ) -> Linearization<NX, NU>
    where
        D: Dynamics<NX, NU>,
    {
        debug_assert_eq!(M, NX + NU);
        let held = model.held_tangent(x, u).map(|t| {
            let mut jacobian = SMatrix::<f64, NX, M>::zeros();
            jacobian.fixed_columns_mut::<NX>(0).copy_from(&t.d_x);
            jacobian.fixed_columns_mut::<NU>(NX).copy_from(&t.d_u);
            lifted(&t.value, &jacobian)
        });
        let xd: SVector<DualSVec64<M>, NX> = seeded(x);
        let ud: SVector<DualSVec64<M>, NU> =
            SVector::from_fn(|i, _| DualSVec64::from_re(u[i]).derivative(NX + i));
        let out = self.integrate(model, &xd, &ud, held);
        let d = derivatives(&out);
        Linearization {
            x_next: out.map(|v| v.re),
            a: d.fixed_columns::<NX>(0).into_owned(),
            b: d.fixed_columns::<NU>(NX).into_owned(),
        }
    }

    /// [`Self::linearize_by_duals`] in two passes, `NX` then `NU` directions
    /// (public as the reference the joint pass is tested against).
    pub fn linearize_in_two_passes<D, const NX: usize, const NU: usize>(
        &self,
        model: &D,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
    ) -> Linearization<NX, NU>
    where
        D: Dynamics<NX, NU>,
    {
        let held = model.held_tangent(x, u);

        let xd: SVector<DualSVec64<NX>, NX> = seeded(x);
        let ud: SVector<DualSVec64<NX>, NU> = u.map(DualSVec64::from_re);
        let held_x = held.as_ref().map(|t| lifted(&t.value, &t.d_x));
        let out_x = self.integrate(model, &xd, &ud, held_x);

        let xc: SVector<DualSVec64<NU>, NX> = x.map(DualSVec64::from_re);
        let uc: SVector<DualSVec64<NU>, NU> = seeded(u);
        let held_u = held.as_ref().map(|t| lifted(&t.value, &t.d_u));
        let out_u = self.integrate(model, &xc, &uc, held_u);

        Linearization {
            x_next: out_x.map(|v| v.re),
            a: derivatives(&out_x),
            b: derivatives(&out_u),
        }
    }
}

/// A state's derivatives with respect to the step's `(x, u)`, stored
/// transposed: column `i` holds row `i` of `dx/dx0` (of `dx/du`), so a
/// product with a model's Jacobian is a sum of contiguous columns, one per
/// entry that is not zero.
#[derive(Debug, Clone, Copy)]
struct Sensitivity<const NX: usize, const NU: usize> {
    x: SMatrix<f64, NX, NX>,
    u: SMatrix<f64, NU, NX>,
}

impl<const NX: usize, const NU: usize> Sensitivity<NX, NU> {
    fn identity() -> Self {
        Self {
            x: SMatrix::identity(),
            u: SMatrix::zeros(),
        }
    }

    fn zeros() -> Self {
        Self {
            x: SMatrix::zeros(),
            u: SMatrix::zeros(),
        }
    }

    /// `J S`. The zeros of `J` are skipped; the remaining terms are summed
    /// in the order of the dense product (`k` ascending), so the result is
    /// the dense product's bit for bit (a zero's sign aside).
    fn left_multiplied(&self, j: &SMatrix<f64, NX, NX>) -> Self {
        let mut out = Self::zeros();
        out.accumulate(j, self);
        out
    }

    /// `self += J S`, as [`Self::left_multiplied`].
    #[inline]
    fn accumulate(&mut self, j: &SMatrix<f64, NX, NX>, s: &Self) {
        let (sx, su) = (s.x.as_slice(), s.u.as_slice());
        let (ox, ou) = (self.x.as_mut_slice(), self.u.as_mut_slice());
        // `k` outside: consecutive updates go to different columns, so
        // they do not wait on each other's stores.
        for k in 0..NX {
            let (sxk, suk) = (&sx[k * NX..(k + 1) * NX], &su[k * NU..(k + 1) * NU]);
            for i in 0..NX {
                let jik = j[(i, k)];
                if jik != 0.0 {
                    for (o, v) in ox[i * NX..(i + 1) * NX].iter_mut().zip(sxk) {
                        *o += jik * v;
                    }
                    for (o, v) in ou[i * NU..(i + 1) * NU].iter_mut().zip(suk) {
                        *o += jik * v;
                    }
                }
            }
        }
    }

    /// The derivatives of `g(x, u)` at the state `s` is of: `dg/dx S_x`
    /// and `dg/dx S_u + dg/du`.
    #[inline]
    fn set_chained(&mut self, s: &Self, t: &Tangent<NX, NU>) {
        self.x.as_mut_slice().fill(0.0);
        self.u.as_mut_slice().fill(0.0);
        self.accumulate(&t.d_x, s);
        for i in 0..NX {
            for j in 0..NU {
                self.u[(j, i)] += t.d_u[(i, j)];
            }
        }
    }

    /// `(dg/dx, dg/du)`, the derivatives at the step's start.
    #[inline]
    fn set_transposed(&mut self, t: &Tangent<NX, NU>) {
        self.x = t.d_x.transpose();
        self.u = t.d_u.transpose();
    }

    /// `self = s + other * a`.
    #[inline]
    fn set_plus(&mut self, s: &Self, a: f64, other: &Self) {
        let set = |out: &mut [f64], s: &[f64], other: &[f64]| {
            for ((o, v), w) in out.iter_mut().zip(s).zip(other) {
                *o = v + w * a;
            }
        };
        set(self.x.as_mut_slice(), s.x.as_slice(), other.x.as_slice());
        set(self.u.as_mut_slice(), s.u.as_slice(), other.u.as_slice());
    }

    /// Which columns (rows of the Jacobian) hold a non-zero entry.
    fn nonzero_columns(&self) -> [bool; NX] {
        let (x, u) = (self.x.as_slice(), self.u.as_slice());
        // Without early exits (most columns are zero): vectorised.
        let any = |v: &[f64]| v.iter().fold(false, |a, &v| a | (v != 0.0));
        std::array::from_fn(|i| any(&x[i * NX..(i + 1) * NX]) | any(&u[i * NU..(i + 1) * NU]))
    }

    /// `self += other` over the columns `columns` marks (the others of
    /// `other` are zero: a held residual writes a few state derivatives),
    /// on slices (nalgebra's `+=` on these sizes compiles to a strided loop).
    #[inline]
    fn add_columns(&mut self, other: &Self, columns: &[bool; NX]) {
        let (ox, ou) = (self.x.as_mut_slice(), self.u.as_mut_slice());
        let (vx, vu) = (other.x.as_slice(), other.u.as_slice());
        for (i, _) in columns.iter().enumerate().filter(|(_, &c)| c) {
            for (o, v) in ox[i * NX..(i + 1) * NX].iter_mut().zip(&vx[i * NX..]) {
                *o += v;
            }
            for (o, v) in ou[i * NU..(i + 1) * NU].iter_mut().zip(&vu[i * NU..]) {
                *o += v;
            }
        }
    }

    /// `self += (dg/dx, dg/du)` transposed, over the rows of `t` that
    /// `rows` marks: [`Self::add_columns`] of [`Self::set_transposed`]
    /// without the transposed copy (the same sums).
    #[inline]
    fn add_rows(&mut self, t: &Tangent<NX, NU>, rows: &[bool; NX]) {
        for (i, _) in rows.iter().enumerate().filter(|(_, &r)| r) {
            for j in 0..NX {
                self.x[(j, i)] += t.d_x[(i, j)];
            }
            for j in 0..NU {
                self.u[(j, i)] += t.d_u[(i, j)];
            }
        }
    }

    /// RK4's update, `self += (k1 + (k2 + k3) 2 + k4) sixth`.
    #[inline]
    fn add_weighted(&mut self, sixth: f64, k: &[Self; 4]) {
        let update = |out: &mut [f64], k: [&[f64]; 4]| {
            for (e, o) in out.iter_mut().enumerate() {
                *o += (k[0][e] + (k[1][e] + k[2][e]) * 2.0 + k[3][e]) * sixth;
            }
        };
        update(self.x.as_mut_slice(), k.each_ref().map(|k| k.x.as_slice()));
        update(self.u.as_mut_slice(), k.each_ref().map(|k| k.u.as_slice()));
    }
}

/// Which rows of a tangent's Jacobians hold a non-zero entry (a held
/// residual writes a few state derivatives), without early exits.
fn nonzero_rows<const NX: usize, const NU: usize>(t: &Tangent<NX, NU>) -> [bool; NX] {
    let mut rows = [false; NX];
    for column in t.d_x.column_iter() {
        for (r, &v) in rows.iter_mut().zip(column.iter()) {
            *r |= v != 0.0;
        }
    }
    for column in t.d_u.column_iter() {
        for (r, &v) in rows.iter_mut().zip(column.iter()) {
            *r |= v != 0.0;
        }
    }
    rows
}

/// A function's value and Jacobians at one point, `(g, dg/dx, dg/du)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tangent<const NX: usize, const NU: usize> {
    pub value: SVector<f64, NX>,
    pub d_x: SMatrix<f64, NX, NX>,
    pub d_u: SMatrix<f64, NX, NU>,
}

impl<const NX: usize, const NU: usize> Tangent<NX, NU> {
    pub fn zeros() -> Self {
        Self {
            value: SVector::zeros(),
            d_x: SMatrix::zeros(),
            d_u: SMatrix::zeros(),
        }
    }
}

/// Duals with the given values and derivative rows (rows of zeros stay
/// constants, which keeps their arithmetic cheap).
fn lifted<const NX: usize, const M: usize>(
    value: &SVector<f64, NX>,
    jacobian: &SMatrix<f64, NX, M>,
) -> SVector<DualSVec64<M>, NX> {
    SVector::from_fn(|i, _| {
        let row = jacobian.row(i);
        if row.iter().all(|&d| d == 0.0) {
            DualSVec64::from_re(value[i])
        } else {
            DualSVec64::new(value[i], Derivative::some(row.transpose()))
        }
    })
}

/// Row `i` is the derivative part of `v[i]` (zeros for a constant).
pub(crate) fn derivatives<const N: usize, const M: usize>(
    v: &SVector<DualSVec64<M>, N>,
) -> SMatrix<f64, N, M> {
    let mut d = SMatrix::<f64, N, M>::zeros();
    for i in 0..N {
        if let Some(row) = v[i].eps.0 {
            d.set_row(i, &row.transpose());
        }
    }
    d
}

/// Variables seeded with unit derivatives: entry `i` carries d/dv_i.
pub(crate) fn seeded<const N: usize, const M: usize>(
    v: &SVector<f64, N>,
) -> SVector<DualSVec64<M>, N> {
    SVector::from_fn(|i, _| DualSVec64::from_re(v[i]).derivative(i))
}
