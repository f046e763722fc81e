/// Box bounds `lower <= v <= upper` on a vector of `N` entries, element-wise.
///
/// Infinite entries mean "unbounded on that side"; robots return these for
/// their inputs and states so that the MPC can put them into its QP as given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds<const N: usize> {
    pub lower: [f64; N],
    pub upper: [f64; N],
}

impl<const N: usize> Bounds<N> {
    /// No bound on any entry.
    pub fn unbounded() -> Self {
        Self {
            lower: [f64::NEG_INFINITY; N],
            upper: [f64::INFINITY; N],
        }
    }

    /// `[-limit, +limit]` on every entry `i` with `limit[i]`.
    pub fn symmetric(limit: [f64; N]) -> Self {
        Self {
            lower: limit.map(|l| -l),
            upper: limit,
        }
    }

    /// Whether every entry of `v` lies within its bounds (NaN never does).
    pub fn contains(&self, v: &[f64; N]) -> bool {
        (0..N).all(|i| v[i] >= self.lower[i] && v[i] <= self.upper[i])
    }
}
