//! The pieces every filter shares: exact Jacobians by forward-mode AD, and
//! a gated, guarded Kalman update.

use nalgebra::{SMatrix, SVector};
use num_dual::DualSVec64;

/// What became of one measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Used in an update (or, for an input, taken as the new input).
    Used,
    /// Outside its Mahalanobis gate; `nis` is its squared distance.
    Rejected { nis: f64 },
    /// Used after a run of rejections, with the covariance re-opened: the
    /// estimate had left every measurement, not the other way round.
    Recovered,
    /// Not finite, or the update it would cause is not: refused.
    NonFinite,
    /// Older than the filter's history: it cannot be fused any more.
    TooLate,
    /// Nothing this robot's filter can use (kept for its counters only).
    Ignored,
}

/// `f` and its Jacobian at `delta = 0`, by one forward-mode pass.
pub(crate) fn jacobian<const N: usize, const M: usize>(
    f: impl Fn(&SVector<DualSVec64<N>, N>) -> SVector<DualSVec64<N>, M>,
) -> (SVector<f64, M>, SMatrix<f64, M, N>) {
    let delta: SVector<DualSVec64<N>, N> =
        SVector::from_fn(|i, _| DualSVec64::from_re(0.0).derivative(i));
    let out = f(&delta);
    let mut j = SMatrix::<f64, M, N>::zeros();
    for i in 0..M {
        if let Some(row) = &out[i].eps.0 {
            j.set_row(i, &row.transpose());
        }
    }
    (out.map(|v| v.re), j)
}

/// A Kalman update of covariance `p` with innovation `y = z - h(x)`,
/// Jacobian `h` and noise `r`: returns the correction, or why it was
/// refused (`p` is then untouched). Joseph form, symmetrised.
pub(crate) fn update<const N: usize, const M: usize>(
    p: &mut SMatrix<f64, N, N>,
    y: &SVector<f64, M>,
    h: &SMatrix<f64, M, N>,
    r: &SMatrix<f64, M, M>,
    gate_chi2: f64,
) -> Result<SVector<f64, N>, Outcome> {
    if !(y.iter().all(|v| v.is_finite()) && h.iter().all(|v| v.is_finite())) {
        return Err(Outcome::NonFinite);
    }
    let pht = *p * h.transpose();
    let s = h * pht + r;
    let Some(chol) = s.cholesky() else {
        return Err(Outcome::NonFinite);
    };
    let s_inv_y = chol.solve(y);
    let nis = y.dot(&s_inv_y);
    if !nis.is_finite() {
        return Err(Outcome::NonFinite);
    }
    if nis > gate_chi2 {
        return Err(Outcome::Rejected { nis });
    }
    // K = P H' S^-1, through S's factor: K' = S^-1 (H P).
    let k = chol.solve(&pht.transpose()).transpose();
    let dx = k * y;
    let i_kh = SMatrix::<f64, N, N>::identity() - k * h;
    let mut p_new = i_kh * *p * i_kh.transpose() + k * r * k.transpose();
    p_new = (p_new + p_new.transpose()) * 0.5;
    if !(dx.iter().all(|v| v.is_finite()) && p_new.iter().all(|v| v.is_finite())) {
        return Err(Outcome::NonFinite);
    }
    *p = p_new;
    Ok(dx)
}

/// Wraps an angle into `[-pi, pi)`.
pub(crate) fn wrap_angle(a: f64) -> f64 {
    (a + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_dual::DualNum;

    #[test]
    fn jacobian_of_a_known_function() {
        let (v, j) = jacobian::<2, 2>(|d| {
            let x = d[0] + 1.0;
            let y = d[1] + 2.0;
            SVector::<DualSVec64<2>, 2>::new(x * y, x.sin())
        });
        assert!((v[0] - 2.0).abs() < 1e-15 && (v[1] - 1f64.sin()).abs() < 1e-15);
        assert!((j[(0, 0)] - 2.0).abs() < 1e-15 && (j[(0, 1)] - 1.0).abs() < 1e-15);
        assert!((j[(1, 0)] - 1f64.cos()).abs() < 1e-15 && j[(1, 1)].abs() < 1e-15);
    }

    #[test]
    fn update_gates_and_refuses_non_finite() {
        let mut p = SMatrix::<f64, 2, 2>::identity();
        let h = SMatrix::<f64, 1, 2>::new(1.0, 0.0);
        let r = SMatrix::<f64, 1, 1>::new(1.0);
        let dx = update(&mut p, &SVector::<f64, 1>::new(1.0), &h, &r, 9.0).unwrap();
        assert!((dx[0] - 0.5).abs() < 1e-12 && (p[(0, 0)] - 0.5).abs() < 1e-12);
        let before = p;
        let e = update(&mut p, &SVector::<f64, 1>::new(10.0), &h, &r, 9.0).unwrap_err();
        assert!(matches!(e, Outcome::Rejected { nis } if nis > 9.0));
        let e = update(&mut p, &SVector::<f64, 1>::new(f64::NAN), &h, &r, 9.0).unwrap_err();
        assert_eq!(e, Outcome::NonFinite);
        assert_eq!(p, before);
    }
}
