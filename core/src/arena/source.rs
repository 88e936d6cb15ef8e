//! The page-source interface: where arena memory comes from ([`PageSource`]) and what a
//! mapping carries ([`Region`]).

use core::ptr::NonNull;

/// A mapped region handed out by a [`PageSource`].
#[derive(Debug)]
pub struct Region {
    /// Start of the usable memory.
    pub ptr: NonNull<u8>,
    /// Usable length in bytes (at least what was asked for).
    pub len: usize,
    /// The memory is locked in RAM (never swapped out).
    pub locked: bool,
    /// Inaccessible guard pages sit right before and right after the usable memory.
    pub guarded: bool,
    /// The memory is excluded from core dumps.
    pub dont_dump: bool,
    /// A forked child cannot read the memory: it is not mapped there (`MADV_DONTFORK`) or
    /// reads as zeros (`MADV_WIPEONFORK`).
    pub hidden_from_fork: bool,
    /// The memory is secret memory: removed from the kernel's direct map (Linux
    /// `memfd_secret`), so no other process, root included, can read it through
    /// `/proc/PID/mem` or ptrace; never swapped, never in a core dump. The kernel cannot
    /// read it either: no system call may be given a pointer into it.
    pub secret: bool,
}

/// Where arena pages come from.
///
/// # Safety
/// `map` must return zeroed, readable and writable memory of at least `len` bytes that
/// stays valid until passed to `unmap`, and its flags must not claim a protection the
/// memory does not have.
pub unsafe trait PageSource: Send + Sync {
    /// The granularity of mappings; the arena rounds large allocations up to it.
    fn page_size(&self) -> usize;
    /// Maps `len` bytes (rounded up as the source needs), or `None` if no memory could be
    /// mapped at all. Protections that could not be applied are reported as `false`.
    fn map(&self, len: usize) -> Option<Region>;
    /// Wipes and releases a region.
    ///
    /// # Safety
    /// `region` came from this source's `map` and is not used afterwards.
    unsafe fn unmap(&self, region: &Region);
    /// Whether other processes of the same user may read this process's memory, if the
    /// source can tell ([`MemoryReport::process_dumpable`](super::MemoryReport::process_dumpable)). `None` by default.
    fn process_dumpable(&self) -> Option<bool> {
        None
    }
}
