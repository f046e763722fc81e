//! `recede bench`: the reference problems of docs/benchmarks.md and the
//! robustness cases (`robust`), one JSON object per line.

pub mod arm;
pub mod learned;
pub mod p1;
pub mod p2;
pub mod p3;
pub mod robust;
pub mod scale;
pub mod scenarios;
pub mod score;
pub mod soft;
pub mod stepping;

use std::time::Instant;

/// Microseconds since `start`.
pub fn micros_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e6
}

/// Median and maximum of iteration counts.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct IterationStats {
    pub median: u32,
    pub max: u32,
}

impl IterationStats {
    pub fn of(values: &[u32]) -> Self {
        let mut v = values.to_vec();
        v.sort_unstable();
        Self {
            median: v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0),
            max: v.last().copied().unwrap_or(0),
        }
    }
}
