//! General path constraints `lower <= h(x_k) <= upper` on nodes 1..=N,
//! linearised at every SQP iteration (obstacles, keep-out zones, ...).

use nalgebra::SVector;

use crate::SoftPenalty;

/// One constraint row at one node, linearised at the current guess:
/// `lower <= value + gradient . dx <= upper`. An inactive row has infinite
/// bounds; its sparsity stays in the QP so it can come back later.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConstraintRow<const NX: usize> {
    pub value: f64,
    pub gradient: SVector<f64, NX>,
    pub lower: f64,
    pub upper: f64,
}

impl<const NX: usize> ConstraintRow<NX> {
    pub const INACTIVE: Self = Self {
        value: 0.0,
        gradient: SVector::<f64, NX>::from_array_storage(nalgebra::ArrayStorage([[0.0; NX]; 1])),
        lower: f64::NEG_INFINITY,
        upper: f64::INFINITY,
    };

    pub(crate) fn is_finite(&self) -> bool {
        self.value.is_finite()
            && self.gradient.iter().all(|g| g.is_finite())
            && !self.lower.is_nan()
            && !self.upper.is_nan()
            && self.lower <= self.upper
    }
}

/// A fixed number of constraint rows per node. The count and which rows are
/// soft are read once, when the controller is built; values change every
/// iteration. `()` is the null set.
pub trait StageConstraints<const NX: usize> {
    /// Rows per node; constant for the controller's lifetime.
    fn rows(&self) -> usize;

    /// `Some` makes row `row` soft with this penalty; read once at setup.
    fn soft_penalty(&self, row: usize) -> Option<SoftPenalty>;

    /// Fills `out` (length [`rows`](Self::rows)) for node `node` (1..=N)
    /// linearised at state `x`, at `time_secs` after the current step.
    fn evaluate(
        &self,
        node: usize,
        time_secs: f64,
        x: &SVector<f64, NX>,
        out: &mut [ConstraintRow<NX>],
    );
}

impl<const NX: usize> StageConstraints<NX> for () {
    fn rows(&self) -> usize {
        0
    }

    fn soft_penalty(&self, _row: usize) -> Option<SoftPenalty> {
        None
    }

    fn evaluate(&self, _: usize, _: f64, _: &SVector<f64, NX>, _: &mut [ConstraintRow<NX>]) {}
}
