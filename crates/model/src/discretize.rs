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
    /// stage's `dk = (df/dx) dx_stage (+ df/du)`, the step's value the
    /// `f64` step's bit for bit. `None` when the model gives no tangent,
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
        let held_first = model.held_tangent(x, u);
        if held_first.is_none() && model.held(x, u).is_some() {
            return None;
        }
        if model.discrete_period_secs().is_some() {
            // The map's own Jacobians (it does not project: see
            // `Dynamics::derivative_tangent`), plus a held term's.
            let mut t = first.take()?;
            if let Some(h) = held_first {
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
        let mut dx = SMatrix::<f64, NX, NX>::identity();
        let mut du = SMatrix::<f64, NX, NU>::zeros();
        let mut held_first = held_first;
        for step in 0..self.substeps {
            let held = match held_first.take() {
                Some(t) => Some(t),
                None if step > 0 => model.held_tangent(&x, u),
                None => None,
            };
            // The held term's derivative with respect to the step's (x, u).
            let held = held.map(|t| (t.value, t.d_x * dx, t.d_x * du + t.d_u));
            let stage =
                |t: Tangent<NX, NU>, sx: &SMatrix<f64, NX, NX>, su: &SMatrix<f64, NX, NU>| {
                    let mut k = t.value;
                    let mut kx = t.d_x * sx;
                    let mut ku = t.d_x * su + t.d_u;
                    if let Some((value, hx, hu)) = &held {
                        k += value;
                        kx += hx;
                        ku += hu;
                    }
                    (k, kx, ku)
                };
            let tangent = |at: &SVector<f64, NX>| model.derivative_tangent(at, u);
            let t1 = match first.take() {
                Some(t) => t,
                None => tangent(&x)?,
            };
            let (k1, k1x, k1u) = stage(t1, &dx, &du);
            let (x2, x2x, x2u) = (x + k1 * half, dx + k1x * half, du + k1u * half);
            let (k2, k2x, k2u) = stage(tangent(&x2)?, &x2x, &x2u);
            let (x3, x3x, x3u) = (x + k2 * half, dx + k2x * half, du + k2u * half);
            let (k3, k3x, k3u) = stage(tangent(&x3)?, &x3x, &x3u);
            let (x4, x4x, x4u) = (x + k3 * full, dx + k3x * full, du + k3u * full);
            let (k4, k4x, k4u) = stage(tangent(&x4)?, &x4x, &x4u);
            x += (k1 + (k2 + k3) * two + k4) * sixth;
            dx += (k1x + (k2x + k3x) * two + k4x) * sixth;
            du += (k1u + (k2u + k3u) * two + k4u) * sixth;
        }
        Some(Linearization {
            x_next: x,
            a: dx,
            b: du,
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
