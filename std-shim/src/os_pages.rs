//! [`OsPages`]: arena pages straight from the kernel, fenced, locked and advised.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

use core::ptr::{self, NonNull};

use microkv_core::arena::{PageSource, Region};

/// A [`PageSource`] mapping anonymous memory with `mmap`.
///
/// Each mapping is the usable pages plus one `PROT_NONE` guard page before and one after
/// (via `mprotect`); the usable pages are `mlock`ed and advised `MADV_DONTDUMP` and
/// `MADV_WIPEONFORK` (Linux and Android; elsewhere both are reported as missing). Every
/// call's return value is checked and reported in the [`Region`] flags, so the arena's
/// [`MemoryPolicy`](microkv_core::MemoryPolicy) can refuse or report what failed (for
/// example `mlock` past `RLIMIT_MEMLOCK`). Releasing a region wipes it, unlocks it and
/// unmaps it with its guard pages.
#[derive(Debug, Clone, Copy)]
pub struct OsPages {
    page: usize,
}

impl OsPages {
    /// A page source using the system page size.
    pub fn new() -> Self {
        // SAFETY: sysconf only reads a system constant.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        OsPages {
            page: usize::try_from(page)
                .ok()
                .filter(|p| p.is_power_of_two())
                .unwrap_or(4096),
        }
    }
}

impl Default for OsPages {
    fn default() -> Self {
        OsPages::new()
    }
}

/// `madvise(ptr, len, advice)`, reporting success.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn advise(ptr: *mut u8, len: usize, advice: libc::c_int) -> bool {
    // SAFETY: the callers pass the usable pages of a mapping they just made; these advices
    // change no contents of memory in this process.
    unsafe { libc::madvise(ptr.cast(), len, advice) == 0 }
}

/// Asks the kernel to keep `len` bytes at `ptr` out of core dumps; reports success.
fn dont_dump(ptr: *mut u8, len: usize) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return advise(ptr, len, libc::MADV_DONTDUMP);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    return {
        let _ = (ptr, len);
        false
    };
}

/// Asks the kernel to zero `len` bytes at `ptr` in forked children; reports success.
fn wipe_on_fork(ptr: *mut u8, len: usize) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return advise(ptr, len, libc::MADV_WIPEONFORK);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    return {
        let _ = (ptr, len);
        false
    };
}

// SAFETY: `map` returns the usable pages of a fresh private anonymous mapping (zeroed,
// readable, writable), which stays mapped until `unmap`; each flag is set only when the
// corresponding system call succeeded.
unsafe impl PageSource for OsPages {
    fn page_size(&self) -> usize {
        self.page
    }

    fn map(&self, len: usize) -> Option<Region> {
        let len = len.max(1).checked_next_multiple_of(self.page)?;
        let total = len.checked_add(2 * self.page)?;
        // SAFETY: a new private anonymous mapping at an address of the kernel's choosing
        // touches no existing memory.
        let raw = unsafe {
            libc::mmap(
                ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return None;
        }
        let base = raw.cast::<u8>();
        // SAFETY: `page + len + page == total` bytes were just mapped at `base`.
        let (usable, after) = unsafe { (base.add(self.page), base.add(self.page + len)) };
        // SAFETY: both guard pages lie inside the mapping just made, which nothing else
        // uses yet.
        let guarded = unsafe {
            let front = libc::mprotect(base.cast(), self.page, libc::PROT_NONE) == 0;
            let back = libc::mprotect(after.cast(), self.page, libc::PROT_NONE) == 0;
            front && back
        };
        // SAFETY: locking our own fresh pages changes no contents.
        let locked = unsafe { libc::mlock(usable.cast(), len) == 0 };
        Some(Region {
            ptr: NonNull::new(usable)?,
            len,
            locked,
            guarded,
            dont_dump: dont_dump(usable, len),
            wipe_on_fork: wipe_on_fork(usable, len),
        })
    }

    unsafe fn unmap(&self, region: &Region) {
        let usable = region.ptr.as_ptr();
        // SAFETY: the caller passes a region from `map`: `region.len` writable bytes,
        // page-aligned and a whole number of pages, so whole-word volatile writes fit.
        unsafe {
            let words = usable.cast::<u64>();
            for i in 0..region.len / 8 {
                ptr::write_volatile(words.add(i), 0);
            }
        }
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        if region.locked {
            // SAFETY: these pages were locked by `map`.
            let rc = unsafe { libc::munlock(usable.cast(), region.len) };
            // munmap below releases the lock anyway; a failure here changes nothing.
            debug_assert_eq!(rc, 0, "munlock of an arena region failed");
        }
        // SAFETY: `map` mapped one guard page before `usable` and one after its `len`
        // bytes; the caller no longer uses any of it.
        let rc = unsafe { libc::munmap(usable.sub(self.page).cast(), region.len + 2 * self.page) };
        debug_assert_eq!(rc, 0, "munmap of an arena region failed");
    }
}
