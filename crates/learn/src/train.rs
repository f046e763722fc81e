//! Offline training: Adam over minibatches of squared error in normalised
//! output units, a held-out validation split, early stopping on the
//! validation loss. Seeded with ChaCha8 and single-threaded, so the same data,
//! spec and options give the same model bit for bit.

use nalgebra::{DMatrix, SVector};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::LearnError;
use crate::mlp::{MlpResidual, Normalization, Support};
use crate::network::{Backprop, Network};
use crate::spec::ResidualSpec;
use crate::MAX_WIDTH;

/// One training sample: the state, the input and the residual of the state
/// derivative, `xdot_measured - f_nominal(x, u)`. Only the entries the output
/// map writes are used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<const NX: usize, const NU: usize> {
    pub x: SVector<f64, NX>,
    pub u: SVector<f64, NU>,
    pub residual: SVector<f64, NX>,
}

/// Samples in the order they were logged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset<const NX: usize, const NU: usize> {
    pub samples: Vec<Sample<NX, NU>>,
}

impl<const NX: usize, const NU: usize> Dataset<NX, NU> {
    pub fn new() -> Self {
        Self {
            samples: Vec::new(),
        }
    }

    pub fn push(&mut self, x: SVector<f64, NX>, u: SVector<f64, NU>, residual: SVector<f64, NX>) {
        self.samples.push(Sample { x, u, residual });
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// Training options (config; unknown keys rejected, everything defaulted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainOptions {
    /// Seeds the split, the initialisation and the shuffles.
    pub seed: u64,
    /// Upper bound on the number of passes over the training split.
    pub max_epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    pub adam_epsilon: f64,
    /// L2 penalty coefficient on the weights (not the biases).
    pub weight_decay: f64,
    /// Fraction of samples held out for validation, in (0, 1).
    pub validation_fraction: f64,
    /// Stop after this many epochs without a validation improvement.
    pub patience: usize,
    /// An epoch improves if it lowers the best validation loss by more than
    /// this (absolute, normalised units).
    pub min_improvement: f64,
    /// Train a linear skip term beside the MLP ([`Network::skip`]): it
    /// starts at zero and extrapolates beyond the training support, where
    /// the clip guard holds the MLP at the box's boundary.
    pub linear_skip: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            max_epochs: 200,
            batch_size: 64,
            learning_rate: 1e-3,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
            weight_decay: 0.0,
            validation_fraction: 0.2,
            patience: 20,
            min_improvement: 0.0,
            linear_skip: false,
        }
    }
}

impl TrainOptions {
    pub fn validate(&self) -> Result<(), LearnError> {
        let bad = |m: String| Err(LearnError::Training(m));
        if self.max_epochs == 0 {
            return bad("max_epochs must be >= 1".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size must be >= 1".into());
        }
        for (name, v) in [
            ("learning_rate", self.learning_rate),
            ("adam_epsilon", self.adam_epsilon),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{name} = {v}, expected a finite value > 0"));
            }
        }
        for (name, v) in [
            ("adam_beta1", self.adam_beta1),
            ("adam_beta2", self.adam_beta2),
        ] {
            if !(0.0..1.0).contains(&v) {
                return bad(format!("{name} = {v}, expected a value in [0, 1)"));
            }
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!(
                "weight_decay = {}, expected >= 0",
                self.weight_decay
            ));
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0) {
            return bad(format!(
                "validation_fraction = {}, expected a value in (0, 1)",
                self.validation_fraction
            ));
        }
        if !(self.min_improvement.is_finite() && self.min_improvement >= 0.0) {
            return bad(format!(
                "min_improvement = {}, expected >= 0",
                self.min_improvement
            ));
        }
        Ok(())
    }
}

/// Losses after one epoch (mean squared error in normalised output units).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    pub max_epochs: usize,
    /// Mean loss over the epoch's minibatches (weights changing as it goes).
    pub train_loss: f64,
    /// Loss on the validation split at the end of the epoch.
    pub validation_loss: f64,
    /// Best validation loss so far, including this epoch.
    pub best_validation_loss: f64,
    /// This epoch set a new best (its weights are the ones kept so far).
    pub improved: bool,
}

/// Summary of a training run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    pub epochs: Vec<EpochReport>,
    /// Epoch whose weights the returned model has (1-based).
    pub best_epoch: usize,
    pub best_validation_loss: f64,
    /// Validation loss of the initial (untrained) network.
    pub initial_validation_loss: f64,
    /// Training stopped before `max_epochs` because of `patience`.
    pub stopped_early: bool,
    pub n_train: usize,
    pub n_validation: usize,
    /// Root mean square error per output on the validation split, in the
    /// outputs' physical units, for the returned model.
    pub validation_rmse: Vec<f64>,
}

/// Trains a residual with `spec`'s architecture on `data`, calling
/// `on_epoch` after every epoch (for a progress bar or a log). Normalisation
/// and the support box come from the training split.
pub fn train<const NX: usize, const NU: usize>(
    data: &Dataset<NX, NU>,
    spec: &ResidualSpec,
    options: &TrainOptions,
    mut on_epoch: impl FnMut(&EpochReport),
) -> Result<(MlpResidual<NX, NU>, TrainReport), LearnError> {
    spec.validate(NX, NU)?;
    options.validate()?;
    let nf = spec.n_features(NU);
    let no = spec.n_outputs();
    let n = data.len();
    let n_val = ((n as f64) * options.validation_fraction).round() as usize;
    let n_train = n.saturating_sub(n_val);
    if n_val == 0 || n_train == 0 {
        return Err(LearnError::Training(format!(
            "{n} samples cannot be split into non-empty training and validation sets \
             (validation_fraction = {})",
            options.validation_fraction
        )));
    }

    // Raw features and targets, row-major.
    let probe = MlpResidual::<NX, NU>::zero(spec.clone())?;
    let mut feats = vec![0.0; n * nf];
    let mut targets = vec![0.0; n * no];
    for (s, sample) in data.samples.iter().enumerate() {
        let bad = !sample
            .x
            .iter()
            .chain(sample.u.iter())
            .all(|v| v.is_finite());
        let f = probe.raw_features(&sample.x, &sample.u);
        let row_t = &mut targets[s * no..(s + 1) * no];
        let mut at = 0;
        for out in &spec.outputs {
            out.extract(&sample.x, &sample.residual, row_t, at);
            at += out.width();
        }
        feats[s * nf..(s + 1) * nf].copy_from_slice(&f[..nf]);
        if bad
            || !feats[s * nf..(s + 1) * nf].iter().all(|v| v.is_finite())
            || !row_t.iter().all(|v| v.is_finite())
        {
            return Err(LearnError::Training(format!(
                "sample {s} has a non-finite state, input, feature or target"
            )));
        }
    }

    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let (val_idx, train_idx) = order.split_at(n_val);
    let mut train_idx = train_idx.to_vec();
    let val_idx = val_idx.to_vec();

    // Normalisation and support from the training split only.
    let mut norm = Normalization::identity(nf, no);
    let mut support = Support {
        feature_min: vec![f64::INFINITY; nf],
        feature_max: vec![f64::NEG_INFINITY; nf],
    };
    stats(
        &feats,
        nf,
        &train_idx,
        &mut norm.feature_mean,
        &mut norm.feature_std,
    );
    stats(
        &targets,
        no,
        &train_idx,
        &mut norm.output_mean,
        &mut norm.output_std,
    );
    for &s in &train_idx {
        for i in 0..nf {
            let v = feats[s * nf + i];
            support.feature_min[i] = support.feature_min[i].min(v);
            support.feature_max[i] = support.feature_max[i].max(v);
        }
    }
    for s in 0..n {
        for i in 0..nf {
            feats[s * nf + i] = (feats[s * nf + i] - norm.feature_mean[i]) / norm.feature_std[i];
        }
        for o in 0..no {
            targets[s * no + o] = (targets[s * no + o] - norm.output_mean[o]) / norm.output_std[o];
        }
    }

    // Glorot-uniform weights, zero biases.
    let sizes = spec.layer_sizes(NU);
    let mut net = Network::zeros(&sizes, spec.activation);
    for layer in &mut net.layers {
        let a = (6.0 / (layer.inputs + layer.outputs) as f64).sqrt();
        for w in &mut layer.weight {
            *w = rng.random_range(-a..a);
        }
    }

    let mut grad = Network::zeros(&sizes, spec.activation);
    if options.linear_skip {
        net = net.with_zero_skip();
        grad = grad.with_zero_skip();
        net.skip = least_squares_skip(&feats, &targets, nf, no, &train_idx);
    }
    let mut m = grad.clone();
    let mut v = grad.clone();
    let mut scratch = Backprop::new(&net);
    let loss_on = |net: &Network, idx: &[usize]| -> f64 {
        let mut total = 0.0;
        for &s in idx {
            total += net.loss(&feats[s * nf..(s + 1) * nf], &targets[s * no..(s + 1) * no]);
        }
        total / idx.len() as f64
    };

    let initial_validation_loss = loss_on(&net, &val_idx);
    let mut best = net.clone();
    let mut best_loss = initial_validation_loss;
    let mut best_epoch = 0;
    let mut since_best = 0;
    let mut epochs = Vec::new();
    let mut step: i32 = 0;
    let mut stopped_early = false;
    for epoch in 1..=options.max_epochs {
        train_idx.shuffle(&mut rng);
        let mut epoch_loss = 0.0;
        for batch in train_idx.chunks(options.batch_size) {
            zero(&mut grad);
            let scale = 1.0 / batch.len() as f64;
            for &s in batch {
                epoch_loss += scratch.accumulate(
                    &net,
                    &feats[s * nf..(s + 1) * nf],
                    &targets[s * no..(s + 1) * no],
                    scale,
                    &mut grad,
                );
            }
            step = step.saturating_add(1);
            adam(&mut net, &grad, &mut m, &mut v, options, step);
        }
        let train_loss = epoch_loss / train_idx.len() as f64;
        let validation_loss = loss_on(&net, &val_idx);
        let improved = validation_loss < best_loss - options.min_improvement;
        if improved {
            best_loss = validation_loss;
            best.clone_from(&net);
            best_epoch = epoch;
            since_best = 0;
        } else {
            since_best += 1;
        }
        let report = EpochReport {
            epoch,
            max_epochs: options.max_epochs,
            train_loss,
            validation_loss,
            best_validation_loss: best_loss,
            improved,
        };
        on_epoch(&report);
        epochs.push(report);
        if !train_loss.is_finite() {
            return Err(LearnError::Training(format!(
                "the training loss became non-finite in epoch {epoch}; lower the learning rate"
            )));
        }
        if since_best >= options.patience {
            stopped_early = epoch < options.max_epochs;
            break;
        }
    }

    let mut validation_rmse = vec![0.0; no];
    let mut buf = [0.0; MAX_WIDTH];
    for &s in &val_idx {
        buf[..nf].copy_from_slice(&feats[s * nf..(s + 1) * nf]);
        best.forward(&mut buf);
        for o in 0..no {
            let e = (buf[o] - targets[s * no + o]) * norm.output_std[o];
            validation_rmse[o] += e * e;
        }
    }
    for r in &mut validation_rmse {
        *r = (*r / n_val as f64).sqrt();
    }

    let model = MlpResidual::new(spec.clone(), best, norm, support)?;
    let report = TrainReport {
        epochs,
        best_epoch,
        best_validation_loss: best_loss,
        initial_validation_loss,
        stopped_early,
        n_train,
        n_validation: n_val,
        validation_rmse,
    };
    Ok((model, report))
}

/// Mean and std (population; 1 where the std is below 1e-12, so a constant
/// feature is only centred) of the columns of a row-major table over `rows`.
fn stats(table: &[f64], width: usize, rows: &[usize], mean: &mut [f64], std: &mut [f64]) {
    let n = rows.len() as f64;
    for c in 0..width {
        let mu = rows.iter().map(|&r| table[r * width + c]).sum::<f64>() / n;
        let var = rows
            .iter()
            .map(|&r| (table[r * width + c] - mu).powi(2))
            .sum::<f64>()
            / n;
        mean[c] = mu;
        std[c] = if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 };
    }
}

/// The skip term's starting point: the least-squares fit of the (normalised)
/// targets on the (normalised) features over the training split, so the
/// MLP learns what a linear model leaves and the linear part, the one that
/// extrapolates, carries what it can. A tiny ridge keeps the normal
/// equations solvable for collinear features; `Some(zeros)` if they are not.
fn least_squares_skip(
    feats: &[f64],
    targets: &[f64],
    nf: usize,
    no: usize,
    rows: &[usize],
) -> Option<Vec<f64>> {
    let mut ftf = DMatrix::<f64>::zeros(nf, nf);
    let mut ftt = DMatrix::<f64>::zeros(nf, no);
    for &r in rows {
        let f = &feats[r * nf..(r + 1) * nf];
        let t = &targets[r * no..(r + 1) * no];
        for i in 0..nf {
            for j in 0..nf {
                ftf[(i, j)] += f[i] * f[j];
            }
            for o in 0..no {
                ftt[(i, o)] += f[i] * t[o];
            }
        }
    }
    let ridge = 1e-9 * ftf.trace().max(1.0);
    for i in 0..nf {
        ftf[(i, i)] += ridge;
    }
    let mut skip = vec![0.0; no * nf];
    if let Some(chol) = ftf.cholesky() {
        let x = chol.solve(&ftt);
        if x.iter().all(|v| v.is_finite()) {
            for o in 0..no {
                for i in 0..nf {
                    skip[o * nf + i] = x[(i, o)];
                }
            }
        }
    }
    Some(skip)
}

fn zero(net: &mut Network) {
    for l in &mut net.layers {
        l.weight.fill(0.0);
        l.bias.fill(0.0);
    }
    if let Some(s) = &mut net.skip {
        s.fill(0.0);
    }
}

fn adam(
    net: &mut Network,
    grad: &Network,
    m: &mut Network,
    v: &mut Network,
    o: &TrainOptions,
    step: i32,
) {
    let (b1, b2) = (o.adam_beta1, o.adam_beta2);
    let c1 = 1.0 - b1.powi(step);
    let c2 = 1.0 - b2.powi(step);
    for l in 0..net.layers.len() {
        let update = |p: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64], decay: f64| {
            for i in 0..p.len() {
                let gi = g[i] + decay * p[i];
                m[i] = b1 * m[i] + (1.0 - b1) * gi;
                v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
                p[i] -= o.learning_rate * (m[i] / c1) / ((v[i] / c2).sqrt() + o.adam_epsilon);
            }
        };
        let (pl, gl) = (&mut net.layers[l], &grad.layers[l]);
        let (ml, vl) = (&mut m.layers[l], &mut v.layers[l]);
        update(
            &mut pl.weight,
            &gl.weight,
            &mut ml.weight,
            &mut vl.weight,
            o.weight_decay,
        );
        update(&mut pl.bias, &gl.bias, &mut ml.bias, &mut vl.bias, 0.0);
    }
    if let (Some(p), Some(g), Some(m), Some(v)) =
        (&mut net.skip, &grad.skip, &mut m.skip, &mut v.skip)
    {
        for i in 0..p.len() {
            let gi = g[i] + o.weight_decay * p[i];
            m[i] = b1 * m[i] + (1.0 - b1) * gi;
            v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
            p[i] -= o.learning_rate * (m[i] / c1) / ((v[i] / c2).sqrt() + o.adam_epsilon);
        }
    }
}
