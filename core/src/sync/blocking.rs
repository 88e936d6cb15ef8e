//! The `std` set of [`super`]'s locks: they block, and ignore poisoning (every critical
//! section of this crate leaves its data consistent before anything that can panic runs).
#![forbid(unsafe_code)]

extern crate std;

use core::sync::atomic::Ordering;
use portable_atomic::AtomicU64;
use std::sync::{PoisonError, TryLockError};

/// `std::sync::Mutex`, poisoning ignored.
#[derive(Default)]
pub(crate) struct Mutex<T>(std::sync::Mutex<T>);

pub(crate) type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) const fn new(value: T) -> Self {
        Mutex(std::sync::Mutex::new(value))
    }

    /// The lock if it is free now; `None` if another holder has it (never waits).
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.0.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// crossbeam's `ShardedLock`, poisoning ignored: a reader takes only its own shard (one
/// of eight, by thread), on a cache line of its own, so readers on different cores write
/// no common line (a plain `RwLock`'s counter bounced between them on every read, and
/// cost two-thread reads up to a third of their speed: BENCHMARKS.md, "Parallel
/// readers"); a writer takes every shard. Waiters block.
pub(crate) struct RwLock<T>(crossbeam_utils::sync::ShardedLock<T>);

type ReadGuard<'a, T> = crossbeam_utils::sync::ShardedLockReadGuard<'a, T>;
type WriteGuard<'a, T> = crossbeam_utils::sync::ShardedLockWriteGuard<'a, T>;

impl<T> RwLock<T> {
    pub(crate) fn new(value: T) -> Self {
        RwLock(crossbeam_utils::sync::ShardedLock::new(value))
    }

    pub(crate) fn read(&self) -> ReadGuard<'_, T> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> WriteGuard<'_, T> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `std::sync::Condvar`, poisoning ignored: where threads wait for a change made under a
/// [`Mutex`] (the caller re-checks its condition in a loop: wake-ups may be spurious).
#[derive(Default)]
pub(crate) struct Signal(std::sync::Condvar);

impl Signal {
    /// Lets go of `guard` (a guard of `mutex`) until notified, and takes the mutex again.
    pub(crate) fn wait<'a, T>(
        &self,
        mutex: &'a Mutex<T>,
        guard: MutexGuard<'a, T>,
    ) -> MutexGuard<'a, T> {
        let _ = mutex;
        self.0.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes every waiter. Take the mutex once between the change and this call (or hold
    /// it), so that no waiter misses it between checking its condition and waiting.
    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// A token naming the calling thread: non-zero and distinct per live thread.
pub(crate) fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    std::thread_local!(static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed));
    TOKEN.with(|t| *t)
}

/// Lets other threads run before this one goes on.
pub(crate) fn yield_now() {
    std::thread::yield_now();
}
