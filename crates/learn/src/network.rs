//! The multilayer perceptron itself: f64 weights in `Vec`s set up once, a
//! forward pass into fixed-size stack buffers, the value with its input
//! gradients for inference ([`Network::value_and_gradients`]), and a
//! hand-written backward pass over f64 for training.

use arrayvec::ArrayVec;
use recede_model::{c, Scalar};

use crate::error::{check_finite, LearnError};
use crate::spec::Activation;
use crate::tanh::tanh;
use crate::{MAX_HIDDEN_LAYERS, MAX_WIDTH};

/// Most inputs of a network whose input gradients
/// [`Network::value_and_gradients_narrow`] sums in registers.
pub(crate) const NARROW: usize = 8;

/// The first layer of a network with one hidden layer and at most
/// [`NARROW`] inputs, laid out at load for the narrow pass.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NarrowFirst {
    /// Weight rows padded with zeros to `NARROW` inputs (the gradients).
    rows: Vec<[f64; NARROW]>,
    /// Per block of four hidden units, each input's four weights.
    columns: Vec<[[f64; 4]; NARROW]>,
    /// Per block of four hidden units, their biases.
    bias: Vec<[f64; 4]>,
}

/// One affine layer `y = W a + b`; `weight` is row-major `[outputs][inputs]`
/// (PyTorch's `nn.Linear` layout).
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub inputs: usize,
    pub outputs: usize,
    pub weight: Vec<f64>,
    pub bias: Vec<f64>,
}

impl Layer {
    /// A layer of zeros.
    pub fn zeros(inputs: usize, outputs: usize) -> Self {
        Self {
            inputs,
            outputs,
            weight: vec![0.0; inputs * outputs],
            bias: vec![0.0; outputs],
        }
    }
}

/// Affine layers with an activation between them (none after the last),
/// and optionally a linear skip term from the input straight to the output.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub activation: Activation,
    pub layers: Vec<Layer>,
    /// `y += S s`, row-major `[outputs][inputs]`, where `s` is the skip
    /// input: the normalised features *before* the support guard clips
    /// them (in training the two inputs are the same). The MLP is held at
    /// the box's boundary outside the training support, the skip term keeps
    /// growing with the features, so a residual that grows with speed (drag)
    /// extrapolates to first order, and RLS can adapt its slope there.
    pub skip: Option<Vec<f64>>,
}

impl Network {
    /// A network of zeros with the given layer widths (input first).
    pub fn zeros(sizes: &[usize], activation: Activation) -> Self {
        Self {
            activation,
            layers: sizes.windows(2).map(|w| Layer::zeros(w[0], w[1])).collect(),
            skip: None,
        }
    }

    /// The same network with a linear skip term of zeros.
    pub fn with_zero_skip(mut self) -> Self {
        self.skip = Some(vec![0.0; self.n_outputs() * self.n_inputs()]);
        self
    }

    /// Row `o` of the skip term's weight (`None` without a skip term).
    #[inline]
    pub fn skip_row(&self, o: usize) -> Option<&[f64]> {
        let n = self.n_inputs();
        self.skip.as_deref().map(|s| &s[o * n..(o + 1) * n])
    }

    /// Checks shapes chain, widths fit the inference buffers and every
    /// parameter is finite.
    pub fn validate(&self) -> Result<(), LearnError> {
        if self.layers.is_empty() {
            return Err(LearnError::invalid("network", "it has no layers"));
        }
        if self.layers.len() > MAX_HIDDEN_LAYERS + 1 {
            return Err(LearnError::invalid(
                "network",
                format!(
                    "it has {} hidden layers, more than the maximum {MAX_HIDDEN_LAYERS}",
                    self.layers.len() - 1
                ),
            ));
        }
        for (l, layer) in self.layers.iter().enumerate() {
            for (what, w) in [("inputs", layer.inputs), ("outputs", layer.outputs)] {
                if w == 0 || w > MAX_WIDTH {
                    return Err(LearnError::TooWide {
                        what: format!("layer {l} {what}"),
                        width: w,
                        max: MAX_WIDTH,
                    });
                }
            }
            if l > 0 && layer.inputs != self.layers[l - 1].outputs {
                return Err(LearnError::mismatch(
                    format!("layer {l} inputs (previous layer's outputs)"),
                    self.layers[l - 1].outputs,
                    layer.inputs,
                ));
            }
            if layer.weight.len() != layer.inputs * layer.outputs {
                return Err(LearnError::mismatch(
                    format!("layer {l} weight length"),
                    layer.inputs * layer.outputs,
                    layer.weight.len(),
                ));
            }
            if layer.bias.len() != layer.outputs {
                return Err(LearnError::mismatch(
                    format!("layer {l} bias length"),
                    layer.outputs,
                    layer.bias.len(),
                ));
            }
            check_finite(&format!("layer {l} weight"), &layer.weight)?;
            check_finite(&format!("layer {l} bias"), &layer.bias)?;
        }
        if let Some(skip) = &self.skip {
            let expected = self.n_inputs() * self.n_outputs();
            if skip.len() != expected {
                return Err(LearnError::mismatch(
                    "skip weight length",
                    expected,
                    skip.len(),
                ));
            }
            check_finite("skip weight", skip)?;
        }
        Ok(())
    }

    pub fn n_inputs(&self) -> usize {
        self.layers[0].inputs
    }

    pub fn n_outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].outputs
    }

    /// Width of the activation that feeds the last layer.
    pub fn last_hidden_width(&self) -> usize {
        self.layers[self.layers.len() - 1].inputs
    }

    /// Number of parameters (weights, biases and the skip term).
    pub fn n_params(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.weight.len() + l.bias.len())
            .sum::<usize>()
            + self.skip.as_ref().map_or(0, Vec::len)
    }

    /// Runs every layer but the last: the input of the last layer, in
    /// `buf[..last_hidden_width()]`. `buf[..n_inputs()]` holds the input on
    /// entry. No heap allocation.
    #[inline]
    pub fn forward_hidden<T: Scalar>(&self, buf: &mut [T; MAX_WIDTH]) {
        let mut tmp = [c::<T>(0.0); MAX_WIDTH];
        for layer in &self.layers[..self.layers.len() - 1] {
            affine(layer, buf, &mut tmp);
            for j in 0..layer.outputs {
                buf[j] = activate(self.activation, tmp[j]);
            }
        }
    }

    /// The last (linear) layer from `hidden` into `out`.
    #[inline]
    pub fn forward_last<T: Scalar>(&self, hidden: &[T; MAX_WIDTH], out: &mut [T; MAX_WIDTH]) {
        affine(&self.layers[self.layers.len() - 1], hidden, out);
    }

    /// The whole network: `buf[..n_inputs()]` in, `buf[..n_outputs()]` out;
    /// the skip term, if any, sees the same input.
    #[inline]
    pub fn forward<T: Scalar>(&self, buf: &mut [T; MAX_WIDTH]) {
        let input = *buf;
        self.forward_split(buf, &input);
    }

    /// The whole network with the MLP on `buf[..n_inputs()]` and the skip
    /// term on `skip_input` (the unclipped input); `buf[..n_outputs()]` out.
    #[inline]
    pub fn forward_split<T: Scalar>(&self, buf: &mut [T; MAX_WIDTH], skip_input: &[T; MAX_WIDTH]) {
        self.forward_hidden(buf);
        let mut out = [c::<T>(0.0); MAX_WIDTH];
        self.forward_last(buf, &mut out);
        if self.skip.is_some() {
            for (o, y) in out[..self.n_outputs()].iter_mut().enumerate() {
                *y += self.skip_sum(o, skip_input);
            }
        }
        *buf = out;
    }

    /// `(S s)_o`, summed from zero in input order (every evaluation path
    /// sums it the same way, so their values agree bit for bit); zero
    /// without a skip term.
    #[inline]
    pub fn skip_sum<T: Scalar>(&self, o: usize, skip_input: &[T]) -> T {
        let mut acc = c::<T>(0.0);
        if let Some(row) = self.skip_row(o) {
            for (&w, &s) in row.iter().zip(skip_input) {
                acc += s * w;
            }
        }
        acc
    }

    /// The MLP (without the skip term) on `f64` with, for each output `o`, its gradient
    /// with respect to the input (reverse mode): `gradient(o, y_o, dy_o/dinput)`
    /// is called once per output, in order. Inference on dual numbers uses
    /// this instead of pushing duals through every layer: the network's
    /// derivative is then one `n_out x n_in` chain-rule product, not a dual
    /// operation per weight. No heap allocation.
    #[inline]
    pub fn value_and_gradients(&self, input: &[f64], mut gradient: impl FnMut(usize, f64, &[f64])) {
        let n_layers = self.layers.len();
        // Activation derivatives of the hidden layers, back to back.
        let mut slopes = ArrayVec::<f64, { MAX_WIDTH * MAX_HIDDEN_LAYERS }>::new();
        let mut a = [0.0; MAX_WIDTH];
        a[..input.len()].copy_from_slice(input);
        let mut z = [0.0; MAX_WIDTH];
        for layer in &self.layers[..n_layers - 1] {
            affine(layer, &a, &mut z);
            for j in 0..layer.outputs {
                a[j] = activate(self.activation, z[j]);
                let pushed = slopes.try_push(activate_prime(self.activation, z[j], a[j]));
                debug_assert!(
                    pushed.is_ok(),
                    "validated: at most MAX_HIDDEN_LAYERS layers"
                );
            }
        }
        let last = &self.layers[n_layers - 1];
        affine(last, &a, &mut z);
        let (mut delta, mut delta_prev) = ([0.0; MAX_WIDTH], [0.0; MAX_WIDTH]);
        for o in 0..last.outputs {
            // d y_o / d (input of the last layer) is row o of its weight.
            let mut width = last.inputs;
            delta[..width].copy_from_slice(&last.weight[o * width..(o + 1) * width]);
            let mut slopes_end = slopes.len();
            for l in (0..n_layers - 1).rev() {
                let layer = &self.layers[l];
                let (n_in, n_out) = (layer.inputs, layer.outputs);
                let layer_slopes = &slopes[slopes_end - n_out..slopes_end];
                slopes_end -= n_out;
                for (d, s) in delta[..n_out].iter_mut().zip(layer_slopes) {
                    *d *= s;
                }
                // Columns i of the row-major weight, summed in registers
                // (accumulating rows into memory serialises on the stores),
                // four at a time: four independent chains of additions
                // instead of one, each summed over j in order as before.
                let mut i = 0;
                while i < n_in {
                    let lanes = (n_in - i).min(4);
                    let mut sum = [0.0; 4];
                    for (j, &d) in delta[..n_out].iter().enumerate() {
                        let w = &layer.weight[j * n_in + i..j * n_in + i + lanes];
                        for (s, &w) in sum.iter_mut().zip(w) {
                            *s += w * d;
                        }
                    }
                    delta_prev[i..i + lanes].copy_from_slice(&sum[..lanes]);
                    i += lanes;
                }
                width = n_in;
                std::mem::swap(&mut delta, &mut delta_prev);
            }
            gradient(o, z[o], &delta[..width]);
        }
    }

    /// The first layer laid out for [`Self::value_and_gradients_narrow`]:
    /// `None` unless the network has one hidden layer and at most `NARROW`
    /// inputs.
    pub(crate) fn narrow_first_layer(&self) -> Option<NarrowFirst> {
        let [first, _] = self.layers.as_slice() else {
            return None;
        };
        if first.inputs > NARROW {
            return None;
        }
        let (n_in, chunks) = (first.inputs, first.outputs.div_ceil(4));
        let rows = first.weight.chunks_exact(n_in).map(|row| {
            let mut padded = [0.0; NARROW];
            padded[..n_in].copy_from_slice(row);
            padded
        });
        let (mut columns, mut bias) = (vec![[[0.0; 4]; NARROW]; chunks], vec![[0.0; 4]; chunks]);
        for (j, row) in first.weight.chunks_exact(n_in).enumerate() {
            bias[j / 4][j % 4] = first.bias[j];
            for (i, &w) in row.iter().enumerate() {
                columns[j / 4][i][j % 4] = w;
            }
        }
        Some(NarrowFirst {
            rows: rows.collect(),
            columns,
            bias,
        })
    }

    /// [`Self::value_and_gradients`] of a network with one hidden layer and
    /// at most [`NARROW`] inputs, given its first layer laid out at load
    /// ([`Self::narrow_first_layer`]: RLS moves the last layer only). The
    /// hidden layer is formed four units a pass, each summed over the inputs
    /// in order from its bias as [`affine`] does, then activated; each
    /// output's input gradient is summed over the hidden units in `NARROW`
    /// lanes held in registers: the same products added in the same order
    /// as the general pass, so the same bits, without its loop control on
    /// layers this narrow.
    #[inline]
    pub(crate) fn value_and_gradients_narrow(
        &self,
        narrow: &NarrowFirst,
        input: &[f64],
        mut gradient: impl FnMut(usize, f64, &[f64]),
    ) {
        let (first, last) = (&self.layers[0], &self.layers[self.layers.len() - 1]);
        let mut a = [0.0; MAX_WIDTH];
        let mut z = [0.0; MAX_WIDTH];
        let mut slopes = [0.0; MAX_WIDTH];
        // Lanes past the layer's width have zero weights and bias: they
        // see zeros and are not read.
        let blocks = z.chunks_exact_mut(4).zip(a.chunks_exact_mut(4));
        let blocks = blocks.zip(slopes.chunks_exact_mut(4));
        let weights = narrow.columns.iter().zip(&narrow.bias);
        for (((z, a), s), (columns, bias)) in blocks.zip(weights) {
            let mut acc = *bias;
            for (&x, w) in input.iter().zip(columns) {
                for l in 0..4 {
                    acc[l] += x * w[l];
                }
            }
            z.copy_from_slice(&acc);
            if self.activation == Activation::Tanh {
                // Branch-free: the compiler vectorises it across the lanes.
                for l in 0..4 {
                    a[l] = tanh(acc[l]);
                    s[l] = 1.0 - a[l] * a[l];
                }
            } else {
                for l in 0..4 {
                    a[l] = activate(self.activation, acc[l]);
                    s[l] = activate_prime(self.activation, acc[l], a[l]);
                }
            }
        }
        affine(last, &a, &mut z);
        let width = last.inputs;
        for o in 0..last.outputs {
            let row = &last.weight[o * width..(o + 1) * width];
            let mut sum = [0.0; NARROW];
            for ((&w, &s), p) in row.iter().zip(&slopes[..width]).zip(&narrow.rows) {
                let d = w * s;
                for (acc, &p) in sum.iter_mut().zip(p) {
                    *acc += p * d;
                }
            }
            gradient(o, z[o], &sum[..first.inputs]);
        }
    }

    /// Squared-error loss `mean_o (y_o - target_o)^2` of one sample and its
    /// gradient with respect to every parameter, added into `grad` (a network
    /// of the same shape). Allocates its scratch; training uses a reusable one.
    pub fn loss_gradient(&self, input: &[f64], target: &[f64], grad: &mut Network) -> f64 {
        let mut scratch = Backprop::new(self);
        scratch.accumulate(self, input, target, 1.0, grad)
    }

    /// Squared-error loss of one sample (no gradient).
    pub fn loss(&self, input: &[f64], target: &[f64]) -> f64 {
        let mut buf = [0.0; MAX_WIDTH];
        buf[..input.len()].copy_from_slice(input);
        self.forward(&mut buf);
        let n = self.n_outputs();
        (0..n).map(|o| (buf[o] - target[o]).powi(2)).sum::<f64>() / n as f64
    }
}

#[inline]
fn affine<T: Scalar>(layer: &Layer, input: &[T; MAX_WIDTH], out: &mut [T; MAX_WIDTH]) {
    for j in 0..layer.outputs {
        let row = &layer.weight[j * layer.inputs..(j + 1) * layer.inputs];
        let mut acc = c::<T>(layer.bias[j]);
        for (i, &w) in row.iter().enumerate() {
            acc += input[i] * w;
        }
        out[j] = acc;
    }
}

#[inline]
fn activate<T: Scalar>(activation: Activation, z: T) -> T {
    match activation {
        // Same bits on f64 and on duals, and no libm call: crate::tanh.
        Activation::Tanh => tanh(z),
        Activation::Relu => {
            if z.re() > 0.0 {
                z
            } else {
                c(0.0)
            }
        }
        Activation::Softplus => {
            // ln(1 + e^z), written to stay finite for large |z|.
            if z.re() > 0.0 {
                z + (-z).exp().ln_1p()
            } else {
                z.exp().ln_1p()
            }
        }
    }
}

/// d(activation)/dz from the pre-activation `z` and the activation `a`.
#[inline]
fn activate_prime(activation: Activation, z: f64, a: f64) -> f64 {
    match activation {
        Activation::Tanh => 1.0 - a * a,
        Activation::Relu => {
            if z > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Softplus => 1.0 / (1.0 + (-z).exp()),
    }
}

/// Reusable scratch of the backward pass (allocated once per training run).
#[derive(Debug)]
pub(crate) struct Backprop {
    /// Activations per layer boundary: `acts[0]` is the input.
    acts: Vec<Vec<f64>>,
    /// Pre-activations of each layer's output.
    pre: Vec<Vec<f64>>,
    delta: Vec<f64>,
    delta_prev: Vec<f64>,
}

impl Backprop {
    pub(crate) fn new(net: &Network) -> Self {
        let mut acts = vec![vec![0.0; net.n_inputs()]];
        let mut pre = Vec::new();
        for l in &net.layers {
            acts.push(vec![0.0; l.outputs]);
            pre.push(vec![0.0; l.outputs]);
        }
        Self {
            acts,
            pre,
            delta: vec![0.0; MAX_WIDTH],
            delta_prev: vec![0.0; MAX_WIDTH],
        }
    }

    /// Forward and backward over one sample: adds `scale * dloss/dparam` to
    /// `grad` and returns the sample's loss.
    pub(crate) fn accumulate(
        &mut self,
        net: &Network,
        input: &[f64],
        target: &[f64],
        scale: f64,
        grad: &mut Network,
    ) -> f64 {
        let n_layers = net.layers.len();
        self.acts[0].copy_from_slice(&input[..net.n_inputs()]);
        for (l, layer) in net.layers.iter().enumerate() {
            let (before, after) = self.acts.split_at_mut(l + 1);
            let a_in = &before[l];
            let a_out = &mut after[0];
            for j in 0..layer.outputs {
                let row = &layer.weight[j * layer.inputs..(j + 1) * layer.inputs];
                let mut z = layer.bias[j];
                for i in 0..layer.inputs {
                    z += row[i] * a_in[i];
                }
                self.pre[l][j] = z;
                a_out[j] = if l + 1 < n_layers {
                    activate(net.activation, z)
                } else {
                    z
                };
            }
        }
        let n_out = net.n_outputs();
        if net.skip.is_some() {
            let (input, rest) = self.acts.split_at_mut(1);
            for (o, y) in rest[n_layers - 1][..n_out].iter_mut().enumerate() {
                *y += net.skip_sum(o, &input[0]);
            }
        }
        let y = &self.acts[n_layers];
        let mut loss = 0.0;
        for o in 0..n_out {
            let e = y[o] - target[o];
            loss += e * e;
            self.delta[o] = 2.0 * e / n_out as f64 * scale;
        }
        loss /= n_out as f64;
        if let Some(g) = &mut grad.skip {
            let n_in = net.n_inputs();
            for o in 0..n_out {
                let d = self.delta[o];
                for (gi, &a) in g[o * n_in..(o + 1) * n_in].iter_mut().zip(&self.acts[0]) {
                    *gi += d * a;
                }
            }
        }

        for l in (0..n_layers).rev() {
            let layer = &net.layers[l];
            let g = &mut grad.layers[l];
            let a_in = &self.acts[l];
            for j in 0..layer.outputs {
                let d = self.delta[j];
                g.bias[j] += d;
                let grow = &mut g.weight[j * layer.inputs..(j + 1) * layer.inputs];
                for i in 0..layer.inputs {
                    grow[i] += d * a_in[i];
                }
            }
            if l > 0 {
                for i in 0..layer.inputs {
                    let mut s = 0.0;
                    for j in 0..layer.outputs {
                        s += layer.weight[j * layer.inputs + i] * self.delta[j];
                    }
                    self.delta_prev[i] =
                        s * activate_prime(net.activation, self.pre[l - 1][i], a_in[i]);
                }
                std::mem::swap(&mut self.delta, &mut self.delta_prev);
            }
        }
        loss
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reverse pass summed one column at a time, as before the four
    /// chains: the reference the inference's pass must equal bit for bit.
    fn column_by_column(net: &Network, input: &[f64]) -> Vec<Vec<f64>> {
        let mut a = [0.0; MAX_WIDTH];
        a[..input.len()].copy_from_slice(input);
        let mut z = [0.0; MAX_WIDTH];
        let mut slopes = Vec::new();
        for layer in &net.layers[..net.layers.len() - 1] {
            affine(layer, &a, &mut z);
            let mut s = Vec::new();
            for j in 0..layer.outputs {
                a[j] = activate(net.activation, z[j]);
                s.push(activate_prime(net.activation, z[j], a[j]));
            }
            slopes.push(s);
        }
        let last = &net.layers[net.layers.len() - 1];
        (0..last.outputs)
            .map(|o| {
                let mut delta = last.weight[o * last.inputs..(o + 1) * last.inputs].to_vec();
                for (l, layer) in net.layers[..net.layers.len() - 1].iter().enumerate().rev() {
                    for (d, s) in delta.iter_mut().zip(&slopes[l]) {
                        *d *= s;
                    }
                    delta = (0..layer.inputs)
                        .map(|i| {
                            let mut sum = 0.0;
                            for (j, d) in delta.iter().enumerate() {
                                sum += layer.weight[j * layer.inputs + i] * d;
                            }
                            sum
                        })
                        .collect();
                }
                delta
            })
            .collect()
    }

    #[test]
    fn the_gradients_are_the_column_by_column_sums_bit_for_bit() {
        // Widths that are not multiples of four, one and two hidden layers.
        for sizes in [&[6, 16, 3][..], &[7, 9, 5, 2], &[3, 5, 1]] {
            let mut net = Network::zeros(sizes, Activation::Tanh);
            let mut k = 0.0_f64;
            for layer in &mut net.layers {
                for w in layer.weight.iter_mut().chain(layer.bias.iter_mut()) {
                    k += 1.0;
                    *w = (k * 0.7548776662).fract() * 1.6 - 0.8;
                }
            }
            let input: Vec<f64> = (0..sizes[0]).map(|i| 0.3 * i as f64 - 0.7).collect();
            let expected = column_by_column(&net, &input);
            let mut calls = 0;
            net.value_and_gradients(&input, |o, _, dy| {
                assert_eq!(dy, expected[o].as_slice(), "sizes {sizes:?}, output {o}");
                calls += 1;
            });
            assert_eq!(calls, net.n_outputs());
        }
    }
}
