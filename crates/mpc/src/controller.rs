//! The SQP real-time iteration controller.
//!
//! Each step is split as in acados' RTI: `feedback` takes the measured
//! state and solves the QP prepared beforehand (only the gradient and the
//! bounds depend on the state); `prepare` shifts the plan, linearises the
//! model along it and condenses the QP for the next step. All memory is
//! allocated in [`Mpc::new`]; both phases only write into it.

mod presolve;
mod stagewise;
mod update;

use std::time::Instant;

use nalgebra::SVector;
use recede_model::DiscreteModel;

use crate::backend::Backend;
use crate::constraints::{BoundedSides, ConstraintRow, StageConstraints};
use crate::governor::Target;
use crate::layout::{Layout, OSQP_INFINITY};
use crate::qp::Csc;
use crate::report::{Failure, FallbackCounts, QpStatus, StepOutcome, StepReport};
use crate::structure::Structure;
use presolve::Presolve;
use stagewise::Stagewise;
pub use update::UpdateError;

use crate::{InitialGuess, MpcError, OcpSpec, QpSolver};

/// The input applied when no plan can be trusted, as a function of the
/// measured state (an upset quadrotor needs torques, not hover thrust).
pub type SafePolicy<const NX: usize, const NU: usize> =
    Box<dyn Fn(&SVector<f64, NX>) -> SVector<f64, NU> + Send + Sync>;

/// Whether the robot is upset at a state, given whether it was at the last
/// step (for hysteresis): while it is, the safe policy flies it instead of
/// the MPC, whose linearisation cannot describe the way back (an inverted
/// quadrotor).
pub type UpsetTest<const NX: usize> = Box<dyn Fn(&SVector<f64, NX>, bool) -> bool + Send + Sync>;

/// States beyond this magnitude in a plan mean the SQP iteration diverged.
const DIVERGED: f64 = 1e8;

/// A nonlinear MPC for a model with `NX` states and `NU` inputs, with
/// general constraints `C` (`()` for none).
pub struct Mpc<M, C, const NX: usize, const NU: usize> {
    model: M,
    constraints: C,
    spec: OcpSpec<NX, NU>,
    layout: Layout,
    /// The plan: guess and solution, nodes 0..=N and 0..N.
    xs: Vec<SVector<f64, NX>>,
    us: Vec<SVector<f64, NU>>,
    scratch_x: Vec<SVector<f64, NX>>,
    scratch_u: Vec<SVector<f64, NU>>,
    /// The references as the caller set them.
    x_goal: Vec<SVector<f64, NX>>,
    /// The references the OCP uses: `x_goal` through the governor.
    x_ref: Vec<SVector<f64, NX>>,
    u_ref: Vec<SVector<f64, NU>>,
    target: Target<NX>,
    qp: Structure<NX, NU>,
    /// Constraint rows at nodes 1..=N, node k at `(k - 1) * rows_per_node`.
    rows: Vec<ConstraintRow<NX>>,
    q: Vec<f64>,
    l: Vec<f64>,
    u: Vec<f64>,
    solution: Vec<f64>,
    zeros: Vec<f64>,
    /// The duals the next solve starts from: the last accepted solve's,
    /// shifted with the plan (zero after a failure that poisoned it).
    duals: Vec<f64>,
    duals_scratch: Vec<f64>,
    /// The solver's own duals are a solve's that was not accepted (an
    /// infeasible QP's grow without bound): the next solve starts from
    /// [`Self::duals`] instead, or a feasible QP after an infeasible one
    /// may not converge at all.
    solver_duals_stale: bool,
    solver: Backend,
    prepared: bool,
    /// What the preparation's presolve left in OSQP (`presolve.rs`).
    presolve: Presolve,
    /// The Riccati active set, when it solves the QPs (`stagewise.rs`):
    /// OSQP is then its fallback.
    stagewise: Option<Stagewise<NX, NU>>,
    /// No feedback since the plan was built or reset: the first one lays
    /// out `initial_guess` from the measured state.
    first_step: bool,
    consecutive_failures: usize,
    safe_policy: Option<SafePolicy<NX, NU>>,
    upset: Option<UpsetTest<NX>>,
    recovering: bool,
    counts: FallbackCounts,
    report: StepReport,
}

impl<M, C, const NX: usize, const NU: usize> std::fmt::Debug for Mpc<M, C, NX, NU> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mpc")
            .field("horizon", &self.layout.horizon)
            .field("variables", &self.qp.n_variables(&self.layout))
            .field("rows", &self.qp.n_rows(&self.layout))
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl<M, C, const NX: usize, const NU: usize> Mpc<M, C, NX, NU>
where
    M: DiscreteModel<NX, NU>,
    C: StageConstraints<NX>,
{
    /// Builds the controller and the QP around the initial guess
    /// (`x_init` at every node, `u_init` at every interval). This is the
    /// only place that allocates.
    pub fn new(
        model: M,
        constraints: C,
        spec: OcpSpec<NX, NU>,
        x_init: &SVector<f64, NX>,
        u_init: &SVector<f64, NU>,
    ) -> Result<Self, MpcError> {
        if !x_init.iter().chain(u_init.iter()).all(|v| v.is_finite()) {
            return Err(MpcError::NonFinite {
                what: "the initial guess",
            });
        }
        let n = spec.horizon_steps;
        let box_only = spec.state_bounds.is_empty() && constraints.rows() == 0;
        // `auto` keeps to input boxes; asked for, soft state bounds join.
        let riccati = spec.qp.chosen_solver(n, NX, NU, box_only) == QpSolver::Riccati;
        let all_soft = spec.state_bounds.iter().all(|b| b.soft.is_some());
        if riccati && !(all_soft && constraints.rows() == 0) {
            return Err(MpcError::Config {
                key: "qp.solver".into(),
                expected: "another solver: \"riccati\" solves OCPs whose only inequalities \
                           are input bounds and soft state bounds, and this one has constraint \
                           rows or hard state bounds"
                    .into(),
                found: "\"riccati\"".into(),
            });
        }
        let spec_bounds = spec.state_bounds.len();
        let mut soft: Vec<_> = spec.state_bounds.iter().map(|b| b.soft).collect();
        soft.extend((0..constraints.rows()).map(|r| constraints.soft_penalty(r)));
        // State bounds stay two-sided: `set_state_bound` may open either side.
        let mut sides = vec![BoundedSides::Both; spec.state_bounds.len()];
        sides.extend((0..constraints.rows()).map(|r| constraints.bounded_sides(r)));
        let layout = Layout::new(n, NU, soft, sides);
        let qp = Structure::new(&layout, &spec.qp);
        let (nv, nr) = (qp.n_variables(&layout), qp.n_rows(&layout));
        // OSQP is set up once with the final sparsity pattern (values zero,
        // no bounds but the equalities); the first preparation below fills
        // in the values.
        let zeros = vec![0.0; nv];
        let solver = {
            let (pp, pi, ap, ai) = qp.patterns();
            let p_zero = vec![0.0; pi.len()];
            let a_zero = vec![0.0; ai.len()];
            let (mut l, mut u) = (vec![0.0; nr], vec![0.0; nr]);
            qp.initial_bounds(&mut l, &mut u);
            Backend::new(
                spec.qp.solver,
                &csc(nv, nv, pp, pi, &p_zero),
                &zeros,
                &csc(nr, nv, ap, ai, &a_zero),
                &l,
                &u,
                &spec.osqp,
                spec.osqp.scaling_for(matches!(qp, Structure::Full(_))),
                spec.qp.polish,
                spec.qp.active_set,
            )
            .map_err(MpcError::Setup)?
        };
        let mut mpc = Self {
            model,
            constraints,
            xs: vec![*x_init; n + 1],
            us: vec![*u_init; n],
            scratch_x: vec![SVector::zeros(); n + 1],
            scratch_u: vec![SVector::zeros(); n],
            x_goal: vec![SVector::zeros(); n + 1],
            x_ref: vec![SVector::zeros(); n + 1],
            target: Target::default(),
            u_ref: vec![SVector::zeros(); n],
            rows: vec![ConstraintRow::INACTIVE; n * layout.rows_per_node],
            q: vec![0.0; nv],
            l: vec![0.0; nr],
            u: vec![0.0; nr],
            solution: vec![0.0; nv],
            zeros,
            duals: vec![0.0; nr],
            duals_scratch: vec![0.0; nr],
            solver_duals_stale: false,
            qp,
            layout,
            spec,
            solver,
            prepared: false,
            presolve: Presolve::NotRun,
            stagewise: riccati.then(|| Stagewise::new(n, spec_bounds)),
            first_step: true,
            consecutive_failures: 0,
            safe_policy: None,
            upset: None,
            recovering: false,
            counts: FallbackCounts::default(),
            report: StepReport::default(),
        };
        mpc.prepare(0.0);
        mpc.fill_bounds_and_cost(x_init);
        if !mpc.prepared || !mpc.qp_is_finite() {
            return Err(MpcError::NonFinite {
                what: "the QP built at the initial guess",
            });
        }
        Ok(mpc)
    }

    pub fn spec(&self) -> &OcpSpec<NX, NU> {
        &self.spec
    }

    /// Stages per block of the QP handed to OSQP: the horizon when it is
    /// fully condensed, 1 when not condensed at all.
    pub fn qp_stages_per_block(&self) -> usize {
        self.qp.stages_per_block(&self.layout)
    }

    /// The solver that runs: `qp.solver`, or the Riccati active set where
    /// `auto` chose it.
    pub fn qp_solver(&self) -> QpSolver {
        if self.stagewise.is_some() {
            QpSolver::Riccati
        } else {
            self.spec.qp.solver
        }
    }

    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, to change between steps (e.g. online adaptation of a
    /// learned residual); the change enters at the next preparation.
    pub fn model_mut(&mut self) -> &mut M {
        &mut self.model
    }

    /// The general constraints, to update (obstacles seen since the last
    /// step); the change enters at the next preparation.
    pub fn constraints_mut(&mut self) -> &mut C {
        &mut self.constraints
    }

    /// The references for nodes 0..=N (states) and 0..N (inputs) of the
    /// next step, to be written in place before `step` (the governor, when
    /// configured, limits what the OCP sees of them; these stay as set).
    pub fn references_mut(&mut self) -> (&mut [SVector<f64, NX>], &mut [SVector<f64, NU>]) {
        (&mut self.x_goal, &mut self.u_ref)
    }

    /// Sets the same reference at every node.
    pub fn set_constant_reference(&mut self, x: &SVector<f64, NX>, u: &SVector<f64, NU>) {
        self.x_goal.fill(*x);
        self.u_ref.fill(*u);
    }

    /// The state references the last step's OCP used (after the governor).
    pub fn governed_references(&self) -> &[SVector<f64, NX>] {
        &self.x_ref
    }

    /// Replaces the constant `safe_input` by a function of the measured
    /// state: applied after too many failures, and rolled out to
    /// re-initialise a poisoned plan. Set once, at setup (it allocates).
    pub fn set_safe_policy(&mut self, policy: SafePolicy<NX, NU>) {
        self.safe_policy = Some(policy);
    }

    /// Sets when the robot counts as upset: the safe policy then flies it
    /// (outcome `FallbackSafe`, `report.recovering`) and the plan restarts
    /// from each measured state until it no longer is.
    pub fn set_upset_test(&mut self, upset: UpsetTest<NX>) {
        self.upset = Some(upset);
    }

    /// The safe input at `x`, within the input bounds.
    pub fn safe_input_at(&self, x: &SVector<f64, NX>) -> SVector<f64, NU> {
        let u = match &self.safe_policy {
            Some(policy) if x.iter().all(|v| v.is_finite()) => policy(x),
            _ => self.spec.safe_input,
        };
        if u.iter().all(|v| v.is_finite()) {
            u.zip_zip_map(&self.spec.u_min, &self.spec.u_max, |v, lo, hi| {
                v.clamp(lo, hi)
            })
        } else {
            self.spec.safe_input
        }
    }

    /// Fallbacks since the controller was built.
    pub fn fallback_counts(&self) -> FallbackCounts {
        self.counts
    }

    /// The current plan: predicted states (N+1) and inputs (N).
    pub fn plan(&self) -> (&[SVector<f64, NX>], &[SVector<f64, NU>]) {
        (&self.xs, &self.us)
    }

    pub fn last_report(&self) -> &StepReport {
        &self.report
    }

    /// Forgets the plan: `x` at every node and `u` at every interval.
    pub fn reset(&mut self, x: &SVector<f64, NX>, u: &SVector<f64, NU>) {
        self.xs.fill(*x);
        self.us.fill(*u);
        self.first_step = true;
        self.consecutive_failures = 0;
        self.target.forget();
        self.duals.fill(0.0);
        self.prepare(0.0);
    }

    /// A fresh plan from the measured state `x`: the model rolled out
    /// under the safe policy, dynamically consistent, so the next QP is
    /// linearised where the robot is instead of along a poisoned plan.
    /// Where the model gives non-finite values the rest holds `x`.
    pub fn reinitialize(&mut self, x: &SVector<f64, NX>) {
        self.xs[0] = *x;
        let mut ok = true;
        for k in 0..self.layout.horizon {
            if ok {
                let u = self.safe_input_at(&self.xs[k]);
                let next = self.model.step(&self.xs[k], &u);
                ok = next.iter().all(|v| v.is_finite() && v.abs() < DIVERGED);
                self.us[k] = u;
                self.xs[k + 1] = if ok { next } else { *x };
            } else {
                self.us[k] = self.spec.safe_input;
                self.xs[k + 1] = *x;
            }
        }
    }

    /// With `initial_guess = "reference"`, the first plan: `x0` at node 0,
    /// the OCP's references after it, linearised anew (the references are
    /// set after [`Self::new`], so this waits for the first feedback).
    fn lay_out_initial_guess(&mut self, x0: &SVector<f64, NX>) {
        if self.spec.initial_guess != InitialGuess::Reference || !x0.iter().all(|v| v.is_finite()) {
            return;
        }
        self.xs[0] = *x0;
        self.xs[1..].copy_from_slice(&self.x_ref[1..]);
        self.us.copy_from_slice(&self.u_ref);
        self.prepare(0.0);
    }

    /// One control step: [`Self::feedback_step`] from `x0`, then
    /// [`Self::prepare_next`], `period_secs` later. Writes the command to
    /// apply into `command`; never panics and never writes a non-finite
    /// command.
    pub fn step(
        &mut self,
        x0: &SVector<f64, NX>,
        period_secs: f64,
        command: &mut SVector<f64, NU>,
    ) -> StepReport {
        self.feedback_step(x0, command);
        self.prepare_next(period_secs);
        self.report
    }

    /// The feedback half of a real-time iteration: embeds the measured
    /// state `x0` in the QP the last preparation built and solves it (plus
    /// extra SQP iterations if configured), or falls back. Writes the
    /// command into `command`. The plan is not shifted: call
    /// [`Self::prepare_next`] before the next feedback. The report's
    /// `prepare_secs` is zero until then.
    pub fn feedback_step(
        &mut self,
        x0: &SVector<f64, NX>,
        command: &mut SVector<f64, NU>,
    ) -> StepReport {
        let started = Instant::now();
        self.report = StepReport {
            consecutive_failures: self.consecutive_failures,
            ..StepReport::default()
        };
        self.govern(x0);
        if let Some(upset) = &self.upset {
            let finite = x0.iter().all(|v| v.is_finite());
            self.recovering = finite && upset(x0, self.recovering);
        }
        if self.recovering {
            *command = self.safe_input_at(x0);
            self.report.recovering = true;
            self.report.failure = None;
            self.counts.safe += 1;
            self.counts.recovering += 1;
            self.consecutive_failures = 0;
            self.reinitialize(x0);
            self.report.feedback_secs = started.elapsed().as_secs_f64();
            return self.report;
        }
        if std::mem::replace(&mut self.first_step, false) {
            self.lay_out_initial_guess(x0);
        }
        let mut result = self.feedback(x0);
        for _ in 1..self.spec.sqp_iterations {
            if result.is_err() {
                break;
            }
            // Re-linearised along the corrected plan: P and A change too.
            self.linearize_and_condense();
            self.push_matrices();
            result = self.feedback(x0);
        }
        self.finish(x0, result, command);
        if result.as_ref().is_err_and(|f| f.poisons_plan()) && x0.iter().all(|v| v.is_finite()) {
            // The plan (or the QP built along it) is what failed: shifting
            // it would poison the next step too. Start again where the
            // robot is.
            self.reinitialize(x0);
            self.duals.fill(0.0);
            self.report.reinitialized = true;
            self.counts.reinitialized += 1;
        }
        self.report.feedback_secs = started.elapsed().as_secs_f64();
        self.report
    }

    /// The preparation half of a real-time iteration, between samples:
    /// shifts the plan by `period_secs`, linearises along it and builds the
    /// next QP, and with `osqp.presolve_prediction` solves it for the
    /// predicted state. Its duration goes into the report's `prepare_secs`,
    /// and constraint rows it had to drop into `constraint_faults`.
    pub fn prepare_next(&mut self, period_secs: f64) -> StepReport {
        let started = Instant::now();
        self.prepare(period_secs);
        self.presolve_prediction();
        self.report.prepare_secs = started.elapsed().as_secs_f64();
        self.report
    }

    /// Rebuilds the QP around the plan without shifting it (after weights,
    /// bounds, obstacles or parameters changed) and without the presolve:
    /// run just before a feedback, it would cost about what it saves.
    pub fn refresh(&mut self) -> StepReport {
        let started = Instant::now();
        self.prepare(0.0);
        self.report.prepare_secs = started.elapsed().as_secs_f64();
        self.report
    }

    /// Shifts the plan by `shift_secs` and prepares the QP around it.
    pub fn prepare(&mut self, shift_secs: f64) {
        // OSQP's iterate belongs to the QP being replaced.
        self.presolve = Presolve::NotRun;
        self.shift(shift_secs);
        if !self.plan_is_finite() {
            // A corrupted plan cannot be linearised: restart from the last
            // measured state under the safe policy.
            let x = if self.xs[0].iter().all(|v| v.is_finite()) {
                self.xs[0]
            } else {
                SVector::zeros()
            };
            self.reinitialize(&x);
        }
        self.linearize_and_condense();
        self.push_matrices();
    }

    /// Hands the condensed `P` and `A` to OSQP when they changed (or when
    /// its last factorisation failed). Non-finite values, or a
    /// factorisation that fails, leave the controller unprepared: the next
    /// feedback reports it instead of solving.
    fn push_matrices(&mut self) {
        if self.stagewise.is_some() {
            self.prepared = self.linearization_is_finite();
            return;
        }
        self.push_to_solver();
    }

    /// The stage-wise solve's data: finite Jacobians and defects.
    fn linearization_is_finite(&self) -> bool {
        let lin = self.qp.linearization();
        let finite = |v: &f64| v.is_finite();
        lin.a.iter().all(|m| m.iter().all(finite))
            && lin.b.iter().all(|m| m.iter().all(finite))
            && lin.defect.iter().all(|d| d.iter().all(finite))
    }

    /// [`Self::push_matrices`] for OSQP (or the dense ADMM).
    fn push_to_solver(&mut self) {
        if !(self.qp.changed() || self.solver.is_broken()) {
            return;
        }
        let (p, a) = self.qp.values();
        let finite = p.iter().chain(a).all(|v| v.is_finite());
        self.prepared = finite && self.solver.update_p_a(p, a).is_ok();
        if !self.prepared {
            // Compare against NaN next time: whatever comes is pushed again.
            self.qp.forget_values();
        }
    }

    /// The references the OCP uses: the caller's, through the governor.
    fn govern(&mut self, x0: &SVector<f64, NX>) {
        match &self.spec.governor {
            Some(g) if x0.iter().all(|v| v.is_finite()) => {
                self.report.governed = self.target.govern(
                    g,
                    x0,
                    &self.x_goal,
                    self.spec.dt_secs,
                    self.spec.period_secs,
                    &mut self.x_ref,
                );
            }
            _ => self.x_ref.copy_from_slice(&self.x_goal),
        }
    }

    fn linearize_and_condense(&mut self) {
        self.qp.linearize(&self.model, &self.xs, &self.us);
        if let Some(sw) = &mut self.stagewise {
            // Condensed only if the stage-wise solve falls back.
            sw.osqp_stale = true;
            return;
        }
        self.condense_for_solver();
    }

    /// The QP OSQP solves, from the current linearisation.
    fn condense_for_solver(&mut self) {
        self.qp.condense(&self.layout, &self.spec);
        self.report.constraint_faults += self.evaluate_constraints();
        // State bounds are linear with constant gradients: with a linear
        // time-invariant model and no general constraints, `A` never changes.
        let constant_a = self.constraints.rows() == 0 && self.qp.reuses_jacobians();
        if constant_a {
            self.qp.keep_constraint_matrix();
        } else {
            self.qp.fill_constraint_matrix(&self.layout, &self.rows);
        }
    }

    /// Evaluates all constraint rows at the plan; returns how many were
    /// non-finite or bounded on a side their hook did not declare (those
    /// are made inactive).
    fn evaluate_constraints(&mut self) -> usize {
        let per = self.layout.rows_per_node;
        let n_bounds = self.spec.state_bounds.len();
        let mut faults = 0;
        for k in 1..=self.layout.horizon {
            let rows = &mut self.rows[(k - 1) * per..k * per];
            let x = &self.xs[k];
            for (row, b) in rows.iter_mut().zip(&self.spec.state_bounds) {
                let mut gradient = SVector::zeros();
                gradient[b.index] = 1.0;
                *row = ConstraintRow {
                    value: x[b.index],
                    gradient,
                    lower: b.min.unwrap_or(f64::NEG_INFINITY),
                    upper: b.max.unwrap_or(f64::INFINITY),
                };
            }
            let time = k as f64 * self.spec.dt_secs;
            self.constraints.evaluate(k, time, x, &mut rows[n_bounds..]);
            for (row, sides) in rows.iter_mut().zip(&self.layout.sides) {
                if !(row.is_finite() && sides.admits(row.lower, row.upper)) {
                    *row = ConstraintRow::INACTIVE;
                    faults += 1;
                }
            }
        }
        faults
    }

    /// Gradient and bounds for measured state `x0`, then the solve.
    fn feedback(&mut self, x0: &SVector<f64, NX>) -> Result<(), Failure> {
        if !x0.iter().all(|v| v.is_finite()) {
            return Err(Failure::NonFiniteState);
        }
        if !self.prepared {
            return Err(Failure::NotPrepared);
        }
        if let Some(result) = self.feedback_stagewise(x0) {
            return result;
        }
        if !self.prepare_fallback() {
            return Err(Failure::NotPrepared);
        }
        self.fill_bounds_and_cost(x0);
        if !self.qp_is_finite() {
            return Err(Failure::NonFiniteQp);
        }
        // A failed update is a factorisation that failed (a bound whose
        // type changed makes OSQP refactorise): OSQP's non-convex verdict.
        let solver_failed = Err(Failure::Qp(QpStatus::NonConvex));
        if self.solver.update_lin_cost(&self.q).is_err()
            || self.solver.update_bounds(&self.l, &self.u).is_err()
        {
            self.report.qp_status = QpStatus::NonConvex;
            return solver_failed;
        }
        // From the presolve's iterate, or (the plan was shifted and
        // re-linearised) from zero correction and the last solve's duals.
        if self.warm_start_feedback().is_err() {
            return solver_failed;
        }
        let solve = self.solver.solve();
        let (qp_status, solution) = (solve.status, solve.x);
        self.report.qp_status = qp_status;
        self.report.qp_iterations += solve.iterations;
        self.report.qp_rho_updates += solve.rho_updates;
        self.report.osqp_solve_secs += solve.solve_secs;
        self.report.qp_primal_residual = solve.primal_residual;
        self.counts.active_set_fallbacks += usize::from(solve.exact_fallback);
        self.report.sqp_iterations += 1;
        // OSQP reports `SolvedInaccurate` when a stopped iterate meets 10x
        // its tolerances; a bare iteration or time limit is used only when
        // its constraint violation is within `accept_primal_residual`.
        let accepted = match qp_status {
            QpStatus::Solved => true,
            QpStatus::SolvedInaccurate => self.spec.accept_inaccurate,
            QpStatus::MaxIterationsReached | QpStatus::TimeLimitReached => {
                self.spec.accept_inaccurate
                    && solve.primal_residual <= self.spec.accept_primal_residual
            }
            _ => false,
        };
        // Cleared below once this solve's duals are taken.
        self.solver_duals_stale = true;
        let Some(z) = solution.filter(|_| accepted) else {
            return Err(Failure::Qp(qp_status));
        };
        if !z.iter().all(|v| v.is_finite()) {
            return Err(Failure::NonFiniteSolution);
        }
        self.solution.copy_from_slice(z);
        let y = self.solver.duals();
        if y.iter().all(|v| v.is_finite()) {
            self.duals.copy_from_slice(y);
            self.solver_duals_stale = false;
        } else {
            self.duals.fill(0.0);
        }
        self.apply_correction(x0);
        if !self.plan_is_bounded() {
            return Err(Failure::Diverging);
        }
        Ok(())
    }

    /// Adds the QP's input corrections to the plan and rolls the linear
    /// prediction of the states forward from the measured state (in
    /// blocks, from each block's own start state: over a long horizon of
    /// unstable dynamics the rollout from `x0` amplified the ADMM residual
    /// of the coupling rows past 1e8, docs/performance.md, "P1 at N = 320").
    fn apply_correction(&mut self, x0: &SVector<f64, NX>) {
        let mut dx = x0 - self.xs[0];
        self.xs[0] = *x0;
        for k in 0..self.layout.horizon {
            let at = self.qp.input_var(&self.layout, k);
            let du = SVector::<f64, NU>::from_column_slice(&self.solution[at..at + NU]);
            self.us[k] += du;
            let (a, b, defect) = self.qp.interval(k);
            dx = a * dx + b * du + defect;
            if let Some(start) = self.qp.block_start_state(k + 1, &self.solution) {
                dx = start;
            }
            self.xs[k + 1] += dx;
        }
    }

    fn finish(
        &mut self,
        x0: &SVector<f64, NX>,
        result: Result<(), Failure>,
        command: &mut SVector<f64, NU>,
    ) {
        let (lo, hi) = (&self.spec.u_min, &self.spec.u_max);
        match result {
            Ok(()) => {
                self.consecutive_failures = 0;
                self.report.failure = None;
                self.report.outcome = if self.report.qp_status == QpStatus::Solved {
                    StepOutcome::Solved
                } else {
                    self.counts.inaccurate += 1;
                    StepOutcome::Inaccurate
                };
                *command = self.us[0].zip_zip_map(lo, hi, |v, lo, hi| v.clamp(lo, hi));
            }
            Err(failure) => {
                self.consecutive_failures += 1;
                self.report.failure = Some(failure);
                let shifted = self.us[0];
                let plan_usable = self.consecutive_failures <= self.spec.max_consecutive_failures
                    && shifted.iter().all(|v| v.is_finite());
                if plan_usable {
                    self.report.outcome = StepOutcome::FallbackPlan;
                    self.counts.plan += 1;
                    *command = shifted.zip_zip_map(lo, hi, |v, lo, hi| v.clamp(lo, hi));
                } else {
                    self.report.outcome = StepOutcome::FallbackSafe;
                    self.counts.safe += 1;
                    *command = self.safe_input_at(x0);
                }
            }
        }
        self.report.consecutive_failures = self.consecutive_failures;
    }

    /// The linear cost and the bounds: everything that depends on the
    /// measured state or the references.
    fn fill_bounds_and_cost(&mut self, x0: &SVector<f64, NX>) {
        let n = self.layout.horizon;
        let c = match &mut self.qp {
            Structure::Full(c) => c,
            Structure::Blocks(b) => {
                b.fill_cost_and_coupling(
                    x0 - self.xs[0],
                    (&self.xs, &self.us),
                    (&self.x_ref, &self.u_ref),
                    &self.spec,
                    &mut self.q,
                    &mut self.l,
                    &mut self.u,
                );
                self.fill_node_rows();
                return;
            }
        };
        // Free response of the linearised dynamics: dx_0 = x0 - xs_0.
        c.dx[0] = x0 - self.xs[0];
        for k in 0..n {
            c.dx[k + 1] = c.lin.a[k] * c.dx[k] + c.lin.defect[k];
        }
        // Gradient by the adjoint recursion: lambda_k = Q r_k + A_k' lambda_{k+1}.
        let mut lambda = self.spec.q_terminal * (self.xs[n] + c.dx[n] - self.x_ref[n]);
        for j in (0..n).rev() {
            let g = c.lin.b[j].transpose() * lambda + self.spec.r * (self.us[j] - self.u_ref[j]);
            for i in 0..NU {
                self.q[j * NU + i] = 2.0 * g[i];
            }
            if j > 0 {
                lambda = self.spec.q * (self.xs[j] + c.dx[j] - self.x_ref[j])
                    + c.lin.a[j].transpose() * lambda;
            }
        }
        for j in 0..n {
            for i in 0..NU {
                let r = j * NU + i;
                self.l[r] = finite_bound(self.spec.u_min[i] - self.us[j][i]);
                self.u[r] = finite_bound(self.spec.u_max[i] - self.us[j][i]);
            }
        }
        self.fill_node_rows();
    }

    /// Bounds of the constraint rows of nodes 1..=N, shifted by the free
    /// response, and the slacks' linear cost.
    fn fill_node_rows(&mut self) {
        let n = self.layout.horizon;
        let per = self.layout.rows_per_node;
        for k in 1..=n {
            let base = self.qp.node_row(&self.layout, k);
            let free = self.qp.free_response(k);
            for r in 0..per {
                let row = &self.rows[(k - 1) * per + r];
                let at = row.value + row.gradient.dot(&free);
                self.l[base + r] = finite_bound(row.lower - at);
                self.u[base + r] = finite_bound(row.upper - at);
                for (s, _) in self.layout.row_slacks(r) {
                    let (var, slack_row) = self.qp.slack(&self.layout, k, s);
                    self.q[var] = self.layout.slack_penalty(s).l1;
                    self.l[slack_row] = 0.0;
                    self.u[slack_row] = OSQP_INFINITY;
                }
            }
        }
    }

    fn qp_is_finite(&self) -> bool {
        self.q.iter().all(|v| v.is_finite())
            && self
                .l
                .iter()
                .zip(&self.u)
                .all(|(l, u)| !l.is_nan() && !u.is_nan() && l <= u)
    }

    /// Finite and below [`DIVERGED`] everywhere.
    fn plan_is_bounded(&self) -> bool {
        let ok = |v: &f64| v.is_finite() && v.abs() < DIVERGED;
        self.xs.iter().all(|x| x.iter().all(ok)) && self.us.iter().all(|u| u.iter().all(ok))
    }

    fn plan_is_finite(&self) -> bool {
        self.xs.iter().all(|x| x.iter().all(|v| v.is_finite()))
            && self.us.iter().all(|u| u.iter().all(|v| v.is_finite()))
    }

    /// Whether solves start from the duals shifted with the plan: fully
    /// condensed QPs with `osqp.shift_duals` (blocks handed OSQP their
    /// own unscaled duals back cost P1's closed loop 8%; they keep OSQP's).
    fn shifts_duals(&self) -> bool {
        self.spec.osqp.shift_duals && matches!(self.qp, Structure::Full(_))
    }

    /// Moves the plan `shift_secs` forward, interpolating linearly between
    /// nodes and repeating the last node past the horizon.
    fn shift(&mut self, shift_secs: f64) {
        if shift_secs <= 0.0 || !shift_secs.is_finite() {
            return;
        }
        let mut s = shift_secs / self.spec.dt_secs;
        if (s - s.round()).abs() < 1e-9 {
            s = s.round();
        }
        let n = self.layout.horizon;
        for k in 0..=n {
            self.scratch_x[k] = interpolate(&self.xs, k as f64 + s);
        }
        for k in 0..n {
            self.scratch_u[k] = interpolate(&self.us, k as f64 + s);
        }
        std::mem::swap(&mut self.xs, &mut self.scratch_x);
        std::mem::swap(&mut self.us, &mut self.scratch_u);
        if self.shifts_duals() {
            self.qp
                .shift_duals(&self.layout, s, &self.duals, &mut self.duals_scratch);
            std::mem::swap(&mut self.duals, &mut self.duals_scratch);
        }
    }
}

fn interpolate<const N: usize>(values: &[SVector<f64, N>], at: f64) -> SVector<f64, N> {
    let last = values.len() - 1;
    let i = at.floor();
    if i >= last as f64 {
        return values[last];
    }
    let i0 = i as usize;
    let frac = at - i;
    if frac == 0.0 {
        values[i0]
    } else {
        values[i0] * (1.0 - frac) + values[i0 + 1] * frac
    }
}

fn finite_bound(v: f64) -> f64 {
    // `clamp` keeps NaN, so the finiteness check downstream still sees it.
    v.clamp(-OSQP_INFINITY, OSQP_INFINITY)
}

fn csc<'a>(
    nrows: usize,
    ncols: usize,
    indptr: &'a [usize],
    indices: &'a [usize],
    values: &'a [f64],
) -> Csc<'a> {
    Csc {
        nrows,
        ncols,
        indptr,
        indices,
        values,
    }
}
