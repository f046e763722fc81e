//! The plain data that crosses the boundary: status codes, statistics,
//! dimensions.

use recede_mpc::{Failure, QpStatus, StepOutcome, StepReport};

/// What a call did. `>= 0`: the call succeeded and (for `recede_step` and
/// `recede_feedback`) the command buffer holds a command to apply; `< 0`:
/// nothing was written and the controller is unchanged.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecedeStatus {
    /// Success; for a step, a QP solution (to tolerance, or an inaccurate
    /// iterate accepted by `fallback.accept_inaccurate`) was applied.
    Ok = 0,
    /// The step's QP failed; the command is the previous plan shifted in
    /// time (clipped to the input bounds). Not an error: apply it.
    FallbackPlan = 1,
    /// Too many failures in a row, or no usable plan: the command is the
    /// configured safe input. Not an error: apply it.
    FallbackSafe = 2,
    /// A required pointer is NULL or not aligned for its type.
    NullPointer = -1,
    /// An array has the wrong number of elements (see `recede_dimensions`).
    WrongLength = -2,
    /// A time, state or reference value is NaN or infinite.
    NonFinite = -3,
    /// The TOML text or the firmware blob is not valid, or names a key or
    /// value the robot or the controller rejects (the message names it).
    Config = -4,
    // -5 is retired (it meant "residual model files not supported yet").
    /// A panic was caught (a bug). The handle is poisoned: destroy it.
    Panicked = -6,
    /// A setter's value is out of range (a negative weight, crossed bounds,
    /// an unknown parameter or slot); the message names it. Nothing changed.
    InvalidValue = -7,
    /// Calls out of order: `recede_feedback` twice without
    /// `recede_prepare` between, or `recede_prepare` without a feedback
    /// before it. Nothing changed.
    Sequence = -8,
    /// `recede_create_from_blob_in_buffer`: the caller's buffer cannot hold
    /// the controller (`recede_required_memory` says how many bytes it
    /// needs). Nothing was created.
    BufferTooSmall = -9,
}

/// Where the last step's command came from.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecedeOutcome {
    /// A QP solved to tolerance.
    Solved = 0,
    /// A finite QP iterate that stopped early or inaccurately, accepted.
    Inaccurate = 1,
    /// Fallback level 1: the previous plan, shifted.
    FallbackPlan = 2,
    /// Fallback level 2: the safe input.
    FallbackSafe = 3,
}

/// Why the last step fell back.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecedeFailure {
    None = 0,
    /// The state had a non-finite entry (the interface rejects those before
    /// stepping, so this is not expected through it).
    NonFiniteState = 1,
    /// The QP's data had a non-finite value.
    NonFiniteQp = 2,
    /// OSQP returned a status the policy does not accept (see `qp_status`).
    QpStatus = 3,
    /// OSQP returned a non-finite iterate.
    NonFiniteSolution = 4,
    /// The QP could not be prepared (its matrices were not finite, or
    /// OSQP's factorisation failed).
    NotPrepared = 5,
    /// The corrected plan diverged (a state or input beyond 1e8); the plan
    /// was re-initialised from the measured state.
    Diverging = 6,
}

/// OSQP's verdict on the last QP.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecedeQpStatus {
    Solved = 0,
    SolvedInaccurate = 1,
    MaxIterationsReached = 2,
    TimeLimitReached = 3,
    PrimalInfeasible = 4,
    DualInfeasible = 5,
    NonConvex = 6,
    /// The QP was not handed to OSQP.
    NotRun = 7,
}

/// Statistics of the last step, written into caller-owned memory by
/// [`crate::recede_last_stats`]. Before the first step, `steps` is 0 and
/// the rest describes no step.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecedeStats {
    /// Feedbacks (steps) taken since creation (rejected calls are not
    /// counted).
    pub steps: u64,
    /// The `time_secs` passed to the last step or feedback.
    pub time_secs: f64,
    /// OSQP's own solve time, summed over the step's SQP iterations, s.
    pub solve_secs: f64,
    /// The feedback: from the state to the command (gradient, bounds,
    /// solve), s. Measured inside the library.
    pub feedback_secs: f64,
    /// The last preparation: shift, linearisation and condensing of the
    /// next QP, s (0 between a feedback and its preparation).
    pub prepare_secs: f64,
    /// A re-preparation without shift that the last feedback ran first
    /// because a setter changed weights, state bounds, obstacles or
    /// parameters since the last preparation, s (0 when none was needed).
    pub refresh_secs: f64,
    /// ADMM iterations, summed over the step's SQP iterations.
    pub qp_iterations: u32,
    pub sqp_iterations: u32,
    /// Failed steps in a row, this one included.
    pub consecutive_failures: u32,
    /// Constraint rows dropped this step because they were not finite.
    pub constraint_faults: u32,
    /// Where the command came from; the fallback level is
    /// `outcome - RECEDE_OUTCOME_INACCURATE` when positive.
    pub outcome: RecedeOutcome,
    pub failure: RecedeFailure,
    pub qp_status: RecedeQpStatus,
    /// The last preparation's solve for the predicted state
    /// (`[controller.osqp] presolve_prediction`), which the next feedback
    /// starts from: its ADMM iterations (0 and `NOT_RUN` when off).
    pub presolve_qp_iterations: u32,
    pub presolve_status: RecedeQpStatus,
}

/// Sizes of a controller's arrays, from [`crate::recede_dimensions`].
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecedeDimensions {
    /// States: the length of `state` arrays.
    pub nx: usize,
    /// Inputs: the length of the command buffer.
    pub nu: usize,
    /// Shooting intervals N.
    pub horizon: usize,
    /// Length of a state reference window: `(horizon + 1) * nx`.
    pub reference_len: usize,
    /// Length of an input reference window: `horizon * nu`.
    pub input_reference_len: usize,
    /// The plan is shifted by this much after every step, s: call
    /// `recede_step` (or `recede_feedback`) at this period.
    pub period_secs: f64,
    /// Length of one shooting interval, s.
    pub dt_secs: f64,
    /// State bounds configured in the scenario: the slots
    /// `recede_set_state_bound` changes.
    pub state_bounds: usize,
    /// Obstacle slots (`[perception.constraints] max_obstacles` when the
    /// table is given and the robot moves among obstacles, else 0).
    pub obstacle_slots: usize,
    /// Physical parameters `recede_set_parameter` accepts.
    pub parameters: usize,
}

pub(crate) fn stats(steps: u64, time_secs: f64, refresh_secs: f64, r: &StepReport) -> RecedeStats {
    let saturate = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    RecedeStats {
        steps,
        time_secs,
        solve_secs: r.osqp_solve_secs,
        feedback_secs: r.feedback_secs,
        prepare_secs: r.prepare_secs,
        refresh_secs,
        qp_iterations: r.qp_iterations,
        sqp_iterations: saturate(r.sqp_iterations),
        consecutive_failures: saturate(r.consecutive_failures),
        constraint_faults: saturate(r.constraint_faults),
        outcome: outcome(r.outcome),
        failure: match r.failure {
            None => RecedeFailure::None,
            Some(Failure::NonFiniteState) => RecedeFailure::NonFiniteState,
            Some(Failure::NonFiniteQp) => RecedeFailure::NonFiniteQp,
            Some(Failure::Qp(_)) => RecedeFailure::QpStatus,
            Some(Failure::NonFiniteSolution) => RecedeFailure::NonFiniteSolution,
            Some(Failure::NotPrepared) => RecedeFailure::NotPrepared,
            Some(Failure::Diverging) => RecedeFailure::Diverging,
        },
        qp_status: qp_status(r.qp_status),
        presolve_qp_iterations: r.presolve_qp_iterations,
        presolve_status: qp_status(r.presolve_status),
    }
}

fn qp_status(s: QpStatus) -> RecedeQpStatus {
    match s {
        QpStatus::Solved => RecedeQpStatus::Solved,
        QpStatus::SolvedInaccurate => RecedeQpStatus::SolvedInaccurate,
        QpStatus::MaxIterationsReached => RecedeQpStatus::MaxIterationsReached,
        QpStatus::TimeLimitReached => RecedeQpStatus::TimeLimitReached,
        QpStatus::PrimalInfeasible => RecedeQpStatus::PrimalInfeasible,
        QpStatus::DualInfeasible => RecedeQpStatus::DualInfeasible,
        QpStatus::NonConvex => RecedeQpStatus::NonConvex,
        QpStatus::NotRun => RecedeQpStatus::NotRun,
    }
}

fn outcome(o: StepOutcome) -> RecedeOutcome {
    match o {
        StepOutcome::Solved => RecedeOutcome::Solved,
        StepOutcome::Inaccurate => RecedeOutcome::Inaccurate,
        StepOutcome::FallbackPlan => RecedeOutcome::FallbackPlan,
        StepOutcome::FallbackSafe => RecedeOutcome::FallbackSafe,
    }
}

/// The status a step's outcome maps to: fallbacks are non-fatal codes.
pub(crate) fn step_status(o: StepOutcome) -> RecedeStatus {
    match o {
        StepOutcome::Solved | StepOutcome::Inaccurate => RecedeStatus::Ok,
        StepOutcome::FallbackPlan => RecedeStatus::FallbackPlan,
        StepOutcome::FallbackSafe => RecedeStatus::FallbackSafe,
    }
}
