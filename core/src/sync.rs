//! The one place that switches between `std` and `no_std`: a mutex, a reader-writer lock,
//! a condition to wait for, a once-cell and a cheap identity for the calling thread,
//! re-exported from one of two sets.
//!
//! Under `std` (`sync/blocking.rs`), threads block (never spin), the locks ignore
//! poisoning, and each thread has a distinct non-zero token, which lets the store refuse
//! a same-thread re-entrant call instead of deadlocking. Without `std`, the locks are
//! `spin`'s (which have no poisoning, and the same `new`/`lock`/`try_lock`/`read`/`write`)
//! and the token is `0` ("unknown"), which disables that check (see `Error::Reentrant`).
#![forbid(unsafe_code)]

/// 64-bit atomics on every target: native where the hardware has them, a lock-based
/// fallback on 32-bit targets that do not.
pub(crate) use portable_atomic::AtomicU64;

/// A value computed once, on first use, by whichever thread gets there first (a spin
/// `Once` everywhere: it is only ever contended by one operation's own calls).
pub(crate) use spin::Once;

#[cfg(feature = "std")]
mod blocking;
#[cfg(feature = "std")]
pub(crate) use blocking::{thread_token, yield_now, Mutex, MutexGuard, RwLock, Signal};

#[cfg(not(feature = "std"))]
pub(crate) use spin::{Mutex, MutexGuard, RwLock};

/// Where threads wait for a change made under a [`Mutex`]: without `std`, waiting lets go
/// of the mutex, spins once and takes it again (the caller re-checks its condition in a
/// loop, as it does with the `std` set's condition variable).
#[cfg(not(feature = "std"))]
#[derive(Default)]
pub(crate) struct Signal;

#[cfg(not(feature = "std"))]
impl Signal {
    /// Lets go of `guard` (a guard of `mutex`) for one spin and takes the mutex again.
    pub(crate) fn wait<'a, T>(
        &self,
        mutex: &'a Mutex<T>,
        guard: MutexGuard<'a, T>,
    ) -> MutexGuard<'a, T> {
        drop(guard);
        core::hint::spin_loop();
        mutex.lock()
    }

    /// Nothing to wake: waiters spin.
    pub(crate) fn notify_all(&self) {}
}

/// Lets other threads run: without `std`, one spin.
#[cfg(not(feature = "std"))]
pub(crate) fn yield_now() {
    core::hint::spin_loop();
}

/// A token naming the calling thread: `0` (unknown) without `std`.
#[cfg(not(feature = "std"))]
pub(crate) fn thread_token() -> u64 {
    0
}
