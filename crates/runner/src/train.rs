//! `recede train --data FILE... --model residual.toml --out MODEL`: fits a
//! residual model to transition logs ([`crate::datalog`]) with
//! `recede_learn::train` and writes the model file.
//!
//! `residual.toml` is a `recede_learn::ResidualSpec` (features, outputs,
//! hidden, activation, guard) plus two optional keys:
//!
//! - `target = "target"` (default: `(x_next - nominal_next) / dt`, what a
//!   robot can compute from its estimator) or `"true_residual"` (the true
//!   `xdot - f_nominal`, only in logs written in simulation);
//! - `[training]`: `recede_learn::TrainOptions` (seed, epochs, batch size,
//!   learning rate, validation fraction, patience, ...).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use nalgebra::SVector;
use recede_learn::{train, Dataset, EpochReport, MlpResidual, ResidualSpec, TrainOptions};
use serde::{Deserialize, Serialize};

use crate::datalog::{LogTarget, Transitions};

/// Which columns of the log the residual is fitted to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// `target_*`: `(x_next - nominal_next) / dt`.
    #[default]
    Target,
    /// `true_residual_*`: `xdot_true - f_nominal(x, u)` (simulation only).
    TrueResidual,
}

impl Target {
    fn prefix(self) -> &'static str {
        match self {
            Self::Target => "target",
            Self::TrueResidual => "true_residual",
        }
    }
}

/// A `residual.toml`: the architecture, the target and the training options.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub spec: ResidualSpec,
    pub target: Target,
    pub training: TrainOptions,
}

impl TrainConfig {
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let name = origin.display();
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let target = match table.remove("target") {
            Some(v) => Target::deserialize(v)
                .map_err(|e| anyhow::anyhow!("{name}: `target`: {}", e.message()))?,
            None => Target::default(),
        };
        let training = match table.remove("training") {
            Some(v) => TrainOptions::deserialize(v)
                .map_err(|e| anyhow::anyhow!("{name}: [training]: {}", e.message()))?,
            None => TrainOptions::default(),
        };
        training
            .validate()
            .map_err(|e| anyhow::anyhow!("{name}: [training]: {e}"))?;
        let spec = ResidualSpec::deserialize(toml::Value::Table(table))
            .map_err(|e| anyhow::anyhow!("{name}: {}", e.message()))?;
        Ok(Self {
            spec,
            target,
            training,
        })
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read residual config {}", path.display()))?;
        Self::parse(&text, path)
    }
}

/// What a training run produced.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    pub model: String,
    pub robot: String,
    pub samples: usize,
    /// Rows dropped because a value was not finite.
    pub dropped_rows: usize,
    pub n_train: usize,
    pub n_validation: usize,
    pub epochs: usize,
    pub best_epoch: usize,
    pub stopped_early: bool,
    pub initial_validation_loss: f64,
    pub best_validation_loss: f64,
    /// Per output, physical units, on the validation split.
    pub validation_rmse: Vec<f64>,
}

/// Reads the logs into one dataset of `(x, u, residual)` samples, rows with
/// a non-finite value left out (counted). A plant-step log's samples sit
/// at the step's midpoint (`x_mid`), where its target is second-order
/// exact; a control period's at its start (`x`).
pub fn dataset<const NX: usize, const NU: usize>(
    logs: &[Transitions],
    target: Target,
) -> Result<(Dataset<NX, NU>, usize)> {
    let mut data = Dataset::new();
    let mut dropped = 0;
    for log in logs {
        // The true residual is a point value at `x` in every log.
        let at = match (log.target, target) {
            (LogTarget::PlantStep, Target::Target) => "x_mid",
            _ => "x",
        };
        let x = log.group(at, NX)?;
        let u = log.group("u", NU)?;
        let r = log
            .group(target.prefix(), NX)
            .with_context(|| format!("target `{}`", target.prefix()))?;
        for row in 0..log.rows {
            let xs = SVector::<f64, NX>::from_fn(|i, _| x[i][row]);
            let us = SVector::<f64, NU>::from_fn(|i, _| u[i][row]);
            let rs = SVector::<f64, NX>::from_fn(|i, _| r[i][row]);
            if xs
                .iter()
                .chain(us.iter())
                .chain(rs.iter())
                .all(|v| v.is_finite())
            {
                data.push(xs, us, rs);
            } else {
                dropped += 1;
            }
        }
    }
    Ok((data, dropped))
}

/// Trains on `data` and writes the model to `out`.
pub fn fit<const NX: usize, const NU: usize>(
    data: &Dataset<NX, NU>,
    config: &TrainConfig,
    out: &Path,
    on_epoch: impl FnMut(&EpochReport),
) -> Result<(MlpResidual<NX, NU>, recede_learn::TrainReport)> {
    let (model, report) = train(data, &config.spec, &config.training, on_epoch)?;
    model
        .save(out)
        .with_context(|| format!("cannot write model {}", out.display()))?;
    Ok((model, report))
}

/// The whole `recede train` command: read, train with a progress bar and
/// the losses per epoch on stderr, write the model.
pub fn run(data: &[PathBuf], model_config: &Path, out: &Path) -> Result<TrainSummary> {
    if data.is_empty() {
        bail!("no data: pass one or more --data FILE");
    }
    let config = TrainConfig::load(model_config)?;
    let logs = data
        .iter()
        .map(|p| Transitions::read(p))
        .collect::<Result<Vec<_>>>()?;
    let (robot, nx, nu) = (logs[0].robot.clone(), logs[0].nx, logs[0].nu);
    if let Some((p, l)) = data
        .iter()
        .zip(&logs)
        .find(|(_, l)| (l.robot.as_str(), l.nx, l.nu) != (robot.as_str(), nx, nu))
    {
        bail!(
            "{}: a {} log ({} states, {} inputs) cannot be mixed with {} logs ({nx}, {nu})",
            p.display(),
            l.robot,
            l.nx,
            l.nu,
            robot
        );
    }
    let bar = ProgressBar::new(config.training.max_epochs as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let on_epoch = |e: &EpochReport| {
        let line = format!(
            "epoch {:>4}/{}  train {:.6}  validation {:.6}{}",
            e.epoch,
            e.max_epochs,
            e.train_loss,
            e.validation_loss,
            if e.improved { "  *" } else { "" }
        );
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
        bar.set_position(e.epoch as u64);
        bar.set_message(format!("best validation {:.6}", e.best_validation_loss));
    };
    macro_rules! go {
        ($nx:literal, $nu:literal) => {{
            let (data, dropped) = dataset::<$nx, $nu>(&logs, config.target)?;
            let (_, report) = fit(&data, &config, out, on_epoch)?;
            (data.len(), dropped, report)
        }};
    }
    let (samples, dropped, report) = match (nx, nu) {
        (13, 4) => go!(13, 4),
        (4, 1) => go!(4, 1),
        (5, 2) => go!(5, 2),
        (4, 2) => go!(4, 2),
        (10, 1) => go!(10, 1),
        (6, 6) => go!(6, 6),
        _ => bail!("no built-in robot has {nx} states and {nu} inputs"),
    };
    bar.finish_and_clear();
    Ok(TrainSummary {
        model: out.display().to_string(),
        robot,
        samples,
        dropped_rows: dropped,
        n_train: report.n_train,
        n_validation: report.n_validation,
        epochs: report.epochs.len(),
        best_epoch: report.best_epoch,
        stopped_early: report.stopped_early,
        initial_validation_loss: report.initial_validation_loss,
        best_validation_loss: report.best_validation_loss,
        validation_rmse: report.validation_rmse,
    })
}
