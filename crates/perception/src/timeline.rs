//! Late and out-of-order measurements: the filter's state after every event
//! of the last `history_secs` is kept, so a measurement stamped in the past
//! is fused at its own instant and everything after it is replayed.

use std::collections::VecDeque;

use nalgebra::{Isometry3, Vector3};

use crate::kalman::Outcome;

/// Inputs and measurements as the filters use them, already in the body
/// frame (the facade applies each sensor's mount).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Event {
    /// IMU sample rotated into the body frame.
    Imu {
        specific_force_body: Vector3<f64>,
        gyro_body: Vector3<f64>,
    },
    /// Position of a point `lever_body_m` on the body, and the body's yaw.
    Fix {
        position_m: Vector3<f64>,
        yaw_rad: f64,
        lever_body_m: Vector3<f64>,
    },
    /// Encoder ticks, channels `0..channels`.
    Encoders {
        ticks: [i64; recede_msg::MAX_DIM],
        channels: usize,
    },
    /// The command applied from now on.
    Command {
        input: [f64; recede_msg::MAX_DIM],
        len: usize,
    },
}

/// A filter the timeline can replay: cheap to clone (fixed sizes only).
pub(crate) trait Filter: Clone {
    /// The instant the filter's state describes, s.
    fn time(&self) -> f64;
    /// Predicts forward to `t_secs` (nothing when `t_secs` is not later).
    fn predict_to(&mut self, t_secs: f64);
    /// Fuses `event`, taken at the filter's current time.
    fn apply(&mut self, event: &Event) -> Outcome;
    /// The robot's state and a standard deviation per state entry.
    fn write(&self, state: &mut [f64], std: &mut [f64]);
    /// The estimated pose of the body.
    fn world_from_body(&self) -> Isometry3<f64>;
}

#[derive(Debug, Clone)]
struct Entry<F> {
    stamp: f64,
    event: Event,
    after: F,
}

/// The filter over a sliding window of events.
#[derive(Debug, Clone)]
pub(crate) struct Timeline<F> {
    /// State before the first kept event.
    base: F,
    entries: VecDeque<Entry<F>>,
    history_secs: f64,
    capacity: usize,
}

impl<F: Filter> Timeline<F> {
    /// `capacity` bounds the kept events whatever their rate.
    pub fn new(filter: F, history_secs: f64, capacity: usize) -> Self {
        Self {
            base: filter,
            entries: VecDeque::with_capacity(capacity + 1),
            history_secs,
            capacity: capacity.max(1),
        }
    }

    /// Fuses `event` stamped `stamp_secs`, replaying later events.
    pub fn insert(&mut self, stamp_secs: f64, event: Event) -> Outcome {
        if stamp_secs < self.base.time() {
            return Outcome::TooLate;
        }
        let idx = self.entries.partition_point(|e| e.stamp <= stamp_secs);
        let mut f = match idx {
            0 => self.base.clone(),
            i => self.entries[i - 1].after.clone(),
        };
        f.predict_to(stamp_secs);
        let outcome = f.apply(&event);
        self.entries.insert(
            idx,
            Entry {
                stamp: stamp_secs,
                event,
                after: f,
            },
        );
        for j in idx + 1..self.entries.len() {
            let mut f = self.entries[j - 1].after.clone();
            let e = &self.entries[j];
            f.predict_to(e.stamp);
            let event = e.event;
            f.apply(&event);
            self.entries[j].after = f;
        }
        self.prune();
        outcome
    }

    fn prune(&mut self) {
        let newest = self.entries.back().map_or(f64::NEG_INFINITY, |e| e.stamp);
        while let Some(front) = self.entries.front() {
            if self.entries.len() > self.capacity || front.stamp < newest - self.history_secs {
                if let Some(e) = self.entries.pop_front() {
                    self.base = e.after;
                }
            } else {
                break;
            }
        }
    }

    /// The filter predicted to `t_secs` from the last event at or before it
    /// (the oldest kept state when `t_secs` is older than the window).
    pub fn at(&self, t_secs: f64) -> F {
        let idx = self.entries.partition_point(|e| e.stamp <= t_secs);
        let mut f = match idx {
            0 => self.base.clone(),
            i => self.entries[i - 1].after.clone(),
        };
        f.predict_to(t_secs);
        f
    }
}
