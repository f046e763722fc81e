//! When ADMM adapts rho, for both backends: every `interval` iterations
//! as OSQP does, but past the first [`FIRST_STAGE`] adaptation points,
//! once rho has reversed direction (up then down, or down then up)
//! [`REVERSALS_PER_INTERVAL`] times at one interval, the interval
//! doubles.
//!
//! Why: OSQP's rule (rho times the square root of the normalised residual
//! ratio, adopted when it moves by 5x) has no convergence guarantee, and
//! some QPs lock ADMM into a limit cycle. Found by `tests/qp_reference.rs`
//! (seeds 26 and 39): a 2-state, 2-stage QP cycled rho 0.075 -> 35 -> 1e6
//! -> 6442 -> 0.075 every 100 iterations with the same residuals (primal
//! 1.2, dual 37) for all of its 200,000 iterations (8,000 rho updates).
//! ADMM converges for any fixed rho, so stretches of fixed rho that grow
//! without bound end such a cycle. Only reversals count: doubling the
//! interval of a solve whose rho moves one way (slow, not cycling) made
//! another case (seed 137, unscaled, ill-conditioned) run out of
//! iterations. The first stage (500 iterations at OSQP's interval of 25)
//! is OSQP's rule unchanged, run by OSQP in one call (`qp.rs`); every
//! solve in configs/ stops well within it, bit for bit as before.

/// Reversals of rho's direction at one interval before it doubles.
pub(crate) const REVERSALS_PER_INTERVAL: u32 = 20;

/// Adaptation points at the configured interval before reversals count.
pub(crate) const FIRST_STAGE: u32 = 20;

/// The adaptation points of one solve.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RhoSchedule {
    interval: u32,
    next: u32,
    /// Reversals count from adaptation points after this iteration.
    counted_after: u32,
    /// The adaptation point `adapts_at` last returned.
    at: u32,
    /// The direction of the last update (+1 up, -1 down, 0 none yet).
    last: i8,
    reversals: u32,
}

impl RhoSchedule {
    /// For a solve that starts at iteration 1 with `interval` (> 0).
    pub fn new(interval: u32) -> Self {
        let interval = interval.max(1);
        Self {
            interval,
            next: interval,
            counted_after: interval.saturating_mul(FIRST_STAGE),
            at: 0,
            last: 0,
            reversals: 0,
        }
    }

    /// Whether rho may be adapted after iteration `iter` (called with
    /// every iteration, in order).
    pub fn adapts_at(&mut self, iter: u32) -> bool {
        if iter != self.next {
            return false;
        }
        self.at = iter;
        self.next = self.next.saturating_add(self.interval);
        true
    }

    /// Rho was changed from `old` to `new` at the last adaptation point.
    pub fn updated(&mut self, old: f64, new: f64) {
        if self.at <= self.counted_after {
            return;
        }
        let direction = if new > old { 1 } else { -1 };
        if self.last != 0 && direction != self.last {
            self.reversals += 1;
            if self.reversals == REVERSALS_PER_INTERVAL {
                self.reversals = 0;
                // From the next adaptation point on.
                self.next = self.next.saturating_add(self.interval);
                self.interval = self.interval.saturating_mul(2);
            }
        }
        self.last = direction;
    }

    /// The interval between adaptation points now.
    pub fn interval(&self) -> u32 {
        self.interval
    }

    /// Iterations of the first stage (OSQP's rule unchanged).
    pub fn first_stage(&self) -> u32 {
        self.counted_after
    }

    /// For a solver that runs one interval per call: the call that ends
    /// at iteration `iter` adapted rho there.
    pub fn ran_to(&mut self, iter: u32) {
        self.at = iter;
        self.next = iter.saturating_add(self.interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycling_rho_doubles_the_interval_after_the_first_stage_and_twenty_reversals() {
        let mut s = RhoSchedule::new(25);
        let mut points = Vec::new();
        let mut rho = 1.0;
        for iter in 1..=2000 {
            if s.adapts_at(iter) {
                points.push(iter);
                // Up, down, up, ...: every update after the first reverses.
                let new = if points.len() % 2 == 1 {
                    rho * 10.0
                } else {
                    rho / 10.0
                };
                s.updated(rho, new);
                rho = new;
            }
        }
        // 20 points at 25 (the first stage, not counted), then 21 more
        // updates, the last of them the 20th counted reversal.
        let first: Vec<u32> = (1..=41).map(|k| 25 * k).collect();
        assert_eq!(&points[..41], &first[..]);
        assert_eq!(points[41], 1025 + 50);
        assert_eq!(s.interval(), 50);
    }

    #[test]
    fn a_rho_moving_one_way_keeps_the_interval() {
        let mut s = RhoSchedule::new(25);
        let mut rho = 1.0;
        for iter in 1..=5000 {
            if s.adapts_at(iter) {
                s.updated(rho, rho * 10.0);
                rho *= 10.0;
            }
        }
        assert_eq!(s.interval(), 25);
    }
}
