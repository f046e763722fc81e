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

/// Which bounds of a constraint row can ever be finite, declared at setup.
/// A soft row takes one slack per such side (`lower <= h + s_lo - s_hi <=
/// upper`), so a one-sided row (an obstacle's keep-out distance) needs one
/// slack and one sparse row fewer than a two-sided one. A row evaluated
/// with a finite bound on an undeclared side is dropped and counted as a
/// constraint fault, like a non-finite one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BoundedSides {
    /// `upper` is always infinite.
    Lower,
    /// `lower` is always minus infinity.
    Upper,
    #[default]
    Both,
}

impl BoundedSides {
    /// The coefficients of a soft row's slacks in the row: +1 relaxes the
    /// lower bound, -1 the upper.
    pub(crate) fn slack_signs(self) -> &'static [f64] {
        match self {
            Self::Lower => &[1.0],
            Self::Upper => &[-1.0],
            Self::Both => &[1.0, -1.0],
        }
    }

    /// Whether bounds `lower`, `upper` are finite only on declared sides.
    pub(crate) fn admits(self, lower: f64, upper: f64) -> bool {
        match self {
            Self::Lower => upper == f64::INFINITY,
            Self::Upper => lower == f64::NEG_INFINITY,
            Self::Both => true,
        }
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

    /// Which bounds of row `row` can be finite; read once at setup. Both
    /// unless said otherwise.
    fn bounded_sides(&self, _row: usize) -> BoundedSides {
        BoundedSides::Both
    }

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
