//! The simulator as the loop's world.

use nalgebra::Point3;
use recede_msg::{Reading, SensorInfo};
use recede_rt::{World, WorldError};
use recede_sim::Simulator;

/// Threads rendering camera images besides the loop's own, unless told
/// otherwise. Lockstep runs do not depend on it.
pub const DEFAULT_RENDER_WORKERS: usize = 2;

/// A [`Simulator`] behind [`World`]: physics at the plant's rate, sensors
/// at theirs, and ground truth (the true state, the clearance) for
/// scoring.
#[derive(Debug)]
pub struct SimWorld<'a> {
    sim: &'a mut Simulator,
    sensors: Vec<SensorInfo>,
}

impl<'a> SimWorld<'a> {
    /// `render_workers`: threads rendering camera images (0: the loop's
    /// thread renders them).
    pub fn new(sim: &'a mut Simulator, render_workers: usize) -> Self {
        sim.set_render_workers(render_workers);
        let sensors = sim.sensors().cloned().collect();
        Self { sim, sensors }
    }
}

impl World for SimWorld<'_> {
    fn sensors(&self) -> &[SensorInfo] {
        &self.sensors
    }

    fn input_len(&self) -> usize {
        self.sim.plant().input_len()
    }

    fn time_secs(&self) -> f64 {
        self.sim.time_secs()
    }

    fn step_secs(&self) -> f64 {
        self.sim.plant().step_secs()
    }

    fn command(&self) -> &[f64] {
        self.sim.command()
    }

    fn advance_to(&mut self, t_secs: f64, command: &[f64]) -> Result<(), WorldError> {
        Ok(self.sim.step_to(t_secs, command)?)
    }

    fn poll_readings(&mut self, t_secs: f64, out: &mut Vec<Reading>) {
        self.sim.poll_into(t_secs, out);
    }

    fn lost(&self, index: usize) -> u64 {
        self.sim
            .sensor_counts()
            .nth(index)
            .map_or(0, |(_, c)| c.dropped)
    }

    fn true_state(&self) -> Option<&[f64]> {
        Some(self.sim.true_state())
    }

    /// From the body's origin.
    fn clearance_m(&self) -> Option<f64> {
        let p = self.sim.body().world_from_body.translation.vector;
        Some(self.sim.distance_to_nearest_obstacle(&Point3::from(p)))
    }

    fn finish(&mut self) {
        self.sim.finish_renders();
    }
}
