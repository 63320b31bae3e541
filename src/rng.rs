//! A small seeded random number generator (xoshiro256++ seeded by SplitMix64).
//!
//! Ours rather than a crate's so that a seed gives the same split and the same augmentations on every
//! platform and every dependency update.

/// Deterministic, seedable pseudo-random generator. Not for cryptography.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Uniform in `[lo, hi)`.
    pub fn range_f32(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_f32()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f32) -> bool {
        self.next_f32() < p
    }

    /// Fisher–Yates shuffle in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// A test tensor of `shape`, uniform in `[lo, hi)`, from a generator seeded by the call site and the
/// shape: the same values at every run and in any test order (burn's `Tensor::random` draws from one
/// generator shared by the whole process, so parallel tests would see different numbers each run).
#[cfg(test)]
#[track_caller]
pub(crate) fn seeded_tensor<const D: usize>(
    shape: [usize; D],
    lo: f32,
    hi: f32,
    device: &burn::tensor::Device,
) -> burn::tensor::Tensor<D> {
    let at = std::panic::Location::caller();
    let mut seed = (at.line() as u64) << 32 | at.column() as u64;
    for (i, ch) in at
        .file()
        .bytes()
        .chain(shape.iter().flat_map(|d| d.to_le_bytes()))
        .enumerate()
    {
        seed = seed.rotate_left(5) ^ (ch as u64).wrapping_mul(0x9E37_79B9 + i as u64);
    }
    drawn_tensor(&mut Rng::new(seed), shape, lo, hi, device)
}

/// A test tensor of `shape`, uniform in `[lo, hi)`, drawn from `rng`: for tests that draw several
/// tensors from one seed.
#[cfg(test)]
pub(crate) fn drawn_tensor<const D: usize>(
    rng: &mut Rng,
    shape: [usize; D],
    lo: f32,
    hi: f32,
    device: &burn::tensor::Device,
) -> burn::tensor::Tensor<D> {
    let values: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|_| rng.range_f32(lo, hi))
        .collect();
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(values, shape), device)
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let a: Vec<u64> = (0..8)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..8)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let c: Vec<u64> = (0..8)
            .scan(Rng::new(8), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut r = Rng::new(1);
        let mut counts = [0usize; 10];
        for _ in 0..100_000 {
            counts[r.below(10)] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
        let f = r.next_f32();
        assert!((0.0..1.0).contains(&f));
    }
}
