//! The one place that switches between `std` and `no_std`: a mutex, a reader-writer lock,
//! a once-cell and a cheap identity for the calling thread.
//!
//! Under `std`, threads block on `std::sync::Mutex` (never spin) and each thread has a
//! distinct non-zero token, which lets the store refuse a same-thread re-entrant call
//! instead of deadlocking. Without `std`, the lock is `spin::Mutex` and the token is `0`
//! ("unknown"), which disables that check (see `Error::Reentrant`).
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

/// 64-bit atomics on every target: native where the hardware has them, a lock-based
/// fallback on 32-bit targets that do not.
pub(crate) use portable_atomic::AtomicU64;

/// A value computed once, on first use, by whichever thread gets there first (a spin
/// `Once` everywhere: it is only ever contended by one operation's own calls).
pub(crate) use spin::Once;

/// A mutex that ignores poisoning: every critical section of this crate leaves its data
/// consistent before anything that can panic runs.
pub(crate) struct Mutex<T>(
    #[cfg(feature = "std")] std::sync::Mutex<T>,
    #[cfg(not(feature = "std"))] spin::Mutex<T>,
);

#[cfg(feature = "std")]
pub(crate) type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;
#[cfg(not(feature = "std"))]
pub(crate) type MutexGuard<'a, T> = spin::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) const fn new(value: T) -> Self {
        #[cfg(feature = "std")]
        return Mutex(std::sync::Mutex::new(value));
        #[cfg(not(feature = "std"))]
        return Mutex(spin::Mutex::new(value));
    }

    /// The lock if it is free now; `None` if another holder has it (never waits).
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        #[cfg(feature = "std")]
        return match self.0.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        #[cfg(not(feature = "std"))]
        return self.0.try_lock();
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(feature = "std")]
        return self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        #[cfg(not(feature = "std"))]
        return self.0.lock();
    }
}

/// A reader-writer lock that ignores poisoning, like [`Mutex`]: readers share it, a
/// writer has it alone.
///
/// Under `std` it is crossbeam's `ShardedLock`: a reader takes only its own shard (one
/// of eight, by thread), on a cache line of its own, so readers on different cores write
/// no common line (a plain `RwLock`'s counter bounced between them on every read, and
/// cost two-thread reads up to a third of their speed: BENCHMARKS.md, "Parallel
/// readers"); a writer takes every shard. Waiters block. Without `std` it is
/// `spin::RwLock`, and waiters spin.
pub(crate) struct RwLock<T>(
    #[cfg(feature = "std")] crossbeam_utils::sync::ShardedLock<T>,
    #[cfg(not(feature = "std"))] spin::RwLock<T>,
);

#[cfg(feature = "std")]
pub(crate) type ReadGuard<'a, T> = crossbeam_utils::sync::ShardedLockReadGuard<'a, T>;
#[cfg(not(feature = "std"))]
pub(crate) type ReadGuard<'a, T> = spin::RwLockReadGuard<'a, T>;
#[cfg(feature = "std")]
pub(crate) type WriteGuard<'a, T> = crossbeam_utils::sync::ShardedLockWriteGuard<'a, T>;
#[cfg(not(feature = "std"))]
pub(crate) type WriteGuard<'a, T> = spin::RwLockWriteGuard<'a, T>;

impl<T> RwLock<T> {
    pub(crate) fn new(value: T) -> Self {
        #[cfg(feature = "std")]
        return RwLock(crossbeam_utils::sync::ShardedLock::new(value));
        #[cfg(not(feature = "std"))]
        return RwLock(spin::RwLock::new(value));
    }

    pub(crate) fn read(&self) -> ReadGuard<'_, T> {
        #[cfg(feature = "std")]
        return self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        #[cfg(not(feature = "std"))]
        return self.0.read();
    }

    pub(crate) fn write(&self) -> WriteGuard<'_, T> {
        #[cfg(feature = "std")]
        return self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        #[cfg(not(feature = "std"))]
        return self.0.write();
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

/// A token naming the calling thread: non-zero and distinct per live thread under `std`,
/// `0` (unknown) without it.
pub(crate) fn thread_token() -> u64 {
    #[cfg(feature = "std")]
    {
        use core::sync::atomic::Ordering;
        static NEXT: AtomicU64 = AtomicU64::new(1);
        std::thread_local!(static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed));
        TOKEN.with(|t| *t)
    }
    #[cfg(not(feature = "std"))]
    {
        0
    }
}
