//! [`KdfParams::calibrate`]: Argon2id parameters that take about a given time on the
//! machine at hand, measured with a clock (the std one, or any [`Clock`] under `no_std`).
#![forbid(unsafe_code)]

use core::time::Duration;
#[cfg(feature = "std")]
extern crate std;

use super::{KdfLimit, KdfParams, MAX_ARGON2_PASSES, MAX_KDF_MEMORY_KIB};
use crate::clock::Clock;
use crate::error::{Error, Result};

/// The least memory calibration chooses, in KiB (libsodium's floor for Argon2id's
/// "interactive" use is 64 MiB; below 8 MiB the KDF is cheap on a GPU).
const MIN_CALIBRATED_KIB: u32 = 8 * 1024;

impl KdfParams {
    /// Argon2id parameters (one lane) that take about `target` per derivation on this
    /// machine, in this build (an unoptimised build runs Argon2 several times slower:
    /// calibrate in the build that will open the store). It uses `max_memory_kib` KiB
    /// (capped at [`MAX_KDF_MEMORY_KIB`]), less when even one pass over that takes longer
    /// than `target`, never less than 8 MiB, and as many passes as fit `target`, within
    /// the default [`KdfLimit`] (so the default `Config` reopens the store).
    ///
    /// It runs the KDF two or three times (one pass over the memory, one pass again over
    /// less memory if that took longer than `target`, then as many passes as one pass's
    /// time would fit in `target`, at least two), about `2 × target` in all. Store the
    /// result: it is recorded in each store's header, so calibrate when a store is
    /// created, not at every open.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use std::time::Duration;
    /// use microkv::{Config, Credential, KdfParams, Store};
    /// let kdf = KdfParams::calibrate(Duration::from_millis(50), 16 * 1024)?;
    /// let config = Config { kdf, ..Default::default() };
    /// let db = Store::in_memory_with(Credential::password("p@ssw0rd"), config)?;
    /// # drop(db);
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::InvalidKdfParams` if `max_memory_kib` is under 8 MiB or `target` is zero.
    #[cfg(feature = "std")]
    pub fn calibrate(target: Duration, max_memory_kib: u32) -> Result<KdfParams> {
        Self::calibrate_with(
            &Monotonic(std::time::Instant::now()),
            target,
            max_memory_kib,
            KdfLimit::default(),
        )
    }

    /// [`KdfParams::calibrate`] with the clock `clock` (which must be monotonic: a clock
    /// that steps back or stands still reads as an instant KDF) and within `limit`
    /// instead of the default limit: for `no_std`, or for stores opened with a lower
    /// `Config::kdf_limit`.
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// use core::time::Duration;
    /// use microkv::{KdfLimit, KdfParams, ManualClock};
    /// // A clock that never moves: every pass looks free, so it picks the most passes
    /// // the limit allows over 8 MiB.
    /// let clock = ManualClock::new(Duration::ZERO);
    /// let limit = KdfLimit::of(KdfParams::argon2id(8 * 1024, 3, 1));
    /// let kdf = KdfParams::calibrate_with(&clock, Duration::from_millis(1), 8 * 1024, limit)?;
    /// assert_eq!(kdf, KdfParams::argon2id(8 * 1024, 3, 1));
    /// # Ok::<(), microkv::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`KdfParams::calibrate`]; also `Error::InvalidKdfParams` if `limit` admits less
    /// than one pass over 8 MiB.
    pub fn calibrate_with(
        clock: &dyn Clock,
        target: Duration,
        max_memory_kib: u32,
        limit: KdfLimit,
    ) -> Result<KdfParams> {
        let cap = u64::from(max_memory_kib.min(MAX_KDF_MEMORY_KIB)).min(limit.get());
        if cap < u64::from(MIN_CALIBRATED_KIB) || target.is_zero() {
            return Err(Error::InvalidKdfParams(
                "calibration needs at least 8 MiB within the limit, and a target above zero".into(),
            ));
        }
        let mut m_kib = cap as u32; // cap <= MAX_KDF_MEMORY_KIB
        let mut one = time(clock, KdfParams::argon2id(m_kib, 1, 1))?;
        if one > target {
            // One pass over all of it is too slow: less memory, in proportion, measured
            // again (time is not quite linear in memory: page faults, caches).
            let scaled = u128::from(m_kib) * target.as_nanos() / one.as_nanos().max(1);
            m_kib = (scaled as u32).max(MIN_CALIBRATED_KIB);
            one = time(clock, KdfParams::argon2id(m_kib, 1, 1))?;
        }
        let by_limit = limit.get() / u64::from(m_kib);
        // The second derivation runs the passes a pass of `one`'s length would fit in
        // `target` (at least 2, at most the bound), so the difference a pass is read from
        // spans most of `target`: two derivations of one and two passes differ by a single
        // pass, which the machine's other work can hide (one 31 ms, two 28 ms: a "free"
        // pass, and 64 passes that took 3.6 times the target).
        let wide = (target.as_nanos() / one.as_nanos().max(1))
            .min(u128::from(MAX_ARGON2_PASSES))
            .min(u128::from(by_limit))
            .max(2) as u32; // <= MAX_ARGON2_PASSES
        let many = time(clock, KdfParams::argon2id(m_kib, wide, 1))?;
        // A pass costs `(many - one) / (wide - 1)`; the rest of `one` is setup
        // (allocation, the first blocks), paid once.
        let pass = (many.saturating_sub(one) / (wide - 1)).max(Duration::from_nanos(1));
        let setup = one.saturating_sub(pass);
        let passes = target.saturating_sub(setup).as_nanos() / pass.as_nanos();
        let t = passes
            .clamp(1, u128::from(MAX_ARGON2_PASSES))
            .min(u128::from(by_limit)) as u32; // <= MAX_ARGON2_PASSES
        Ok(KdfParams::argon2id(m_kib, t.max(1), 1))
    }
}

/// How long one derivation with `params` takes by `clock`.
fn time(clock: &dyn Clock, params: KdfParams) -> Result<Duration> {
    let mut out = [0u8; 32];
    let start = clock.now();
    params.stretch_within(&[0; 8], &[0; 16], KdfLimit::bounds_only(), &mut out)?;
    Ok(clock.now().saturating_sub(start))
}

/// `std`'s monotonic clock as a [`Clock`] (time since it was made).
#[cfg(feature = "std")]
struct Monotonic(std::time::Instant);

#[cfg(feature = "std")]
impl Clock for Monotonic {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

#[cfg(test)]
mod tests;
