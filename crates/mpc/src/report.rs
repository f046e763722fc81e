//! What a controller step did, as plain `Copy` values.

/// OSQP's verdict on one QP, as a value (no borrow of the solver).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QpStatus {
    Solved,
    SolvedInaccurate,
    MaxIterationsReached,
    TimeLimitReached,
    PrimalInfeasible,
    DualInfeasible,
    NonConvex,
    /// The QP was not handed to OSQP (its data was not finite).
    NotRun,
}

/// Where the applied command came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// A QP solved to tolerance.
    Solved,
    /// A finite QP iterate that stopped early or inaccurately, accepted by
    /// policy (`fallback.accept_inaccurate`).
    Inaccurate,
    /// The step failed; the previous plan, shifted in time, was applied.
    FallbackPlan,
    /// Too many failures in a row (or no usable plan): the safe input.
    FallbackSafe,
}

impl StepOutcome {
    pub fn is_fallback(self) -> bool {
        matches!(self, Self::FallbackPlan | Self::FallbackSafe)
    }
}

/// Why a step fell back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The measured state had a non-finite entry.
    NonFiniteState,
    /// The QP's data (linearisation, costs, bounds) had a non-finite value.
    NonFiniteQp,
    /// OSQP returned a status the policy does not accept.
    Qp(QpStatus),
    /// OSQP returned a non-finite iterate.
    NonFiniteSolution,
    /// The QP could not be prepared along the plan: non-finite `P` or `A`,
    /// or a factorisation that failed.
    NotPrepared,
    /// The corrected plan left every plausible range (a state or input
    /// beyond 1e8): the linearisation no longer describes it.
    Diverging,
}

impl Failure {
    /// Failures of the plan itself, or of the QP built along it: the plan
    /// is re-initialised from the measured state instead of shifted. A QP
    /// that only ran out of iterations or time leaves the plan sound; a
    /// non-finite measurement says nothing about it.
    pub fn poisons_plan(self) -> bool {
        match self {
            Self::NonFiniteState => false,
            Self::Qp(status) => matches!(
                status,
                QpStatus::NonConvex | QpStatus::PrimalInfeasible | QpStatus::DualInfeasible
            ),
            Self::NonFiniteQp | Self::NonFiniteSolution | Self::NotPrepared | Self::Diverging => {
                true
            }
        }
    }
}

/// Fallbacks since a controller was built, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FallbackCounts {
    /// Steps that applied the previous plan, shifted.
    pub plan: usize,
    /// Steps that applied the safe input (policy).
    pub safe: usize,
    /// Plans re-initialised from the measured state after a failure that
    /// poisoned them.
    pub reinitialized: usize,
    /// Steps flown by the safe policy because the robot was upset (also
    /// counted in `safe`).
    pub recovering: usize,
    /// Steps that applied a QP iterate OSQP stopped early or solved
    /// inaccurately (outcome `Inaccurate`, `fallback.accept_inaccurate`):
    /// not fallbacks, but not solved to tolerance either.
    pub inaccurate: usize,
    /// Feedbacks that could not start from the preparation's presolve
    /// (`osqp.presolve_prediction` on, but that solve gave no usable
    /// iterate): they started as without it, from a zero correction.
    pub presolve_unused: usize,
    /// Solves the dense backend's exact box solve (`qp.active_set`) handed
    /// to its ADMM after its active-set rounds did not settle.
    pub active_set_fallbacks: usize,
    /// Solves the Riccati active set (`qp.solver = "riccati"`, or chosen
    /// by `auto`) handed to OSQP on blocks: its rounds did not settle, a
    /// stage's reduced Hessian was not positive definite, or a value was
    /// not finite.
    pub riccati_fallbacks: usize,
    /// Solves the Riccati active set handed to OSQP on blocks because a
    /// soft state bound's optimum sat on the penalty's kink (the bound
    /// itself): not in `riccati_fallbacks`.
    pub soft_bound_fallbacks: usize,
}

/// Statistics of the last step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    pub outcome: StepOutcome,
    pub failure: Option<Failure>,
    pub qp_status: QpStatus,
    /// ADMM iterations, summed over the step's SQP iterations.
    pub qp_iterations: u32,
    /// Rho updates inside the step's solves, summed: each refactorised
    /// OSQP's KKT system (as long as the preparation's one).
    pub qp_rho_updates: u32,
    pub sqp_iterations: usize,
    /// OSQP's own solve time (without matrix updates), summed.
    pub osqp_solve_secs: f64,
    /// OSQP's primal residual (largest constraint violation) at the last
    /// solve's iterate; infinite when none ran.
    pub qp_primal_residual: f64,
    /// Linearisation, condensing and matrix updates for the next step.
    pub prepare_secs: f64,
    /// From the measured state to the command (gradient, bounds, solve).
    pub feedback_secs: f64,
    pub consecutive_failures: usize,
    /// Constraint rows that came back non-finite and were dropped this step.
    pub constraint_faults: usize,
    /// The plan was re-initialised from the measured state after this
    /// step's failure ([`Failure::poisons_plan`]).
    pub reinitialized: bool,
    /// The governor moved the reference this step (the goal was further
    /// than its `max_lead`).
    pub governed: bool,
    /// The robot was upset: the safe policy flew this step
    /// (`Mpc::set_upset_test`).
    pub recovering: bool,
    /// The preparation's presolve for the predicted state
    /// (`osqp.presolve_prediction`): its ADMM iterations and OSQP's
    /// verdict (`NotRun` when off or when the QP could not be prepared).
    pub presolve_qp_iterations: u32,
    pub presolve_status: QpStatus,
}

impl Default for StepReport {
    fn default() -> Self {
        Self {
            outcome: StepOutcome::FallbackSafe,
            failure: Some(Failure::NotPrepared),
            qp_status: QpStatus::NotRun,
            qp_iterations: 0,
            qp_rho_updates: 0,
            sqp_iterations: 0,
            osqp_solve_secs: 0.0,
            qp_primal_residual: f64::INFINITY,
            prepare_secs: 0.0,
            feedback_secs: 0.0,
            consecutive_failures: 0,
            constraint_faults: 0,
            reinitialized: false,
            governed: false,
            recovering: false,
            presolve_qp_iterations: 0,
            presolve_status: QpStatus::NotRun,
        }
    }
}
