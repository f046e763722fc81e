/// Saturation, then a slew-rate limit, then a first-order lag, per channel.
///
/// With no rate limit (infinite) and no lag (zero time constant) the applied
/// input is the saturated command, bit for bit.
#[derive(Debug, Clone, PartialEq)]
pub struct Actuator<const NU: usize> {
    pub lower: [f64; NU],
    pub upper: [f64; NU],
    /// Largest change of the (saturated) command per second; infinite = none.
    pub rate_limit_per_sec: [f64; NU],
    /// First-order lag time constant, s; 0 = none.
    pub lag_time_constant_secs: f64,
    slewed: [f64; NU],
    applied: [f64; NU],
}

impl<const NU: usize> Actuator<NU> {
    /// An actuator at rest applying `initial` (clamped to the limits).
    pub fn new(lower: [f64; NU], upper: [f64; NU], initial: [f64; NU]) -> Self {
        let start = std::array::from_fn(|i| initial[i].clamp(lower[i], upper[i].max(lower[i])));
        Self {
            lower,
            upper,
            rate_limit_per_sec: [f64::INFINITY; NU],
            lag_time_constant_secs: 0.0,
            slewed: start,
            applied: start,
        }
    }

    /// Advances by `h_secs` towards `command`; returns the input applied
    /// over the step.
    pub fn update(&mut self, command: &[f64; NU], h_secs: f64) -> &[f64; NU] {
        let alpha = if self.lag_time_constant_secs > 0.0 {
            1.0 - (-h_secs / self.lag_time_constant_secs).exp()
        } else {
            1.0
        };
        for i in 0..NU {
            let c = command[i].max(self.lower[i]).min(self.upper[i]);
            let max_step = self.rate_limit_per_sec[i] * h_secs;
            let s = if max_step.is_finite() {
                c.clamp(self.slewed[i] - max_step, self.slewed[i] + max_step)
            } else {
                c
            };
            self.slewed[i] = s;
            self.applied[i] = if alpha >= 1.0 {
                s
            } else {
                self.applied[i] + alpha * (s - self.applied[i])
            };
        }
        &self.applied
    }

    pub fn applied(&self) -> &[f64; NU] {
        &self.applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates_slews_and_lags() {
        let mut a = Actuator::<1>::new([-1.0], [1.0], [0.0]);
        assert_eq!(a.update(&[5.0], 0.001), &[1.0]);
        a.rate_limit_per_sec = [10.0];
        assert!((a.update(&[-1.0], 0.01)[0] - 0.9).abs() < 1e-12);
        let mut lag = Actuator::<1>::new([-10.0], [10.0], [0.0]);
        lag.lag_time_constant_secs = 0.1;
        let mut y = 0.0;
        for _ in 0..100 {
            y = lag.update(&[1.0], 0.001)[0];
        }
        assert!((y - (1.0 - (-1.0f64).exp())).abs() < 1e-9, "{y}");
    }
}
