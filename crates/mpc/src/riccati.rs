//! The exact solve of an OCP whose only inequalities are input boxes
//! (`[controller.qp] solver = "riccati"`), in time linear in N.
//!
//! The QP is the uncondensed multiple-shooting one, in the corrections
//! `(dx_k, du_k)` of the plan: `min sum 1/2 [dx;du]' H_k [dx;du] + h_k'
//! [dx;du]` (the same objective as the condensed QPs, `P = 2 H`),
//! `dx_{k+1} = A_k dx_k + B_k du_k + e_k`, `lo_k <= du_k <= hi_k`, `dx_0`
//! measured. The primal-dual active-set method of `dense_qp/box_qp.rs`
//! (Hintermüller, Ito and Kunisch 2002) runs on it stage-wise: each round
//! fixes the guessed active inputs at their bounds and solves the
//! remaining equality-constrained LQ problem by one Riccati recursion (the
//! fixed inputs' rows of each stage's `NU x NU` system replaced by
//! identity rows), then takes every fixed input's multiplier from the
//! adjoint recursion `lambda_k = Q_k r_k + A_k' lambda_{k+1}` (the KKT
//! gradient `g_k = R r_k + B_k' lambda_{k+1}`), frees those of the wrong
//! sign and fixes the free inputs outside their box, until nothing
//! changes: the QP's exact KKT point. The first guess is the shifted
//! plan's saturated inputs (a zero correction at a bound), so a step whose
//! saturation did not change is one recursion. The primal-dual method
//! can wander (it needs M-matrix structure to converge): after
//! [`MAX_ROUNDS`] it starts again from every input fixed at the bound its
//! gradient pushes towards (most of the horizon, where the plan starts
//! far from the references), then turns to projected Newton
//! (`projected.rs`, many bounds a round) and last to the primal
//! active-set method (one bound a round, the cost never rising). A stage
//! whose reduced Hessian is not positive definite, a non-finite value, or
//! all of them without settling is a failure the controller answers with
//! OSQP on blocks (counted, `FallbackCounts::riccati_fallbacks`).
//!
//! Soft state bounds (`state_bounds` with `soft`, the penalty `l1 r + l2
//! r^2` on a violation `r`) join the same active set: each bounded state
//! at each node is inside its bound (no term: a plan that stays inside is
//! the optimum with the penalty too, whose subgradient is 0 there) or past
//! one side (the penalty is then a quadratic, `2 l2` on that state's
//! Hessian diagonal and its gradient in the linear term), guessed from the
//! shifted plan and switched where the solution disagrees. A state whose
//! side switches back (or that the primal method leaves disagreeing) has
//! its optimum at the bound itself, the penalty's kink, an equality this
//! solve does not take: it gives up (`SoftBound`), and the controller
//! hands the step to OSQP, counted apart
//! (`FallbackCounts::soft_bound_fallbacks`).

use nalgebra::{SMatrix, SVector};

/// Primal-dual active-set rounds before the restart (below): each is one
/// Riccati recursion. P1's swing-up needs up to 28 (N = 320); at N = 160
/// two of its steps cycle, and so do the first two from the reference
/// guess.
pub(crate) const MAX_ROUNDS: u32 = 30;
/// Rounds of the primal active-set method (one bound added or dropped per
/// round, the cost never rising: no cycle) before the solve gives up.
pub(crate) const MAX_PRIMAL_ROUNDS: u32 = 400;
/// Switches of one soft bound's side, with the inputs' active set
/// settled, before a further one is taken for the kink: a kinked state
/// flips at every round, while coupled states settling may flip once back.
const SOFT_SWITCHES: u8 = 2;
/// Primal-dual rounds after a restart from every input fixed at the
/// bound its gradient pushes towards, when the first `MAX_ROUNDS` did not
/// settle.
const RESTART_ROUNDS: u32 = 20;
/// Relative tolerance on a bound's violation and a multiplier's sign
/// (as in `box_qp.rs`): rounding level.
const TOL: f64 = 1e-9;

/// Why a solve gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RiccatiFailure {
    /// A stage's reduced input Hessian had no Cholesky factor.
    NotPositiveDefinite,
    NonFinite,
    /// The primal-dual, projected Newton and primal rounds all run out.
    RoundLimit,
    /// A soft state bound's side switched back, or stayed inconsistent:
    /// the optimum sits on the penalty's kink.
    SoftBound,
}

/// A soft bound on state `index` at nodes 1..=N: the penalty `l1 r + l2
/// r^2` on the violation `r` of `min` or `max` (absolute values, an open
/// side infinite; the plan's states turn them into correction bounds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SoftState {
    pub index: usize,
    pub min: f64,
    pub max: f64,
    pub l1: f64,
    pub l2: f64,
}

/// The linearised dynamics of stages 0..N.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dynamics<'a, const NX: usize, const NU: usize> {
    pub a: &'a [SMatrix<f64, NX, NX>],
    pub b: &'a [SMatrix<f64, NX, NU>],
    pub defect: &'a [SVector<f64, NX>],
}

/// The cost: `H_xx = 2 Q` at nodes 1..N (`2 Q_N` at N), `H_uu = 2 R`, the
/// gradients `2 Q (xs - x_ref)` and `2 R (us - u_ref)` at zero correction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cost<'a, const NX: usize, const NU: usize> {
    pub q: &'a SMatrix<f64, NX, NX>,
    pub q_terminal: &'a SMatrix<f64, NX, NX>,
    pub r: &'a SMatrix<f64, NU, NU>,
    /// `xs_k - x_ref_k`, nodes 0..=N.
    pub x_offset: &'a [SVector<f64, NX>],
    /// `us_k - u_ref_k`, stages 0..N.
    pub u_offset: &'a [SVector<f64, NU>],
    /// Soft state bounds (at most the count given to `RiccatiBox::new`)
    /// and the plan's states `xs_k` (nodes 0..=N) they are measured from;
    /// both may be empty.
    pub soft: &'a [SoftState],
    pub x_plan: &'a [SVector<f64, NX>],
}

/// Workspace, every vector sized at setup.
#[derive(Debug)]
pub(crate) struct RiccatiBox<const NX: usize, const NU: usize> {
    /// The cost-to-go `1/2 x' P_k x + p_k' x` of nodes 0..=N.
    pm: Vec<SMatrix<f64, NX, NX>>,
    pv: Vec<SVector<f64, NX>>,
    /// The policy `du_k = K_k dx_k + kff_k` of each stage.
    gain: Vec<SMatrix<f64, NU, NX>>,
    ff: Vec<SVector<f64, NU>>,
    /// The correction's box per stage.
    lo: Vec<SVector<f64, NU>>,
    hi: Vec<SVector<f64, NU>>,
    /// Per stage and input: -1 fixed at `lo`, 1 at `hi`, 0 free.
    side: Vec<[i8; NU]>,
    /// The solution: state corrections (0..=N), input corrections (0..N)
    /// and the KKT gradients `g_k` (OSQP's bound multiplier is `-g_k`).
    pub dx: Vec<SVector<f64, NX>>,
    pub du: Vec<SVector<f64, NU>>,
    pub grad: Vec<SVector<f64, NU>>,
    /// The primal and projected Newton methods' feasible iterate, its
    /// gradient, and the projected step's inputs and states.
    feasible_dx: Vec<SVector<f64, NX>>,
    feasible_du: Vec<SVector<f64, NU>>,
    feasible_grad: Vec<SVector<f64, NU>>,
    step_dx: Vec<SVector<f64, NX>>,
    step_du: Vec<SVector<f64, NU>>,
    /// Per node (1..=N, at `(k - 1) * soft_count + b`) and soft bound:
    /// -1 past `min`, 1 past `max`, 0 inside; and how often it switched.
    region: Vec<i8>,
    switches: Vec<u8>,
    soft_count: usize,
    /// The active penalties' Hessian diagonal and gradient at zero
    /// correction, per node (0..=N).
    soft_h: Vec<SVector<f64, NX>>,
    soft_g: Vec<SVector<f64, NX>>,
    /// Whether any penalty is active this round.
    soft_active: bool,
}

impl<const NX: usize, const NU: usize> RiccatiBox<NX, NU> {
    /// Room for `soft_count` soft state bounds.
    pub fn new(horizon: usize, soft_count: usize) -> Self {
        Self {
            pm: vec![SMatrix::zeros(); horizon + 1],
            pv: vec![SVector::zeros(); horizon + 1],
            gain: vec![SMatrix::zeros(); horizon],
            ff: vec![SVector::zeros(); horizon],
            lo: vec![SVector::zeros(); horizon],
            hi: vec![SVector::zeros(); horizon],
            side: vec![[0; NU]; horizon],
            dx: vec![SVector::zeros(); horizon + 1],
            du: vec![SVector::zeros(); horizon],
            grad: vec![SVector::zeros(); horizon],
            feasible_dx: vec![SVector::zeros(); horizon + 1],
            feasible_du: vec![SVector::zeros(); horizon],
            feasible_grad: vec![SVector::zeros(); horizon],
            step_dx: vec![SVector::zeros(); horizon + 1],
            step_du: vec![SVector::zeros(); horizon],
            region: vec![0; horizon * soft_count],
            switches: vec![0; horizon * soft_count],
            soft_count,
            soft_h: vec![SVector::zeros(); horizon + 1],
            soft_g: vec![SVector::zeros(); horizon + 1],
            soft_active: false,
        }
    }

    pub fn horizon(&self) -> usize {
        self.du.len()
    }

    /// Solves from `dx0` with the boxes `lo_k <= du_k <= hi_k` (infinite
    /// sides allowed); the first active set is the bounds a zero
    /// correction touches. Returns the rounds taken; on success `dx`,
    /// `du` (within the boxes) and `grad` hold the solution.
    pub fn solve(
        &mut self,
        dynamics: &Dynamics<'_, NX, NU>,
        cost: &Cost<'_, NX, NU>,
        bounds: (&[SVector<f64, NU>], &[SVector<f64, NU>]),
        dx0: &SVector<f64, NX>,
    ) -> Result<u32, RiccatiFailure> {
        self.solve_with(dynamics, cost, bounds, dx0, MAX_ROUNDS)
    }

    /// [`Self::solve`] with `dual_rounds` primal-dual rounds at most.
    fn solve_with(
        &mut self,
        dynamics: &Dynamics<'_, NX, NU>,
        cost: &Cost<'_, NX, NU>,
        bounds: (&[SVector<f64, NU>], &[SVector<f64, NU>]),
        dx0: &SVector<f64, NX>,
        dual_rounds: u32,
    ) -> Result<u32, RiccatiFailure> {
        let n = self.horizon();
        self.lo.copy_from_slice(&bounds.0[..n]);
        self.hi.copy_from_slice(&bounds.1[..n]);
        for k in 0..n {
            for i in 0..NU {
                let (lo, hi) = (self.lo[k][i], self.hi[k][i]);
                if lo.is_nan() || hi.is_nan() || lo > hi {
                    return Err(RiccatiFailure::NonFinite);
                }
                self.side[k][i] = if 0.0 <= lo + TOL * (1.0 + lo.abs()) {
                    -1
                } else if 0.0 >= hi - TOL * (1.0 + hi.abs()) {
                    1
                } else {
                    0
                };
            }
        }
        self.init_regions(cost)?;
        // The restart and projected Newton run without soft bounds only:
        // with them (the soft cart-pole with its residual) they left a
        // kink refused where the primal method settled.
        let hard = cost.soft.is_empty();
        let restart = dual_rounds + 1;
        let dual_rounds = if dual_rounds > 0 && hard {
            dual_rounds + RESTART_ROUNDS
        } else {
            dual_rounds
        };
        for round in 1..=dual_rounds {
            if round == restart {
                self.fix_by_gradient_sign(dynamics, cost, dx0);
            }
            self.soft_terms(cost);
            self.backward(dynamics, cost)?;
            self.forward(dynamics, cost, dx0)?;
            let inputs_changed = self.update_active_set();
            if !(self.update_regions(cost, !inputs_changed)? || inputs_changed) {
                self.clip_inputs();
                return Ok(round);
            }
        }
        // The primal-dual method cycles on some problems (its convergence
        // needs M-matrix structure): projected Newton from its last
        // iterate made feasible, then the primal method from Newton's,
        // the soft bounds' sides held as the last dual round left them
        // (disagreeing at the end: `SoftBound`).
        self.soft_terms(cost);
        let (newton_rounds, settled) = if hard {
            self.projected_newton(dynamics, cost, dx0)?
        } else {
            (0, false)
        };
        if settled {
            if self.update_regions(cost, true)? {
                return Err(RiccatiFailure::SoftBound);
            }
            return Ok(dual_rounds + newton_rounds);
        }
        self.clip_inputs();
        self.feasible_du.copy_from_slice(&self.du);
        self.roll_out_feasible(dynamics, dx0);
        for k in 0..n {
            for i in 0..NU {
                let u = self.du[k][i];
                self.side[k][i] = if u <= self.lo[k][i] {
                    -1
                } else if u >= self.hi[k][i] {
                    1
                } else {
                    0
                };
            }
        }
        self.soft_terms(cost);
        for round in 1..=MAX_PRIMAL_ROUNDS {
            self.backward(dynamics, cost)?;
            self.forward(dynamics, cost, dx0)?;
            if !self.primal_step() {
                if self.update_regions(cost, true)? {
                    return Err(RiccatiFailure::SoftBound);
                }
                self.clip_inputs();
                return Ok(dual_rounds + newton_rounds + round);
            }
        }
        Err(RiccatiFailure::RoundLimit)
    }

    /// Fixes every input at the bound its gradient at the last iterate
    /// (clipped to the boxes) pushes towards. Where the primal-dual
    /// rounds wander among a few dozen fixed inputs while the solution
    /// saturates most of the horizon (a QP whose plan starts far from its
    /// references, on unstable dynamics), this lands next to it.
    fn fix_by_gradient_sign(
        &mut self,
        dynamics: &Dynamics<'_, NX, NU>,
        cost: &Cost<'_, NX, NU>,
        dx0: &SVector<f64, NX>,
    ) {
        self.clip_inputs();
        self.feasible_du.copy_from_slice(&self.du);
        self.soft_terms(cost);
        self.feasible_gradient(dynamics, cost, dx0);
        for k in 0..self.horizon() {
            for i in 0..NU {
                let g = self.feasible_grad[k][i];
                self.side[k][i] = if g > 0.0 && self.lo[k][i].is_finite() {
                    -1
                } else if g < 0.0 && self.hi[k][i].is_finite() {
                    1
                } else {
                    0
                };
            }
        }
    }

    fn clip_inputs(&mut self) {
        for k in 0..self.horizon() {
            self.du[k] =
                self.du[k].zip_zip_map(&self.lo[k], &self.hi[k], |v, lo, hi| v.max(lo).min(hi));
        }
    }

    /// One step of the primal active-set method from the feasible iterate
    /// towards the equality-constrained solution just computed (`du`,
    /// `dx`, `grad`): as far as the box allows, fixing the bound that
    /// blocks; at the solution itself, freeing the bound whose multiplier
    /// has the wrong sign by most. False when nothing changed: `du`, `dx`
    /// are the QP's solution.
    fn primal_step(&mut self) -> bool {
        let n = self.horizon();
        let mut step = 1.0;
        let mut blocking = None;
        for k in 0..n {
            for i in 0..NU {
                if self.side[k][i] != 0 {
                    continue;
                }
                let (from, to) = (self.feasible_du[k][i], self.du[k][i]);
                let p = to - from;
                let room = if p < 0.0 {
                    (self.lo[k][i] - from) / p
                } else if p > 0.0 {
                    (self.hi[k][i] - from) / p
                } else {
                    f64::INFINITY
                };
                if room < step {
                    step = room.max(0.0);
                    blocking = Some((k, i, if p < 0.0 { -1 } else { 1 }));
                }
            }
        }
        if let Some((k, i, side)) = blocking {
            for j in 0..n {
                let du = self.feasible_du[j] + (self.du[j] - self.feasible_du[j]) * step;
                self.feasible_du[j] = du;
            }
            for j in 0..=n {
                let dx = self.feasible_dx[j] + (self.dx[j] - self.feasible_dx[j]) * step;
                self.feasible_dx[j] = dx;
            }
            self.side[k][i] = side;
            self.feasible_du[k][i] = if side < 0 {
                self.lo[k][i]
            } else {
                self.hi[k][i]
            };
            return true;
        }
        self.feasible_du.copy_from_slice(&self.du);
        self.feasible_dx.copy_from_slice(&self.dx);
        let scale = self.grad.iter().fold(0.0_f64, |m, g| m.max(g.amax()));
        let gtol = TOL * (1.0 + scale);
        let mut worst: Option<(usize, usize, f64)> = None;
        for k in 0..n {
            for i in 0..NU {
                let g = self.grad[k][i];
                // Fixed at `lo` wants g >= 0, at `hi` g <= 0.
                let wrong = match self.side[k][i] {
                    -1 => -g,
                    1 => g,
                    _ => continue,
                };
                if wrong > gtol && worst.is_none_or(|(_, _, w)| wrong > w) {
                    worst = Some((k, i, wrong));
                }
            }
        }
        match worst {
            Some((k, i, _)) => {
                self.side[k][i] = 0;
                true
            }
            None => false,
        }
    }

    /// The value of input `i` at stage `k` when fixed.
    fn fixed_value(&self, k: usize, i: usize) -> Option<f64> {
        match self.side[k][i] {
            -1 => Some(self.lo[k][i]),
            1 => Some(self.hi[k][i]),
            _ => None,
        }
    }

    /// The Riccati recursion for the current active set.
    fn backward(
        &mut self,
        dynamics: &Dynamics<'_, NX, NU>,
        cost: &Cost<'_, NX, NU>,
    ) -> Result<(), RiccatiFailure> {
        let n = self.horizon();
        self.pm[n] = cost.q_terminal * 2.0;
        self.pv[n] = cost.q_terminal * cost.x_offset[n] * 2.0;
        if self.soft_active {
            add_diagonal(&mut self.pm[n], &self.soft_h[n]);
            self.pv[n] += self.soft_g[n];
        }
        for k in (0..n).rev() {
            let (a, b, defect) = (&dynamics.a[k], &dynamics.b[k], &dynamics.defect[k]);
            let (pn, pvn) = (&self.pm[k + 1], &self.pv[k + 1]);
            let t = pn * defect + pvn;
            let pa = pn * a;
            let pb = pn * b;
            let huu = cost.r * 2.0 + b.transpose() * pb;
            let hux = b.transpose() * pa;
            let hu = cost.r * cost.u_offset[k] * 2.0 + b.transpose() * t;
            // Fixed inputs: identity rows and columns, their values moved
            // to the free rows' right-hand side.
            let mut m = huu;
            let mut rhs_gain = -hux;
            let mut rhs_ff = -hu;
            for i in 0..NU {
                if let Some(c) = self.fixed_value(k, i) {
                    for r in 0..NU {
                        rhs_ff[r] -= huu[(r, i)] * c;
                    }
                }
            }
            for i in 0..NU {
                if let Some(c) = self.fixed_value(k, i) {
                    m.row_mut(i).fill(0.0);
                    m.column_mut(i).fill(0.0);
                    m[(i, i)] = 1.0;
                    rhs_gain.row_mut(i).fill(0.0);
                    rhs_ff[i] = c;
                }
            }
            let chol = m.cholesky().ok_or(RiccatiFailure::NotPositiveDefinite)?;
            let gain = chol.solve(&rhs_gain);
            let ff = chol.solve(&rhs_ff);
            if k > 0 {
                // The cost-to-go under this (not everywhere optimal) policy.
                let mut hxx = cost.q * 2.0 + a.transpose() * pa;
                let mut hx = cost.q * cost.x_offset[k] * 2.0 + a.transpose() * t;
                if self.soft_active {
                    add_diagonal(&mut hxx, &self.soft_h[k]);
                    hx += self.soft_g[k];
                }
                let kt_huu = gain.transpose() * huu;
                let p = hxx + hux.transpose() * gain + gain.transpose() * hux + kt_huu * gain;
                self.pm[k] = (p + p.transpose()) * 0.5;
                self.pv[k] = hx + hux.transpose() * ff + gain.transpose() * hu + kt_huu * ff;
            }
            self.gain[k] = gain;
            self.ff[k] = ff;
        }
        Ok(())
    }

    /// The policy rolled out from `dx0`, then the adjoint recursion for
    /// each stage's KKT gradient.
    fn forward(
        &mut self,
        dynamics: &Dynamics<'_, NX, NU>,
        cost: &Cost<'_, NX, NU>,
        dx0: &SVector<f64, NX>,
    ) -> Result<(), RiccatiFailure> {
        let n = self.horizon();
        self.dx[0] = *dx0;
        for k in 0..n {
            let (a, b, defect) = (&dynamics.a[k], &dynamics.b[k], &dynamics.defect[k]);
            let mut du = self.gain[k] * self.dx[k] + self.ff[k];
            for i in 0..NU {
                if let Some(c) = self.fixed_value(k, i) {
                    du[i] = c;
                }
            }
            self.du[k] = du;
            self.dx[k + 1] = a * self.dx[k] + b * du + defect;
        }
        let mut grad = std::mem::take(&mut self.grad);
        self.adjoint(dynamics, cost, (&self.dx, &self.du), &mut grad);
        self.grad = grad;
        let finite = |v: &f64| v.is_finite();
        if self.dx.iter().all(|x| x.iter().all(finite))
            && self.grad.iter().all(|g| g.iter().all(finite))
        {
            Ok(())
        } else {
            Err(RiccatiFailure::NonFinite)
        }
    }

    /// The KKT gradient `g_k` of each stage at the corrections `plan`
    /// (`dx`, `du`), by the adjoint recursion.
    fn adjoint(
        &self,
        dynamics: &Dynamics<'_, NX, NU>,
        cost: &Cost<'_, NX, NU>,
        plan: (&[SVector<f64, NX>], &[SVector<f64, NU>]),
        grad: &mut [SVector<f64, NU>],
    ) {
        let (n, (dx, du)) = (self.horizon(), plan);
        let mut lambda =
            cost.q_terminal * (cost.x_offset[n] + dx[n]) * 2.0 + self.soft_gradient(n, &dx[n]);
        for k in (0..n).rev() {
            let (a, b) = (&dynamics.a[k], &dynamics.b[k]);
            grad[k] = cost.r * (cost.u_offset[k] + du[k]) * 2.0 + b.transpose() * lambda;
            if k > 0 {
                lambda = cost.q * (cost.x_offset[k] + dx[k]) * 2.0
                    + a.transpose() * lambda
                    + self.soft_gradient(k, &dx[k]);
            }
        }
    }

    /// The active penalties' gradient at node `k`'s correction `dx`.
    fn soft_gradient(&self, k: usize, dx: &SVector<f64, NX>) -> SVector<f64, NX> {
        if self.soft_active {
            self.soft_h[k].component_mul(dx) + self.soft_g[k]
        } else {
            SVector::zeros()
        }
    }

    /// Node `k`'s correction bounds on soft bound `b`'s state.
    fn soft_bounds(cost: &Cost<'_, NX, NU>, k: usize, b: &SoftState) -> (f64, f64) {
        let x = cost.x_plan[k][b.index];
        (b.min - x, b.max - x)
    }

    /// The first sides: where the plan itself (a zero correction) is.
    fn init_regions(&mut self, cost: &Cost<'_, NX, NU>) -> Result<(), RiccatiFailure> {
        let (n, count) = (self.horizon(), cost.soft.len());
        if count > self.soft_count || (count > 0 && cost.x_plan.len() <= n) {
            return Err(RiccatiFailure::NonFinite);
        }
        self.switches.fill(0);
        for k in 1..=n {
            for (j, b) in cost.soft.iter().enumerate() {
                let (lo, hi) = Self::soft_bounds(cost, k, b);
                if lo.is_nan() || hi.is_nan() || lo > hi {
                    return Err(RiccatiFailure::NonFinite);
                }
                self.region[(k - 1) * count + j] = side_of(0.0, lo, hi, 0);
            }
        }
        Ok(())
    }

    /// The active penalties' Hessian diagonals and gradients at zero
    /// correction: past `max` by `r = dx - hi`, `l1 r + l2 r^2` has
    /// gradient `l1 - 2 l2 hi` at `dx = 0`; past `min`, `-l1 - 2 l2 lo`.
    fn soft_terms(&mut self, cost: &Cost<'_, NX, NU>) {
        let count = cost.soft.len();
        self.soft_active = self.region[..self.horizon() * count]
            .iter()
            .any(|r| *r != 0);
        if !self.soft_active {
            return;
        }
        for k in 1..=self.horizon() {
            let (mut h, mut g) = (SVector::zeros(), SVector::zeros());
            for (j, b) in cost.soft.iter().enumerate() {
                let (lo, hi) = Self::soft_bounds(cost, k, b);
                match self.region[(k - 1) * count + j] {
                    1 => g[b.index] += b.l1 - 2.0 * b.l2 * hi,
                    -1 => g[b.index] += -b.l1 - 2.0 * b.l2 * lo,
                    _ => continue,
                }
                h[b.index] += 2.0 * b.l2;
            }
            self.soft_h[k] = h;
            self.soft_g[k] = g;
        }
    }

    /// Each soft bound's side where the solution is; whether any changed.
    /// With `settled` inputs (the same active set as the round before), a
    /// state switching more than [`SOFT_SWITCHES`] times is the kink:
    /// `SoftBound`. (While the inputs move, the states pass bounds the
    /// optimum does not.)
    fn update_regions(
        &mut self,
        cost: &Cost<'_, NX, NU>,
        settled: bool,
    ) -> Result<bool, RiccatiFailure> {
        let count = cost.soft.len();
        let mut changed = false;
        for k in 1..=self.horizon() {
            for (j, b) in cost.soft.iter().enumerate() {
                let (lo, hi) = Self::soft_bounds(cost, k, b);
                let at = (k - 1) * count + j;
                let side = side_of(self.dx[k][b.index], lo, hi, self.region[at]);
                if side != self.region[at] {
                    if settled && self.switches[at] >= SOFT_SWITCHES {
                        return Err(RiccatiFailure::SoftBound);
                    }
                    self.switches[at] += u8::from(settled);
                    self.region[at] = side;
                    changed = true;
                }
            }
        }
        Ok(changed)
    }

    /// The primal-dual active-set update; whether the set changed.
    fn update_active_set(&mut self) -> bool {
        let scale = self.grad.iter().fold(0.0_f64, |m, g| m.max(g.amax()));
        let gtol = TOL * (1.0 + scale);
        let mut changed = false;
        for k in 0..self.horizon() {
            for i in 0..NU {
                let (lo, hi, x, g) = (self.lo[k][i], self.hi[k][i], self.du[k][i], self.grad[k][i]);
                let side = match self.side[k][i] {
                    0 if x < lo - TOL * (1.0 + lo.abs()) => -1,
                    0 if x > hi + TOL * (1.0 + hi.abs()) => 1,
                    0 => 0,
                    s if (s < 0 && g < -gtol) || (s > 0 && g > gtol) => 0,
                    s => s,
                };
                changed |= side != self.side[k][i];
                self.side[k][i] = side;
            }
        }
        changed
    }
}

fn add_diagonal<const NX: usize>(m: &mut SMatrix<f64, NX, NX>, d: &SVector<f64, NX>) {
    for i in 0..NX {
        m[(i, i)] += d[i];
    }
}

/// The side of `[lo, hi]` value `x` is on (-1 below, 1 above, 0 within),
/// `current` kept where `x` is within rounding of that side's bound.
fn side_of(x: f64, lo: f64, hi: f64, current: i8) -> i8 {
    let below = x < lo - TOL * (1.0 + lo.abs());
    let above = x > hi + TOL * (1.0 + hi.abs());
    let at_lo = x <= lo + TOL * (1.0 + lo.abs());
    let at_hi = x >= hi - TOL * (1.0 + hi.abs());
    match current {
        -1 if at_lo => -1,
        1 if at_hi => 1,
        _ if below => -1,
        _ if above => 1,
        _ => 0,
    }
}

mod projected;
#[cfg(test)]
mod tests;
