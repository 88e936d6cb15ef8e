//! Which process this is: a token that changes in every child made by `fork`.
//!
//! After `fork`, a child holds a copy of everything the parent had mapped, except what the
//! page source kept from it (`MADV_DONTFORK`: not mapped at all; `MADV_WIPEONFORK`: zeros).
//! Touching a `MADV_DONTFORK` page in the child faults, and using a copied keyring would
//! repeat the parent's nonces. So the arena records the token of the process it was made
//! in and refuses to touch its memory in any other, and a keyring asks its arena buffer
//! (`SecretBuf::in_owning_process`) before sealing or opening: the check does not rely on
//! what the page source did.
//!
//! Under `std` on Unix the token is the process id and a fork generation: a count that a
//! `pthread_atfork` child handler (registered the first time a token is taken) bumps in
//! every child. The pid alone does not tell a child from its parent: a process that is
//! pid 1 of a PID namespace (a container's entrypoint) and calls `unshare(CLONE_NEWPID)`
//! before forking has a child that is pid 1 too; the generation differs there
//! (tests/fork_namespace.rs). The pid is cached, and the handler clears that cache, so
//! reading the token is two relaxed atomic loads where `getpid` would be a system call
//! (about 140 ns measured here). A child made by a raw `clone` system call that bypasses
//! the C library's `fork` runs no handler and is not detected; `posix_spawn`, `vfork` +
//! `exec` and `std::process::Command` never run store code in the child. Without `std`
//! there are no processes to tell apart, and the token is constant.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

/// The process a piece of arena memory or a keyring belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Process(u64);

#[cfg(all(feature = "std", unix))]
mod imp {
    extern crate std;
    use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};

    /// This process's id, or 0 until it is first asked for (and again in a fresh child).
    static PID: AtomicU32 = AtomicU32::new(0);
    /// How many `fork`s separate this process from the one that first took a token.
    static GENERATION: AtomicU32 = AtomicU32::new(0);
    /// Where the fork handler's registration is: [`NONE`], [`REGISTERING`], or done
    /// ([`CACHED`]: a cached `PID` can be trusted; [`UNCACHED`]: `pthread_atfork` failed).
    /// Not a `Once`: a child forked while another thread of its parent was registering
    /// would find the `Once` running forever and wait on it (a hang seen in
    /// std-shim/tests/os_pages.rs); a state nobody waits on only keeps it from caching.
    static HANDLER: AtomicU8 = AtomicU8::new(NONE);
    const NONE: u8 = 0;
    const REGISTERING: u8 = 1;
    const CACHED: u8 = 2;
    const UNCACHED: u8 = 3;

    extern "C" fn in_child() {
        GENERATION.fetch_add(1, Ordering::Relaxed);
        PID.store(0, Ordering::Relaxed);
    }

    /// The process id and the fork generation, side by side.
    fn pack(pid: u32) -> u64 {
        u64::from(GENERATION.load(Ordering::Relaxed)) << 32 | u64::from(pid)
    }

    pub(super) fn token() -> u64 {
        let cached = PID.load(Ordering::Relaxed);
        if cached != 0 {
            return pack(cached);
        }
        let first =
            HANDLER.compare_exchange(NONE, REGISTERING, Ordering::AcqRel, Ordering::Acquire);
        if first.is_ok() {
            // SAFETY: `in_child` is an `extern "C"` function that only writes
            // atomics, which is async-signal-safe as a fork child handler must be.
            let ok = unsafe { libc::pthread_atfork(None, None, Some(in_child)) } == 0;
            HANDLER.store(if ok { CACHED } else { UNCACHED }, Ordering::Release);
        }
        let pid = std::process::id();
        // Until the handler is in place (another thread registering it, or
        // pthread_atfork failed: ENOMEM) nothing would clear the cache in a child: ask
        // the kernel every time instead. Nobody waits.
        if HANDLER.load(Ordering::Acquire) == CACHED {
            PID.store(pid, Ordering::Relaxed);
        }
        pack(pid)
    }
}

#[cfg(not(all(feature = "std", unix)))]
mod imp {
    pub(super) fn token() -> u64 {
        0
    }
}

impl Process {
    /// The calling process.
    #[inline]
    pub(crate) fn current() -> Process {
        Process(imp::token())
    }

    /// Whether the caller runs in this process (not in a child forked from it).
    #[inline]
    pub(crate) fn is_current(self) -> bool {
        self == Process::current()
    }
}
