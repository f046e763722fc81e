//! What several model tests share.

use nalgebra::SVector;
use recede_model::Linearization;

/// `lin`'s Jacobians against central differences of `step` at `(x, u)`,
/// Richardson-extrapolated from h and h/2 (truncation O(h^4), with a step
/// large enough that the round-off of a stiff step, amplified by a mass
/// matrix's condition, stays below the tolerance): relative 1e-6.
pub fn assert_jacobians_match_differences<const NX: usize, const NU: usize>(
    step: impl Fn(&SVector<f64, NX>, &SVector<f64, NU>) -> SVector<f64, NX>,
    lin: &Linearization<NX, NU>,
    x: &SVector<f64, NX>,
    u: &SVector<f64, NU>,
    what: &str,
) {
    for j in 0..NX + NU {
        let central = |h: f64| {
            let (mut xp, mut xm, mut up, mut um) = (*x, *x, *u, *u);
            if j < NX {
                xp[j] += h;
                xm[j] -= h;
            } else {
                up[j - NX] += h;
                um[j - NX] -= h;
            }
            (step(&xp, &up) - step(&xm, &um)) / (2.0 * h)
        };
        let scale = if j < NX { x[j] } else { u[j - NX] }.abs().max(1.0);
        let h = 1e-4 * scale;
        let fd = (central(0.5 * h) * 4.0 - central(h)) / 3.0;
        for i in 0..NX {
            let exact = if j < NX {
                lin.a[(i, j)]
            } else {
                lin.b[(i, j - NX)]
            };
            assert!(
                (exact - fd[i]).abs() <= 1e-6 * exact.abs().max(1.0),
                "{what}: d x+[{i}] / d [{j}]: {exact:e} vs FD {:e} at x = {x:?}",
                fd[i]
            );
        }
    }
}
