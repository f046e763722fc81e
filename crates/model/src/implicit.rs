//! The implicit midpoint rule: one A-stable step per interval where RK4
//! needs several for a stiff model (the soft link's 195 rad/s mode), and
//! one exact Jacobian at the converged midpoint instead of four per RK4
//! substep (docs/soft-robots.md, "Step time").

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use nalgebra::{SMatrix, SVector};
use num_dual::DualSVec64;

use crate::discretize::{derivatives, seeded};
use crate::{Dynamics, Linearization, Rk4, Tangent};

/// `y = x + h (f((x + y) / 2, u) + g(x, u))`, solved by Newton on `f64`
/// (`g` a term the model holds over the step, [`Dynamics::held`]).
#[derive(Debug)]
pub struct ImplicitMidpoint {
    /// Length of the step, s.
    pub dt_secs: f64,
    /// Newton iterations allowed per step (each one `f64` derivative).
    pub max_iterations: usize,
    /// Converged when `|r|_inf <= tolerance (1 + |y|_inf)`, `r` the
    /// rule's residual above.
    pub tolerance: f64,
    stats: Counters,
}

/// Why a step has no solution: the caller gets non-finite values instead
/// (an MPC then falls back, counted), and [`NewtonStats::failures`] counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewtonFailure {
    /// The residual was still above tolerance after the allowed iterations.
    NotConverged,
    /// A non-finite derivative, or a singular Newton matrix.
    Breakdown,
}

/// Newton's counts since the integrator was built (or cloned).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct NewtonStats {
    /// Steps taken (values only or with Jacobians).
    pub steps: u64,
    /// Newton iterations over all steps (the predictor included).
    pub iterations: u64,
    /// Times the Newton matrix was refreshed at a new midpoint because
    /// the simplified iteration contracted too slowly.
    pub refreshes: u64,
    /// Steps without a solution ([`NewtonFailure`]).
    pub failures: u64,
}

/// Lock-free counters so that `&self` steps can count (no allocation).
#[derive(Debug, Default)]
struct Counters {
    steps: AtomicU64,
    iterations: AtomicU64,
    refreshes: AtomicU64,
    failures: AtomicU64,
}

/// Contraction above which the simplified iteration refreshes its matrix.
const SLOW: f64 = 0.5;

impl ImplicitMidpoint {
    pub const DEFAULT_MAX_ITERATIONS: usize = 30;
    pub const DEFAULT_TOLERANCE: f64 = 1e-11;

    pub fn new(dt_secs: f64) -> Self {
        Self {
            dt_secs,
            max_iterations: Self::DEFAULT_MAX_ITERATIONS,
            tolerance: Self::DEFAULT_TOLERANCE,
            stats: Counters::default(),
        }
    }

    pub fn stats(&self) -> NewtonStats {
        NewtonStats {
            steps: self.stats.steps.load(Relaxed),
            iterations: self.stats.iterations.load(Relaxed),
            refreshes: self.stats.refreshes.load(Relaxed),
            failures: self.stats.failures.load(Relaxed),
        }
    }

    /// The next state; non-finite when Newton fails (see [`Self::solve`]).
    pub fn step<D, const NX: usize, const NU: usize>(
        &self,
        model: &D,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
    ) -> SVector<f64, NX>
    where
        D: Dynamics<NX, NU>,
    {
        if model.discrete_period_secs().is_some() {
            return Rk4::new(self.dt_secs, 1).step(model, x, u);
        }
        let held = model.held(x, u).unwrap_or_else(SVector::zeros);
        match self.newton(model, x, u, &held) {
            Ok((y, _)) => y,
            Err(_) => SVector::from_element(f64::NAN),
        }
    }

    /// The step and its exact Jacobians; all non-finite when Newton fails
    /// (see [`Self::solve`]). No heap allocation.
    pub fn linearize<D, const NX: usize, const NU: usize>(
        &self,
        model: &D,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
    ) -> Linearization<NX, NU>
    where
        D: Dynamics<NX, NU>,
    {
        self.solve(model, x, u).unwrap_or(Linearization {
            x_next: SVector::from_element(f64::NAN),
            a: SMatrix::from_element(f64::NAN),
            b: SMatrix::from_element(f64::NAN),
        })
    }

    /// The step and its Jacobians by the implicit function theorem at the
    /// converged `y`, with `J = df/dx` at the midpoint `m`:
    /// `(I - h/2 J) dy/dx = I + h/2 J + h dg/dx` and
    /// `(I - h/2 J) dy/du = h (df/du + dg/du)`. Exact up to Newton's
    /// tolerance (the Jacobian is of the root itself).
    pub fn solve<D, const NX: usize, const NU: usize>(
        &self,
        model: &D,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
    ) -> Result<Linearization<NX, NU>, NewtonFailure>
    where
        D: Dynamics<NX, NU>,
    {
        if model.discrete_period_secs().is_some() {
            return Ok(Rk4::new(self.dt_secs, 1).linearize(model, x, u));
        }
        // The held term's value only when it has no tangent (a learned
        // residual would otherwise be evaluated twice per interval).
        let held = match model.held_tangent(x, u) {
            Some(t) => t,
            None => match model.held(x, u) {
                None => Tangent::zeros(),
                // A held term without its tangent: differentiate it on duals.
                Some(value) => held_by_duals(model, x, u, value),
            },
        };
        let (y, t) = self.newton(model, x, u, &held.value)?;
        let h = self.dt_secs;
        let identity = SMatrix::<f64, NX, NX>::identity();
        let lu = NewtonMatrix::new(&t.d_x, 0.5 * h);
        let rhs_x = identity + t.d_x * (0.5 * h) + held.d_x * h;
        let rhs_u = (t.d_u + held.d_u) * h;
        let (Some(a), Some(b)) = (lu.solve(&rhs_x), lu.solve(&rhs_u)) else {
            return Err(self.fail(NewtonFailure::Breakdown));
        };
        Ok(Linearization { x_next: y, a, b })
    }

    /// Simplified Newton from the linearly implicit predictor (the matrix
    /// `I - h/2 J` at `x`, refreshed at the current midpoint when the
    /// iteration contracts slower than [`SLOW`]), then the tangent at the
    /// converged midpoint. (`J` by forward differences of the f64
    /// derivative instead of the tangent was tried: 1.1-1.2x slower on the
    /// soft cart-pole, docs/performance.md.)
    fn newton<D, const NX: usize, const NU: usize>(
        &self,
        model: &D,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
        held: &SVector<f64, NX>,
    ) -> Result<(SVector<f64, NX>, Tangent<NX, NU>), NewtonFailure>
    where
        D: Dynamics<NX, NU>,
    {
        self.stats.steps.fetch_add(1, Relaxed);
        let h = self.dt_secs;
        let start = tangent(model, x, u);
        let mut lu = NewtonMatrix::new(&start.d_x, 0.5 * h);
        let Some(predicted) = lu.solve(&((start.value + held) * h)) else {
            return Err(self.fail(NewtonFailure::Breakdown));
        };
        let mut y = x + predicted;
        let mut iterations = 1;
        let mut previous = f64::INFINITY;
        loop {
            let mid = (x + y) * 0.5;
            let r = y - x - (model.derivative(&mid, u) + held) * h;
            let size = r.amax();
            if !size.is_finite() {
                self.count(iterations);
                return Err(self.fail(NewtonFailure::Breakdown));
            }
            if size <= self.tolerance * (1.0 + y.amax()) {
                self.count(iterations);
                return Ok((y, tangent(model, &mid, u)));
            }
            if iterations >= self.max_iterations {
                self.count(iterations);
                return Err(self.fail(NewtonFailure::NotConverged));
            }
            if size > SLOW * previous {
                let t = tangent(model, &mid, u);
                lu = NewtonMatrix::new(&t.d_x, 0.5 * h);
                self.stats.refreshes.fetch_add(1, Relaxed);
            }
            previous = size;
            let Some(dy) = lu.solve(&r) else {
                self.count(iterations);
                return Err(self.fail(NewtonFailure::Breakdown));
            };
            y -= dy;
            iterations += 1;
        }
    }

    fn count(&self, iterations: usize) {
        self.stats.iterations.fetch_add(iterations as u64, Relaxed);
    }

    fn fail(&self, failure: NewtonFailure) -> NewtonFailure {
        self.stats.failures.fetch_add(1, Relaxed);
        failure
    }
}

/// Settings only: a copy starts its own counts.
impl Clone for ImplicitMidpoint {
    fn clone(&self) -> Self {
        Self {
            dt_secs: self.dt_secs,
            max_iterations: self.max_iterations,
            tolerance: self.tolerance,
            stats: Counters::default(),
        }
    }
}

/// Settings only: the counts are not part of what the step computes.
impl PartialEq for ImplicitMidpoint {
    fn eq(&self, other: &Self) -> bool {
        self.dt_secs == other.dt_secs
            && self.max_iterations == other.max_iterations
            && self.tolerance == other.tolerance
    }
}

/// `f` and its Jacobians: the model's own tangent, or duals.
fn tangent<D, const NX: usize, const NU: usize>(
    model: &D,
    x: &SVector<f64, NX>,
    u: &SVector<f64, NU>,
) -> Tangent<NX, NU>
where
    D: Dynamics<NX, NU>,
{
    if let Some(t) = model.derivative_tangent(x, u) {
        return t;
    }
    let fx = model.derivative::<DualSVec64<NX>>(&seeded(x), &u.map(DualSVec64::from_re));
    let fu = model.derivative::<DualSVec64<NU>>(&x.map(DualSVec64::from_re), &seeded(u));
    Tangent {
        value: fx.map(|v| v.re),
        d_x: derivatives(&fx),
        d_u: derivatives(&fu),
    }
}

fn held_by_duals<D, const NX: usize, const NU: usize>(
    model: &D,
    x: &SVector<f64, NX>,
    u: &SVector<f64, NU>,
    value: SVector<f64, NX>,
) -> Tangent<NX, NU>
where
    D: Dynamics<NX, NU>,
{
    let gx = model.held::<DualSVec64<NX>>(&seeded(x), &u.map(DualSVec64::from_re));
    let gu = model.held::<DualSVec64<NU>>(&x.map(DualSVec64::from_re), &seeded(u));
    Tangent {
        value,
        d_x: gx.as_ref().map(derivatives).unwrap_or_else(SMatrix::zeros),
        d_u: gu.as_ref().map(derivatives).unwrap_or_else(SMatrix::zeros),
    }
}

/// `I - c J` factored, `c = h/2`, for the Newton iterations and the
/// implicit function theorem. For a second-order model (`x = (q, q')` with
/// `f = (q', a)`: the top half of `J` is exactly `[0 I]`) the system
/// `[[I, -c I], [-c A_q, I - c A_v]] z = r` reduces to the velocities,
/// `(I - c A_v - c^2 A_q) z_v = r_v + c A_q r_q` and `z_q = r_q + c z_v`:
/// an LU of half the size (an eighth of the work) and half-size
/// substitutions. Any other model factors the whole matrix.
struct NewtonMatrix<const N: usize> {
    lu: Lu<N>,
    /// `J`, whose `A_q` block the reduced right-hand sides need.
    jacobian: SMatrix<f64, N, N>,
    c: f64,
    reduced: bool,
}

impl<const N: usize> NewtonMatrix<N> {
    fn new(jacobian: &SMatrix<f64, N, N>, c: f64) -> Self {
        let n = N / 2;
        let reduced = N.is_multiple_of(2)
            && (0..n)
                .all(|i| (0..N).all(|j| jacobian[(i, j)] == if j == n + i { 1.0 } else { 0.0 }));
        let lu = if reduced {
            let s = SMatrix::<f64, N, N>::from_fn(|i, j| {
                if i >= n || j >= n {
                    0.0
                } else {
                    let identity = if i == j { 1.0 } else { 0.0 };
                    identity - c * jacobian[(n + i, n + j)] - c * c * jacobian[(n + i, j)]
                }
            });
            Lu::new::<true>(s)
        } else {
            Lu::new::<false>(SMatrix::<f64, N, N>::identity() - jacobian * c)
        };
        Self {
            lu,
            jacobian: *jacobian,
            c,
            reduced,
        }
    }

    /// `(I - c J)^-1 b`, or `None` for a singular matrix or a non-finite
    /// result.
    fn solve<const M: usize>(&self, b: &SMatrix<f64, N, M>) -> Option<SMatrix<f64, N, M>> {
        if self.lu.singular {
            return None;
        }
        let mut x = *b;
        let n = N / 2;
        for col in 0..M {
            let column: &mut [f64; N] = (&mut x.as_mut_slice()[col * N..(col + 1) * N])
                .try_into()
                .ok()?;
            if self.reduced {
                for i in 0..n {
                    let mut aq_rq = 0.0;
                    for j in 0..n {
                        aq_rq += self.jacobian[(n + i, j)] * column[j];
                    }
                    column[n + i] += self.c * aq_rq;
                }
                self.lu.solve_in_place::<true>(column);
                for i in 0..n {
                    column[i] += self.c * column[n + i];
                }
            } else {
                self.lu.solve_in_place::<false>(column);
            }
        }
        x.iter().all(|v| v.is_finite()).then_some(x)
    }
}

/// LU with partial pivoting of a small square matrix or (`HALF`) of its
/// leading `N/2 x N/2` block, on the stack (nalgebra's needs `DimMin`
/// bounds a generic `N` cannot name, and `N / 2` cannot be a type; as a
/// constant inside the functions it still sizes their loops).
struct Lu<const N: usize> {
    lu: SMatrix<f64, N, N>,
    pivots: [usize; N],
    singular: bool,
}

impl<const N: usize> Lu<N> {
    const fn size<const HALF: bool>() -> usize {
        if HALF {
            N / 2
        } else {
            N
        }
    }

    fn new<const HALF: bool>(mut lu: SMatrix<f64, N, N>) -> Self {
        let size = Self::size::<HALF>();
        let mut pivots = [0; N];
        let mut singular = false;
        for k in 0..size {
            let mut p = k;
            for i in k + 1..size {
                if lu[(i, k)].abs() > lu[(p, k)].abs() {
                    p = i;
                }
            }
            pivots[k] = p;
            lu.swap_rows(k, p);
            let pivot = lu[(k, k)];
            if !(pivot.is_finite() && pivot != 0.0) {
                singular = true;
                continue;
            }
            for i in k + 1..size {
                let l = lu[(i, k)] / pivot;
                lu[(i, k)] = l;
                for j in k + 1..size {
                    lu[(i, j)] -= l * lu[(k, j)];
                }
            }
        }
        Self {
            lu,
            pivots,
            singular,
        }
    }

    /// `x <- A^-1 x`, or for `HALF` the same on `x`'s second half (the
    /// velocities of [`NewtonMatrix`]).
    fn solve_in_place<const HALF: bool>(&self, x: &mut [f64; N]) {
        let n = Self::size::<HALF>();
        let o = N - n;
        for k in 0..n {
            x.swap(o + k, o + self.pivots[k]);
        }
        for i in 0..n {
            let mut v = x[o + i];
            for j in 0..i {
                v -= self.lu[(i, j)] * x[o + j];
            }
            x[o + i] = v;
        }
        for i in (0..n).rev() {
            let mut v = x[o + i];
            for j in i + 1..n {
                v -= self.lu[(i, j)] * x[o + j];
            }
            x[o + i] = v / self.lu[(i, i)];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reduced solve is the full one: a second-order Jacobian `[[0,
    /// I], [A_q, A_v]]` against the same matrix with a tiny entry in its
    /// top half (which must take the full factorisation), both checked by
    /// multiplying back.
    #[test]
    fn reduced_and_full_solves_agree() {
        let mut j = SMatrix::<f64, 6, 6>::from_fn(|i, k| {
            ((i * 7 + k * 3) % 11) as f64 * 40.0 - 200.0 + (i == k) as u8 as f64 * 3.0
        });
        for i in 0..3 {
            for k in 0..6 {
                j[(i, k)] = if k == i + 3 { 1.0 } else { 0.0 };
            }
        }
        let c = 0.01;
        let b = SMatrix::<f64, 6, 2>::from_fn(|i, k| (i as f64 + 1.0) * (k as f64 - 0.5));
        let reduced = NewtonMatrix::new(&j, c);
        assert!(reduced.reduced);
        let x = reduced.solve(&b).expect("regular");
        let back = (SMatrix::<f64, 6, 6>::identity() - j * c) * x;
        assert!((back - b).amax() < 1e-12, "{back} vs {b}");
        let mut j_full = j;
        j_full[(0, 1)] = 1e-300;
        let full = NewtonMatrix::new(&j_full, c);
        assert!(!full.reduced);
        let y = full.solve(&b).expect("regular");
        assert!((x - y).amax() < 1e-12 * x.amax(), "{x} vs {y}");
        let singular = NewtonMatrix::new(&(SMatrix::<f64, 6, 6>::identity() / c), c);
        assert!(singular.solve(&b).is_none());
    }
}
