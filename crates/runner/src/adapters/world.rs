//! The simulator as the loop's world.

use nalgebra::Point3;
use recede_msg::{Reading, SensorInfo};
use recede_rt::{World, WorldError};
use recede_sim::Simulator;

use crate::datalog::DataLog;

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
    plant_steps: Option<PlantStepLog<'a>>,
}

/// One plant step per control period into a plant-step data log: the
/// `k`-th period's `k mod n`-th step (`n` plant steps a period), so the
/// kept steps cycle through the period's phases. The state before it is
/// kept in a buffer sized at setup; the row goes to the log's buffers.
#[derive(Debug)]
struct PlantStepLog<'a> {
    log: &'a mut DataLog,
    steps_per_period: u64,
    before: Vec<f64>,
    /// The first write error (later rows are skipped).
    error: Option<anyhow::Error>,
}

impl PlantStepLog<'_> {
    /// The kept plant step at or after plant step `i`.
    fn next_kept(&self, i: u64) -> u64 {
        let n = self.steps_per_period;
        let kept = |period: u64| period * n + period % n;
        if i <= kept(i / n) {
            kept(i / n)
        } else {
            kept(i / n + 1)
        }
    }
}

impl<'a> SimWorld<'a> {
    /// `render_workers`: threads rendering camera images (0: the loop's
    /// thread renders them).
    pub fn new(sim: &'a mut Simulator, render_workers: usize) -> Self {
        sim.set_render_workers(render_workers);
        let sensors = sim.sensors().cloned().collect();
        Self {
            sim,
            sensors,
            plant_steps: None,
        }
    }

    /// Writes one plant step per control period of `period_secs` to `log`
    /// (a [`crate::datalog::LogTarget::PlantStep`] log): the state before
    /// it, the input the actuators applied over it, the state after it.
    /// The plant and the sensors' schedule move exactly as without a log
    /// (the simulator is stepped to the kept step's ends in between); only
    /// scripted objects, placed where the simulator stops, are also placed
    /// at those ends, which a camera sampled later in the period sees.
    pub fn log_plant_steps(
        &mut self,
        log: &'a mut DataLog,
        period_secs: f64,
    ) -> anyhow::Result<()> {
        let h = self.sim.plant().step_secs();
        let n = (period_secs / h).round();
        anyhow::ensure!(
            n >= 1.0 && (n * h - period_secs).abs() <= 1e-9 * period_secs,
            "a plant-step log needs whole plant steps of {h} s in the control period of {period_secs} s"
        );
        self.plant_steps = Some(PlantStepLog {
            log,
            steps_per_period: n as u64,
            before: vec![0.0; self.sim.true_state().len()],
            error: None,
        });
        Ok(())
    }

    /// The plant-step log's first write error, if any.
    pub fn take_log_error(&mut self) -> Option<anyhow::Error> {
        self.plant_steps.as_mut().and_then(|p| p.error.take())
    }

    /// [`World::advance_to`] stopping around each kept plant step to log it.
    fn advance_logging(&mut self, t_secs: f64, command: &[f64]) -> Result<(), WorldError> {
        let Some(tap) = &mut self.plant_steps else {
            return Ok(self.sim.step_to(t_secs, command)?);
        };
        let h = self.sim.plant().step_secs();
        let target = (t_secs / h).round() as u64;
        loop {
            let now = (self.sim.time_secs() / h).round() as u64;
            let kept = tap.next_kept(now);
            if kept >= target {
                return Ok(self.sim.step_to(t_secs, command)?);
            }
            self.sim.step_to(kept as f64 * h, command)?;
            tap.before.copy_from_slice(self.sim.true_state());
            self.sim.step_to((kept + 1) as f64 * h, command)?;
            if tap.error.is_none() {
                let plant = self.sim.plant();
                if let Err(e) = tap.log.record(
                    kept as f64 * h,
                    h,
                    &tap.before,
                    plant.applied_input(),
                    plant.state(),
                    None,
                ) {
                    tap.error = Some(e);
                }
            }
        }
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

    fn true_shape(&self) -> &[[f64; 3]] {
        self.sim.plant().shape_points()
    }

    fn advance_to(&mut self, t_secs: f64, command: &[f64]) -> Result<(), WorldError> {
        self.advance_logging(t_secs, command)
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

    /// From the body's origin; for a deformable body, from its surface
    /// (its nodes and the middles between them, less its radius).
    fn clearance_m(&self) -> Option<f64> {
        let plant = self.sim.plant();
        let shape = plant.shape_points();
        if shape.len() >= 2 {
            let d = |p: [f64; 3]| self.sim.distance_to_nearest_obstacle(&Point3::from(p));
            let nearest = shape.windows(2).fold(f64::INFINITY, |m, w| {
                let mid = std::array::from_fn(|i| 0.5 * (w[0][i] + w[1][i]));
                m.min(d(w[1])).min(d(mid))
            });
            return Some(nearest - plant.shape_radius_m());
        }
        let p = self.sim.body().world_from_body.translation.vector;
        Some(self.sim.distance_to_nearest_obstacle(&Point3::from(p)))
    }

    fn finish(&mut self) {
        self.sim.finish_renders();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datalog::LogTarget;
    use crate::scenario::Scenario;

    /// Advancing the world with a plant-step log allocates nothing until
    /// a batch of rows is full (the log's buffers are sized at setup), and
    /// the world moves exactly as without the log.
    #[test]
    fn plant_step_logging_allocates_nothing_and_moves_the_world_alike() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let scenario = Scenario::load(&root.join("configs/bench/arm.toml")).unwrap();
        let f = &scenario.file;
        let build =
            || Simulator::from_config(&scenario.plant_config(), &f.world, &f.sensors, 0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut log = DataLog::create_for(
            &dir.path().join("a.arrows"),
            &f.robot,
            false,
            LogTarget::PlantStep,
        )
        .unwrap();
        let (mut plain, mut logged) = (build(), build());
        let period = scenario.period_secs();
        let mut world = SimWorld::new(&mut logged, 0);
        world.log_plant_steps(&mut log, period).unwrap();
        let mut other = SimWorld::new(&mut plain, 0);
        let steps = 100;
        let (mut allocations, mut plain_allocations) = (0, 0);
        for k in 1..=steps {
            let u = [0.3 * (k as f64 * 0.1).sin(), -0.2];
            let t = k as f64 * period;
            allocations += recede_test_support::allocations_in(|| {
                world.advance_to(t, &u).unwrap();
            });
            plain_allocations += recede_test_support::allocations_in(|| {
                other.advance_to(t, &u).unwrap();
            });
            assert_eq!(world.true_state(), other.true_state(), "period {k}");
        }
        assert_eq!((allocations, plain_allocations), (0, 0));
        assert!(world.take_log_error().is_none());
        drop(world);
        assert_eq!(log.rows(), steps);
    }
}
