//! A chain's derivative with its exact Jacobians, cheaper than dual
//! numbers through the whole forward dynamics. From `M(q) q'' + b(q, q') +
//! friction(q') = u`, at the real `q''`:
//! `dq''/du = M^-1` and `dq''/d(q, q') = -M^-1 d(ID + friction)/d(q, q')`,
//! where `ID(q, q', q'')` is RNEA with `q''` held at its value. Only RNEA
//! (linear in the joints) runs on duals; the mass matrix is built and
//! factored once, on `f64`, and its inverse applied column by column.
//! CRBA and `L D L^T` on duals, what [`Rk4::linearize`](crate::Rk4) did
//! before, cost far more (docs/performance.md, "URDF arms").

use nalgebra::{SMatrix, SVector};
use num_dual::DualSVec64;

use super::chain::{factor_ldlt, smooth_sign, solve_factored, Chain, Placement, MAX_JOINTS};
use crate::discretize::seeded;
use crate::{c, Tangent};

impl Chain {
    fn placements<T: crate::Scalar>(&self, q: &[T]) -> [Placement<T>; MAX_JOINTS] {
        let zero: T = c(0.0);
        let mut place: [Placement<T>; MAX_JOINTS] = std::array::from_fn(|_| Placement {
            e: [[zero; 3]; 3],
            p: [zero; 3],
        });
        for ((p, j), qi) in place.iter_mut().zip(&self.joints).zip(q) {
            *p = j.placement(*qi);
        }
        place
    }

    /// `x' = f(x, u)` at a real point with `df/dx` and `df/du`; `None`
    /// unless the sizes are the chain's (`NX = 2 n`, `NU = n`). The value
    /// is [`Chain::derivative`]'s on `f64`, bit for bit. Allocates nothing.
    pub fn tangent<const NX: usize, const NU: usize>(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
    ) -> Option<Tangent<NX, NU>> {
        let n = self.dof();
        if n > MAX_JOINTS || NX != 2 * n || NU != n {
            return None;
        }
        let mut value = SVector::<f64, NX>::zeros();
        self.derivative(x.as_slice(), u.as_slice(), value.as_mut_slice());
        let qdd = &value.as_slice()[n..];

        // d(ID + friction)/d(q, q') by one forward pass over the state.
        let xd: SVector<DualSVec64<NX>, NX> = seeded(x);
        let place = self.placements(&xd.as_slice()[..n]);
        let zero = DualSVec64::<NX>::from_re(0.0);
        let mut g = [zero; MAX_JOINTS];
        self.inverse_dynamics(&place[..n], &xd.as_slice()[n..], qdd, &mut g[..n]);
        for (i, (gi, j)) in g.iter_mut().zip(&self.joints).take(n).enumerate() {
            let rate = xd[n + i];
            let scale = self.friction_scale;
            *gi += rate * (j.damping * scale)
                + smooth_sign(rate * self.coulomb_rate.recip()) * (j.friction * scale);
        }

        let place = self.placements(&x.as_slice()[..n]);
        let mut m = [[0.0; MAX_JOINTS]; MAX_JOINTS];
        self.mass_matrix(&place[..n], &mut m);
        let inv_d = factor_ldlt(&mut m, n);

        let mut d_x = SMatrix::<f64, NX, NX>::zeros();
        let mut d_u = SMatrix::<f64, NX, NU>::zeros();
        for i in 0..n {
            d_x[(i, n + i)] = 1.0;
        }
        let mut column = [0.0; MAX_JOINTS];
        for k in 0..NX {
            for (ci, gi) in column.iter_mut().zip(&g).take(n) {
                *ci = gi.eps.0.as_ref().map_or(0.0, |d| -d[k]);
            }
            solve_factored(&m, &inv_d, &mut column, n);
            for i in 0..n {
                d_x[(n + i, k)] = column[i];
            }
        }
        for k in 0..n {
            column = [0.0; MAX_JOINTS];
            column[k] = 1.0;
            solve_factored(&m, &inv_d, &mut column, n);
            for i in 0..n {
                d_u[(n + i, k)] = column[i];
            }
        }
        Some(Tangent { value, d_x, d_u })
    }
}
