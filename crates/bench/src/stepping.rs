//! A reference problem's closed loop one control step at a time, for the
//! criterion benches (`benches/recede.rs`, `benches/scale.rs`): the
//! scenario's controller (`Controller::from_config`, what `recede run`
//! builds) tracking its reference on the plant the simulator builds from
//! the file, restarted every `episode_steps` so every phase of the
//! manoeuvre is sampled.

use anyhow::Result;
use recede_control::{Controller, ReferenceConfig};
use recede_mpc::StepReport;
use recede_runner::scenario::Scenario;
use recede_sim::config::PlantConfig;
use recede_sim::plant::Plant;

/// The loop and where it is in its episode.
#[derive(Debug)]
pub struct SteppedLoop {
    controller: Controller,
    plant: Box<dyn Plant>,
    plant_config: PlantConfig,
    seed: u64,
    reference: ReferenceConfig,
    x0: Vec<f64>,
    x_ref: Vec<f64>,
    u_ref: Vec<f64>,
    command: Vec<f64>,
    period_secs: f64,
    plant_steps: usize,
    step: usize,
    episode_steps: usize,
}

impl SteppedLoop {
    pub fn new(scenario: &Scenario, episode_steps: usize) -> Result<Self> {
        let f = &scenario.file;
        let x0 = f.scenario.initial_state.clone();
        let controller = Controller::from_config(&f.robot, &f.controller, &x0)?;
        let plant_config = scenario.plant_config();
        let plant = plant_config.build(f.scenario.seed)?;
        let period_secs = scenario.period_secs();
        let plant_steps = ((period_secs / plant.step_secs()).round() as usize).max(1);
        let (nx, nu, _) = controller.dimensions();
        Ok(Self {
            controller,
            plant,
            plant_config,
            seed: f.scenario.seed,
            reference: f.reference.clone(),
            x0,
            x_ref: vec![0.0; nx],
            u_ref: vec![0.0; nu],
            command: vec![0.0; nu],
            period_secs,
            plant_steps,
            step: 0,
            episode_steps: episode_steps.max(1),
        })
    }

    /// One control step (the reference over the horizon, the controller's
    /// step on the true state), then the plant over the period.
    pub fn step(&mut self) -> Result<StepReport> {
        if self.step == self.episode_steps {
            self.plant = self.plant_config.build(self.seed)?;
            self.controller.reset(&self.x0)?;
            self.step = 0;
        }
        let t = self.step as f64 * self.period_secs;
        self.controller
            .track(&self.reference, t, &mut self.x_ref, &mut self.u_ref)?;
        let report = self
            .controller
            .step(self.plant.state(), &mut self.command)?;
        let h = self.plant.step_secs();
        for j in 0..self.plant_steps {
            self.plant.step(t + j as f64 * h, &self.command)?;
        }
        self.step += 1;
        Ok(report)
    }
}
