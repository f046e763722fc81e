use nalgebra::Vector3;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::config::{DropoutConfig, OutlierConfig};

/// Dropout and outliers of one sensor, drawn from its event stream.
#[derive(Debug, Clone)]
pub struct Faults {
    pub dropout: DropoutConfig,
    pub outliers: OutlierConfig,
    pub rng: ChaCha8Rng,
}

impl Faults {
    /// Whether the sample at `t_secs` is lost. Draws once per call whatever
    /// the outcome, so the stream does not depend on the schedule.
    pub fn dropped(&mut self, t_secs: f64) -> bool {
        let draw: f64 = self.rng.random();
        let in_outage = self
            .dropout
            .outages
            .iter()
            .any(|o| t_secs >= o.start_secs && t_secs < o.end_secs);
        in_outage || draw < self.dropout.probability
    }

    /// `Some(offset)` when this reading (or pixel) is an outlier: a random
    /// sign times the magnitude (NaN with `outliers.nan`).
    pub fn scalar_outlier(&mut self) -> Option<f64> {
        let p = self.outliers.probability;
        if p <= 0.0 {
            return None;
        }
        let draw: f64 = self.rng.random();
        (draw < p).then(|| {
            let sign = if self.rng.random::<bool>() { 1.0 } else { -1.0 };
            if self.outliers.nan {
                f64::NAN
            } else {
                sign * self.outliers.magnitude
            }
        })
    }

    /// `Some(offset)` of length `magnitude` in a random direction.
    pub fn vector_outlier(&mut self) -> Option<Vector3<f64>> {
        let p = self.outliers.probability;
        if p <= 0.0 {
            return None;
        }
        let draw: f64 = self.rng.random();
        (draw < p).then(|| {
            let d = Vector3::from_fn(|_, _| self.rng.sample::<f64, _>(StandardNormal));
            let n = d.norm();
            if self.outliers.nan {
                Vector3::repeat(f64::NAN)
            } else if n > 0.0 {
                d * (self.outliers.magnitude / n)
            } else {
                Vector3::x() * self.outliers.magnitude
            }
        })
    }
}
