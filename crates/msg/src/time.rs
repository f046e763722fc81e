use serde::{Deserialize, Serialize};

/// When a measurement describes the world and when a consumer can have it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stamp {
    /// The instant the measurement describes, s.
    pub stamp_secs: f64,
    /// The instant it becomes available to a consumer: `stamp_secs` plus the
    /// sensor's latency, s. Never earlier than `stamp_secs`.
    pub available_secs: f64,
}

impl Stamp {
    /// A stamp for a sample taken at `stamp_secs` that arrives `latency_secs`
    /// later.
    pub fn new(stamp_secs: f64, latency_secs: f64) -> Self {
        Self {
            stamp_secs,
            available_secs: stamp_secs + latency_secs,
        }
    }

    /// The latency this stamp carries, s.
    pub fn latency_secs(&self) -> f64 {
        self.available_secs - self.stamp_secs
    }
}
