//! Stacks for the calls that hold key material, and the scrub of the ordinary stack.
//!
//! **A call on a stack of its own** ([`on_own_stack`]): the KDF, the key schedule and the
//! key wrap run on a stack of the thread's own (anonymous pages with `PROT_NONE` guard
//! pages either side, so an overflow faults instead of writing past it; excluded from core
//! dumps and zeros in a forked child on Linux and FreeBSD), switched to with
//! `psm::on_stack`, and wiped whole when the call returns; it is kept for the thread's next
//! such call and unmapped when the thread ends. It is not secret memory (which took 3 to
//! 55 ms per call to map and fault in here) nor locked (which would spend the arena's
//! `RLIMIT_MEMLOCK`): while a call runs, what it holds is as readable as the thread's stack
//! was; after it, nothing is left. Nothing of the call is left on the thread's stack,
//! however deep the build made it: unoptimised BLAKE2b and Argon2 in an application's dev
//! profile run about 88 KiB deep, past any fixed scrub.
//!
//! **The scrub** ([`scrub`]): each AEAD call of a get or put is too short for a mapping
//! (a get costs about 450 ns; a mapping tens of microseconds), so it runs on the thread's
//! stack, and that stack is overwritten after it, as deep as the call reached. How deep
//! depends on the build, so the crypto module measures it once per process ([`depth_of`]:
//! the same calls on a fresh zeroed stack of their own, then the lowest byte they wrote).
//! The scrub never runs past the stack left to the thread ([`stack_left`], where the C
//! library tells it: Linux, FreeBSD, macOS): it stops a margin short of the guard page.
//!
//! Where `psm` cannot switch stacks (targets other than x86_64 and aarch64, Windows, no
//! `std`), calls run on the ordinary stack and [`own_stack_supported`] is `false`: the
//! caller scrubs [`FALLBACK_SCRUB`] bytes instead.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

/// The stack a call gets from [`on_own_stack`]: more than twice what the deepest build
/// seen runs (BLAKE2b and Argon2 unoptimised: about 100 KiB).
#[cfg_attr(
    not(all(
        feature = "std",
        unix,
        any(target_arch = "x86_64", target_arch = "aarch64")
    )),
    allow(dead_code)
)]
pub(crate) const OWN_STACK: usize = 256 * 1024;

/// What a scrub covers where stack depth cannot be measured: unoptimised builds of the
/// AEAD calls write about 16 KiB; optimised ones about 4 KiB.
pub(crate) const FALLBACK_SCRUB: usize = 32 * 1024;

mod scrub;
pub(crate) use scrub::scrub;

#[cfg(all(
    feature = "std",
    unix,
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod imp {
    extern crate std;
    use std::cell::Cell;

    use super::OWN_STACK;

    psm::psm_stack_manipulation! {
        yes {
            use std::cell::RefCell;

            use crate::arena::os_pages;

            pub(crate) const SUPPORTED: bool = true;

            /// A stack of [`OWN_STACK`] bytes between two `PROT_NONE` guard pages, mapped as
            /// the arena's anonymous pages are (`os_pages::guarded_map`), but not locked:
            /// `mlock` would spend `RLIMIT_MEMLOCK`, which the arena needs, and the stack
            /// holds nothing between calls. Out of core dumps on Linux (`MADV_DONTDUMP`) and
            /// FreeBSD (`MAP_NOCORE`); zeros in a forked child on Linux
            /// (`MADV_WIPEONFORK`) and FreeBSD (`INHERIT_ZERO`); copied on macOS, as every
            /// thread's stack is. (Not `INHERIT_NONE`, as the arena's: the forking
            /// thread's kept stack must stay mapped for its next call in the child.)
            struct Region {
                ptr: core::ptr::NonNull<u8>,
                len: usize,
                page: usize,
            }

            impl Region {
                fn map() -> Option<Region> {
                    let page = os_pages::page_size();
                    let ptr = os_pages::guarded_map(page, OWN_STACK)?;
                    let region = Region { ptr, len: OWN_STACK, page };
                    region.advise();
                    Some(region)
                }

                /// Out of core dumps and zeros in a forked child, where the OS offers it
                /// (see [`Region`]); failure changes nothing.
                fn advise(&self) {
                    let (ptr, len) = (self.ptr.as_ptr(), self.len);
                    #[cfg(any(target_os = "linux", target_os = "android"))]
                    let _ = (
                        os_pages::advise(ptr, len, libc::MADV_DONTDUMP),
                        os_pages::advise(ptr, len, libc::MADV_WIPEONFORK),
                    );
                    #[cfg(target_os = "freebsd")]
                    let _ = os_pages::inherit((ptr, len), libc::INHERIT_ZERO);
                    #[cfg(not(any(
                        target_os = "linux",
                        target_os = "android",
                        target_os = "freebsd"
                    )))]
                    let _ = (ptr, len);
                }
            }

            impl Drop for Region {
                fn drop(&mut self) {
                    wipe(self);
                    // SAFETY: the reservation `guarded_map` made: a guard page either side of
                    // `len` bytes; no call runs on it any more.
                    unsafe {
                        let base = self.ptr.as_ptr().sub(self.page);
                        os_pages::release(base, self.page, self.len);
                    }
                }
            }

            std::thread_local! {
                /// This thread's stack, kept between calls (zeroed) and unmapped with the
                /// thread.
                static KEPT: RefCell<Option<Region>> = const { RefCell::new(None) };
            }

            fn map() -> Option<Region> {
                Region::map()
            }

            /// Runs `f` on `region`, returning what it returned or the panic it raised.
            fn run<R>(region: &Region, f: impl FnOnce() -> R) -> std::thread::Result<R> {
                let call = std::panic::AssertUnwindSafe(f);
                // SAFETY: the region is `region.len` bytes of readable, writable memory
                // (`Region::map`), page-aligned, its length a multiple of the page size
                // (so of every target's stack alignment), below `isize::MAX`; it is used by
                // nothing else until the call returns. The callback never unwinds out of
                // `on_stack`: `catch_unwind` stops every panic inside it.
                unsafe {
                    psm::on_stack(region.ptr.as_ptr(), region.len, move || {
                        std::panic::catch_unwind(call)
                    })
                }
            }

            /// Zeroes the whole of `region` (a plain `memset`, fast at any opt-level, kept
            /// by the fence and the `black_box`: the bytes may be read after).
            fn wipe(region: &Region) {
                // SAFETY: `region.len` writable bytes at `region.ptr`, used by nothing now.
                unsafe { core::ptr::write_bytes(region.ptr.as_ptr(), 0, region.len) };
                core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
                core::hint::black_box(region.ptr);
            }

            pub(crate) fn on_own_stack<R>(f: impl FnOnce() -> R) -> R {
                // This thread's kept stack, or a new one (the first call, or a call nested
                // in another: the kept one is taken then).
                let kept = KEPT.try_with(|k| k.borrow_mut().take()).ok().flatten();
                let Some(region) = kept.or_else(map) else {
                    return super::on_this_stack(f);
                };
                let result = run(&region, f);
                wipe(&region);
                // Kept for the next call; a spare (nested call) is unmapped as it drops.
                let spare = KEPT.try_with(|k| k.borrow_mut().replace(region));
                drop(spare);
                result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }

            pub(crate) fn depth_of(f: impl FnOnce()) -> Option<usize> {
                let region = map()?;
                let result = run(&region, f);
                // SAFETY: the call is over; the region's `len` bytes are readable and no
                // longer written by anything; the slice ends before `unmap`.
                let used = unsafe {
                    let stack = core::slice::from_raw_parts(region.ptr.as_ptr(), region.len);
                    // The stack grows down on every target psm switches on here: the lowest
                    // byte written is the deepest the call reached.
                    stack.iter().position(|&b| b != 0).map(|low| region.len - low)
                };
                drop(region);
                if let Err(panic) = result {
                    std::panic::resume_unwind(panic);
                }
                used
            }
        }
        no {
            pub(crate) const SUPPORTED: bool = false;

            pub(crate) fn on_own_stack<R>(f: impl FnOnce() -> R) -> R {
                super::on_this_stack(f)
            }

            pub(crate) fn depth_of(_f: impl FnOnce()) -> Option<usize> {
                None
            }
        }
    }

    std::thread_local! {
        /// The lowest address of this thread's stack, once asked for (0: not yet; 1: not
        /// known).
        static STACK_LOW: Cell<usize> = const { Cell::new(0) };
    }

    /// The lowest usable address of this thread's stack, if the C library tells.
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    fn stack_low() -> Option<usize> {
        let mut attr = core::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
        let mut addr: *mut libc::c_void = core::ptr::null_mut();
        let mut size: libc::size_t = 0;
        // SAFETY: `attributes` initialises `attr` for the calling thread when it returns
        // true; only then is it read (`pthread_attr_getstack` writes the two
        // out-parameters) and destroyed.
        unsafe {
            if !attributes(attr.as_mut_ptr()) {
                return None;
            }
            let ok = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size) == 0;
            libc::pthread_attr_destroy(attr.as_mut_ptr());
            ok.then_some(addr as usize)
        }
    }

    /// Fills `attr` with the calling thread's attributes; `true` if it did (then `attr` is
    /// initialised and the caller destroys it).
    ///
    /// # Safety
    /// `attr` points to writable memory for a `pthread_attr_t`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    unsafe fn attributes(attr: *mut libc::pthread_attr_t) -> bool {
        // SAFETY: the caller's guarantee; `pthread_getattr_np` initialises `attr`.
        unsafe { libc::pthread_getattr_np(libc::pthread_self(), attr) == 0 }
    }

    /// As on Linux; FreeBSD's `pthread_attr_get_np` wants `attr` initialised first (as
    /// std's own stack-guard code does it).
    ///
    /// # Safety
    /// `attr` points to writable memory for a `pthread_attr_t`.
    #[cfg(target_os = "freebsd")]
    unsafe fn attributes(attr: *mut libc::pthread_attr_t) -> bool {
        // SAFETY: the caller's guarantee; `attr` is destroyed again if the second call
        // fails after the first initialised it.
        unsafe {
            if libc::pthread_attr_init(attr) != 0 {
                return false;
            }
            if libc::pthread_attr_get_np(libc::pthread_self(), attr) == 0 {
                return true;
            }
            libc::pthread_attr_destroy(attr);
            false
        }
    }

    /// macOS tells the top of the thread's stack and its size.
    #[cfg(target_vendor = "apple")]
    fn stack_low() -> Option<usize> {
        // SAFETY: both calls only read the calling thread's stack bounds.
        let (top, size) = unsafe {
            let me = libc::pthread_self();
            (
                libc::pthread_get_stackaddr_np(me) as usize,
                libc::pthread_get_stacksize_np(me),
            )
        };
        top.checked_sub(size)
    }

    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_vendor = "apple"
    )))]
    fn stack_low() -> Option<usize> {
        None
    }

    pub(crate) fn stack_left() -> Option<usize> {
        let here = 0u8;
        let sp = core::ptr::addr_of!(here) as usize;
        let low = STACK_LOW
            .try_with(|low| {
                if low.get() == 0 {
                    low.set(stack_low().filter(|&l| l > 1).unwrap_or(1));
                }
                low.get()
            })
            .ok()?;
        (low > 1 && sp > low).then(|| sp - low)
    }
}

#[cfg(not(all(
    feature = "std",
    unix,
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
mod imp {
    pub(crate) const SUPPORTED: bool = false;

    pub(crate) fn on_own_stack<R>(f: impl FnOnce() -> R) -> R {
        super::on_this_stack(f)
    }

    pub(crate) fn depth_of(_f: impl FnOnce()) -> Option<usize> {
        None
    }

    pub(crate) fn stack_left() -> Option<usize> {
        None
    }
}

/// Whether [`on_own_stack`] and [`depth_of`] work in this build.
pub(crate) const fn own_stack_supported() -> bool {
    imp::SUPPORTED
}

/// Runs `f` on a stack of its own, wiped whole and unmapped after; where this build
/// cannot switch stacks or the kernel maps none, on this one, scrubbed for
/// [`FALLBACK_SCRUB`] bytes after. The vector registers are cleared after either.
pub(crate) fn on_own_stack<R>(f: impl FnOnce() -> R) -> R {
    let result = imp::on_own_stack(f);
    super::registers::clear();
    result
}

/// `f` on the ordinary stack, and the fallback scrub after it.
fn on_this_stack<R>(f: impl FnOnce() -> R) -> R {
    let result = f();
    scrub(FALLBACK_SCRUB);
    result
}

/// How many bytes of stack `f` used, run on a fresh zeroed stack of its own; `None` where
/// this build cannot switch stacks or the kernel maps none.
pub(crate) fn depth_of(f: impl FnOnce()) -> Option<usize> {
    imp::depth_of(f)
}

/// The stack left to the calling thread below the caller, where the platform tells.
pub(crate) fn stack_left() -> Option<usize> {
    imp::stack_left()
}

#[cfg(all(
    test,
    feature = "std",
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod tests;
