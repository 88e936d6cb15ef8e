//! Time for TTLs: the [`Clock`] seam and [`ManualClock`] for tests.
#![forbid(unsafe_code)]

use alloc::sync::Arc;
use core::sync::atomic::Ordering;
use core::time::Duration;

use crate::sync::AtomicU64;

/// A source of wall-clock time, read at most once per store operation (and not at all by
/// an operation that needs no time, such as a read of an entry without a TTL).
///
/// Under the `std` feature a store uses [`SystemClock`] when `Config::clock` is unset;
/// without it, TTL operations need a clock injected there (or fail with `Error::NoClock`).
///
/// The rule for clocks that misbehave: a store's time never goes backwards. Each
/// operation uses the later of the clock's reading and the latest reading the store has
/// seen, so a clock stepping back never brings an expired entry back, and a TTL set
/// meanwhile counts from the store's latest time. A clock jumping forward expires entries
/// early: the store honours it. An entry is expired once `now >= written + ttl`
/// (millisecond resolution).
pub trait Clock: Send + Sync {
    /// Time since the Unix epoch.
    fn now(&self) -> Duration;
}

/// A clock that moves only when told to; clones share one time.
///
/// ```
/// # use microkv_core as microkv;
/// use core::time::Duration;
/// use microkv::{Clock, ManualClock};
/// let clock = ManualClock::new(Duration::from_secs(100));
/// let view = clock.clone();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(view.now(), Duration::from_secs(105));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `start` (since the Unix epoch).
    pub fn new(start: Duration) -> Self {
        let clock = ManualClock::default();
        clock.set(start);
        clock
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(as_nanos(by), Ordering::SeqCst);
    }

    /// Sets the clock to `to`, forwards or backwards.
    pub fn set(&self, to: Duration) {
        self.nanos.store(as_nanos(to), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

/// The system's wall clock (`std` only). A clock set before 1970 reads as the epoch.
///
/// ```
/// # use microkv_core as microkv;
/// use microkv::{Clock, SystemClock};
/// assert!(SystemClock.now().as_secs() > 1_600_000_000);
/// ```
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[cfg(feature = "std")]
impl Clock for SystemClock {
    fn now(&self) -> Duration {
        extern crate std;
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
    }
}

fn as_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
