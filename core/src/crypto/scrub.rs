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
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::arena::stack;

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
    if !measuring::now() {
        // (While measuring, the measuring stack is wiped whole after the measurement.)
        stack::scrub(depth());
    }
    core::hint::black_box(&mut top);
}

/// Runs `read` in a frame of its own and scrubs below the caller after it: what a typed
/// read (`get`, `prefix`, `for_each`) decodes is moved through the frames of the decoder,
/// the read and the closure, and a value of a fixed-size type (`[u8; 32]`, a number)
/// leaves copies there, dead, where the caller cannot wipe them.
#[inline(always)]
pub(crate) fn scrubbed<R>(read: impl FnOnce() -> R) -> R {
    let result = below(read);
    scrub_stack();
    result
}

#[inline(never)]
fn below<R>(f: impl FnOnce() -> R) -> R {
    f()
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

/// How much stack the keyring's calls use in this build, where that can be measured.
fn measure() -> Option<usize> {
    if !stack::own_stack_supported() {
        return None;
    }
    measuring::during(|| stack::depth_of(exercise))
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
        static NOW: Cell<bool> = const { Cell::new(false) };
    }

    pub(super) fn now() -> bool {
        NOW.try_with(Cell::get).unwrap_or(false)
    }

    pub(super) fn during<R>(f: impl FnOnce() -> R) -> R {
        let _ = NOW.try_with(|n| n.set(true));
        let result = f();
        let _ = NOW.try_with(|n| n.set(false));
        result
    }
}

/// Without `std` stacks are never switched and nothing is measured.
#[cfg(not(feature = "std"))]
mod measuring {
    pub(super) fn now() -> bool {
        false
    }

    pub(super) fn during<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
}
