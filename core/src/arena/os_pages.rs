//! [`OsPages`] on Unix: arena pages straight from the kernel: secret memory where Linux has
//! it, locked and advised anonymous pages where it does not, fenced by guard pages either way.
//!
//! Built under the `std` feature on Unix; the store uses it when `Config::pages` is unset.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

extern crate std;

use core::ptr::{self, NonNull};
#[cfg(target_os = "linux")]
use core::sync::atomic::{AtomicI32, Ordering};
use std::io;

use super::{PageSource, Region};
use crate::error::{Error, Result};

/// A [`PageSource`] mapping memory from the kernel with `mmap`.
///
/// **Secret memory first.** On Linux 5.14+ each mapping is backed by `memfd_secret(2)`:
/// its pages are removed from the kernel's direct map, so no other process, root included,
/// can read them through `/proc/PID/mem` or ptrace; they are locked (never swapped) and never
/// in a core dump. They are mapped `MAP_SHARED` and advised `MADV_DONTFORK`: a forked child
/// has no mapping there at all. Secret memory counts against `RLIMIT_MEMLOCK`.
///
/// **Fallback.** Where the kernel refuses secret memory (`ENOSYS` before 5.14 or when
/// disabled, `EPERM` under a seccomp filter such as container defaults, `EAGAIN`/`ENOMEM`
/// past `RLIMIT_MEMLOCK`), the mapping is private anonymous memory, `mlock`ed and advised
/// `MADV_DONTDUMP` and `MADV_WIPEONFORK`: out of swap and core dumps, zeros in a forked
/// child, but readable by root and, unless the process is made non-dumpable
/// (`harden_process` in `microkv-std`), by other processes of the same user. The
/// [`Region::secret`] flag, and through it `MemoryReport::secret_memory`, says which one a
/// store got; `MemoryPolicy::RequireSecretMemory` refuses the fallback. `ENOSYS` and
/// `EPERM` are remembered for the life of the process; a limit is retried at each mapping.
///
/// **Other Unix systems** have no secret memory: every mapping is the anonymous kind,
/// `mlock`ed. FreeBSD maps it `MAP_NOCORE` (and advises `MADV_NOCORE`): out of core dumps;
/// FreeBSD and macOS set `minherit(INHERIT_NONE)` on it: a forked child has no mapping
/// there. macOS has no per-mapping exclusion from core dumps (`harden_process` turns them
/// off for the process). Windows has its own `OsPages` (`VirtualAlloc`, `VirtualLock`).
///
/// Each mapping is the usable pages between two `PROT_NONE` guard pages. Every system
/// call's result is checked and reported in the [`Region`] flags. Releasing a region wipes
/// it and unmaps it with its guard pages.
///
/// **System calls on secret memory**: a call that copies through the process's own
/// mapping (`write`, `pwrite`, `send`, `read`, `getrandom`) works on it; a call that pins
/// the pages to reach them through the kernel's map (`O_DIRECT` I/O, `vmsplice`, io_uring
/// fixed buffers) fails with `EFAULT`: hand those a copy (`tests/secret_memory_syscalls.rs`
/// in the `microkv` repository makes each call on Linux 6.18).
///
/// ```
/// # use microkv_core as microkv;
/// # #[cfg(target_os = "linux")] {
/// use std::sync::Arc;
/// use microkv::{Arena, MemoryPolicy, OsPages};
/// let arena = Arena::new(Arc::new(OsPages::new()), MemoryPolicy::BestEffort);
/// let mut key = arena.alloc(32)?;
/// key.copy_from_slice(&[7; 32]);
/// let report = arena.report();
/// println!("secret memory: {}", report.secret_memory);
/// assert!(report.guarded);
/// # }
/// # Ok::<(), microkv::Error>(())
/// ```
#[derive(Debug)]
pub struct OsPages {
    page: usize,
    /// Try `memfd_secret` before anonymous pages.
    secret: bool,
}

/// The error `memfd_secret` failed with for good in this process (`ENOSYS` or `EPERM`),
/// or 0 while it has not.
#[cfg(target_os = "linux")]
static SECRET_REFUSED: AtomicI32 = AtomicI32::new(0);

impl OsPages {
    /// A page source that maps secret memory where the kernel allows it, and locked
    /// anonymous pages where it does not.
    pub fn new() -> Self {
        OsPages {
            page: page_size(),
            secret: cfg!(target_os = "linux"),
        }
    }

    /// A page source that never asks for secret memory: locked, advised anonymous pages
    /// only. For comparisons and for code that must hand arena bytes to system calls
    /// itself; any process of the same user can read these pages unless the process is
    /// non-dumpable.
    pub fn anonymous() -> Self {
        OsPages {
            page: page_size(),
            secret: false,
        }
    }

    /// Whether this process can have secret memory now: maps and releases one page of
    /// it, and returns the kernel's refusal if there is one (`ENOSYS`, `EPERM`, `EAGAIN`
    /// past `RLIMIT_MEMLOCK`; `Unsupported` off Linux).
    ///
    /// ```
    /// # use microkv_core as microkv;
    /// match microkv::OsPages::probe_secret_memory() {
    ///     Ok(()) => println!("arena keys are out of reach of other processes"),
    ///     Err(why) => println!("no secret memory here: {why}"),
    /// }
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] with the system call's error, as above.
    pub fn probe_secret_memory() -> Result<()> {
        let pages = OsPages::new();
        let region = secret_map(pages.page, pages.page).map_err(Error::Io)?;
        // SAFETY: `region` was just mapped by `secret_map` and nothing else uses it.
        unsafe { pages.unmap(&region) };
        Ok(())
    }
}

impl Default for OsPages {
    fn default() -> Self {
        OsPages::new()
    }
}

/// The system's page size (4096 if it tells none that is a power of two).
pub(super) fn page_size() -> usize {
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page)
        .ok()
        .filter(|p| p.is_power_of_two())
        .unwrap_or(4096)
}

/// `madvise(ptr, len, advice)`, reporting success.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(super) fn advise(ptr: *mut u8, len: usize, advice: libc::c_int) -> bool {
    // SAFETY: the callers pass pages of a mapping they just made; these advices change no
    // contents of memory in this process.
    unsafe { libc::madvise(ptr.cast(), len, advice) == 0 }
}

/// Keeps `len` bytes at `ptr` out of core dumps and out of forked children (zeros there,
/// or no mapping at all); reports `(dont_dump, hidden_from_fork)`. `reservation` is the
/// whole mapping with its guard pages.
///
/// Linux: `MADV_DONTDUMP` and `MADV_WIPEONFORK`. FreeBSD: the reservation was mapped
/// `MAP_NOCORE`, and `MADV_NOCORE` says so again (memsec's `mlock` advises it too);
/// `minherit(INHERIT_NONE)`: a child has no mapping there. macOS: `minherit(VM_INHERIT_NONE)`
/// likewise; it has no per-mapping exclusion from core dumps (`harden_process` sets
/// `RLIMIT_CORE` to 0 for the whole process).
fn advise_anonymous(ptr: *mut u8, len: usize, reservation: (*mut u8, usize)) -> (bool, bool) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return {
        let _ = reservation;
        (
            advise(ptr, len, libc::MADV_DONTDUMP),
            advise(ptr, len, libc::MADV_WIPEONFORK),
        )
    };
    #[cfg(target_os = "freebsd")]
    return (
        advise(ptr, len, libc::MADV_NOCORE),
        inherit(reservation, libc::INHERIT_NONE),
    );
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    return {
        let _ = (ptr, len);
        (false, inherit(reservation, libc::VM_INHERIT_NONE))
    };
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "macos",
        target_os = "ios"
    )))]
    return {
        let _ = (ptr, len, reservation);
        (false, false)
    };
}

/// `minherit(base, len, how)` over a whole reservation (`INHERIT_NONE`: a forked child gets
/// no mapping there, a fault, never the parent's bytes). Reports success.
#[cfg(any(target_os = "freebsd", target_os = "macos", target_os = "ios"))]
pub(super) fn inherit((base, len): (*mut u8, usize), how: libc::c_int) -> bool {
    // SAFETY: changes only what a future child inherits of a mapping we just made.
    unsafe { libc::minherit(base.cast(), len, how) == 0 }
}

/// Flags for every arena reservation: FreeBSD's `MAP_NOCORE` keeps it out of core dumps.
#[cfg(target_os = "freebsd")]
const MAP_EXTRA: libc::c_int = libc::MAP_NOCORE;
#[cfg(not(target_os = "freebsd"))]
const MAP_EXTRA: libc::c_int = 0;

/// Reserves `len` bytes between two guard pages, all `PROT_NONE`; returns the base.
fn reserve(page: usize, len: usize) -> io::Result<*mut u8> {
    let total = len
        .checked_add(2 * page)
        .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
    // SAFETY: a new private anonymous mapping at an address of the kernel's choosing
    // touches no existing memory.
    let raw = unsafe {
        libc::mmap(
            ptr::null_mut(),
            total,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | MAP_EXTRA,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(raw.cast())
}

/// Releases a reservation made by [`reserve`] (or what replaced its middle).
///
/// # Safety
/// `base` and `len` are a reservation's, and nothing uses any of it any more.
pub(super) unsafe fn release(base: *mut u8, page: usize, len: usize) {
    // SAFETY: the caller's guarantee: the whole reservation is ours and unused.
    let rc = unsafe { libc::munmap(base.cast(), len + 2 * page) };
    debug_assert_eq!(rc, 0, "munmap of an arena region failed");
}

/// Maps `len` bytes (a multiple of `page`) of secret memory between guard pages.
#[cfg(target_os = "linux")]
fn secret_map(page: usize, len: usize) -> io::Result<Region> {
    let refused = SECRET_REFUSED.load(Ordering::Relaxed);
    if refused != 0 {
        return Err(io::Error::from_raw_os_error(refused));
    }
    // SAFETY: memfd_secret takes a flags word and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_memfd_secret, libc::O_CLOEXEC) };
    if fd < 0 {
        let err = io::Error::last_os_error();
        if let Some(errno @ (libc::ENOSYS | libc::EPERM)) = err.raw_os_error() {
            SECRET_REFUSED.store(errno, Ordering::Relaxed);
        }
        crate::event::warn_event!(
            error = %err,
            "the kernel refused secret memory (memfd_secret): the arena falls back to \
             locked anonymous pages"
        );
        return Err(err);
    }
    let fd = fd as libc::c_int;
    let mapped = (|| {
        let size =
            libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
        // SAFETY: `fd` is the secret-memory descriptor just made; sizing it changes no
        // memory of this process.
        if unsafe { libc::ftruncate(fd, size) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let base = reserve(page, len)?;
        // SAFETY: `base + page .. base + page + len` lies inside the reservation just made,
        // which nothing else uses: replacing it with the secret mapping touches nothing.
        let usable = unsafe {
            libc::mmap(
                base.add(page).cast(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_FIXED,
                fd,
                0,
            )
        };
        if usable == libc::MAP_FAILED {
            let err = io::Error::last_os_error();
            // SAFETY: the reservation is ours and unused.
            unsafe { release(base, page, len) };
            return Err(err);
        }
        Ok(base)
    })();
    // SAFETY: closing our own descriptor; the mapping keeps the memory alive.
    unsafe { libc::close(fd) };
    let base = mapped?;
    // The child of a fork gets none of it: not the secret pages (MAP_SHARED would share
    // them with the parent), not the guard pages.
    let hidden = advise(base, len + 2 * page, libc::MADV_DONTFORK);
    // SAFETY: `base + page` is inside the mapping made above.
    let usable = unsafe { base.add(page) };
    Ok(Region {
        ptr: NonNull::new(usable).ok_or_else(|| io::Error::from(io::ErrorKind::Other))?,
        len,
        // Secret memory is locked by the kernel (it counts against RLIMIT_MEMLOCK) and
        // never appears in a core dump.
        locked: true,
        guarded: true,
        dont_dump: true,
        hidden_from_fork: hidden,
        secret: true,
    })
}

#[cfg(not(target_os = "linux"))]
fn secret_map(_page: usize, _len: usize) -> io::Result<Region> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Maps `len` bytes (a multiple of `page`) of private anonymous memory, readable and
/// writable, between two `PROT_NONE` guard pages; returns the first usable byte, or `None`
/// (and nothing mapped) if a call failed. [`release`] takes `usable - page` and `len`.
pub(super) fn guarded_map(page: usize, len: usize) -> Option<NonNull<u8>> {
    let base = reserve(page, len).ok()?;
    // SAFETY: `base + page` is inside the reservation of `len + 2 * page` bytes.
    let usable = unsafe { base.add(page) };
    // `memsec` has no `mprotect` for memory it did not allocate itself: libc's.
    // SAFETY: opening up the middle of our own fresh reservation; the guard pages around
    // it stay PROT_NONE.
    let opened =
        unsafe { libc::mprotect(usable.cast(), len, libc::PROT_READ | libc::PROT_WRITE) } == 0;
    let usable = NonNull::new(usable).filter(|_| opened);
    if usable.is_none() {
        // SAFETY: the reservation is ours and unused.
        unsafe { release(base, page, len) };
    }
    usable
}

/// Maps `len` bytes (a multiple of `page`) of locked, advised anonymous memory between
/// guard pages; `None` if nothing could be mapped.
fn anonymous_map(page: usize, len: usize) -> Option<Region> {
    let ptr = guarded_map(page, len)?;
    let usable = ptr.as_ptr();
    // SAFETY: `usable - page` is the reservation's base (`guarded_map`).
    let base = unsafe { usable.sub(page) };
    // SAFETY: locking our own fresh pages changes no contents.
    let locked = unsafe { memsec::mlock(usable, len) };
    let (dont_dump, wipe_on_fork) = advise_anonymous(usable, len, (base, len + 2 * page));
    Some(Region {
        ptr,
        len,
        locked,
        guarded: true,
        dont_dump,
        hidden_from_fork: wipe_on_fork,
        secret: false,
    })
}

// SAFETY: `map` returns the usable pages of a fresh mapping (zeroed, readable, writable;
// secret memory is zero-filled on first touch like anonymous memory), which stays mapped
// until `unmap`; each flag is set only when the corresponding system call succeeded (or,
// for secret memory, holds by the kernel's definition of it).
unsafe impl PageSource for OsPages {
    fn page_size(&self) -> usize {
        self.page
    }

    fn map(&self, len: usize) -> Option<Region> {
        let len = len.max(1).checked_next_multiple_of(self.page)?;
        if self.secret {
            if let Ok(region) = secret_map(self.page, len) {
                return Some(region);
            }
        }
        anonymous_map(self.page, len)
    }

    unsafe fn unmap(&self, region: &Region) {
        let usable = region.ptr.as_ptr();
        if region.secret {
            // Nothing to wipe here: the kernel zeroes each page of secret memory as it
            // frees it (mm/secretmem.c, `secretmem_free_folio`), and a page never touched
            // was never there. Wiping it would fault every untouched page in first, each
            // a TLB shootdown on every CPU: about 200 us for a 64 KiB slab, on every drop.
        } else if region.locked {
            // SAFETY: the caller passes a region from `map`: `region.len` writable bytes,
            // locked by `map`. memsec wipes them before unlocking.
            let unlocked = unsafe { memsec::munlock(usable, region.len) };
            // munmap below releases the lock anyway; a failure here changes nothing.
            debug_assert!(unlocked, "munlock of an arena region failed");
        } else {
            // SAFETY: as above: `region.len` writable bytes of our own.
            unsafe { memsec::memzero(usable, region.len) };
        }
        // SAFETY: `map` reserved one guard page before `usable` and one after its `len`
        // bytes; the caller no longer uses any of it.
        unsafe { release(usable.sub(self.page), self.page, region.len) };
    }

    fn process_dumpable(&self) -> Option<bool> {
        super::harden::process_dumpable()
    }
}
