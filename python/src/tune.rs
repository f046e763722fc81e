//! `recede.Tune`: a tuning file (docs/tuning.md) evaluated exactly as
//! `recede tune` evaluates a candidate, for Optuna and other searchers.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use recede_tune::eval::ScenarioEvaluator;
use recede_tune::results::Set;
use recede_tune::search::Evaluate;
use recede_tune::spec::{Scale, Tune};

use crate::convert::{error, guarded};

/// A tuning file loaded and checked.
#[derive(Debug)]
#[pyclass(module = "recede._recede", name = "Tune", frozen)]
pub struct PyTune {
    tune: Tune,
}

#[pymethods]
impl PyTune {
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Self> {
        guarded(|| {
            Ok(Self {
                tune: Tune::load(&path).map_err(error)?,
            })
        })
    }

    /// The parameters: dicts of name, keys, low, high, log, integer, start.
    #[getter]
    fn parameters<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.tune
            .parameters
            .iter()
            .map(|p| {
                let d = PyDict::new(py);
                d.set_item("name", &p.name)?;
                d.set_item(
                    "keys",
                    p.keys.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
                )?;
                d.set_item("low", p.min)?;
                d.set_item("high", p.max)?;
                d.set_item("log", p.scale == Scale::Log)?;
                d.set_item("integer", p.integer)?;
                d.set_item("start", p.start)?;
                Ok(d)
            })
            .collect()
    }

    /// Evaluates parameter values (in the order of `parameters`) on the
    /// training set (or `heldout=True`): (objective, failure, runs), the
    /// objective infinite for a failed candidate. The GIL is released.
    #[pyo3(signature = (values, heldout=false))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        values: Vec<f64>,
        heldout: bool,
    ) -> PyResult<(f64, Option<String>, Vec<Bound<'py, PyDict>>)> {
        if values.len() != self.tune.parameters.len() {
            return Err(error(anyhow::anyhow!(
                "expected {} parameter values, found {}",
                self.tune.parameters.len(),
                values.len()
            )));
        }
        let set = if heldout { Set::Heldout } else { Set::Train };
        guarded(|| {
            let evaluation = py
                .detach(|| ScenarioEvaluator { tune: &self.tune }.evaluate(&values, set))
                .map_err(error)?;
            let runs = evaluation
                .runs
                .iter()
                .map(|r| {
                    let d = PyDict::new(py);
                    d.set_item("scenario", &r.scenario)?;
                    d.set_item("seed", r.seed)?;
                    d.set_item("cost", r.cost)?;
                    d.set_item("failure", &r.failure)?;
                    d.set_item("metrics", r.metrics.clone())?;
                    Ok(d)
                })
                .collect::<PyResult<Vec<_>>>()?;
            Ok((evaluation.objective, evaluation.failure, runs))
        })
    }
}
