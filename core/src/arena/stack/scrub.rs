//! The scrub of the ordinary stack after a call that held key material (see the
//! module documentation of `arena::stack`).
#![forbid(unsafe_code)]

/// What a scrub leaves untouched above the thread's guard page: signal handlers and the
/// scrub's own frame need some stack of their own.
const SCRUB_MARGIN: usize = 8 * 1024;

/// The steps of [`scrub`]: frames of `BIG_STEP` zeroed bytes, then of `STEP` (a 2 KiB
/// `memset` is as fast a byte as a 4 KiB one here; 1 KiB ones are 1.5x slower).
const BIG_STEP: usize = 2048;
const STEP: usize = 512;

/// Overwrites about `len` bytes of stack below the caller's frame (rounded up to `STEP`,
/// each frame also holding a return address: a gap too small for a key), but never more
/// than the stack left to the thread (less [`SCRUB_MARGIN`]); then clears the vector
/// registers.
///
/// Always inlined, so that the first zeroed step lies right below the caller's frame: a
/// frame of its own would lie between the two and keep, unwritten, whatever the dead frames
/// held there (a get's decoded value, in a release build: tests/dead_frames.rs). The stack
/// left is asked in a frame of its own ([`left_here`]), which the steps then overwrite.
#[inline(always)]
pub(crate) fn scrub(len: usize) {
    let len = match left_here() {
        Some(left) => len.min(left.saturating_sub(SCRUB_MARGIN)),
        None => len,
    };
    match len.div_ceil(STEP) {
        0 => {}
        n if n >= BIG_STEP / STEP => big_steps(n - BIG_STEP / STEP),
        n => scrub_steps(n),
    }
    crate::arena::registers::clear();
}

/// [`super::stack_left`], in a frame of its own below the caller's (see [`scrub`]).
#[inline(never)]
fn left_here() -> Option<usize> {
    super::stack_left()
}

/// A `BIG_STEP` frame, then `rest` `STEP`s below it.
#[inline(never)]
fn big_steps(rest: usize) {
    let mut pad = [0u64; BIG_STEP / 8];
    core::hint::black_box(&mut pad);
    match rest {
        0 => {}
        n if n >= BIG_STEP / STEP => big_steps(n - BIG_STEP / STEP),
        n => scrub_steps(n),
    }
    core::hint::black_box(&mut pad);
}

#[inline(never)]
fn scrub_steps(n: usize) {
    let mut pad = [0u64; STEP / 8];
    core::hint::black_box(&mut pad);
    if n > 1 {
        scrub_steps(n - 1);
    }
    // Used after the call: the frame stays below the caller's, never a tail call.
    core::hint::black_box(&mut pad);
}
