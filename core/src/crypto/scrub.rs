//! How deep the ordinary stack is overwritten after an AEAD call: measured in this build,
//! once per process, not assumed.
//!
//! An AEAD call of a get or put is too short to be worth a stack of its own (a get costs
//! about 450 ns), so it runs on the thread's stack and [`scrub_stack`] overwrites that
//! stack after it (`arena::stack::scrub`, which also clears the vector registers and never
//! runs past the stack left to the thread). How deep the call went depends on how the
//! application built this crate and ring: about 4 KiB optimised, 16 KiB and more at
//! opt-level 0, whatever `debug_assertions` says. So the first scrub measures it: the
//! keyring's calls at each length class, on each path (the cached subkey and one derived
//! for another prefix), run on a fresh zeroed stack of their own (`arena::stack::depth_of`),
//! and the lowest byte they wrote, plus [`MARGIN`], is the scrub from then on. Where stacks
//! cannot be switched it is `arena::stack::FALLBACK_SCRUB`.
//!
//! A read ([`scrubbed`]) makes several such calls (the name hash of a file's entry, the
//! value's decryption) and scrubs again after decoding. Inside it the calls' own scrubs are
//! deferred (`deferred`): each notes how deep the stack must be overwritten, below where
//! it was called, and the read's scrub, when it returns or unwinds, overwrites down to the
//! deepest of them (and at least [`depth`] below itself). One scrub instead of two or
//! three; the vector registers are still cleared after every call.
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::arena::{clear_registers, stack};

/// Added to the measured depth: the measurement runs the same calls from a frame of its
/// own, but a caller's alignment may shift frames by a little.
const MARGIN: usize = 1024;

/// The scrub's length; 0 until measured.
static DEPTH: AtomicUsize = AtomicUsize::new(0);

/// Overwrites the stack area below the caller's frame, as deep as the AEAD calls of this
/// build reach, and clears the vector registers.
///
/// That holds only if the cipher's state lives *below* the caller of this function: every
/// method of the `aead` implementations is `#[inline(never)]`, so an optimiser cannot fold
/// the key schedule into the keyring's own frame, which this does not reach. ring keeps its
/// copy of the key in those frames without wiping it, so for ring this is the only wipe
/// there is.
#[inline(never)]
pub(crate) fn scrub_stack() {
    // This frame's own first 256 bytes, right below the caller's: the frames of the scrub
    // itself would otherwise overlie the top of the dead frames without writing every byte.
    let mut top = [0u64; 32];
    core::hint::black_box(&mut top);
    let len = scrub_len(address_of(&top));
    if len > 0 {
        stack::scrub(len);
    }
    core::hint::black_box(&mut top);
}

/// How far below `here` a call's scrub reaches: 0 while measuring (the measuring stack is
/// wiped whole after the measurement) and in a [`scrubbed`] region (which scrubs for it
/// as it closes: the vector registers are cleared now). Worked out in a frame of its own,
/// below [`scrub_stack`]'s, which the scrub then overwrites: unoptimised, every temporary
/// has a slot of its own, and a slot of the scrub's frame that is never written keeps what
/// a dead frame held there.
#[inline(never)]
fn scrub_len(here: usize) -> usize {
    if measuring::note(here) {
        return 0;
    }
    let depth = depth();
    match deferred::note(here, here.saturating_sub(depth)) {
        true => {
            clear_registers();
            0
        }
        false => depth,
    }
}

/// Runs `read` in a frame of its own and scrubs below the caller after it, also if it
/// panics: what a typed read (`get`, `prefix`, `for_each`) decodes is moved through the
/// frames of the decoder, the read and the closure, and a value of a fixed-size type
/// (`[u8; 32]`, a number) leaves copies there, dead, where the caller cannot wipe them.
/// The AEAD calls inside defer their scrubs to this one (see the module documentation).
#[inline(always)]
pub(crate) fn scrubbed<R>(read: impl FnOnce() -> R) -> R {
    let result = below(read);
    // Closed from the reader's own frame, which holds nothing else: unoptimised, a local
    // here (a guard, a saved state) keeps the result out of the return slot, in a slot of
    // this frame, where it stays behind.
    close();
    result
}

/// Opens a region and runs `f` in it, in a frame of its own below the reader's; if `f`
/// unwinds, closes the region.
#[inline(never)]
fn below<R>(f: impl FnOnce() -> R) -> R {
    let mark = 0u8;
    let unwinding = Unwinding(deferred::open(address_of(&mark)));
    let result = f();
    deferred::leave(unwinding.0);
    core::mem::forget(unwinding);
    result
}

/// A [`scrubbed`] region closed without its scrub (for the control of the test that shows
/// the region scrubs for the calls it deferred).
#[cfg(all(test, feature = "std", target_os = "linux"))]
pub(super) fn unscrubbed<R>(read: impl FnOnce() -> R) -> R {
    let result = below(read);
    let _ = deferred::close();
    result
}

/// Closes a [`scrubbed`] region if dropped: only while the read unwinds.
struct Unwinding(deferred::Saved);

impl Drop for Unwinding {
    fn drop(&mut self) {
        deferred::leave(self.0);
        close();
    }
}

/// Closes the region [`below`] left: puts back the state it replaced and overwrites the
/// stack below the caller as deep as the deepest deferred scrub asked, and at least
/// [`depth`].
#[inline(never)]
fn close() {
    // As in `scrub_stack`: this frame's own top, and nothing else of its own (the length
    // is worked out in a frame below it, which the scrub then overwrites).
    let mut top = [0u64; 32];
    core::hint::black_box(&mut top);
    stack::scrub(closing_len(address_of(&top)));
    core::hint::black_box(&mut top);
}

/// How far below `here` a region's closing scrub reaches (see [`close`]).
#[inline(never)]
fn closing_len(here: usize) -> usize {
    let lowest = deferred::close();
    match measuring::now() {
        true => 0,
        false => (lowest.map_or(0, |low| here.saturating_sub(low) + SLACK)).max(depth()),
    }
}

/// Added to a deferred depth: the closing scrub's frames start a little below `close`'s
/// own top.
const SLACK: usize = 256;

/// The address of a local (the stack pointer, near enough).
#[inline(always)]
fn address_of<T>(local: &T) -> usize {
    core::ptr::from_ref(local) as usize
}

/// The scrub's length (measured the first time).
pub(crate) fn depth() -> usize {
    let known = DEPTH.load(Ordering::Relaxed);
    if known != 0 {
        return known;
    }
    let measured = measure().map_or(stack::FALLBACK_SCRUB, |d| d + MARGIN);
    // Two threads may both measure; either result is a measurement.
    DEPTH.fetch_max(measured, Ordering::Relaxed);
    measured
}

/// How deep below its scrub's start a keyring call writes in this build, where that can
/// be measured: the deepest byte `exercise` wrote, less the frames above the shallowest
/// scrub's start (the measuring closure's, `exercise`'s own and the keyring's), which are
/// not the scrub's to cover.
fn measure() -> Option<usize> {
    if !stack::own_stack_supported() {
        return None;
    }
    let anchor = core::cell::Cell::new(0);
    let (used, highest) = measuring::during(|| {
        stack::depth_of(|| {
            let mark = 0u8;
            anchor.set(address_of(&mark));
            exercise();
        })
    });
    let above = (anchor.get()).saturating_sub(highest.unwrap_or(usize::MAX));
    Some(used?.saturating_sub(above))
}

/// Every AEAD call shape of the keyring, at lengths from 0 to 16 KiB, under its own prefix
/// and under another one.
fn exercise() {
    use alloc::sync::Arc;
    use alloc::vec;

    use super::{Keyring, SEAL_OVERHEAD};
    use crate::arena::{Arena, HeapPages, MemoryPolicy};

    let arena = Arena::new(Arc::new(HeapPages), MemoryPolicy::BestEffort);
    let Ok(ring) = Keyring::generate(&arena) else {
        return;
    };
    let foreign: super::XNonce = [0x5a; super::NONCE_LEN];
    for len in [0, 1, 64, 512, 513, 4096, 16 * 1024] {
        let mut plain = vec![0u8; len];
        let mut sealed = vec![0u8; len + SEAL_OVERHEAD];
        let _ = ring.seal_into(b"aad", &mut plain, &mut sealed);
        let _ = ring.open_into(b"aad", &sealed, &mut plain);
        for nonce in [foreign, ring.next_nonce().unwrap_or(foreign)] {
            if let Ok(tag) = ring.seal_in_place(&nonce, b"aad", &mut plain) {
                let _ = ring.open_in_place(&nonce, b"aad", &mut plain, &tag);
            }
        }
        sealed[..super::NONCE_LEN].copy_from_slice(&foreign);
        let _ = ring.open_into(b"aad", &sealed, &mut plain);
    }
}

/// Whether this thread is measuring (then [`scrub_stack`] does nothing: the calls run on
/// the measuring stack, and a scrub would measure itself).
#[cfg(feature = "std")]
mod measuring {
    extern crate std;
    use std::cell::Cell;

    std::thread_local! {
        /// While measuring: the highest address a scrub started at (0 before any).
        static NOW: Cell<Option<usize>> = const { Cell::new(None) };
    }

    /// Whether this thread is measuring; if so, notes a scrub starting at `here`.
    pub(super) fn note(here: usize) -> bool {
        NOW.try_with(|n| n.get().inspect(|&h| n.set(Some(h.max(here)))).is_some())
            .unwrap_or(false)
    }

    pub(super) fn now() -> bool {
        NOW.try_with(Cell::get).ok().flatten().is_some()
    }

    /// Runs `f` measuring; returns what it did and the highest address a scrub started at.
    pub(super) fn during<R>(f: impl FnOnce() -> R) -> (R, Option<usize>) {
        let _ = NOW.try_with(|n| n.set(Some(0)));
        let result = f();
        let highest = NOW.try_with(|n| n.replace(None)).ok().flatten();
        (result, highest.filter(|&h| h != 0))
    }
}

/// The deferred scrubs of this thread's open [`scrubbed`] region: the address the region
/// opened at and the lowest address a call inside asked to have overwritten.
#[cfg(feature = "std")]
mod deferred {
    extern crate std;
    use std::cell::Cell;

    /// How far below its opening a region takes a call's scrub: one that ran deeper, or on
    /// another stack, scrubs for itself.
    const REACH: usize = 64 * 1024;

    /// (opened at, lowest asked); `(0, 0)` outside any region.
    pub(super) type Saved = (usize, usize);

    std::thread_local! {
        static OPEN: Cell<Saved> = const { Cell::new((0, 0)) };
        /// What the region just left replaced, until it closes.
        static LEFT: Cell<Saved> = const { Cell::new((0, 0)) };
    }

    /// Opens a region at `top`; returns the state it replaces (an enclosing region's).
    pub(super) fn open(top: usize) -> Saved {
        OPEN.try_with(|o| o.replace((top, usize::MAX)))
            .unwrap_or((0, 0))
    }

    /// Within a region, takes a call's scrub (from `here` down to `low`) into it: `true`,
    /// and the caller only clears the registers. `false` outside one, or for a call the
    /// region cannot reach.
    pub(super) fn note(here: usize, low: usize) -> bool {
        OPEN.try_with(|o| {
            let (top, lowest) = o.get();
            let within = top != 0 && here < top && top - low <= REACH;
            if within {
                o.set((top, lowest.min(low)));
            }
            within
        })
        .unwrap_or(false)
    }

    /// Leaves the open region, which replaced `saved`: the next [`close`] closes it.
    /// (Regions nest: one is left and closed before the one around it is.)
    pub(super) fn leave(saved: Saved) {
        let _ = LEFT.try_with(|l| l.set(saved));
    }

    /// Closes the region left last: puts back what it replaced and returns the lowest
    /// address asked inside, if any call asked.
    pub(super) fn close() -> Option<usize> {
        let saved = LEFT.try_with(|l| l.replace((0, 0))).ok()?;
        let (_, lowest) = OPEN.try_with(|o| o.replace(saved)).ok()?;
        (lowest != usize::MAX && lowest != 0).then_some(lowest)
    }
}

/// Without `std` there are no thread locals: every call scrubs for itself.
#[cfg(not(feature = "std"))]
mod deferred {
    pub(super) type Saved = ();

    pub(super) fn open(_: usize) -> Saved {}

    pub(super) fn note(_: usize, _: usize) -> bool {
        false
    }

    pub(super) fn leave(_: Saved) {}

    pub(super) fn close() -> Option<usize> {
        None
    }
}

/// Without `std` stacks are never switched and nothing is measured.
#[cfg(not(feature = "std"))]
mod measuring {
    pub(super) fn note(_: usize) -> bool {
        false
    }

    pub(super) fn now() -> bool {
        false
    }

    pub(super) fn during<R>(f: impl FnOnce() -> R) -> (R, Option<usize>) {
        (f(), None)
    }
}
