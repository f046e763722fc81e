use nalgebra::{SMatrix, SVector};
use num_dual::DualSVec64;

use crate::{c, Dynamics, Scalar};

/// Classic 4-stage Runge-Kutta over `dt`, split into `substeps` equal steps,
/// with the model's projection applied after every substep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rk4 {
    /// Length of the whole discrete step, s.
    pub dt_secs: f64,
    /// Number of RK4 steps the interval is split into (>= 1).
    pub substeps: usize,
}

/// The discrete step and its exact Jacobians at one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Linearization<const NX: usize, const NU: usize> {
    /// `F(x, u)`, the state after one discrete step.
    pub x_next: SVector<f64, NX>,
    /// `dF/dx`.
    pub a: SMatrix<f64, NX, NX>,
    /// `dF/du`.
    pub b: SMatrix<f64, NX, NU>,
}

impl Rk4 {
    pub fn new(dt_secs: f64, substeps: usize) -> Self {
        Self {
            dt_secs,
            substeps: substeps.max(1),
        }
    }

    /// One discrete step `x+ = F(x, u)` on any scalar.
    pub fn step<D, T, const NX: usize, const NU: usize>(
        &self,
        model: &D,
        x: &SVector<T, NX>,
        u: &SVector<T, NU>,
    ) -> SVector<T, NX>
    where
        D: Dynamics<NX, NU>,
        T: Scalar,
    {
        let h = self.dt_secs / self.substeps as f64;
        let half: T = c(0.5 * h);
        let full: T = c(h);
        let sixth: T = c(h / 6.0);
        let two: T = c(2.0);
        let mut x = *x;
        for _ in 0..self.substeps {
            let k1 = model.derivative(&x, u);
            let k2 = model.derivative(&(x + k1 * half), u);
            let k3 = model.derivative(&(x + k2 * half), u);
            let k4 = model.derivative(&(x + k3 * full), u);
            x += (k1 + (k2 + k3) * two + k4) * sixth;
            model.project(&mut x);
        }
        x
    }

    /// The step and its exact Jacobians, by forward-mode AD: one pass seeded
    /// on the state, one on the input. No heap allocation.
    pub fn linearize<D, const NX: usize, const NU: usize>(
        &self,
        model: &D,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
    ) -> Linearization<NX, NU>
    where
        D: Dynamics<NX, NU>,
    {
        let xd: SVector<DualSVec64<NX>, NX> = seeded(x);
        let ud: SVector<DualSVec64<NX>, NU> = u.map(DualSVec64::from_re);
        let out_x = self.step(model, &xd, &ud);

        let xc: SVector<DualSVec64<NU>, NX> = x.map(DualSVec64::from_re);
        let uc: SVector<DualSVec64<NU>, NU> = seeded(u);
        let out_u = self.step(model, &xc, &uc);

        let mut lin = Linearization {
            x_next: out_x.map(|v| v.re),
            a: SMatrix::zeros(),
            b: SMatrix::zeros(),
        };
        for i in 0..NX {
            if let Some(row) = out_x[i].eps.0 {
                lin.a.set_row(i, &row.transpose());
            }
            if let Some(row) = out_u[i].eps.0 {
                lin.b.set_row(i, &row.transpose());
            }
        }
        lin
    }
}

/// Variables seeded with unit derivatives: entry `i` carries d/dv_i.
fn seeded<const N: usize, const M: usize>(v: &SVector<f64, N>) -> SVector<DualSVec64<M>, N> {
    SVector::from_fn(|i, _| DualSVec64::from_re(v[i]).derivative(i))
}
