//! The search of a v2 directory, sorted by the keyed hashes of its names: the first
//! position whose hash is at least a name's ([`lower_bound`]), narrowed first by a
//! [`Fence`] of every [`FENCE_STRIDE`]-th hash kept in memory.
#![forbid(unsafe_code)]

use alloc::vec::Vec;

use crate::error::Result;

/// The most probes of a search that interpolate; the rest bisect.
const INTERPOLATED: usize = 8;

/// Rows from one fence post to the next.
pub(super) const FENCE_STRIDE: usize = 32;

/// Fewest posts a fence is built with: below that a directory is a few KiB, its search
/// as quick without one.
const MIN_POSTS: usize = 4;

/// Positions `lo..hi` where a search's answer lies: every position below `lo` holds a
/// hash below the one sought (the last one known there: `lo_h`, 0 if none), every one
/// from `hi` on a hash at least it (`hi_h`, 2^64 if none).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Bracket {
    pub(super) lo: usize,
    pub(super) hi: usize,
    lo_h: u128,
    hi_h: u128,
    /// The positions whose hashes the bracket was drawn from (read from the fence, not
    /// from the directory): a caller checks that they are authentic before relying on it.
    pub(super) posts: [Option<usize>; 2],
}

impl Bracket {
    /// All `n` positions.
    pub(super) fn whole(n: usize) -> Bracket {
        Bracket {
            lo: 0,
            hi: n,
            lo_h: 0,
            hi_h: 1 << 64,
            posts: [None; 2],
        }
    }
}

/// The hash of every [`FENCE_STRIDE`]-th row of a directory of `n` rows, copied out of
/// it when it is read (8 bytes for 32 rows, in cache where the directory is not): a
/// search finds its two posts in memory and reads only the rows between them, 1 or 2
/// of the directory's cache lines where the whole directory's search read 3 to 5, most
/// of them a miss at 100k entries. The posts are copies of rows the directory's tags
/// authenticate: a search relies on the two it lands between only after checking them
/// ([`Bracket::posts`]); a forged post elsewhere only steers its probes.
#[derive(Default)]
pub(super) struct Fence {
    n: usize,
    posts: Vec<u64>,
}

impl Fence {
    /// The fence of `n` rows, `hash_at` reading a row's hash unchecked; none (every
    /// search bracketed by the whole directory) for a small one, or if a row is not
    /// there to read.
    pub(super) fn of(n: usize, hash_at: impl Fn(usize) -> Option<u64>) -> Fence {
        let posts = n.div_ceil(FENCE_STRIDE);
        if posts < MIN_POSTS {
            return Fence::default();
        }
        let read: Option<Vec<u64>> = (0..posts).map(|p| hash_at(p * FENCE_STRIDE)).collect();
        read.map_or_else(Fence::default, |posts| Fence { n, posts })
    }

    /// Where the first position whose hash is at least `hash` lies (for `n` rows, which
    /// must be the fence's own): between the last post below `hash` and the first not.
    pub(super) fn bracket(&self, n: usize, hash: u64) -> Bracket {
        if self.posts.is_empty() || n != self.n {
            return Bracket::whole(n);
        }
        let posts = &self.posts;
        let k = lower_bound(posts.len(), hash, |k| Ok(posts[k])).unwrap_or(0);
        let below = k.checked_sub(1);
        let at = (k < posts.len()).then_some(k);
        Bracket {
            lo: below.map_or(0, |b| b * FENCE_STRIDE + 1),
            hi: at.map_or(n, |a| a * FENCE_STRIDE),
            lo_h: below.map_or(0, |b| u128::from(posts[b])),
            hi_h: at.map_or(1 << 64, |a| u128::from(posts[a])),
            posts: [
                below.map(|b| b * FENCE_STRIDE),
                at.map(|a| a * FENCE_STRIDE),
            ],
        }
    }
}

/// The first of `n` positions, sorted by their hashes (`hash_at`), whose hash is at least
/// `hash` ([`lower_bound_in`] the whole of them).
pub(super) fn lower_bound(
    n: usize,
    hash: u64,
    hash_at: impl Fn(usize) -> Result<u64>,
) -> Result<usize> {
    lower_bound_in(Bracket::whole(n), hash, hash_at)
}

/// The first position of `within`, sorted by their hashes (`hash_at`), whose hash is at
/// least `hash`. The hashes are uniform, so each probe is interpolated between the
/// nearest hashes known on either side (the first from the bracket's): the error shrinks
/// to about its square root at each probe, 3 to 5 reads at 100k entries, where widening
/// a first guess by doubling steps and halving back read about 17, most of them a cache
/// miss. Past [`INTERPOLATED`] probes (hashes that are not uniform) the rest bisects: at
/// most that many plus log2(n) reads on any file.
pub(super) fn lower_bound_in(
    within: Bracket,
    hash: u64,
    hash_at: impl Fn(usize) -> Result<u64>,
) -> Result<usize> {
    let target = u128::from(hash);
    let Bracket {
        mut lo,
        mut hi,
        mut lo_h,
        mut hi_h,
        ..
    } = within;
    let mut probes = 0;
    while lo < hi {
        let span = hi - lo;
        let j = if probes < INTERPOLATED && hi_h > lo_h && target >= lo_h {
            lo + interpolated(target - lo_h, hi_h - lo_h, span)
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

/// `span * off / range`, below `span`: where a hash `off` above the bracket's low one
/// lies in a bracket of `span` positions whose hashes span `range` (at most 2^64). In
/// floating point: a `u128` division is a library call, several times the cost of a
/// probe that hits the cache; the answer only needs to be near, and any position of the
/// bracket is correct.
fn interpolated(off: u128, range: u128, span: usize) -> usize {
    // Each at most 2^64, converted from a u64 (one instruction, where a u128's is a call
    // too), near enough as an f64. `as usize` saturates.
    let float = |x: u128| u64::try_from(x).map_or(TWO_TO_64, |x| x as f64);
    let at = float(off) / float(range) * span as f64;
    (at as usize).min(span - 1)
}

/// 2^64 as an f64 (exact).
const TWO_TO_64: f64 = 18_446_744_073_709_551_616.0;

#[cfg(test)]
mod tests {
    use super::{lower_bound, lower_bound_in, Bracket, Fence, FENCE_STRIDE, INTERPOLATED};
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

    /// The answer of a search of `within` and the cache lines of 24-byte rows it read.
    fn lines_read(hashes: &[u64], within: Bracket, hash: u64) -> (usize, usize) {
        let lines = core::cell::RefCell::new(Vec::new());
        let found = lower_bound_in(within, hash, |j| {
            let mut lines = lines.borrow_mut();
            if !lines.contains(&(j * 24 / 64)) {
                lines.push(j * 24 / 64);
            }
            Ok(hashes[j])
        });
        (found.unwrap(), lines.into_inner().len())
    }

    /// A search that starts from the fence finds what bisection finds, reading 1 or 2
    /// cache lines of the directory where the whole directory's search reads 3 to 5, and
    /// its posts are the rows on either side of its answer.
    #[test]
    fn a_fenced_search_finds_what_bisection_finds_between_two_posts() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut uniform: Vec<u64> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            })
            .collect();
        uniform.sort_unstable();
        let bunched: Vec<u64> = (0..10_000u64).map(|i| i * i * i).collect();
        let repeated: Vec<u64> = (0..5_000u64).map(|i| (i / 1000) << 60).collect();
        for hashes in [&uniform[..], &bunched, &repeated] {
            let n = hashes.len();
            let fence = Fence::of(n, |j| hashes.get(j).copied());
            let (mut fenced, mut whole, mut searches) = (0, 0, 0);
            let probes = hashes
                .iter()
                .step_by(89)
                .flat_map(|&h| [h, h.wrapping_add(1)]);
            for hash in probes.chain([0, u64::MAX]) {
                let expected = hashes.partition_point(|&h| h < hash);
                let within = fence.bracket(n, hash);
                assert!(within.lo <= expected && expected <= within.hi, "{hash:#x}");
                let [below, at] = within.posts;
                assert!(below.is_none_or(|b| hashes[b] < hash && b < expected));
                assert!(at.is_none_or(|a| hashes[a] >= hash && a >= expected));
                let (found, lines) = lines_read(hashes, within, hash);
                assert_eq!(found, expected, "{hash:#x}");
                fenced += lines;
                whole += lines_read(hashes, Bracket::whole(n), hash).1;
                search(hashes, hash);
                searches += 1;
            }
            let (fenced, whole) = (
                fenced as f64 / searches as f64,
                whole as f64 / searches as f64,
            );
            assert!(
                fenced < whole,
                "fenced {fenced} reads a search, whole {whole}"
            );
            if hashes.len() == uniform.len() {
                assert!(
                    fenced < 2.0 && whole > 3.0,
                    "fenced {fenced} lines, whole {whole}"
                );
            }
        }
        // The guess stays within its bracket at the extremes of the hash range.
        assert_eq!(super::interpolated(1 << 64, 1 << 64, 31), 30);
        assert_eq!(super::interpolated(0, 1 << 64, 31), 0);
        assert_eq!(super::interpolated(5, 1, 31), 30);
        assert_eq!(super::interpolated((1 << 64) - 1, 1 << 64, 1), 0);
        // A directory too small for posts is searched whole.
        let small = Fence::of(3 * FENCE_STRIDE, |j| Some(j as u64));
        assert_eq!(
            small.bracket(3 * FENCE_STRIDE, 5),
            Bracket::whole(3 * FENCE_STRIDE)
        );
        // A fence is for the directory it was built from, and one with a row missing is none.
        let fence = Fence::of(1000, |j| Some(j as u64));
        assert_eq!(fence.bracket(999, 5), Bracket::whole(999));
        let holed = Fence::of(1000, |j| (j != 640).then_some(j as u64));
        assert_eq!(holed.bracket(1000, 5), Bracket::whole(1000));
    }
}
