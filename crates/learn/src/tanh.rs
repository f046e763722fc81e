//! The hidden layers' tanh, written out so that it costs a few
//! multiplications instead of a call to libm's `expm1` and so that `f64`
//! and dual numbers compute the same value bit for bit.
//!
//! `tanh |z| = e / (e + 2)` with `e = expm1(2 |z|)`, and `expm1(y) = 2^k
//! expm1(r) + (2^k - 1)` with `k = round(y / ln 2)` and `|r| <= ln 2 / 2`;
//! `expm1(r)` is its Taylor series to `r^13` (the first term left out is
//! under 2^-55 of `r`). Every decision (the sign, the clamp, `k`) is read
//! from the real part, and every operation on the scalar is one whose real
//! part a dual number computes as `f64` does (`+`, `*`, `recip`), so the
//! dual path's value equals the `f64` path's; on `f64` the function has no
//! branch and no call, so a loop over hidden units vectorises.

use recede_model::{c, Scalar};

/// `ln 2` split so that `k * LN2_HI` is exact for `k < 2^21` (fdlibm's).
const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
const INV_LN2: f64 = std::f64::consts::LOG2_E;
/// `1.5 * 2^52`: adding it rounds a small `f64` to an integer, which is
/// then in the low bits of the sum's representation.
const ROUND: f64 = 6_755_399_441_055_744.0;
/// Past this, `tanh` is 1 in `f64` (and its slope under 1e-16).
const SATURATE: f64 = 20.0;
/// `1 / n!` for `n = 2 ..= 13`.
const INV_FACTORIAL: [f64; 12] = [
    0.5,
    0.166_666_666_666_666_66,
    0.041_666_666_666_666_664,
    0.008_333_333_333_333_333,
    0.001_388_888_888_888_889,
    0.000_198_412_698_412_698_4,
    2.480_158_730_158_73e-5,
    2.755_731_922_398_589_3e-6,
    2.755_731_922_398_589e-7,
    2.505_210_838_544_172e-8,
    2.087_675_698_786_81e-9,
    1.605_904_383_682_161_3e-10,
];

/// `tanh z`, within a few ulp of the true value; `+-0`, `+-inf` and NaN as
/// `f64::tanh` gives them.
#[inline(always)]
pub(crate) fn tanh<T: Scalar>(z: T) -> T {
    let sign = 1.0_f64.copysign(z.re());
    let x = z * sign;
    // NaN is not above and stays NaN.
    let x = if x.re() > SATURATE { c(SATURATE) } else { x };
    let y = x * 2.0;
    let rounded = y.re() * INV_LN2 + ROUND;
    let k = rounded - ROUND;
    // 2^k from k's bits (0 <= k <= 58 here).
    let k_bits = rounded.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f64::from_bits(k_bits.wrapping_add(1023) << 52);
    let r = y - c::<T>(k * LN2_HI) - c::<T>(k * LN2_LO);
    let mut q = c::<T>(INV_FACTORIAL[11]);
    for &a in INV_FACTORIAL[..11].iter().rev() {
        q = q * r + a;
    }
    let expm1_r = r + r * r * q;
    let e = expm1_r * scale + (scale - 1.0);
    e * (e + 2.0).recip() * sign
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_dual::Dual64;

    /// Distance in representable `f64`s (same sign only; both finite).
    fn ulps(a: f64, b: f64) -> u64 {
        assert_eq!(a.is_sign_negative(), b.is_sign_negative(), "{a} vs {b}");
        (a.abs().to_bits() as i64 - b.abs().to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn within_a_few_ulp_of_tanh_on_a_dense_sweep() {
        let mut worst = (0, 0.0);
        // Every 2^-14 over [-22, 22], and a log sweep down to subnormals.
        let dense = (-22 * 16384..=22 * 16384).map(|i| i as f64 / 16384.0);
        let small = (0..2200).flat_map(|i| {
            let v = 10f64.powf(-(i as f64) / 7.0);
            [v, -v, v * 1.000_000_1, -v * 0.999_999_9]
        });
        for z in dense.chain(small) {
            let (ours, libm) = (tanh(z), z.tanh());
            let d = ulps(ours, libm);
            if d > worst.0 {
                worst = (d, z);
            }
        }
        // libm's tanh is itself within about 1 ulp.
        assert!(worst.0 <= 4, "{} ulp at {}", worst.0, worst.1);
    }

    #[test]
    fn edge_cases_are_libms() {
        for z in [0.0, -0.0, 5e-324, -5e-324, 1e-300, 20.0, -20.0, 1e300] {
            assert!(ulps(tanh(z), z.tanh()) <= 1, "{z}");
        }
        assert_eq!(tanh(0.0_f64).to_bits(), 0.0_f64.to_bits());
        assert_eq!(tanh(-0.0_f64).to_bits(), (-0.0_f64).to_bits());
        assert_eq!(tanh(f64::INFINITY), 1.0);
        assert_eq!(tanh(f64::NEG_INFINITY), -1.0);
        assert_eq!(tanh(25.0_f64), 1.0);
        assert!(tanh(f64::NAN).is_nan());
    }

    #[test]
    fn duals_carry_the_same_value_and_the_slope() {
        for i in -4000..=4000 {
            let z = i as f64 * 0.005_3;
            let d = tanh(Dual64::new(z, 1.0));
            assert_eq!(d.re.to_bits(), tanh(z).to_bits(), "{z}");
            let slope = 1.0 - tanh(z) * tanh(z);
            assert!((d.eps - slope).abs() < 1e-14, "{z}: {} vs {slope}", d.eps);
        }
        // Saturated: the value 1, no slope.
        let d = tanh(Dual64::new(-30.0, 1.0));
        assert_eq!((d.re, d.eps), (-1.0, 0.0));
    }
}
