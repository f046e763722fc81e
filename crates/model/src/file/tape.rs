//! A model file's expressions compiled to a straight-line program: one
//! operation per slot, over the states and inputs, with the parameters
//! folded in as constants. Allocated once at load; evaluating it writes a
//! stack array of slots, on `f64` or on dual numbers alike.

use crate::{c, Scalar};

/// Slot index. Slots `0..nx` are the states, `nx..nx + nu` the inputs, then
/// one slot per operation, in order.
pub(crate) type Slot = u32;

/// One operation; it writes the next slot. Operations with an `f64` operand
/// keep constants out of dual arithmetic (a dual times a plain number is
/// cheaper than a dual times a constant dual, and gives the same bits).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Const(f64),
    Add(Slot, Slot),
    Sub(Slot, Slot),
    Mul(Slot, Slot),
    Neg(Slot),
    /// `1 / a`: division is compiled as `a * b.recip()`, as the built-in
    /// models write it (see [`crate::Dynamics`]).
    Recip(Slot),
    AddConst(Slot, f64),
    /// `c - a`.
    SubFromConst(f64, Slot),
    MulConst(Slot, f64),
    Sin(Slot),
    Cos(Slot),
    Tan(Slot),
    Exp(Slot),
    Ln(Slot),
    Sqrt(Slot),
    Tanh(Slot),
    /// `atan2(y, x)`.
    Atan2(Slot, Slot),
    Powi(Slot, i32),
    Powf(Slot, f64),
}

/// The slot counts evaluation is instantiated for; a tape needs the
/// smallest that holds it (the stack array is not zero-filled beyond it).
const TIERS: [usize; 5] = [32, 64, 128, 256, 512];
/// The most slots (states, inputs and operations) a model may need.
pub const MAX_SLOTS: usize = TIERS[TIERS.len() - 1];

/// The compiled program and where its outputs are.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tape {
    /// States, then inputs: the first slots.
    pub(crate) nx: usize,
    pub(crate) nu: usize,
    pub(crate) ops: Vec<Op>,
    /// Slot of each output (a state derivative, a mapped coordinate).
    pub(crate) outputs: Vec<Slot>,
}

impl Tape {
    pub(crate) fn slots(&self) -> usize {
        self.nx + self.nu + self.ops.len()
    }

    /// Evaluates the outputs at states `x` and inputs `u` into `out`.
    /// Allocates nothing; lengths are the tape's (extra entries ignored,
    /// missing ones read as zero).
    #[inline]
    pub(crate) fn eval<T: Scalar>(&self, x: &[T], u: &[T], out: &mut [T]) {
        match self.slots() {
            n if n <= TIERS[0] => self.eval_in::<T, { TIERS[0] }>(x, u, out),
            n if n <= TIERS[1] => self.eval_in::<T, { TIERS[1] }>(x, u, out),
            n if n <= TIERS[2] => self.eval_in::<T, { TIERS[2] }>(x, u, out),
            n if n <= TIERS[3] => self.eval_in::<T, { TIERS[3] }>(x, u, out),
            _ => self.eval_in::<T, { TIERS[4] }>(x, u, out),
        }
    }

    fn eval_in<T: Scalar, const S: usize>(&self, x: &[T], u: &[T], out: &mut [T]) {
        let mut s = [c::<T>(0.0); S];
        for (slot, v) in s.iter_mut().zip(x.iter().take(self.nx)) {
            *slot = *v;
        }
        for (slot, v) in s.iter_mut().skip(self.nx).zip(u.iter().take(self.nu)) {
            *slot = *v;
        }
        let first = self.nx + self.nu;
        for (i, op) in self.ops.iter().enumerate() {
            let at = |k: Slot| s.get(k as usize).copied().unwrap_or_else(|| c(f64::NAN));
            let v = match *op {
                Op::Const(v) => c(v),
                Op::Add(a, b) => at(a) + at(b),
                Op::Sub(a, b) => at(a) - at(b),
                Op::Mul(a, b) => at(a) * at(b),
                Op::Neg(a) => -at(a),
                Op::Recip(a) => at(a).recip(),
                Op::AddConst(a, k) => at(a) + k,
                Op::SubFromConst(k, a) => -at(a) + k,
                Op::MulConst(a, k) => at(a) * k,
                Op::Sin(a) => at(a).sin(),
                Op::Cos(a) => at(a).cos(),
                Op::Tan(a) => at(a).tan(),
                Op::Exp(a) => at(a).exp(),
                Op::Ln(a) => at(a).ln(),
                Op::Sqrt(a) => at(a).sqrt(),
                Op::Tanh(a) => at(a).tanh(),
                Op::Atan2(y, x) => at(y).atan2(at(x)),
                Op::Powi(a, k) => at(a).powi(k),
                Op::Powf(a, k) => at(a).powf(k),
            };
            if let Some(slot) = s.get_mut(first + i) {
                *slot = v;
            }
        }
        for (o, &slot) in out.iter_mut().zip(&self.outputs) {
            *o = s.get(slot as usize).copied().unwrap_or_else(|| c(f64::NAN));
        }
    }
}
