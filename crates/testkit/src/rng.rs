//! A seeded xorshift generator: workloads and kill points that are random but replayable
//! from the seed a failing test prints.

/// xorshift64 (Marsaglia): never yields 0 from a non-zero seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A zero seed would stay zero forever: it is replaced by a fixed non-zero one.
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn replays_from_its_seed_and_never_sticks_at_zero() {
        let a: Vec<u64> = (0..5)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..5)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        let mut z = Rng::new(0);
        assert!((0..100).all(|_| z.next_u64() != 0));
        assert!((0..100).all(|_| z.below(3) < 3));
    }
}
