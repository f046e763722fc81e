//! A scenario file: what `recede run` and `recede check` read.
//!
//! Parsing rejects unknown keys (serde); [`Scenario::load`] then checks the
//! values against each other (sizes against the robot, tolerances, rates),
//! and every error names the file and the key.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use recede_control::{ControllerConfig, ReferenceConfig};
use recede_model::robots::RobotConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSection {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub duration_secs: f64,
    #[serde(default)]
    pub seed: u64,
    /// The true state at t = 0.
    pub initial_state: Vec<f64>,
    /// Rate of the lockstep plant integration (RK4), Hz.
    #[serde(default = "default_plant_rate")]
    pub plant_rate_hz: f64,
}

fn default_plant_rate() -> f64 {
    1000.0
}

/// When the run counts as a success: the true state at the end within
/// `state_tolerance` of the reference (component-wise; `inf` ignores one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalConfig {
    pub state_tolerance: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub scenario: ScenarioSection,
    pub robot: RobotConfig,
    pub controller: ControllerConfig,
    pub reference: ReferenceConfig,
    pub goal: GoalConfig,
}

/// A scenario read and checked.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub path: PathBuf,
    pub file: ScenarioFile,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read scenario file {}", path.display()))?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut file: ScenarioFile = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
        // A residual model file is named relative to the scenario file.
        let dir = path.parent().unwrap_or(Path::new(""));
        if let Some(r) = &mut file.controller.residual {
            *r = r.resolved(dir);
        }
        let scenario = Self {
            path: path.to_path_buf(),
            file,
        };
        scenario
            .validate()
            .with_context(|| format!("{}: invalid scenario", path.display()))?;
        Ok(scenario)
    }

    fn validate(&self) -> Result<()> {
        let f = &self.file;
        f.robot.validate().context("[robot]")?;
        let (nx, nu) = f.robot.dimensions();
        let s = &f.scenario;
        if !(s.duration_secs.is_finite() && s.duration_secs > 0.0) {
            bail!(
                "[scenario] `duration_secs`: expected a duration > 0, found {}",
                s.duration_secs
            );
        }
        if !(s.plant_rate_hz.is_finite() && s.plant_rate_hz > 0.0) {
            bail!(
                "[scenario] `plant_rate_hz`: expected a rate > 0, found {}",
                s.plant_rate_hz
            );
        }
        if s.initial_state.len() != nx || s.initial_state.iter().any(|v| !v.is_finite()) {
            bail!(
                "[scenario] `initial_state`: expected {nx} finite numbers for a {}, found {:?}",
                f.robot.kind(),
                s.initial_state
            );
        }
        let tol = &f.goal.state_tolerance;
        if tol.len() != nx || tol.iter().any(|v| v.is_nan() || *v < 0.0) {
            bail!("[goal] `state_tolerance`: expected {nx} tolerances >= 0 (inf to ignore one), found {tol:?}");
        }
        f.reference.validate(nx, nu).context("[reference]")?;
        let mpc = &f.controller.mpc;
        let period = mpc.period_secs.unwrap_or(mpc.dt_secs);
        let substeps = period * s.plant_rate_hz;
        if (substeps - substeps.round()).abs() > 1e-6 || substeps.round() < 1.0 {
            bail!(
                "[scenario] `plant_rate_hz`: expected a whole number of plant steps per control period ({period} s), found {} Hz",
                s.plant_rate_hz
            );
        }
        // Building the controller checks the [controller] table against the robot.
        recede_control::Controller::from_config(&f.robot, &f.controller, &s.initial_state)
            .context("[controller]")?;
        Ok(())
    }

    pub fn period_secs(&self) -> f64 {
        let c = &self.file.controller.mpc;
        c.period_secs.unwrap_or(c.dt_secs)
    }
}
