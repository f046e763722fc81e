//! What a P2 line scores, as a hook on the runner's loop: the position
//! error against the figure-eight from the evaluated lap on, the policy's
//! step time, QP iterations, fallbacks and saturated thrusts at every
//! control instant.

use recede_control::ReferenceConfig;
use recede_model::robots::quadrotor::{NU, NX};
use recede_model::robots::Quadrotor;
use recede_rt::{StepHook, StepRecord};
use recede_runner::stats::Percentiles;

/// Sees every control step of a P2 run.
#[derive(Debug)]
pub(super) struct EightScore {
    reference: ReferenceConfig,
    /// The RMSE is taken from this time on, s.
    from_secs: f64,
    u_min: [f64; NU],
    u_max: [f64; NU],
    x_ref: [f64; NX],
    u_ref: [f64; NU],
    squared_error: f64,
    pub evaluated: usize,
    pub step_us: Vec<f64>,
    pub qp_iterations: Vec<f64>,
    pub fallbacks: usize,
    saturated: usize,
}

impl EightScore {
    pub fn new(reference: ReferenceConfig, from_secs: f64, steps: usize) -> Self {
        let bounds = Quadrotor::default().input_bounds();
        Self {
            reference,
            from_secs,
            u_min: bounds.lower,
            u_max: bounds.upper,
            x_ref: [0.0; NX],
            u_ref: [0.0; NU],
            squared_error: 0.0,
            evaluated: 0,
            step_us: Vec::with_capacity(steps),
            qp_iterations: Vec::with_capacity(steps),
            fallbacks: 0,
            saturated: 0,
        }
    }

    /// Position RMSE over the evaluated control instants, m.
    pub fn rmse_m(&self) -> f64 {
        (self.squared_error / self.evaluated.max(1) as f64).sqrt()
    }

    pub fn steps(&self) -> usize {
        self.step_us.len()
    }

    /// Applied thrusts at 0 or 8 N (within 1e-9), over all control steps.
    pub fn saturated_fraction(&self) -> f64 {
        self.saturated as f64 / (self.steps() * NU).max(1) as f64
    }

    pub fn step_percentiles(&self) -> Percentiles {
        Percentiles::of(&self.step_us)
    }
}

impl StepHook for EightScore {
    fn on_step(&mut self, r: &StepRecord<'_>) {
        let (x, u) = (r.true_state, r.command);
        if x.len() != NX || u.len() != NU {
            return;
        }
        if r.t_secs >= self.from_secs - 1e-9 {
            self.reference
                .sample(r.t_secs, &mut self.x_ref, &mut self.u_ref);
            self.squared_error += (0..3).map(|i| (x[i] - self.x_ref[i]).powi(2)).sum::<f64>();
            self.evaluated += 1;
        }
        self.step_us.push(r.compute_secs * 1e6);
        if let Some(status) = r.status {
            self.qp_iterations.push(f64::from(status.iterations));
            self.fallbacks += usize::from(status.fell_back);
        }
        self.saturated += (0..NU)
            .filter(|&j| u[j] <= self.u_min[j] + 1e-9 || u[j] >= self.u_max[j] - 1e-9)
            .count();
    }
}
