//! The simulator the loop drives: a true plant, a world and sensors,
//! advanced in fixed integration steps; readings queue until they are
//! available and come out in order of availability.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use nalgebra::Point3;
use recede_msg::{Reading, SensorId, SensorInfo};

use crate::config::{validate_sensors, PlantConfig, SensorConfig, WorldConfig};
use crate::plant::{BodyState, Plant};
use crate::sensors::{RenderCache, SampleContext, Sensor, SensorCounts};
use crate::world::World;
use crate::SimError;

/// A reading waiting for its availability time; ordered so the heap pops
/// the earliest available first, ties in the order they were taken.
#[derive(Debug)]
struct Pending {
    seq: u64,
    reading: Reading,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap.
        other
            .reading
            .stamp
            .available_secs
            .total_cmp(&self.reading.stamp.available_secs)
            .then(other.seq.cmp(&self.seq))
    }
}

#[derive(Debug)]
pub struct Simulator {
    plant: Box<dyn Plant>,
    world: World,
    sensors: Vec<Sensor>,
    pending: BinaryHeap<Pending>,
    seq: u64,
    step_index: u64,
    command: Vec<f64>,
    cache: RenderCache,
}

impl Simulator {
    /// A simulator at t = 0 with `plant` in its current state. Sensor `i`
    /// gets `SensorId(i)`; their random streams derive from `seed` and their
    /// names. Samples due at t = 0 are taken now.
    pub fn new(
        plant: Box<dyn Plant>,
        world: World,
        sensors: &[SensorConfig],
        seed: u64,
    ) -> Result<Self, SimError> {
        validate_sensors(sensors)?;
        let sensors = sensors
            .iter()
            .enumerate()
            .map(|(i, c)| Sensor::new(SensorId(i as u32), c, seed))
            .collect();
        let command = plant.applied_input().to_vec();
        let mut sim = Self {
            plant,
            world,
            sensors,
            pending: BinaryHeap::new(),
            seq: 0,
            step_index: 0,
            command,
            cache: RenderCache::default(),
        };
        sim.world.set_time(0.0);
        sim.sample_due();
        Ok(sim)
    }

    /// Builds plant, world and sensors from their config sections.
    pub fn from_config(
        plant: &PlantConfig,
        world: &WorldConfig,
        sensors: &[SensorConfig],
        seed: u64,
    ) -> Result<Self, SimError> {
        validate_sensors(sensors)?;
        let world = world.build()?;
        Self::new(plant.build(seed)?, world, sensors, seed)
    }

    /// Simulated time, s: a whole number of integration steps.
    pub fn time_secs(&self) -> f64 {
        self.step_index as f64 * self.plant.step_secs()
    }

    /// Holds `command` for `dt_secs` (rounded to whole integration steps).
    pub fn advance(&mut self, dt_secs: f64, command: &[f64]) -> Result<(), SimError> {
        if !(dt_secs.is_finite() && dt_secs >= 0.0) {
            return Err(SimError::BadTimeStep(dt_secs));
        }
        self.step_to(self.time_secs() + dt_secs, command)
    }

    /// Holds `command` until `t_secs` (rounded to the nearest integration
    /// step), sampling every sensor that falls due on the way.
    pub fn step_to(&mut self, t_secs: f64, command: &[f64]) -> Result<(), SimError> {
        let h = self.plant.step_secs();
        if !t_secs.is_finite() {
            return Err(SimError::BadTimeStep(t_secs));
        }
        if t_secs < self.time_secs() - 0.5 * h {
            return Err(SimError::TimeReversal {
                now_secs: self.time_secs(),
                target_secs: t_secs,
            });
        }
        if command.len() != self.plant.input_len() {
            return Err(SimError::CommandLength {
                expected: self.plant.input_len(),
                got: command.len(),
            });
        }
        if let Some((index, &value)) = command.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SimError::NonFiniteCommand { index, value });
        }
        self.command.clear();
        self.command.extend_from_slice(command);
        let target = (t_secs / h).round() as u64;
        while self.step_index < target {
            self.plant.step(self.time_secs(), command)?;
            self.step_index += 1;
            self.sample_due();
        }
        // Scripted objects move with the clock; placing them costs a
        // hierarchy rebuild, so only where someone looks.
        if self.world.time_secs() != self.time_secs() {
            self.world.set_time(self.time_secs());
        }
        Ok(())
    }

    fn sample_due(&mut self) {
        let t = self.time_secs();
        let tol = 0.5 * self.plant.step_secs();
        if !self.sensors.iter().any(|s| s.is_due(t, tol)) {
            return;
        }
        self.world.set_time(t);
        let body = self.plant.body();
        let ctx = SampleContext {
            t_secs: t,
            body: &body,
            encoder_angles_rad: self.plant.encoder_angles_rad(),
            world: &self.world,
        };
        for s in &mut self.sensors {
            if s.is_due(t, tol) {
                if let Some(reading) = s.sample(&ctx, &mut self.cache) {
                    self.pending.push(Pending {
                        seq: self.seq,
                        reading,
                    });
                    self.seq += 1;
                }
            }
        }
    }

    /// Every reading available by `now_secs` not yet delivered, in order of
    /// availability (ties in the order taken).
    pub fn poll(&mut self, now_secs: f64) -> Vec<Reading> {
        let mut out = Vec::new();
        self.poll_into(now_secs, &mut out);
        out
    }

    /// As [`Self::poll`], appending to `out`.
    pub fn poll_into(&mut self, now_secs: f64, out: &mut Vec<Reading>) {
        while let Some(p) = self.pending.peek() {
            if p.reading.stamp.available_secs > now_secs {
                break;
            }
            if let Some(p) = self.pending.pop() {
                out.push(p.reading);
            }
        }
    }

    /// Readings taken but not yet available.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    pub fn sensors(&self) -> impl Iterator<Item = &SensorInfo> {
        self.sensors.iter().map(|s| &s.info)
    }

    /// Per sensor (in id order): samples taken and samples lost to dropout.
    pub fn sensor_counts(&self) -> impl Iterator<Item = (&SensorInfo, SensorCounts)> {
        self.sensors.iter().map(|s| (&s.info, s.counts()))
    }

    pub fn sensor_by_name(&self, name: &str) -> Option<&SensorInfo> {
        self.sensors().find(|s| s.name == name)
    }

    /// The true state (for scoring; never for the controller).
    pub fn true_state(&self) -> &[f64] {
        self.plant.state()
    }

    /// The last command given.
    pub fn command(&self) -> &[f64] {
        &self.command
    }

    pub fn plant(&self) -> &dyn Plant {
        self.plant.as_ref()
    }

    /// Mutable access, e.g. to set the initial state.
    pub fn plant_mut(&mut self) -> &mut dyn Plant {
        self.plant.as_mut()
    }

    pub fn body(&self) -> BodyState {
        self.plant.body()
    }

    pub fn world(&self) -> &World {
        &self.world
    }

    /// Signed distance from `p` to the nearest obstacle's surface (objects,
    /// not the ground), m.
    pub fn distance_to_nearest_obstacle(&self, p: &Point3<f64>) -> f64 {
        self.world.distance_to_nearest_obstacle(p)
    }
}
