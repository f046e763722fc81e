//! Inference inside the MPC's model: [`Residual::add_to`] for
//! [`MlpResidual`].
//!
//! Everything runs on `f64` at the real part of `(x, u)`: features, guard,
//! network, output map, and, when the caller's scalar carries derivatives,
//! each output row's gradient by forward rows ([`crate::jacobians`]). The
//! rows are then lifted onto the scalar by the chain rule,
//! `g + sum_j dg/dz_j (z_j - re z_j)`, which has `g` as its real part and
//! exactly `g`'s first derivatives. Only the variables with a non-zero
//! gradient take part in the lift (7 of 17 for P2's drag model), which is what
//! makes this about three times cheaper than pushing duals through the
//! features and rotations ([`MlpResidual::add_to_on_scalar`], the reference
//! the tests compare it with).

use std::sync::atomic::Ordering;

use arrayvec::ArrayVec;
use nalgebra::SVector;
use recede_model::{c, Residual, Scalar, Tangent};

use crate::jacobians::{push_body_velocity_rows, Full, Gradient, Layout, RotationDerivatives};
use crate::spec::{Feature, Features, Rotations, SupportGuard};
use crate::{MlpResidual, MAX_WIDTH};

/// One state derivative the residual adds to.
struct Row<const NX: usize, const NU: usize> {
    index: usize,
    value: f64,
    gradient: Gradient<NX, NU>,
}

/// The network's input at a real point and its slopes with respect to the
/// raw features, one entry per feature (`ArrayVec`s: four `MAX_WIDTH`
/// arrays of zeros were 2 kB of stores per evaluation).
#[derive(Default)]
struct GuardedInput {
    /// Normalised (and clipped, with the clip guard) network input.
    input: ArrayVec<f64, MAX_WIDTH>,
    /// `d input_i / d raw_i`: `1 / std_i`, or 0 where clipped.
    scale: ArrayVec<f64, MAX_WIDTH>,
    /// Normalised, never clipped: the skip term's input.
    unclipped: ArrayVec<f64, MAX_WIDTH>,
    /// The fade factor (1 unless fading) and `d fade / d raw_i`.
    fade: f64,
    fade_slope: ArrayVec<f64, MAX_WIDTH>,
}

impl<const NX: usize, const NU: usize> MlpResidual<NX, NU> {
    /// Raw features, the support guard and normalisation at a real point,
    /// with their slopes, into `g` (empty on entry; filled in place, not
    /// returned: 2 kB); false (and counted) for a non-finite feature.
    #[inline(always)]
    fn guarded_input(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
        rotations: &mut Rotations<f64>,
        g: &mut GuardedInput,
    ) -> bool {
        let mut f = Features::new();
        self.raw_features_into(x, u, &mut f, rotations);
        let (lo, hi) = (&self.support.feature_min, &self.support.feature_max);
        let (mean, std) = (
            &self.normalization.feature_mean,
            &self.normalization.feature_std,
        );
        g.fade = 1.0;
        // Fade factors of the features outside the box, and their slopes.
        let mut faded = ArrayVec::<(usize, f64, f64), MAX_WIDTH>::new();
        let mut outside = false;
        let mut vanished = false;
        for (i, &raw) in f.iter().enumerate() {
            if !raw.is_finite() {
                self.counters.non_finite.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            let (out_lo, out_hi) = (raw < lo[i], raw > hi[i]);
            outside |= out_lo || out_hi;
            let mut v = raw;
            let mut scale = 1.0 / std[i];
            match self.spec.guard {
                SupportGuard::Off => {}
                SupportGuard::Clip => {
                    if out_lo || out_hi {
                        v = if out_lo { lo[i] } else { hi[i] };
                        scale = 0.0;
                    }
                }
                SupportGuard::Fade { width_std } => {
                    if out_lo || out_hi {
                        let (excess, sign) = if out_lo {
                            (lo[i] - raw, -1.0)
                        } else {
                            (raw - hi[i], 1.0)
                        };
                        let per = 1.0 / (width_std * std[i]);
                        let e = excess * per;
                        if e >= 1.0 {
                            vanished = true;
                        } else {
                            // 1 - smoothstep(e) = 1 - e^2 (3 - 2e)
                            let factor = 1.0 - e * e * (3.0 - e * 2.0);
                            let slope = -6.0 * e * (1.0 - e) * per * sign;
                            let pushed = faded.try_push((i, factor, slope));
                            debug_assert!(pushed.is_ok(), "at most MAX_WIDTH features");
                        }
                    }
                }
            }
            // At most MAX_WIDTH features (validated): the pushes fit.
            let _ = g.input.try_push((v - mean[i]) * (1.0 / std[i]));
            let _ = g.unclipped.try_push((raw - mean[i]) * (1.0 / std[i]));
            let _ = g.scale.try_push(scale);
            let _ = g.fade_slope.try_push(0.0); // set below where faded
        }
        if outside {
            self.counters
                .outside_support
                .fetch_add(1, Ordering::Relaxed);
        }
        if vanished {
            g.fade = 0.0;
        } else {
            for (k, &(i, factor, slope)) in faded.iter().enumerate() {
                g.fade *= factor;
                let others: f64 = faded
                    .iter()
                    .enumerate()
                    .filter(|&(m, _)| m != k)
                    .map(|(_, &(_, factor, _))| factor)
                    .product();
                g.fade_slope[i] = slope * others;
            }
        }
        true
    }

    /// The residual's rows at a real point, with gradients when
    /// `with_gradient`: `emit(state index, value, gradient)` for each, in
    /// order (straight into the caller's sums: a row is 17 `f64` for P2,
    /// and collecting them cost copies), laid out by `layout`. False for a
    /// non-finite feature (no contribution).
    #[inline]
    fn rows<L: Layout<NX, NU>>(
        &self,
        layout: &L,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
        with_gradient: bool,
        mut emit: impl FnMut(usize, f64, Option<&L::Row>),
    ) -> bool {
        self.counters.evaluations.fetch_add(1, Ordering::Relaxed);
        let mut rotations = Rotations::new();
        let mut g = GuardedInput::default();
        if !self.guarded_input(x, u, &mut rotations, &mut g) {
            return false;
        }
        let (om, os) = (
            &self.normalization.output_mean,
            &self.normalization.output_std,
        );
        let nf = self.n_features();
        let std = &self.normalization.feature_std;
        let mut values = ArrayVec::<f64, MAX_WIDTH>::new();
        let mut jacobians = ArrayVec::<L::Row, MAX_WIDTH>::new();
        let mut derivatives = RotationDerivatives::new();
        if with_gradient {
            // d raw_i / d (x, u), one row per raw feature.
            let mut features = ArrayVec::<L::Row, MAX_WIDTH>::new();
            let mut previous = None;
            for feature in &self.spec.features {
                let shared =
                    feature.abs_product_rows(previous, layout, x, &features, &mut rotations);
                let push = |features: &mut ArrayVec<L::Row, MAX_WIDTH>, g| {
                    let pushed = features.try_push(g);
                    debug_assert!(pushed.is_ok(), "at most MAX_WIDTH features");
                };
                match (shared, *feature) {
                    (Some(rows), _) => rows.into_iter().for_each(|g| push(&mut features, g)),
                    (
                        None,
                        Feature::BodyVelocity {
                            quat_start,
                            vel_start,
                        },
                    ) => push_body_velocity_rows(
                        layout,
                        x,
                        quat_start,
                        vel_start,
                        &mut rotations,
                        &mut derivatives,
                        &mut features,
                    ),
                    (None, _) => {
                        feature.jacobian(layout, x, &mut rotations, &mut derivatives, |g| {
                            push(&mut features, g)
                        })
                    }
                }
                previous = Some(feature);
            }
            let on_output = |o: usize, y: f64, dy: &[f64]| {
                let skip = self.network.skip_row(o);
                let y = match skip {
                    Some(_) => y + self.network.skip_sum(o, &g.unclipped[..nf]),
                    None => y,
                };
                let pre = y * os[o] + om[o];
                let _ = values.try_push(pre * g.fade);
                // d values_o / d raw_i times the features' rows (formed
                // once above).
                let mut gradient = layout.zeros();
                let out_scale = os[o] * g.fade;
                for i in 0..nf {
                    let mut c = out_scale * dy[i] * g.scale[i] + pre * g.fade_slope[i];
                    if let Some(row) = skip {
                        // The skip term is never clipped: slope S_oi / std_i.
                        c += out_scale * row[i] * (1.0 / std[i]);
                    }
                    if c != 0.0 {
                        layout.add_scaled(&mut gradient, c, &features[i]);
                    }
                }
                let pushed = jacobians.try_push(gradient);
                debug_assert!(pushed.is_ok(), "at most MAX_WIDTH outputs");
            };
            match &self.narrow {
                Some(padded) => self
                    .network
                    .value_and_gradients_narrow(padded, &g.input, on_output),
                None => self.network.value_and_gradients(&g.input, on_output),
            }
        } else {
            let (mut buf, mut unclipped) = ([0.0; MAX_WIDTH], [0.0; MAX_WIDTH]);
            buf[..nf].copy_from_slice(&g.input);
            unclipped[..nf].copy_from_slice(&g.unclipped);
            self.network.forward_split(&mut buf, &unclipped);
            for o in 0..self.n_outputs() {
                let _ = values.try_push((buf[o] * os[o] + om[o]) * g.fade);
            }
        }
        let jacobians = with_gradient.then_some(jacobians.as_slice());
        let mut at = 0;
        for out in &self.spec.outputs {
            out.rows(
                layout,
                x,
                &values,
                at,
                jacobians,
                &mut rotations,
                &mut derivatives,
                &mut emit,
            );
            at += out.width();
        }
        true
    }

    /// The rows and their gradients, laid out by `layout`, added into `t`.
    #[inline]
    fn add_tangent<L: Layout<NX, NU>>(
        &self,
        layout: &L,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
        t: &mut Tangent<NX, NU>,
    ) {
        self.rows(layout, x, u, true, |index, value, g| {
            t.value[index] += value;
            if let Some(g) = g {
                layout.add_into(g, index, t);
            }
        });
    }
}

impl<const NX: usize, const NU: usize> MlpResidual<NX, NU> {
    /// [`Self::add_tangent`] on full rows, out of line: inlined beside the
    /// compact path it doubled `tangent_into`'s code (44 kB for P2, more
    /// than the level-1 instruction cache), which the loop reloads every call.
    #[cold]
    #[inline(never)]
    fn add_tangent_full(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
        t: &mut Tangent<NX, NU>,
    ) {
        self.add_tangent(&Full, x, u, t);
    }
}

impl<const NX: usize, const NU: usize> Residual<NX, NU> for MlpResidual<NX, NU> {
    /// One evaluation with its rows' gradients: what a residual held over
    /// the integration step costs per linearisation.
    fn tangent(&self, x: &SVector<f64, NX>, u: &SVector<f64, NU>) -> Tangent<NX, NU> {
        let mut t = Tangent::<NX, NU>::zeros();
        self.tangent_into(x, u, &mut t);
        t
    }

    /// [`Self::tangent`] into the caller's buffer (zeroed here, then the
    /// rows added in place).
    fn tangent_into(&self, x: &SVector<f64, NX>, u: &SVector<f64, NU>, t: &mut Tangent<NX, NU>) {
        // In place: `*t = Tangent::zeros()` built 1.9 kB of zeros and copied them.
        t.value.as_mut_slice().fill(0.0);
        t.d_x.as_mut_slice().fill(0.0);
        t.d_u.as_mut_slice().fill(0.0);
        // Rows over the variables read where they are few (7 of 17 for
        // P2): the same sums entry by entry, without the columns that stay
        // zero.
        match &self.columns {
            Some(columns) => self.add_tangent(columns, x, u, t),
            None => self.add_tangent_full(x, u, t),
        }
    }

    fn add_to<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>, xdot: &mut SVector<T, NX>) {
        if T::NDERIV > 1 {
            return self.add_to_on_scalar(x, u, xdot);
        }
        let with_gradient = T::NDERIV == 1;
        let (xr, ur) = (x.map(|v| v.re()), u.map(|v| v.re()));
        let mut rows = ArrayVec::<Row<NX, NU>, MAX_WIDTH>::new();
        let finite = self.rows(&Full, &xr, &ur, with_gradient, |index, value, g| {
            let row = Row {
                index,
                value,
                gradient: g.copied().unwrap_or_else(Gradient::zeros),
            };
            let pushed = rows.try_push(row);
            debug_assert!(pushed.is_ok(), "at most MAX_WIDTH outputs");
        });
        if !finite {
            return;
        }
        if !with_gradient {
            for row in &rows {
                xdot[row.index] += c::<T>(row.value);
            }
            return;
        }
        // z - re z for the variables some row depends on: zero real part,
        // the caller's derivatives.
        let mut dx = SVector::<T, NX>::from_element(c(0.0));
        let mut du = SVector::<T, NU>::from_element(c(0.0));
        for j in 0..NX {
            if rows.iter().any(|r| r.gradient.x[j] != 0.0) {
                dx[j] = x[j] - c::<T>(xr[j]);
            }
        }
        for j in 0..NU {
            if rows.iter().any(|r| r.gradient.u[j] != 0.0) {
                du[j] = u[j] - c::<T>(ur[j]);
            }
        }
        for row in &rows {
            let mut v = c::<T>(row.value);
            for (j, &d) in row.gradient.x.iter().enumerate() {
                if d != 0.0 {
                    v += dx[j] * d;
                }
            }
            for (j, &d) in row.gradient.u.iter().enumerate() {
                if d != 0.0 {
                    v += du[j] * d;
                }
            }
            xdot[row.index] += v;
        }
    }
}

#[cfg(test)]
mod tests;
