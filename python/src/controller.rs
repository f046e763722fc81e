//! `recede.Controller`: the controller a scenario's `[robot]` and
//! `[controller]` tables describe, stepped on numpy arrays.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use numpy::{AllowTypeChange, PyArray1, PyArray2, PyArrayLike1, PyArrayLikeDyn, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use recede_control::{ControlError, Controller, ControllerFile, ReferenceConfig, ResidualConfig};
use recede_mpc::StepReport;

use crate::convert::{error, guarded};

/// A model-predictive controller built from a scenario (or controller) file.
#[derive(Debug)]
#[pyclass(module = "recede._recede", name = "Controller")]
pub struct PyController {
    /// Locked only to make the class `Sync` for pyo3 (Python calls are
    /// already exclusive through its borrow flags); never contended.
    inner: Mutex<Controller>,
    reference: Option<ReferenceConfig>,
    nx: usize,
    nu: usize,
    horizon: usize,
    state_names: Vec<String>,
    input_names: Vec<String>,
    command: Vec<f64>,
    scratch_x: Vec<f64>,
    scratch_u: Vec<f64>,
}

/// A file's text and the name errors give it: a path (`str` or
/// `os.PathLike`) to an existing file is read; a `str` holding TOML is the
/// text itself.
fn source(path_or_text: &Bound<'_, PyAny>) -> PyResult<(String, String, PathBuf)> {
    let text: Option<String> = path_or_text.extract().ok();
    let path: PathBuf = path_or_text.extract().map_err(|_| {
        error(anyhow::anyhow!(
            "expected a path (str or os.PathLike) or TOML text, found {}",
            path_or_text
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    if path.is_file() {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| error(anyhow::anyhow!("cannot read {}: {e}", path.display())))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        return Ok((text, path.display().to_string(), dir));
    }
    match text {
        Some(text) if text.contains('=') || text.contains('[') => {
            Ok((text, "<toml text>".into(), PathBuf::new()))
        }
        _ => Err(error(anyhow::anyhow!("{}: no such file", path.display()))),
    }
}

fn length(what: &'static str, expected: usize, got: usize) -> PyErr {
    error(ControlError::Length {
        what,
        expected,
        got,
    })
}

fn poisoned() -> PyErr {
    error(anyhow::anyhow!(
        "this controller panicked in an earlier call and cannot be used; build a new one"
    ))
}

impl PyController {
    fn controller(&self) -> PyResult<MutexGuard<'_, Controller>> {
        self.inner.lock().map_err(|_| poisoned())
    }

    fn controller_mut(&mut self) -> PyResult<&mut Controller> {
        self.inner.get_mut().map_err(|_| poisoned())
    }

    fn build(
        path_or_text: &Bound<'_, PyAny>,
        residual: Option<PathBuf>,
        x0: Option<Vec<f64>>,
        base_dir: Option<PathBuf>,
    ) -> PyResult<Self> {
        let (text, origin, dir) = source(path_or_text)?;
        let mut file = ControllerFile::from_toml_str(&text, &origin).map_err(error)?;
        // A model file or URDF is named relative to the scenario (or to the
        // base the caller gives; the working directory for TOML text).
        file.robot = file.robot.resolved(base_dir.as_deref().unwrap_or(&dir));
        if let Some(model) = residual {
            let mut r = file.controller.residual.take().unwrap_or(ResidualConfig {
                model: PathBuf::new(),
                evaluation: Default::default(),
                adaptation: None,
            });
            r.model = model;
            file.controller.residual = Some(r);
        } else if let Some(r) = &mut file.controller.residual {
            *r = r.resolved(&dir);
        }
        // A robot file that does not load has no sizes: say why before a
        // length check blames x0.
        file.robot
            .validate()
            .map_err(|e| error(anyhow::anyhow!("{origin}: [robot]: {e}")))?;
        let (nx, nu) = file.robot.dimensions();
        let doc: toml::Table = toml::from_str(&text).map_err(error)?;
        let x0 = match x0 {
            Some(x) => x,
            None => match doc.get("scenario").and_then(|s| s.get("initial_state")) {
                Some(v) => v.clone().try_into().map_err(|e| {
                    error(anyhow::anyhow!("{origin}: [scenario] `initial_state`: {e}"))
                })?,
                None => {
                    return Err(error(anyhow::anyhow!(
                        "{origin}: no [scenario] `initial_state`; pass x0= (the state the first plan starts from)"
                    )))
                }
            },
        };
        if x0.len() != nx {
            return Err(length("initial state", nx, x0.len()));
        }
        let reference = match doc.get("reference") {
            Some(r) => {
                let r: ReferenceConfig = r
                    .clone()
                    .try_into()
                    .map_err(|e| error(anyhow::anyhow!("{origin}: [reference]: {e}")))?;
                r.validate(nx, nu)
                    .map_err(|e| error(anyhow::anyhow!("{origin}: [reference]: {e}")))?;
                Some(r)
            }
            None => None,
        };
        let inner = Controller::from_config(&file.robot, &file.controller, &x0)
            .map_err(|e| error(anyhow::anyhow!("{origin}: [controller]: {e}")))?;
        let (states, inputs, _) = file.robot.names_and_body().map_err(error)?;
        let (_, _, horizon) = inner.dimensions();
        let mut c = Self {
            inner: Mutex::new(inner),
            reference,
            nx,
            nu,
            horizon,
            state_names: states.iter().map(|s| s.to_string()).collect(),
            input_names: inputs.iter().map(|s| s.to_string()).collect(),
            command: vec![0.0; nu],
            scratch_x: vec![0.0; nx],
            scratch_u: vec![0.0; nu],
        };
        if let Some(r) = &c.reference {
            c.inner
                .get_mut()
                .map_err(|_| poisoned())?
                .track(r, 0.0, &mut c.scratch_x, &mut c.scratch_u)
                .map_err(error)?;
        }
        Ok(c)
    }

    /// A reference for every node from a vector (the same at every node)
    /// or a window of `nodes` rows.
    fn set_window(
        &mut self,
        x_ref: Option<PyArrayLikeDyn<'_, f64, AllowTypeChange>>,
        u_ref: Option<PyArrayLikeDyn<'_, f64, AllowTypeChange>>,
    ) -> PyResult<()> {
        let n = self.horizon;
        if let Some(x) = &x_ref {
            let (rows, flat) = window("x_ref", x, self.nx, n + 1)?;
            for k in 0..=n {
                let row = if rows == 1 { 0 } else { k };
                self.scratch_x
                    .copy_from_slice(&flat[row * self.nx..(row + 1) * self.nx]);
                self.inner
                    .get_mut()
                    .map_err(|_| poisoned())?
                    .set_reference(k, &self.scratch_x, None)
                    .map_err(error)?;
            }
        }
        if let Some(u) = &u_ref {
            let (rows, flat) = window("u_ref", u, self.nu, n)?;
            for k in 0..n {
                let row = if rows == 1 { 0 } else { k };
                self.scratch_u
                    .copy_from_slice(&flat[row * self.nu..(row + 1) * self.nu]);
                self.inner
                    .get_mut()
                    .map_err(|_| poisoned())?
                    .set_input_reference(k, &self.scratch_u)
                    .map_err(error)?;
            }
        }
        Ok(())
    }
}

/// A reference given as one vector of `width` or `nodes` rows of it: the
/// number of rows and the values, row by row.
fn window(
    what: &str,
    a: &PyArrayLikeDyn<'_, f64, AllowTypeChange>,
    width: usize,
    nodes: usize,
) -> PyResult<(usize, Vec<f64>)> {
    let v = a.as_array();
    let rows = match v.shape() {
        [w] if *w == width => 1,
        [r, w] if *w == width && (*r == 1 || *r == nodes) => *r,
        shape => {
            return Err(error(anyhow::anyhow!(
                "{what}: expected shape ({width},) or ({nodes}, {width}), found {shape:?}"
            )))
        }
    };
    Ok((rows, v.iter().copied().collect()))
}

/// Predicted states (N+1, nx) and inputs (N, nu).
type Plan<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<f64>>);

fn report_dict<'py>(py: Python<'py>, r: &StepReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("outcome", format!("{:?}", r.outcome))?;
    d.set_item("failure", r.failure.map(|f| format!("{f:?}")))?;
    d.set_item("qp_status", format!("{:?}", r.qp_status))?;
    d.set_item("qp_iterations", r.qp_iterations)?;
    d.set_item("sqp_iterations", r.sqp_iterations)?;
    d.set_item("feedback_secs", r.feedback_secs)?;
    d.set_item("prepare_secs", r.prepare_secs)?;
    d.set_item("osqp_solve_secs", r.osqp_solve_secs)?;
    d.set_item("consecutive_failures", r.consecutive_failures)?;
    d.set_item("constraint_faults", r.constraint_faults)?;
    d.set_item("reinitialized", r.reinitialized)?;
    d.set_item("governed", r.governed)?;
    d.set_item("recovering", r.recovering)?;
    Ok(d)
}

#[pymethods]
impl PyController {
    /// Builds the controller of a scenario file's `[robot]` and
    /// `[controller]` tables (a path, or the TOML text itself). A robot's
    /// model file or URDF is found relative to the scenario file's
    /// directory, or to `base_dir` when given (TOML text: the working
    /// directory unless `base_dir` says).
    #[staticmethod]
    #[pyo3(signature = (path_or_text, residual=None, x0=None, base_dir=None))]
    fn from_toml(
        path_or_text: &Bound<'_, PyAny>,
        residual: Option<PathBuf>,
        x0: Option<Vec<f64>>,
        base_dir: Option<PathBuf>,
    ) -> PyResult<Self> {
        guarded(|| Self::build(path_or_text, residual, x0, base_dir))
    }

    /// One control step at time `t` from state `x`; returns the command.
    #[pyo3(signature = (t, x, x_ref=None, u_ref=None))]
    fn step<'py>(
        mut slf: PyRefMut<'py, Self>,
        t: f64,
        x: PyArrayLike1<'py, f64, AllowTypeChange>,
        x_ref: Option<PyArrayLikeDyn<'py, f64, AllowTypeChange>>,
        u_ref: Option<PyArrayLikeDyn<'py, f64, AllowTypeChange>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let py = slf.py();
        guarded(|| {
            let this = &mut *slf;
            if x_ref.is_some() || u_ref.is_some() {
                this.set_window(x_ref, u_ref)?;
            } else if let Some(r) = this
                .reference
                .as_ref()
                // A set point is the same at every t: set once, when built.
                .filter(|r| !matches!(r, ReferenceConfig::Setpoint { .. }))
            {
                this.inner
                    .get_mut()
                    .map_err(|_| poisoned())?
                    .track(r, t, &mut this.scratch_x, &mut this.scratch_u)
                    .map_err(error)?;
            }
            let x = x
                .as_slice()
                .map_err(|_| error(anyhow::anyhow!("x: expected a contiguous vector")))?;
            if x.len() != this.nx {
                return Err(length("state", this.nx, x.len()));
            }
            let inner = this.inner.get_mut().map_err(|_| poisoned())?;
            let command = &mut this.command;
            py.detach(|| inner.step(x, command)).map_err(error)?;
            Ok(PyArray1::from_slice(py, &this.command))
        })
    }

    /// The last step's report: outcome, QP iterations, times (s).
    #[getter]
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        report_dict(py, &self.controller()?.last_report())
    }

    /// The plan: states (N+1, nx) and inputs (N, nu).
    fn predicted<'py>(&self, py: Python<'py>) -> PyResult<Plan<'py>> {
        guarded(|| {
            let (n, nx, nu) = (self.horizon, self.nx, self.nu);
            let mut xs = vec![0.0; (n + 1) * nx];
            let mut us = vec![0.0; n * nu];
            let c = self.controller()?;
            c.predicted_states(&mut xs).map_err(error)?;
            c.planned_inputs(&mut us).map_err(error)?;
            let xs = PyArray1::from_vec(py, xs).reshape([n + 1, nx])?;
            let us = PyArray1::from_vec(py, us).reshape([n, nu])?;
            Ok((xs, us))
        })
    }

    /// Sets the reference window: `x_ref` of shape (nx,) or (N+1, nx),
    /// `u_ref` of shape (nu,) or (N, nu). Replaces the file's `[reference]`
    /// until `track_file_reference()`.
    #[pyo3(signature = (x_ref=None, u_ref=None))]
    fn set_reference(
        &mut self,
        x_ref: Option<PyArrayLikeDyn<'_, f64, AllowTypeChange>>,
        u_ref: Option<PyArrayLikeDyn<'_, f64, AllowTypeChange>>,
    ) -> PyResult<()> {
        guarded(|| {
            self.reference = None;
            self.set_window(x_ref, u_ref)
        })
    }

    /// Diagonal cost weights: `state`, `input`, `terminal` (each left as is
    /// when None); the next step uses them, nothing is rebuilt.
    #[pyo3(signature = (state=None, input=None, terminal=None))]
    fn set_weights(
        &mut self,
        state: Option<Vec<f64>>,
        input: Option<Vec<f64>>,
        terminal: Option<Vec<f64>>,
    ) -> PyResult<()> {
        guarded(|| {
            let (mut q, mut qn, mut r) =
                (vec![0.0; self.nx], vec![0.0; self.nx], vec![0.0; self.nu]);
            self.controller_mut()?
                .weights(&mut q, &mut qn, &mut r)
                .map_err(error)?;
            self.controller_mut()?
                .set_weights(
                    state.as_deref().unwrap_or(&q),
                    terminal.as_deref().unwrap_or(&qn),
                    input.as_deref().unwrap_or(&r),
                )
                .map_err(error)?;
            // Weights enter the QP at a preparation: rebuild it now, so the
            // next `step` already uses them.
            self.controller_mut()?.refresh();
            Ok(())
        })
    }

    /// The diagonal weights now in use: {"state", "input", "terminal"}.
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (mut q, mut qn, mut r) = (vec![0.0; self.nx], vec![0.0; self.nx], vec![0.0; self.nu]);
        self.controller()?
            .weights(&mut q, &mut qn, &mut r)
            .map_err(error)?;
        let d = PyDict::new(py);
        d.set_item("state", q)?;
        d.set_item("input", r)?;
        d.set_item("terminal", qn)?;
        Ok(d)
    }

    /// Input bounds (`-inf`/`inf` for none; each left as is when None).
    #[pyo3(signature = (lower=None, upper=None))]
    fn set_input_bounds(
        &mut self,
        lower: Option<Vec<f64>>,
        upper: Option<Vec<f64>>,
    ) -> PyResult<()> {
        guarded(|| {
            let (mut lo, mut hi) = (vec![0.0; self.nu], vec![0.0; self.nu]);
            self.controller_mut()?
                .input_bounds(&mut lo, &mut hi)
                .map_err(error)?;
            self.controller_mut()?
                .set_input_bounds(
                    lower.as_deref().unwrap_or(&lo),
                    upper.as_deref().unwrap_or(&hi),
                )
                .map_err(error)
        })
    }

    /// The input bounds now in use: (lower, upper).
    #[getter]
    fn input_bounds(&self) -> PyResult<(Vec<f64>, Vec<f64>)> {
        let (mut lo, mut hi) = (vec![0.0; self.nu], vec![0.0; self.nu]);
        self.controller()?
            .input_bounds(&mut lo, &mut hi)
            .map_err(error)?;
        Ok((lo, hi))
    }

    /// Forgets the plan and restarts from state `x`.
    fn reset(&mut self, x: Vec<f64>) -> PyResult<()> {
        guarded(|| self.controller_mut()?.reset(&x).map_err(error))
    }

    /// {"states": nx, "inputs": nu, "horizon": N}.
    #[getter]
    fn dimensions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("states", self.nx)?;
        d.set_item("inputs", self.nu)?;
        d.set_item("horizon", self.horizon)?;
        Ok(d)
    }

    #[getter]
    fn state_names(&self) -> Vec<String> {
        self.state_names.clone()
    }

    #[getter]
    fn input_names(&self) -> Vec<String> {
        self.input_names.clone()
    }

    /// The control period, s: how far the plan moves per step.
    #[getter]
    fn period_secs(&self) -> PyResult<f64> {
        Ok(self.controller()?.period_secs())
    }

    /// Fallbacks since the controller was built: {"plan", "safe",
    /// "reinitialized", "recovering"}.
    #[getter]
    fn fallbacks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.controller()?.fallback_counts();
        let d = PyDict::new(py);
        d.set_item("plan", c.plan)?;
        d.set_item("safe", c.safe)?;
        d.set_item("reinitialized", c.reinitialized)?;
        d.set_item("recovering", c.recovering)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "Controller(states={}, inputs={}, horizon={})",
            self.nx, self.nu, self.horizon
        )
    }
}
