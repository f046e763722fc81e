//! The controller's side of the Riccati active set (`riccati.rs`,
//! `[controller.qp] solver = "riccati"` or `auto`'s choice): the
//! preparation only linearises (no QP is condensed or handed to OSQP);
//! the feedback solves the uncondensed QP stage-wise and corrects the plan
//! with its states and inputs. When it gives up, the blocks are condensed
//! and handed to OSQP then, and the step is solved as without it (counted
//! in `FallbackCounts::riccati_fallbacks`, or `soft_bound_fallbacks` when
//! a soft state bound's sides did not settle: its optimum on the kink).

use std::time::Instant;

use nalgebra::SVector;
use recede_model::DiscreteModel;

use super::Mpc;
use crate::report::{Failure, QpStatus};
use crate::riccati::{Cost, Dynamics, RiccatiBox, RiccatiFailure, SoftState};
use crate::StageConstraints;

/// The stage-wise solver and its data, allocated at setup.
#[derive(Debug)]
pub(super) struct Stagewise<const NX: usize, const NU: usize> {
    solver: RiccatiBox<NX, NU>,
    x_offset: Vec<SVector<f64, NX>>,
    u_offset: Vec<SVector<f64, NU>>,
    lo: Vec<SVector<f64, NU>>,
    hi: Vec<SVector<f64, NU>>,
    /// The soft state bounds, as `set_state_bound` left them.
    soft: Vec<SoftState>,
    /// OSQP's matrices belong to an older linearisation (none was
    /// condensed since): the fallback condenses first.
    pub osqp_stale: bool,
}

impl<const NX: usize, const NU: usize> Stagewise<NX, NU> {
    /// Room for `soft_count` soft state bounds.
    pub fn new(horizon: usize, soft_count: usize) -> Self {
        Self {
            solver: RiccatiBox::new(horizon, soft_count),
            x_offset: vec![SVector::zeros(); horizon + 1],
            u_offset: vec![SVector::zeros(); horizon],
            lo: vec![SVector::zeros(); horizon],
            hi: vec![SVector::zeros(); horizon],
            soft: Vec::with_capacity(soft_count),
            osqp_stale: true,
        }
    }
}

impl<M, C, const NX: usize, const NU: usize> Mpc<M, C, NX, NU>
where
    M: DiscreteModel<NX, NU>,
    C: StageConstraints<NX>,
{
    /// The stage-wise solve from `x0` (finite, prepared). `None`: it gave
    /// up, and the caller solves with OSQP; else the step's result, the
    /// plan corrected on success.
    pub(super) fn feedback_stagewise(
        &mut self,
        x0: &SVector<f64, NX>,
    ) -> Option<Result<(), Failure>> {
        let started = Instant::now();
        let sw = self.stagewise.as_mut()?;
        let n = self.layout.horizon;
        for k in 0..=n {
            sw.x_offset[k] = self.xs[k] - self.x_ref[k];
        }
        for k in 0..n {
            sw.u_offset[k] = self.us[k] - self.u_ref[k];
            sw.lo[k] = self.spec.u_min - self.us[k];
            sw.hi[k] = self.spec.u_max - self.us[k];
        }
        // Every state bound is soft (`Mpc::new` refuses hard ones here).
        sw.soft.clear();
        sw.soft
            .extend(self.spec.state_bounds.iter().filter_map(|b| {
                b.soft.map(|p| SoftState {
                    index: b.index,
                    min: b.min.unwrap_or(f64::NEG_INFINITY),
                    max: b.max.unwrap_or(f64::INFINITY),
                    l1: p.l1,
                    l2: p.l2,
                })
            }));
        let lin = self.qp.linearization();
        let dynamics = Dynamics {
            a: &lin.a,
            b: &lin.b,
            defect: &lin.defect,
        };
        let cost = Cost {
            q: &self.spec.q,
            q_terminal: &self.spec.q_terminal,
            r: &self.spec.r,
            x_offset: &sw.x_offset,
            u_offset: &sw.u_offset,
            soft: &sw.soft,
            x_plan: &self.xs,
        };
        let dx0 = x0 - self.xs[0];
        let solved = sw.solver.solve(&dynamics, &cost, (&sw.lo, &sw.hi), &dx0);
        self.report.osqp_solve_secs += started.elapsed().as_secs_f64();
        let rounds = match solved {
            Ok(rounds) => rounds,
            Err(RiccatiFailure::SoftBound) => {
                self.counts.soft_bound_fallbacks += 1;
                return None;
            }
            Err(_) => {
                self.counts.riccati_fallbacks += 1;
                return None;
            }
        };
        self.report.qp_status = QpStatus::Solved;
        self.report.qp_iterations += rounds;
        self.report.qp_primal_residual = 0.0;
        self.report.sqp_iterations += 1;
        let sw = self.stagewise.as_ref()?;
        self.xs[0] = *x0;
        for k in 0..n {
            self.us[k] += sw.solver.du[k];
            self.xs[k + 1] += sw.solver.dx[k + 1];
        }
        if !self.plan_is_bounded() {
            return Some(Err(Failure::Diverging));
        }
        Some(Ok(()))
    }

    /// Before OSQP solves in place of the stage-wise solve: the QP of the
    /// current linearisation condensed and handed over, if not yet. False
    /// when that failed (the step is then unprepared).
    pub(super) fn prepare_fallback(&mut self) -> bool {
        let stale = self
            .stagewise
            .as_mut()
            .map(|sw| std::mem::replace(&mut sw.osqp_stale, false));
        if stale == Some(true) {
            self.condense_for_solver();
            self.push_to_solver();
        }
        self.prepared
    }
}
