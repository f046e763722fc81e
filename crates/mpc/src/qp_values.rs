//! What both QP structures (full condensing, `condense.rs`, and blocks,
//! `blocks.rs`) keep the same way: the linearisation along the plan, and
//! the values of `P` and `A` in their fixed patterns with what was last
//! handed to OSQP (so an unchanged matrix is not refactorised).

use nalgebra::{SMatrix, SVector};
use recede_model::DiscreteModel;

/// `A_k`, `B_k` and the defects of the plan, intervals 0..N.
#[derive(Debug)]
pub(crate) struct Linearization<const NX: usize, const NU: usize> {
    pub a: Vec<SMatrix<f64, NX, NX>>,
    pub b: Vec<SMatrix<f64, NX, NU>>,
    /// `F(x_k, u_k) - x_{k+1}`: the gaps of the multiple-shooting plan.
    pub defect: Vec<SVector<f64, NX>>,
    linearized_once: bool,
    /// The model said it is linear time-invariant at the last linearisation.
    pub lti: bool,
}

impl<const NX: usize, const NU: usize> Linearization<NX, NU> {
    pub fn new(horizon: usize) -> Self {
        Self {
            a: vec![SMatrix::zeros(); horizon],
            b: vec![SMatrix::zeros(); horizon],
            defect: vec![SVector::zeros(); horizon],
            linearized_once: false,
            lti: false,
        }
    }

    /// Jacobians and defects along the plan; for a linear time-invariant
    /// model already linearised, only the defects.
    pub fn linearize<M: DiscreteModel<NX, NU>>(
        &mut self,
        model: &M,
        xs: &[SVector<f64, NX>],
        us: &[SVector<f64, NU>],
    ) {
        self.lti = model.is_linear_time_invariant();
        let reuse_jacobians = self.lti && self.linearized_once;
        for k in 0..us.len() {
            if reuse_jacobians {
                self.defect[k] = model.step(&xs[k], &us[k]) - xs[k + 1];
            } else {
                let lin = model.linearize(&xs[k], &us[k]);
                self.a[k] = lin.a;
                self.b[k] = lin.b;
                self.defect[k] = lin.x_next - xs[k + 1];
            }
        }
        self.linearized_once = true;
    }
}

/// The values of `P` (upper triangle) and `A` in compressed-column
/// patterns fixed at setup, and whether each changed since OSQP last got it.
#[derive(Debug)]
pub(crate) struct QpValues {
    pub p: Vec<f64>,
    pub a: Vec<f64>,
    previous_p: Vec<f64>,
    previous_a: Vec<f64>,
    pub p_changed: bool,
    pub a_changed: bool,
    p_indptr: Vec<usize>,
    p_indices: Vec<usize>,
    a_indptr: Vec<usize>,
    a_indices: Vec<usize>,
}

impl QpValues {
    /// Zero values in the patterns `(indptr, indices)` of `P` and `A`.
    pub fn new(p_pattern: (Vec<usize>, Vec<usize>), a_pattern: (Vec<usize>, Vec<usize>)) -> Self {
        let ((p_indptr, p_indices), (a_indptr, a_indices)) = (p_pattern, a_pattern);
        Self {
            p: vec![0.0; p_indices.len()],
            a: vec![0.0; a_indices.len()],
            previous_p: vec![f64::NAN; p_indices.len()],
            previous_a: vec![f64::NAN; a_indices.len()],
            p_changed: true,
            a_changed: true,
            p_indptr,
            p_indices,
            a_indptr,
            a_indices,
        }
    }

    pub fn patterns(&self) -> (&[usize], &[usize], &[usize], &[usize]) {
        (
            &self.p_indptr,
            &self.p_indices,
            &self.a_indptr,
            &self.a_indices,
        )
    }

    /// Forgets the values last handed to OSQP, so that the next ones are
    /// handed over whatever they are (after a failed update).
    pub fn forget(&mut self) {
        self.previous_p.fill(f64::NAN);
        self.previous_a.fill(f64::NAN);
    }

    /// Whether a `P` was handed over since setup or the last [`Self::forget`].
    pub fn p_handed_over(&self) -> bool {
        self.previous_p.first().is_some_and(|v| !v.is_nan())
    }

    /// Whether an `A` was handed over since setup or the last [`Self::forget`].
    pub fn a_handed_over(&self) -> bool {
        self.previous_a.first().is_some_and(|v| !v.is_nan())
    }

    /// `P` was rewritten: records whether it changed.
    pub fn commit_p(&mut self) {
        self.p_changed = self.p != self.previous_p;
        if self.p_changed {
            self.previous_p.copy_from_slice(&self.p);
        }
    }

    /// `A` was rewritten: records whether it changed.
    pub fn commit_a(&mut self) {
        self.a_changed = self.a != self.previous_a;
        if self.a_changed {
            self.previous_a.copy_from_slice(&self.a);
        }
    }
}
