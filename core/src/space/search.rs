//! The search of a v2 directory, sorted by the keyed hashes of its names: the first
//! position whose hash is at least a name's ([`lower_bound`]).
#![forbid(unsafe_code)]

use crate::error::Result;

/// The most probes of a search that interpolate; the rest bisect.
const INTERPOLATED: usize = 8;

/// The first of `n` positions, sorted by their hashes (`hash_at`), whose hash is at least
/// `hash`. The hashes are uniform, so each probe is interpolated between the nearest
/// hashes read on either side (the first from the hash itself): the error shrinks to
/// about its square root at each probe, 3 to 5 reads at 100k entries, where widening a
/// first guess by doubling steps and halving back read about 17, most of them a cache
/// miss. Past [`INTERPOLATED`] probes (hashes that are not uniform) the rest bisects: at
/// most that many plus log2(n) reads on any file.
pub(super) fn lower_bound(
    n: usize,
    hash: u64,
    hash_at: impl Fn(usize) -> Result<u64>,
) -> Result<usize> {
    let target = u128::from(hash);
    // Every position below `lo` holds a hash below `hash` (the last one read there:
    // `lo_h`), every one from `hi` on a hash at least `hash` (`hi_h`).
    let (mut lo, mut hi) = (0, n);
    let (mut lo_h, mut hi_h) = (0u128, 1u128 << 64);
    let mut probes = 0;
    while lo < hi {
        let span = hi - lo;
        let j = if probes < INTERPOLATED && hi_h > lo_h {
            let off = (target - lo_h) * span as u128 / (hi_h - lo_h);
            lo + usize::try_from(off).map_or(span - 1, |o| o.min(span - 1))
        } else {
            lo + span / 2
        };
        probes += 1;
        let h = u128::from(hash_at(j)?);
        if h < target {
            (lo, lo_h) = (j + 1, h);
        } else {
            (hi, hi_h) = (j, h);
        }
    }
    Ok(lo)
}

#[cfg(test)]
mod tests {
    use super::{lower_bound, INTERPOLATED};
    use alloc::vec::Vec;
    use core::cell::Cell;

    /// `lower_bound` over `hashes` (sorted) for `hash`, checked against a plain binary
    /// search, and the reads it made.
    fn search(hashes: &[u64], hash: u64) -> usize {
        let reads = Cell::new(0);
        let found = lower_bound(hashes.len(), hash, |j| {
            reads.set(reads.get() + 1);
            Ok(hashes[j])
        })
        .unwrap();
        assert_eq!(found, hashes.partition_point(|&h| h < hash), "{hash:#x}");
        reads.get()
    }

    /// Uniform hashes are found in a few reads; hashes bunched, repeated or at the ends
    /// of the range are found as a binary search finds them, in bounded reads.
    #[test]
    fn the_directory_search_finds_what_bisection_finds_in_few_reads() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut uniform: Vec<u64> = (0..100_000).map(|_| next()).collect();
        uniform.sort_unstable();
        let mut reads = 0;
        for &h in uniform.iter().step_by(97) {
            reads += search(&uniform, h);
            search(&uniform, h.wrapping_add(1));
        }
        let mean = reads as f64 / uniform.iter().step_by(97).count() as f64;
        assert!(mean < 6.0, "{mean} reads a search");
        let bound = INTERPOLATED + 18;
        let bunched: Vec<u64> = (0..100_000u64).map(|i| i * i).collect();
        let repeated: Vec<u64> = (0..5_000u64).map(|i| (i / 1000) << 60).collect();
        let ends: Vec<u64> = [0, 0, 1, u64::MAX - 1, u64::MAX, u64::MAX].into();
        for hashes in [&bunched[..], &repeated, &ends, &[], &[7]] {
            for probe in [0, 1, 2, 7, 1 << 60, 3 << 60, u64::MAX - 1, u64::MAX] {
                assert!(search(hashes, probe) <= bound);
            }
            for &h in hashes.iter().step_by(331) {
                assert!(search(hashes, h) <= bound);
            }
        }
    }
}
