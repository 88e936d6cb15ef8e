//! Unit tests of [`super`]: the arithmetic against a scripted clock, and one real
//! calibration (untimed: benches/kdf.rs measures how close it comes).

use super::*;
use crate::sync::AtomicU64;
use core::sync::atomic::Ordering;

/// A clock that reads `at[n]` ms at its n-th reading (n = 0, 1, ...; the last one after
/// that): (start, end) of each derivation in turn.
struct Script<const N: usize> {
    reads: AtomicU64,
    at: [u64; N],
}

impl<const N: usize> Clock for Script<N> {
    fn now(&self) -> Duration {
        let n = self.reads.fetch_add(1, Ordering::SeqCst) as usize;
        Duration::from_millis(self.at[n.min(N - 1)])
    }
}

fn script<const N: usize>(at: [u64; N]) -> Script<N> {
    Script {
        reads: AtomicU64::new(0),
        at,
    }
}

const MIB: u32 = 1024;

/// What calibration picks for `target` and `memory` KiB when the derivations take the
/// times `at` (ms) scripts, within the default limit.
fn calibrated<const N: usize>(at: [u64; N], target: Duration, memory: u32) -> KdfParams {
    KdfParams::calibrate_with(&script(at), target, memory, KdfLimit::default()).unwrap()
}

#[test]
fn passes_fill_the_target_after_the_setup() {
    // One pass: 12 ms, so the second derivation runs 100 / 12 = 8 passes: 82 ms. So a pass
    // is (82 - 12) / 7 = 10 ms and the setup 2 ms: 100 ms holds 9 passes (2 + 9 × 10 =
    // 92), not 10.
    let kdf = calibrated([0, 12, 12, 94], Duration::from_millis(100), 8 * MIB);
    assert_eq!(kdf, KdfParams::argon2id(8 * MIB, 9, 1));
}

#[test]
fn one_pass_too_slow_means_less_memory() {
    // One pass over 64 MiB takes 400 ms: for 100 ms, a quarter of the memory, measured
    // again: one pass 30 ms, 100 / 30 = 3 passes 70 ms (a pass 20, setup 10), so 4 passes
    // (10 + 4 × 20).
    let at = [0, 400, 400, 430, 430, 500];
    let kdf = calibrated(at, Duration::from_millis(100), 64 * MIB);
    assert_eq!(kdf, KdfParams::argon2id(16 * MIB, 4, 1));
    // Never below 8 MiB, however slow.
    let at = [0, 10_000, 10_000, 20_000, 20_000, 40_000];
    let kdf = calibrated(at, Duration::from_millis(1), 16 * MIB);
    assert_eq!(kdf, KdfParams::argon2id(8 * MIB, 1, 1));
}

#[test]
fn the_limit_and_the_pass_bound_cap_the_passes() {
    // Passes of 1 ms for a 10 s target (the second derivation runs the 64 passes the
    // bound allows: 64 ms): 64 passes at most (MAX_ARGON2_PASSES) ...
    let kdf = calibrated([0, 1, 1, 65], Duration::from_secs(10), 8 * MIB);
    assert_eq!(kdf, KdfParams::argon2id(8 * MIB, MAX_ARGON2_PASSES, 1));
    // ... and no more than the limit admits, so the same config reopens the store.
    let limit = KdfLimit::of(KdfParams::argon2id(8 * MIB, 5, 1));
    let clock = script([0, 1, 1, 6]);
    let kdf = KdfParams::calibrate_with(&clock, Duration::from_secs(10), 8 * MIB, limit).unwrap();
    assert_eq!(kdf, KdfParams::argon2id(8 * MIB, 5, 1));
    assert!(limit.admit(&kdf).is_ok());
    // Memory is capped by the limit too.
    let clock = script([0, 1, 1, 3]);
    let kdf = KdfParams::calibrate_with(&clock, Duration::from_secs(10), 64 * MIB, limit).unwrap();
    assert_eq!(kdf, KdfParams::argon2id(40 * MIB, 1, 1));
}

#[test]
fn too_little_memory_or_no_target_is_refused() {
    let clock = script([0, 1, 1, 2]);
    for (target, memory, limit) in [
        (Duration::from_millis(10), 4 * MIB, KdfLimit::default()),
        (Duration::ZERO, 8 * MIB, KdfLimit::default()),
        (
            Duration::from_millis(10),
            8 * MIB,
            KdfLimit::kib_passes(1024),
        ),
    ] {
        let refused = KdfParams::calibrate_with(&clock, target, memory, limit);
        assert!(
            matches!(refused, Err(Error::InvalidKdfParams(_))),
            "{refused:?}"
        );
    }
}

/// A first timing the machine's other work slowed (one pass 31 ms, where a pass takes
/// about 20): the second derivation runs the 4 passes 31 ms fits in 150 ms, 80 ms, so a
/// pass reads as (80 - 31) / 3 = 16 ms and 8 passes are picked (about 160 ms). Read from
/// one pass against two (31 ms, then 28), it would have looked free: 64 passes, 1.3 s.
#[test]
fn a_slow_first_timing_does_not_make_passes_look_free() {
    let kdf = calibrated([0, 31, 31, 111], Duration::from_millis(150), 16 * MIB);
    assert_eq!(kdf, KdfParams::argon2id(16 * MIB, 8, 1));
}

/// The real clock and the real KDF: parameters within the memory asked for and the
/// default limit, which derive. How close they come to the target is measured by
/// `cargo bench --bench kdf -- calibrated`, not here (no timed tests).
#[cfg(feature = "std")]
#[test]
fn a_real_calibration_picks_parameters_that_derive() {
    let target = Duration::from_millis(50);
    let kdf = KdfParams::calibrate(target, 16 * MIB).unwrap();
    assert!(KdfLimit::default().admit(&kdf).is_ok(), "{kdf:?}");
    let mut out = [0u8; 32];
    kdf.stretch(b"pw", &[1; 16], KdfLimit::default(), &mut out)
        .unwrap();
    assert_ne!(out, [0; 32]);
    let cheaper = KdfParams::calibrate(target, 8 * MIB).unwrap();
    assert!(cheaper.cost() <= KdfLimit::default().get(), "{cheaper:?}");
}
