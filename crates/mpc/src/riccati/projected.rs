//! The projected Newton method (Bertsekas 1982) on the box QP, for the
//! solves whose primal-dual rounds cycle: hundreds of saturated inputs
//! (P1's first QPs from the reference guess at long horizons) take a
//! feasible method that switches many bounds per round, where the primal
//! active-set method switches one.
//!
//! Each round, from a feasible iterate `u` and its gradient `g`: the
//! inputs at (or within [`NEAR`] of) a bound that `g` pushes outward are
//! fixed there, the rest are free; one Riccati recursion gives the minimiser `u_N` over the
//! free inputs; the step goes along the projection of `u + t (u_N - u)`
//! onto the boxes, `t` halved from 1 until the decrease is sufficient.
//! The QP is quadratic, so the decrease is computed exactly from the
//! step's own roll-out (no difference of large costs). It stops at a KKT
//! point: every free input's gradient zero to rounding, every fixed one's
//! of the bound's sign. On unstable dynamics the projection (without the
//! recursion's feedback) stalls it; its iterate is still a better start
//! for the primal method than the primal-dual rounds' (P1 at N = 320:
//! the first QP settles in 193 primal rounds from it, not in 400 before).

use nalgebra::SVector;

use super::{Cost, Dynamics, RiccatiBox, RiccatiFailure, TOL};

/// Rounds before the solve turns to the primal active-set method.
const MAX_NEWTON_ROUNDS: u32 = 30;
/// Armijo's fraction of the first-order decrease.
const SUFFICIENT: f64 = 1e-4;
/// Halvings of the step before a round is taken as stuck.
const MAX_HALVINGS: u32 = 40;
/// How near a bound, as a share of the box's width, an input counts as on
/// it (Bertsekas' epsilon-active set, which keeps steps from stalling on
/// inputs just inside their box).
const NEAR: f64 = 1e-3;

impl<const NX: usize, const NU: usize> RiccatiBox<NX, NU> {
    /// From `du` clipped to the boxes, with the soft bounds' sides held.
    /// The rounds taken and whether they settled: then with the solution
    /// in `dx`, `du`, `grad`; else (the rounds ran out, a step found no
    /// decrease, or a recursion failed) with `du` feasible.
    pub(super) fn projected_newton(
        &mut self,
        dynamics: &Dynamics<'_, NX, NU>,
        cost: &Cost<'_, NX, NU>,
        dx0: &SVector<f64, NX>,
    ) -> Result<(u32, bool), RiccatiFailure> {
        let n = self.horizon();
        self.clip_inputs();
        self.feasible_du.copy_from_slice(&self.du);
        for round in 1..=MAX_NEWTON_ROUNDS {
            self.feasible_gradient(dynamics, cost, dx0);
            if !self.fix_outward_bounds() {
                self.du.copy_from_slice(&self.feasible_du);
                self.dx.copy_from_slice(&self.feasible_dx);
                self.grad.copy_from_slice(&self.feasible_grad);
                return Ok((round, true));
            }
            // A recursion that fails here (the fixed set's cost-to-go
            // grown past rounding) leaves the iterate to the primal method.
            if self.backward(dynamics, cost).is_err() || self.forward(dynamics, cost, dx0).is_err()
            {
                self.du.copy_from_slice(&self.feasible_du);
                return Ok((round, false));
            }
            let mut t = 1.0;
            let mut halvings = 0;
            while !self.sufficient_step(dynamics, cost, t) {
                halvings += 1;
                if halvings > MAX_HALVINGS {
                    self.du.copy_from_slice(&self.feasible_du);
                    return Ok((round, false));
                }
                t *= 0.5;
            }
            for k in 0..n {
                self.feasible_du[k] += self.step_du[k];
            }
        }
        self.du.copy_from_slice(&self.feasible_du);
        Ok((MAX_NEWTON_ROUNDS, false))
    }

    /// `feasible_dx` from `dx0` under `feasible_du`, and `feasible_grad`
    /// there.
    pub(super) fn feasible_gradient(
        &mut self,
        dynamics: &Dynamics<'_, NX, NU>,
        cost: &Cost<'_, NX, NU>,
        dx0: &SVector<f64, NX>,
    ) {
        self.roll_out_feasible(dynamics, dx0);
        let mut grad = std::mem::take(&mut self.feasible_grad);
        self.adjoint(
            dynamics,
            cost,
            (&self.feasible_dx, &self.feasible_du),
            &mut grad,
        );
        self.feasible_grad = grad;
    }

    /// `feasible_dx` from `dx0` under `feasible_du`.
    pub(super) fn roll_out_feasible(
        &mut self,
        dynamics: &Dynamics<'_, NX, NU>,
        dx0: &SVector<f64, NX>,
    ) {
        self.feasible_dx[0] = *dx0;
        for k in 0..self.horizon() {
            let (a, b, e) = (&dynamics.a[k], &dynamics.b[k], &dynamics.defect[k]);
            self.feasible_dx[k + 1] = a * self.feasible_dx[k] + b * self.feasible_du[k] + e;
        }
    }

    /// The sides for the next recursion: fixed where the feasible iterate
    /// sits at a bound its gradient pushes past, free elsewhere. False
    /// when the iterate is a KKT point (no free gradient off zero).
    fn fix_outward_bounds(&mut self) -> bool {
        let scale = self
            .feasible_grad
            .iter()
            .fold(0.0_f64, |m, g| m.max(g.amax()));
        let gtol = TOL * (1.0 + scale);
        let mut moving = false;
        for k in 0..self.horizon() {
            for i in 0..NU {
                let (lo, hi) = (self.lo[k][i], self.hi[k][i]);
                let (u, g) = (self.feasible_du[k][i], self.feasible_grad[k][i]);
                let eps = near(lo, hi);
                let side = if u <= lo + eps && g > gtol {
                    -1
                } else if u >= hi - eps && g < -gtol {
                    1
                } else {
                    0
                };
                let at_bound = (u <= lo + TOL * (1.0 + lo.abs()) && g > 0.0)
                    || (u >= hi - TOL * (1.0 + hi.abs()) && g < 0.0);
                moving |= !at_bound && g.abs() > gtol;
                self.side[k][i] = side;
            }
        }
        moving
    }

    /// The step to the projection of `u + t (du - u)` into `step_du`
    /// (its states into `step_dx`); whether it decreases the cost by
    /// Armijo's fraction of its first-order decrease. The change of the
    /// quadratic cost is `g's + 1/2 s'Hs`, the curvature term summed
    /// over the step's own roll-out.
    fn sufficient_step(
        &mut self,
        dynamics: &Dynamics<'_, NX, NU>,
        cost: &Cost<'_, NX, NU>,
        t: f64,
    ) -> bool {
        let n = self.horizon();
        let (mut slope, mut curvature) = (0.0, 0.0);
        self.step_dx[0] = SVector::zeros();
        for k in 0..n {
            let from = self.feasible_du[k];
            let to = from + (self.du[k] - from) * t;
            let s = to.zip_zip_map(&self.lo[k], &self.hi[k], |v, lo, hi| v.max(lo).min(hi)) - from;
            self.step_du[k] = s;
            slope += self.feasible_grad[k].dot(&s);
            curvature += (cost.r * s).dot(&s);
            let next = dynamics.a[k] * self.step_dx[k] + dynamics.b[k] * s;
            let q = if k + 1 == n { cost.q_terminal } else { cost.q };
            curvature += (q * next).dot(&next);
            if self.soft_active {
                curvature += 0.5 * self.soft_h[k + 1].dot(&next.component_mul(&next));
            }
            self.step_dx[k + 1] = next;
        }
        let change = slope + curvature;
        change < 0.0 && change <= SUFFICIENT * slope
    }
}

/// [`NEAR`] of the box's width, or rounding where a side is open.
fn near(lo: f64, hi: f64) -> f64 {
    let width = hi - lo;
    if width.is_finite() {
        NEAR * width
    } else {
        TOL * (1.0 + lo.abs().min(hi.abs()))
    }
}
