//! RTI's advanced step (`[controller.osqp] presolve_prediction`): the
//! preparation also solves the new QP for the state the plan predicts at
//! the next sample, so that the feedback, which only changes the QP's
//! linear terms by the measured state's difference from that prediction,
//! starts OSQP from a nearby solution (primal and dual iterates both kept
//! in OSQP's workspace) and stops after a few ADMM iterations. The
//! feedback still solves the measured state's QP to the configured
//! tolerances: the presolve only moves work from the sample to the time
//! between samples.

use recede_model::DiscreteModel;

use super::Mpc;
use crate::qp::QpError;
use crate::report::QpStatus;
use crate::StageConstraints;

/// What the last preparation's presolve left in OSQP's workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Presolve {
    /// None ran (off, unprepared, or a preparation without one since):
    /// solves start as they always did.
    NotRun,
    /// A finite iterate (primal and dual) for the predicted state.
    Ready,
    /// It ran and left nothing usable: OSQP's duals are that solve's, so
    /// the feedback starts from the last accepted ones instead (counted
    /// in `FallbackCounts::presolve_unused`).
    Unusable,
}

impl<M, C, const NX: usize, const NU: usize> Mpc<M, C, NX, NU>
where
    M: DiscreteModel<NX, NU>,
    C: StageConstraints<NX>,
{
    /// After a preparation: solves its QP for the plan's first node (where
    /// the shifted plan expects the robot at the next sample) with the
    /// references the governor would give there, and leaves the iterate in
    /// OSQP's workspace for the feedback. Changes neither the plan, the
    /// duals kept for fallbacks, nor the governor's memory.
    pub(super) fn presolve_prediction(&mut self) {
        self.presolve = Presolve::NotRun;
        self.report.presolve_qp_iterations = 0;
        self.report.presolve_status = QpStatus::NotRun;
        let predicted = self.xs[0];
        // The stage-wise solve is one recursion from the shifted plan's
        // active set: nothing for a presolve to move out of the feedback.
        if !(self.spec.osqp.presolve_prediction
            && self.stagewise.is_none()
            && self.prepared
            && predicted.iter().all(|v| v.is_finite()))
        {
            return;
        }
        // The governor's target moves once per feedback: look ahead on a
        // copy of its memory (plain values, no allocation).
        let (target, governed) = (self.target.clone(), self.report.governed);
        self.govern(&predicted);
        self.target = target;
        self.report.governed = governed;
        self.fill_bounds_and_cost(&predicted);
        if !self.qp_is_finite() {
            return;
        }
        // From here on OSQP's workspace changes: whatever happens, the
        // feedback must not take its iterate on trust.
        self.presolve = Presolve::Unusable;
        if self.solver.update_lin_cost(&self.q).is_err()
            || self.solver.update_bounds(&self.l, &self.u).is_err()
            || self.warm_start_from_plan(false).is_err()
        {
            return;
        }
        let solve = self.solver.solve();
        self.report.presolve_qp_iterations = solve.iterations;
        self.report.presolve_status = solve.status;
        let primal_finite = solve.x.is_some_and(|x| x.iter().all(|v| v.is_finite()));
        if primal_finite && self.solver.duals().iter().all(|v| v.is_finite()) {
            self.presolve = Presolve::Ready;
        }
    }

    /// How the feedback's first solve starts: from the presolve's iterate
    /// when there is one (nothing to hand OSQP), else as without it.
    pub(super) fn warm_start_feedback(&mut self) -> Result<(), QpError> {
        let presolve = std::mem::replace(&mut self.presolve, Presolve::NotRun);
        match presolve {
            Presolve::Ready => Ok(()),
            Presolve::Unusable => {
                self.counts.presolve_unused += 1;
                self.warm_start_from_plan(true)
            }
            Presolve::NotRun => self.warm_start_from_plan(false),
        }
    }

    /// How a solve starts without a presolve: zero correction (the plan
    /// was shifted and re-linearised), and the duals of the last solve:
    /// shifted with the plan by the preparation (`osqp.shift_duals`), or
    /// OSQP's own, in place, unless they are a failed presolve's
    /// (`hand_back`) or a failed solve's: then the last accepted ones are
    /// handed back.
    fn warm_start_from_plan(&mut self, hand_back: bool) -> Result<(), QpError> {
        if self.solver_duals_stale {
            // The rho a failed solve adapted to is no start for the next
            // (a feasible QP after an infeasible one ran to the cap).
            self.solver.reset_rho()?;
        }
        if self.shifts_duals() || hand_back || self.solver_duals_stale {
            self.solver.warm_start(&self.zeros, &self.duals)
        } else {
            self.solver.warm_start_x(&self.zeros)
        }
    }
}
