//! Transition logs: what `recede run --log-data FILE` writes and
//! `recede train` reads.
//!
//! One row per control step: the state the controller acted on, the command
//! applied over the period, the state one period later, the nominal model's
//! prediction of it, and the residual target the learned model is fitted
//! to. A plant-step log ([`LogTarget::PlantStep`], `--log-target
//! plant_step`) has, once per control period, one plant step instead (the
//! world adapter takes it, [`crate::adapters::SimWorld::log_plant_steps`])
//! and the step's midpoint state, where its target is second-order exact. The file is an Arrow IPC *stream* (columnar, float64), read by
//! `polars.read_ipc_stream(FILE)` and `pyarrow.ipc.open_stream(FILE)`.
//! Columns and their availability on a robot are in crates/learn/README.md.
//!
//! The loop owns a [`DataLog`] and calls [`DataLog::record`] once per control
//! step; rows are buffered column-wise and written (and flushed to the OS)
//! in record batches. A stream has no footer, so a run killed with SIGKILL
//! leaves a log readable up to its last written batch. [`Transitions::read`]
//! also reads the IPC file format (Feather v2) that earlier versions wrote.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch};
use arrow_ipc::reader::{FileReader, StreamReader};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use nalgebra::SVector;
use recede_model::file::{FileRobot, ModelFile};
use recede_model::robots::{self, RobotConfig};
use recede_model::{Dynamics, Rk4};

/// `format` entry of the file's schema metadata.
pub const FORMAT_NAME: &str = "recede.transitions";
/// `format_version` entry of the file's schema metadata.
pub const FORMAT_VERSION: u32 = 1;
/// Rows buffered before a record batch is written and flushed: what a
/// killed run can lose at most.
pub const BATCH_ROWS: usize = 512;
/// `target_kind` entry of a plant-step log's schema metadata (absent in a
/// control-period log, which earlier versions wrote).
pub const TARGET_KIND_KEY: &str = "target_kind";

/// What a transition log's rows are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogTarget {
    /// One control period per row, from the state the controller acted
    /// on: what a robot logging at the control rate has. The target's
    /// error is the unmodelled term's change over half a period.
    #[default]
    ControlPeriod,
    /// One plant step per control period (the `k`-th period's
    /// `k mod (period / step)`-th step, cycling through the period), with
    /// its midpoint state `x_mid` (projected onto the state's manifold):
    /// the target is second order in the plant step about it. What a
    /// robot with a state estimate at the plant's rate has.
    PlantStep,
}

impl LogTarget {
    pub fn name(self) -> &'static str {
        match self {
            Self::ControlPeriod => "control_period",
            Self::PlantStep => "plant_step",
        }
    }
}

impl std::str::FromStr for LogTarget {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "control_period" => Ok(Self::ControlPeriod),
            "plant_step" => Ok(Self::PlantStep),
            _ => Err(format!(
                "expected `control_period` or `plant_step`, found `{s}`"
            )),
        }
    }
}

/// Step of the RK4 that predicts one period with the nominal model, s (at
/// most; the period is split evenly).
const PREDICTION_STEP_SECS: f64 = 0.001;

macro_rules! nominal {
    ([] $(($variant:ident, $module:ident, $robot:ident, $params:ident)),* $(,)?) => {
        /// The robot's nominal model, picked at run time (one variant per
        /// entry of the robot list).
        #[derive(Debug, Clone, Copy)]
        pub enum Nominal {
            $($variant(robots::$robot),)*
        }

        impl Nominal {
            /// A robot of the Rust list; a model file robot's is a
            /// [`LogNominal::File`].
            pub fn new(robot: &RobotConfig) -> Result<Self> {
                Ok(match robot {
                    $(RobotConfig::$variant(p) => Self::$variant(robots::$robot::new(*p)?),)*
                    RobotConfig::ModelFile(_) => bail!("a model file robot is not in the Rust robot list"),
                })
            }

            /// `f_nominal(x, u)` into `xdot`.
            pub fn derivative(&self, x: &[f64], u: &[f64], xdot: &mut [f64]) {
                match self {
                    $(Self::$variant(m) => derivative(m, x, u, xdot),)*
                }
            }

            /// `x` brought onto its manifold (`Dynamics::project`: the
            /// quadrotor's unit quaternion).
            pub fn project(&self, x: &mut [f64]) {
                match self {
                    $(Self::$variant(m) => project(m, x),)*
                }
            }

            /// The nominal model's state `dt_secs` after `x` under `u` (RK4 in
            /// steps of at most 1 ms) into `next`.
            pub fn predict(&self, x: &[f64], u: &[f64], dt_secs: f64, next: &mut [f64]) {
                let rk4 = Rk4::new(
                    dt_secs,
                    (dt_secs / PREDICTION_STEP_SECS).ceil().max(1.0) as usize,
                );
                match self {
                    $(Self::$variant(m) => predict(m, &rk4, x, u, next),)*
                }
            }
        }
    };
}

recede_model::for_each_robot!(nominal);

/// The nominal model a transition log predicts with: a robot of the list,
/// or a model file.
#[derive(Debug, Clone)]
pub enum LogNominal {
    Robot(Nominal),
    File(Arc<ModelFile>),
}

macro_rules! file_predict {
    ([] $(($variant:ident, $nx:literal, $nu:literal)),* $(,)?) => {
        /// [`Nominal::predict`] for a model file, at its size.
        fn predict_file(model: &Arc<ModelFile>, x: &[f64], u: &[f64], dt_secs: f64, next: &mut [f64]) {
            let rk4 = Rk4::new(
                dt_secs,
                (dt_secs / PREDICTION_STEP_SECS).ceil().max(1.0) as usize,
            );
            $(if let Ok(robot) = FileRobot::<$nx, $nu>::new(model.clone()) {
                if x.len() == $nx && u.len() == $nu && next.len() == $nx {
                    return predict(&robot, &rk4, x, u, next);
                }
            })*
            next.fill(f64::NAN);
        }

        /// [`Nominal::project`] for a model file, at its size.
        fn project_file(model: &Arc<ModelFile>, x: &mut [f64]) {
            $(if x.len() == $nx {
                if let Ok(robot) = FileRobot::<$nx, $nu>::new(model.clone()) {
                    return project(&robot, x);
                }
            })*
        }
    };
}

recede_model::for_each_file_size!(file_predict);

impl LogNominal {
    pub fn new(robot: &RobotConfig) -> Result<Self> {
        Ok(match robot {
            RobotConfig::ModelFile(f) => {
                let model = f.model()?;
                if model.discrete_period_secs.is_some() {
                    // Its targets are residuals of a continuous derivative.
                    bail!(
                        "{}: a discrete-time robot (`{}`) has no transition logs: they train a residual of a continuous model",
                        model.origin,
                        model.kind
                    );
                }
                Self::File(model)
            }
            robot => Self::Robot(Nominal::new(robot)?),
        })
    }

    /// `f_nominal(x, u)` into `xdot`.
    pub fn derivative(&self, x: &[f64], u: &[f64], xdot: &mut [f64]) {
        match self {
            Self::Robot(n) => n.derivative(x, u, xdot),
            Self::File(m) => m.derivative(x, u, xdot),
        }
    }

    /// `x` brought onto its manifold.
    pub fn project(&self, x: &mut [f64]) {
        match self {
            Self::Robot(n) => n.project(x),
            Self::File(m) => project_file(m, x),
        }
    }

    /// The state `dt_secs` after `x` under `u` into `next` (NaN for a
    /// model of a size the list does not have; never built).
    pub fn predict(&self, x: &[f64], u: &[f64], dt_secs: f64, next: &mut [f64]) {
        match self {
            Self::Robot(n) => n.predict(x, u, dt_secs, next),
            Self::File(m) => predict_file(m, x, u, dt_secs, next),
        }
    }
}

fn derivative<D: Dynamics<NX, NU>, const NX: usize, const NU: usize>(
    m: &D,
    x: &[f64],
    u: &[f64],
    out: &mut [f64],
) {
    let d = m.derivative(
        &SVector::<f64, NX>::from_column_slice(x),
        &SVector::<f64, NU>::from_column_slice(u),
    );
    out.copy_from_slice(d.as_slice());
}

fn project<D: Dynamics<NX, NU>, const NX: usize, const NU: usize>(m: &D, x: &mut [f64]) {
    let mut v = SVector::<f64, NX>::from_column_slice(x);
    m.project(&mut v);
    x.copy_from_slice(v.as_slice());
}

fn predict<D: Dynamics<NX, NU>, const NX: usize, const NU: usize>(
    m: &D,
    rk4: &Rk4,
    x: &[f64],
    u: &[f64],
    out: &mut [f64],
) {
    let next = rk4.step(
        m,
        &SVector::<f64, NX>::from_column_slice(x),
        &SVector::<f64, NU>::from_column_slice(u),
    );
    out.copy_from_slice(next.as_slice());
}

/// Column names, in file order, for `nx` states and `nu` inputs; the truth
/// columns only when the logger is given the true derivative.
pub fn column_names(nx: usize, nu: usize, with_truth: bool) -> Vec<String> {
    column_names_of(nx, nu, with_truth, LogTarget::ControlPeriod)
}

/// [`column_names`] of a log of `target`: a plant-step log has the
/// midpoint `x_mid` after `target` (and before the truth columns).
pub fn column_names_of(nx: usize, nu: usize, with_truth: bool, target: LogTarget) -> Vec<String> {
    let mut names = vec!["t_secs".to_string(), "dt_secs".to_string()];
    let mut group = |prefix: &str, n: usize| names.extend((0..n).map(|i| format!("{prefix}_{i}")));
    group("x", nx);
    group("u", nu);
    group("x_next", nx);
    group("nominal_next", nx);
    group("target", nx);
    if target == LogTarget::PlantStep {
        group("x_mid", nx);
    }
    if with_truth {
        group("xdot_true", nx);
        group("true_residual", nx);
    }
    names
}

/// What a column holds, stored in its field's metadata so the file names
/// its own columns: the component's `name`, its SI `unit` (`""` for a pure
/// number) and a `label` for tables (`x_p_m`, `x_next_qw`, `u_F_N`).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnMeaning {
    pub name: String,
    pub unit: String,
    pub label: String,
}

/// The unit of a quantity's rate of change: `m` → `m/s`, `m/s` → `m/s^2`,
/// a pure number → `1/s`.
pub fn rate_unit(unit: &str) -> String {
    if unit.is_empty() {
        "1/s".to_string()
    } else if let Some(base) = unit.strip_suffix("/s^2") {
        format!("{base}/s^3")
    } else if let Some(base) = unit.strip_suffix("/s") {
        format!("{base}/s^2")
    } else {
        format!("{unit}/s")
    }
}

/// A unit as identifier characters: `m/s^2` → `m_s2`, `N m` → `N_m`.
fn unit_label(unit: &str) -> String {
    let mut out = String::new();
    for c in unit.chars() {
        match c {
            '/' | ' ' | '*' | '·' => out.push('_'),
            '^' | '(' | ')' => {}
            c => out.push(c),
        }
    }
    out
}

/// The meaning of every column of [`column_names`], from the robot's
/// component names and units.
pub fn column_meanings(robot: &RobotConfig, with_truth: bool) -> Result<Vec<ColumnMeaning>> {
    column_meanings_of(robot, with_truth, LogTarget::ControlPeriod)
}

/// [`column_meanings`] of a log of `target` ([`column_names_of`]).
pub fn column_meanings_of(
    robot: &RobotConfig,
    with_truth: bool,
    target: LogTarget,
) -> Result<Vec<ColumnMeaning>> {
    let (state_names, input_names, _) = robot.names_and_body()?;
    let (state_units, input_units) = robot.units()?;
    let meaning = |prefix: &str, name: &str, unit: String| {
        let label = match unit_label(&unit) {
            u if u.is_empty() => format!("{prefix}{name}"),
            u => format!("{prefix}{name}_{u}"),
        };
        ColumnMeaning {
            name: name.to_string(),
            unit,
            label,
        }
    };
    let seconds = |name: &str| ColumnMeaning {
        name: name.to_string(),
        unit: "s".to_string(),
        label: format!("{name}_secs"),
    };
    let mut out = vec![seconds("t"), seconds("dt")];
    let states = |out: &mut Vec<_>, prefix: &str, rate: bool| {
        for (n, u) in state_names.iter().zip(&state_units) {
            let unit = if rate { rate_unit(u) } else { u.clone() };
            out.push(meaning(prefix, n, unit));
        }
    };
    states(&mut out, "x_", false);
    for (n, u) in input_names.iter().zip(&input_units) {
        out.push(meaning("u_", n, u.clone()));
    }
    states(&mut out, "x_next_", false);
    states(&mut out, "nominal_next_", false);
    states(&mut out, "target_", true);
    if target == LogTarget::PlantStep {
        states(&mut out, "x_mid_", false);
    }
    if with_truth {
        states(&mut out, "xdot_true_", true);
        states(&mut out, "true_residual_", true);
    }
    Ok(out)
}

/// A transition log being written.
pub struct DataLog {
    path: PathBuf,
    writer: Option<StreamWriter<BufWriter<File>>>,
    schema: SchemaRef,
    nominal: LogNominal,
    nx: usize,
    nu: usize,
    with_truth: bool,
    target: LogTarget,
    columns: Vec<Vec<f64>>,
    rows: usize,
    // Scratch, sized at creation.
    prediction: Vec<f64>,
    xdot_nominal: Vec<f64>,
    midpoint: Vec<f64>,
}

impl std::fmt::Debug for DataLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataLog")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl DataLog {
    /// Creates `path` for transitions of `robot`. `with_truth`: the loop
    /// knows the true state derivative (simulation) and will pass it.
    pub fn create(path: &Path, robot: &RobotConfig, with_truth: bool) -> Result<Self> {
        Self::create_for(path, robot, with_truth, LogTarget::ControlPeriod)
    }

    /// [`Self::create`] for rows of `target`.
    pub fn create_for(
        path: &Path,
        robot: &RobotConfig,
        with_truth: bool,
        target: LogTarget,
    ) -> Result<Self> {
        let (nx, nu) = robot.dimensions();
        let names = column_names_of(nx, nu, with_truth, target);
        let meanings = column_meanings_of(robot, with_truth, target)?;
        anyhow::ensure!(
            meanings.len() == names.len(),
            "robot `{}`: {} named components for {} columns",
            robot.kind(),
            meanings.len(),
            names.len()
        );
        let mut metadata = HashMap::from([
            ("format".to_string(), FORMAT_NAME.to_string()),
            ("format_version".to_string(), FORMAT_VERSION.to_string()),
            ("robot".to_string(), robot.kind().to_string()),
            ("nx".to_string(), nx.to_string()),
            ("nu".to_string(), nu.to_string()),
        ]);
        if target != LogTarget::ControlPeriod {
            metadata.insert(TARGET_KIND_KEY.to_string(), target.name().to_string());
        }
        let schema = Arc::new(Schema::new_with_metadata(
            names
                .iter()
                .zip(&meanings)
                .map(|(n, m)| {
                    Field::new(n, DataType::Float64, false).with_metadata(HashMap::from([
                        ("name".to_string(), m.name.clone()),
                        ("unit".to_string(), m.unit.clone()),
                        ("label".to_string(), m.label.clone()),
                    ]))
                })
                .collect::<Vec<_>>(),
            metadata,
        ));
        let file = File::create(path)
            .with_context(|| format!("cannot create data log {}", path.display()))?;
        let writer = StreamWriter::try_new(BufWriter::new(file), &schema)
            .and_then(|mut w| w.flush().map(|()| w))
            .with_context(|| format!("cannot write data log {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: Some(writer),
            // Each column its own batch's room (`vec![v; n]` would clone
            // an empty vector's length, not its capacity).
            columns: (0..names.len())
                .map(|_| Vec::with_capacity(BATCH_ROWS))
                .collect(),
            schema,
            nominal: LogNominal::new(robot)?,
            nx,
            nu,
            with_truth,
            target,
            rows: 0,
            prediction: vec![0.0; nx],
            xdot_nominal: vec![0.0; nx],
            midpoint: vec![0.0; nx],
        })
    }

    /// What the rows are.
    pub fn target(&self) -> LogTarget {
        self.target
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// One transition: at `t_secs` the state was `x` and `u` was applied
    /// until `t_secs + dt_secs`, when the state was `x_next`. `xdot_true`:
    /// the true derivative at `(x, u)`, when the log was created with truth.
    /// A plant-step log adds the midpoint `(x + x_next) / 2`, projected.
    /// Allocates nothing but a full batch's arrays.
    pub fn record(
        &mut self,
        t_secs: f64,
        dt_secs: f64,
        x: &[f64],
        u: &[f64],
        x_next: &[f64],
        xdot_true: Option<&[f64]>,
    ) -> Result<()> {
        let (nx, nu) = (self.nx, self.nu);
        if x.len() != nx || x_next.len() != nx || u.len() != nu {
            bail!("data log: a transition of a robot with {nx} states and {nu} inputs expected");
        }
        if xdot_true.is_some() != self.with_truth || xdot_true.is_some_and(|d| d.len() != nx) {
            bail!(
                "data log: the true derivative (length {nx}) must be given exactly when the log has truth columns"
            );
        }
        self.nominal.predict(x, u, dt_secs, &mut self.prediction);
        let mut col = 0;
        let mut push = |v: f64| {
            self.columns[col].push(v);
            col += 1;
        };
        push(t_secs);
        push(dt_secs);
        x.iter().for_each(|&v| push(v));
        u.iter().for_each(|&v| push(v));
        x_next.iter().for_each(|&v| push(v));
        self.prediction.iter().for_each(|&v| push(v));
        for i in 0..nx {
            push((x_next[i] - self.prediction[i]) / dt_secs);
        }
        if self.target == LogTarget::PlantStep {
            for i in 0..nx {
                self.midpoint[i] = (x[i] + x_next[i]) * 0.5;
            }
            self.nominal.project(&mut self.midpoint);
            self.midpoint.iter().for_each(|&v| push(v));
        }
        if let Some(xdot) = xdot_true {
            self.nominal.derivative(x, u, &mut self.xdot_nominal);
            xdot.iter().for_each(|&v| push(v));
            for i in 0..nx {
                push(xdot[i] - self.xdot_nominal[i]);
            }
        }
        self.rows += 1;
        if self.columns[0].len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.columns[0].is_empty() {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|c| {
                let full = std::mem::replace(c, Vec::with_capacity(BATCH_ROWS));
                Arc::new(Float64Array::from(full)) as ArrayRef
            })
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        if let Some(w) = &mut self.writer {
            w.write(&batch)
                .and_then(|()| w.flush())
                .with_context(|| format!("writing data log {}", self.path.display()))?;
        }
        Ok(())
    }

    /// Writes what is buffered and the stream's end marker; returns the rows.
    pub fn finish(mut self) -> Result<usize> {
        self.flush()?;
        if let Some(mut w) = self.writer.take() {
            w.finish()
                .with_context(|| format!("finishing data log {}", self.path.display()))?;
            w.into_inner()?.flush()?;
        }
        Ok(self.rows)
    }
}

/// A transition log read back: its robot and its columns by name.
#[derive(Debug, Clone)]
pub struct Transitions {
    pub robot: String,
    pub nx: usize,
    pub nu: usize,
    /// Control periods, or plant steps with their midpoints (`x_mid`).
    pub target: LogTarget,
    pub columns: HashMap<String, Vec<f64>>,
    pub rows: usize,
}

impl Transitions {
    /// Reads a log written by [`DataLog`] (or any Arrow IPC stream or file
    /// with the same metadata and float64 columns); errors name the file.
    pub fn read(path: &Path) -> Result<Self> {
        let name = path.display();
        let mut file = File::open(path).with_context(|| format!("cannot open data log {name}"))?;
        // The IPC file format starts with its magic; a stream does not.
        let mut magic = [0u8; 6];
        let is_file =
            std::io::Read::read_exact(&mut file, &mut magic).is_ok() && &magic == b"ARROW1";
        std::io::Seek::rewind(&mut file).with_context(|| format!("cannot read data log {name}"))?;
        let reader: Box<dyn arrow_array::RecordBatchReader> = if is_file {
            Box::new(
                FileReader::try_new(file, None)
                    .with_context(|| format!("{name}: not an Arrow IPC file"))?,
            )
        } else {
            Box::new(
                StreamReader::try_new_buffered(file, None)
                    .with_context(|| format!("{name}: not an Arrow IPC stream or file"))?,
            )
        };
        let schema = reader.schema();
        let meta = schema.metadata();
        let get = |key: &str| {
            meta.get(key)
                .cloned()
                .with_context(|| format!("{name}: schema metadata has no `{key}`"))
        };
        if get("format")? != FORMAT_NAME {
            bail!(
                "{name}: not a recede transition log (format `{}`)",
                get("format")?
            );
        }
        if get("format_version")?.parse::<u32>().ok() != Some(FORMAT_VERSION) {
            bail!(
                "{name}: transition log version {} (this build reads {FORMAT_VERSION})",
                get("format_version")?
            );
        }
        let nx: usize = get("nx")?.parse().with_context(|| format!("{name}: nx"))?;
        let nu: usize = get("nu")?.parse().with_context(|| format!("{name}: nu"))?;
        let mut columns: HashMap<String, Vec<f64>> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), Vec::new()))
            .collect();
        let mut rows = 0;
        for batch in reader {
            let batch = batch.with_context(|| format!("{name}: corrupt record batch"))?;
            rows += batch.num_rows();
            for (field, array) in schema.fields().iter().zip(batch.columns()) {
                let values = array
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .with_context(|| format!("{name}: column `{}` is not float64", field.name()))?;
                if values.null_count() > 0 {
                    bail!("{name}: column `{}` has nulls", field.name());
                }
                columns
                    .get_mut(field.name())
                    .expect("every field has a column")
                    .extend_from_slice(values.values());
            }
        }
        let target = match meta.get(TARGET_KIND_KEY) {
            None => LogTarget::ControlPeriod,
            Some(kind) => kind
                .parse()
                .map_err(|e| anyhow::anyhow!("{name}: schema metadata `{TARGET_KIND_KEY}`: {e}"))?,
        };
        Ok(Self {
            robot: get("robot")?,
            nx,
            nu,
            target,
            columns,
            rows,
        })
    }

    /// The `n` columns `{prefix}_0 .. {prefix}_{n-1}`.
    pub fn group(&self, prefix: &str, n: usize) -> Result<Vec<&[f64]>> {
        (0..n)
            .map(|i| {
                let key = format!("{prefix}_{i}");
                self.columns
                    .get(&key)
                    .map(Vec::as_slice)
                    .with_context(|| format!("the data log has no column `{key}`"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_ipc::writer::FileWriter;
    use recede_model::robots::CartPoleParams;

    /// A stream written by `DataLog`, and the same batches in the IPC file
    /// format (what earlier versions wrote): both read the same.
    #[test]
    fn stream_and_file_formats_read_alike() {
        let dir = tempfile::tempdir().unwrap();
        let stream = dir.path().join("s.arrow");
        let robot = RobotConfig::CartPole(CartPoleParams::default());
        let mut log = DataLog::create(&stream, &robot, false).unwrap();
        let rows = BATCH_ROWS + 7;
        for k in 0..rows {
            let x = [k as f64 * 0.01, 0.1, 0.0, 0.0];
            log.record(k as f64 * 0.02, 0.02, &x, &[1.0], &x, None)
                .unwrap();
        }
        assert_eq!(log.finish().unwrap(), rows);

        let file = dir.path().join("f.arrow");
        let reader = StreamReader::try_new_buffered(File::open(&stream).unwrap(), None).unwrap();
        let mut writer =
            FileWriter::try_new(File::create(&file).unwrap(), &reader.schema()).unwrap();
        for batch in reader {
            writer.write(&batch.unwrap()).unwrap();
        }
        writer.finish().unwrap();

        let (a, b) = (
            Transitions::read(&stream).unwrap(),
            Transitions::read(&file).unwrap(),
        );
        assert_eq!((a.rows, b.rows), (rows, rows));
        assert_eq!(a.columns, b.columns);
        assert_eq!(a.columns["x_0"][rows - 1], (rows - 1) as f64 * 0.01);
        assert!(std::fs::read(&file).unwrap().starts_with(b"ARROW1"));
        assert!(!std::fs::read(&stream).unwrap().starts_with(b"ARROW1"));
    }

    /// Every column names its component and unit in the file itself; rates
    /// get the unit per second.
    #[test]
    fn columns_carry_names_and_units() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.arrows");
        let robot: RobotConfig = toml::from_str("kind = \"quadrotor\"").unwrap();
        DataLog::create(&path, &robot, true)
            .unwrap()
            .finish()
            .unwrap();
        let reader = StreamReader::try_new_buffered(File::open(&path).unwrap(), None).unwrap();
        let schema = reader.schema();
        let label = |column: &str| {
            let field = schema.field_with_name(column).unwrap();
            let m = field.metadata();
            (m["label"].clone(), m["unit"].clone())
        };
        assert_eq!(schema.fields().len(), column_names(13, 4, true).len());
        assert_eq!(label("t_secs"), ("t_secs".into(), "s".into()));
        assert_eq!(label("x_0"), ("x_px_m".into(), "m".into()));
        assert_eq!(label("x_3"), ("x_qw".into(), "".into()));
        assert_eq!(label("x_next_7"), ("x_next_vx_m_s".into(), "m/s".into()));
        assert_eq!(label("u_2"), ("u_f2_N".into(), "N".into()));
        assert_eq!(label("target_7"), ("target_vx_m_s2".into(), "m/s^2".into()));
        assert_eq!(
            label("xdot_true_3"),
            ("xdot_true_qw_1_s".into(), "1/s".into())
        );
        assert_eq!(
            label("true_residual_10"),
            ("true_residual_wx_rad_s2".into(), "rad/s^2".into())
        );
        let labels: std::collections::HashSet<_> = schema
            .fields()
            .iter()
            .map(|f| f.metadata()["label"].clone())
            .collect();
        assert_eq!(labels.len(), schema.fields().len(), "labels are unique");
    }

    #[test]
    fn rate_units() {
        assert_eq!(rate_unit("m"), "m/s");
        assert_eq!(rate_unit("rad/s"), "rad/s^2");
        assert_eq!(rate_unit("m/s^2"), "m/s^3");
        assert_eq!(rate_unit(""), "1/s");
        assert_eq!(rate_unit("1/m"), "1/m/s");
    }
}
