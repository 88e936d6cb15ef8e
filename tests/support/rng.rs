//! A small deterministic pseudo-random generator for the tests that draw operations,
//! names, timings and mutations from a seed (shared with `#[path = "support/rng.rs"] mod
//! rng;`): xorshift64*, so that a failing seed replays the same run.

/// xorshift64* (Vigna): fast, and good enough to pick test operations.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (never 0: xorshift would stay at 0).
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    /// The next 64 bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (`n > 0`).
    #[allow(dead_code)]
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// An index below `n` (`n > 0`).
    #[allow(dead_code)]
    pub fn index(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
