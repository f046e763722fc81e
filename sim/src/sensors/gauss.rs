//! Fast standard-normal draws for per-pixel noise: a table of the normal
//! distribution's quantiles at `(i + 0.5) / N`, indexed by 12 random bits,
//! so one `u64` from a seeded generator gives five draws. The marginal is
//! the standard normal quantised to `N` levels and truncated at about
//! +-3.7 sigma; adequate for pixel noise, and exactly reproducible.

use std::sync::OnceLock;

use rand::rngs::Xoshiro256PlusPlus;
use rand::Rng;

const BITS: u32 = 12;
const N: usize = 1 << BITS;

fn table() -> &'static [f32; N] {
    static TABLE: OnceLock<Box<[f32; N]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Box::new([0.0f32; N]);
        for (i, v) in t.iter_mut().enumerate() {
            *v = inverse_normal_cdf((i as f64 + 0.5) / N as f64) as f32;
        }
        t
    })
}

/// Acklam's rational approximation of the standard normal quantile
/// (relative error below 1.2e-9 over (0, 1)).
fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Standard-normal draws from a seeded generator, five per `u64`.
#[derive(Debug)]
pub struct FastGauss {
    rng: Xoshiro256PlusPlus,
    bits: u64,
    left: u32,
    table: &'static [f32; N],
}

impl FastGauss {
    pub fn new(rng: Xoshiro256PlusPlus) -> Self {
        Self {
            rng,
            bits: 0,
            left: 0,
            table: table(),
        }
    }

    /// Fills `out` with draws times `scale`: whole `u64`s at a time, which
    /// keeps the loop free of the refill test.
    pub fn fill(&mut self, out: &mut [f32], scale: f32) {
        let per_word = (64 / BITS) as usize;
        let mut chunks = out.chunks_exact_mut(per_word);
        for chunk in &mut chunks {
            let mut bits = self.rng.next_u64();
            for v in chunk {
                *v = self.table[(bits & (N as u64 - 1)) as usize] * scale;
                bits >>= BITS;
            }
        }
        for v in chunks.into_remainder() {
            *v = self.next() * scale;
        }
    }

    #[inline]
    pub fn next(&mut self) -> f32 {
        if self.left == 0 {
            self.bits = self.rng.next_u64();
            self.left = 64 / BITS;
        }
        let i = (self.bits & (N as u64 - 1)) as usize;
        self.bits >>= BITS;
        self.left -= 1;
        self.table[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn draws_have_zero_mean_and_unit_variance() {
        assert!((inverse_normal_cdf(0.975) - 1.959964).abs() < 1e-6);
        let mut g = FastGauss::new(Xoshiro256PlusPlus::seed_from_u64(1));
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| g.next() as f64).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
    }

    #[test]
    fn fill_draws_the_same_distribution_scaled() {
        let mut g = FastGauss::new(Xoshiro256PlusPlus::seed_from_u64(2));
        // Lengths that are not whole words exercise the remainder.
        let mut xs = Vec::new();
        for n in [7, 480, 3, 19200] {
            let mut buf = vec![0.0f32; n];
            g.fill(&mut buf, 2.0);
            xs.extend(buf.iter().map(|&x| x as f64 / 2.0));
        }
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 0.03, "{mean}");
        assert!((var - 1.0).abs() < 0.04, "{var}");
    }
}
