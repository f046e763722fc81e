//! What a tracking line scores, as a hook on the runner's loop (P2's
//! figure-eight, the arm's joint trajectories): squared errors against the
//! reference from a time on, the policy's step time, QP iterations,
//! fallbacks and saturated inputs at every control instant.

use recede_control::ReferenceConfig;
use recede_rt::{StepHook, StepRecord};
use recede_runner::stats::Percentiles;

/// Two squared errors of a true state against the reference state (a
/// problem's measures: P2's position; the arm's tip and joints).
pub type Errors = fn(x: &[f64], x_ref: &[f64]) -> [f64; 2];

/// Sees every control step of a run.
#[derive(Debug)]
pub struct TrackingScore {
    reference: ReferenceConfig,
    /// The errors are taken from this time on, s.
    from_secs: f64,
    errors: Errors,
    u_min: Vec<f64>,
    u_max: Vec<f64>,
    x_ref: Vec<f64>,
    u_ref: Vec<f64>,
    squared_errors: [f64; 2],
    pub evaluated: usize,
    pub step_us: Vec<f64>,
    pub qp_iterations: Vec<f64>,
    pub fallbacks: usize,
    saturated: usize,
}

impl TrackingScore {
    /// For `steps` control steps of a robot with `nx` states and inputs
    /// within `u_min..u_max`.
    pub fn new(
        reference: ReferenceConfig,
        from_secs: f64,
        errors: Errors,
        nx: usize,
        (u_min, u_max): (&[f64], &[f64]),
        steps: usize,
    ) -> Self {
        Self {
            reference,
            from_secs,
            errors,
            u_min: u_min.to_vec(),
            u_max: u_max.to_vec(),
            x_ref: vec![0.0; nx],
            u_ref: vec![0.0; u_min.len()],
            squared_errors: [0.0; 2],
            evaluated: 0,
            step_us: Vec::with_capacity(steps),
            qp_iterations: Vec::with_capacity(steps),
            fallbacks: 0,
            saturated: 0,
        }
    }

    /// Root mean square of measure `i` over the evaluated control instants.
    pub fn rmse(&self, i: usize) -> f64 {
        (self.squared_errors[i] / self.evaluated.max(1) as f64).sqrt()
    }

    pub fn steps(&self) -> usize {
        self.step_us.len()
    }

    /// Applied inputs at a bound (within 1e-9), over all control steps.
    pub fn saturated_fraction(&self) -> f64 {
        self.saturated as f64 / (self.steps() * self.u_min.len()).max(1) as f64
    }

    pub fn step_percentiles(&self) -> Percentiles {
        Percentiles::of(&self.step_us)
    }
}

impl StepHook for TrackingScore {
    fn on_step(&mut self, r: &StepRecord<'_>) {
        let (x, u) = (r.true_state, r.command);
        if x.len() != self.x_ref.len() || u.len() != self.u_min.len() {
            return;
        }
        if r.t_secs >= self.from_secs - 1e-9 {
            self.reference
                .sample(r.t_secs, &mut self.x_ref, &mut self.u_ref);
            let e = (self.errors)(x, &self.x_ref);
            self.squared_errors[0] += e[0];
            self.squared_errors[1] += e[1];
            self.evaluated += 1;
        }
        self.step_us.push(r.compute_secs * 1e6);
        if let Some(status) = r.status {
            self.qp_iterations.push(f64::from(status.iterations));
            self.fallbacks += usize::from(status.fell_back);
        }
        self.saturated += (0..u.len())
            .filter(|&j| u[j] <= self.u_min[j] + 1e-9 || u[j] >= self.u_max[j] - 1e-9)
            .count();
    }
}
