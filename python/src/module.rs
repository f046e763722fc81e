//! The module `recede._recede`: scenario runs and checks (with the same
//! override machinery as `recede run --set`), and robot names for logs.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use recede_model::robots::RobotConfig;
use recede_runner::datalog::DataLog;
use recede_runner::record::Recording;
use recede_runner::run::{run_with_options_and_log, RunOptions};
use recede_runner::scenario::{Override, Scenario};

use crate::convert::{error, guarded, toml_value, RecedeError};

/// `overrides={"controller.horizon_steps": 30}` as `--set` overrides.
fn overrides(given: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<Override>> {
    let Some(d) = given else {
        return Ok(Vec::new());
    };
    d.iter()
        .map(|(k, v)| {
            let key: String = k.extract()?;
            let value = toml_value(&key, &v)?;
            Override::new("overrides", &key, value).map_err(error)
        })
        .collect()
}

/// Runs a scenario in lockstep; returns the summary (JSON text, which the
/// Python side turns into a dict). The GIL is released during the run.
#[pyfunction]
#[pyo3(signature = (scenario, overrides=None, seed=None, duration=None, record=None, log=None))]
fn run_json(
    py: Python<'_>,
    scenario: PathBuf,
    overrides: Option<&Bound<'_, PyDict>>,
    seed: Option<u64>,
    duration: Option<f64>,
    record: Option<PathBuf>,
    log: Option<PathBuf>,
) -> PyResult<String> {
    let overrides = self::overrides(overrides)?;
    guarded(|| {
        py.detach(|| {
            let scenario = Scenario::load_with(&scenario, &overrides)?;
            let options = RunOptions {
                duration_secs: duration,
                seed,
                recording: record.map_or(Recording::Off, Recording::File),
                ..RunOptions::default()
            };
            let mut log = log
                .as_deref()
                .map(|p| DataLog::create(p, &scenario.file.robot, false))
                .transpose()?;
            let summary = run_with_options_and_log(&scenario, &options, log.as_mut())?;
            if let Some(log) = log {
                log.finish()?;
            }
            Ok::<_, anyhow::Error>(serde_json::to_string(&summary)?)
        })
        .map_err(error)
    })
}

/// Checks a scenario as `recede check` does; returns what it found.
#[pyfunction]
#[pyo3(signature = (scenario, overrides=None))]
fn check<'py>(
    py: Python<'py>,
    scenario: PathBuf,
    overrides: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let overrides = self::overrides(overrides)?;
    guarded(|| {
        let s = py
            .detach(|| Scenario::load_with(&scenario, &overrides))
            .map_err(error)?;
        let d = PyDict::new(py);
        d.set_item("name", &s.file.scenario.name)?;
        d.set_item("robot", s.file.robot.kind())?;
        d.set_item("duration_secs", s.file.scenario.duration_secs)?;
        d.set_item("period_secs", s.period_secs())?;
        let (nx, nu) = s.file.robot.dimensions();
        d.set_item("states", nx)?;
        d.set_item("inputs", nu)?;
        Ok(d)
    })
}

/// The state and input names of a robot kind (`quadrotor`), for log columns.
#[pyfunction]
fn robot_names(kind: &str) -> PyResult<(Vec<String>, Vec<String>)> {
    guarded(|| {
        let robot: RobotConfig = toml::from_str(&format!("kind = {kind:?}")).map_err(|e| {
            error(anyhow::anyhow!(
                "robot kind `{kind}`: {}",
                e.to_string().trim()
            ))
        })?;
        let (x, u, _) = robot.names_and_body().map_err(error)?;
        Ok((
            x.iter().map(|s| s.to_string()).collect(),
            u.iter().map(|s| s.to_string()).collect(),
        ))
    })
}

/// `recede bench p1`'s closed loop (the Rust plant and loop), as JSON: the
/// reference the Python example and tests compare against.
#[pyfunction]
fn bench_p1_json(py: Python<'_>) -> PyResult<String> {
    guarded(|| {
        py.detach(|| {
            let result = recede_bench::p1::run(None)?;
            Ok::<_, anyhow::Error>(serde_json::to_string(&result)?)
        })
        .map_err(error)
    })
}

#[pymodule]
#[pyo3(name = "_recede")]
fn recede_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("RecedeError", m.py().get_type::<RecedeError>())?;
    m.add_class::<crate::controller::PyController>()?;
    m.add_class::<crate::tune::PyTune>()?;
    m.add_function(wrap_pyfunction!(run_json, m)?)?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_function(wrap_pyfunction!(robot_names, m)?)?;
    m.add_function(wrap_pyfunction!(bench_p1_json, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
