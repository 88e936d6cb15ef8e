//! Block layout inside the arena: size classes, canaries and wiping.
//!
//! A small block is `[head canary: 8][payload: class size][tail canary: 8]`, carved from a
//! slab; a large allocation is `[unused][head canary: 8][payload]` with the payload pushed
//! against the end of its own mapping, so a guarded page source faults on the first byte
//! past it. Canary words are stored unaligned-tolerant, so no alignment is assumed of the
//! page source beyond what it documents.

use core::ptr;
use core::sync::atomic::{compiler_fence, Ordering};

/// Number of size classes: 16, 32, 64, ..., 4096 bytes.
pub(super) const NUM_CLASSES: usize = 9;
/// Payload size of the smallest class.
pub(super) const MIN_CLASS: usize = 16;
/// Payload size of the largest class; bigger allocations get their own mapping.
pub(super) const MAX_CLASS: usize = MIN_CLASS << (NUM_CLASSES - 1);
/// Bytes of a canary word.
pub(super) const CANARY: usize = 8;
/// Granularity of large-allocation capacities (keeps large payloads 16-byte aligned).
pub(super) const LARGE_ALIGN: usize = 16;

/// The size class serving `len` bytes; `len` must be at most [`MAX_CLASS`].
pub(super) fn class_of(len: usize) -> usize {
    debug_assert!(len <= MAX_CLASS);
    (len.max(MIN_CLASS).next_power_of_two().trailing_zeros() - MIN_CLASS.trailing_zeros()) as usize
}

/// Payload capacity of `class`.
pub(super) const fn class_size(class: usize) -> usize {
    MIN_CLASS << class
}

/// Bytes a block of `class` takes in a slab, canaries included.
pub(super) const fn stride(class: usize) -> usize {
    CANARY + class_size(class) + CANARY
}

/// The canary stored at `at`: the arena secret keyed by the word's own address, so a
/// canary copied from another block does not validate.
fn canary_for(secret: u64, at: *const u8) -> u64 {
    secret ^ at.addr() as u64
}

/// Writes the canary word for `at`.
///
/// # Safety
/// `at .. at + 8` is valid for writes.
pub(super) unsafe fn write_canary(secret: u64, at: *mut u8) {
    // SAFETY: the caller guarantees 8 writable bytes at `at`; unaligned write needs no
    // alignment.
    unsafe { ptr::write_unaligned(at.cast::<u64>(), canary_for(secret, at)) }
}

/// Whether the canary word at `at` holds its expected value.
///
/// # Safety
/// `at .. at + 8` is valid for reads.
pub(super) unsafe fn check_canary(secret: u64, at: *const u8) -> bool {
    // SAFETY: the caller guarantees 8 readable bytes at `at`; unaligned read needs no
    // alignment.
    let word = unsafe { ptr::read_unaligned(at.cast::<u64>()) };
    word == canary_for(secret, at)
}

/// Overwrites `len` bytes at `ptr` with zeros using volatile writes the compiler cannot
/// elide (8 bytes at a time where aligned).
///
/// # Safety
/// `ptr .. ptr + len` is valid for writes.
pub(super) unsafe fn wipe(ptr: *mut u8, len: usize) {
    let head = ptr.align_offset(8).min(len);
    let words = (len - head) / 8;
    let tail_start = head + words * 8;
    for i in 0..head {
        // SAFETY: i < head <= len, inside the caller's range.
        unsafe { ptr::write_volatile(ptr.add(i), 0) };
    }
    // SAFETY: ptr + head is 8-aligned and `words * 8` bytes from it stay inside the range.
    let wide = unsafe { ptr.add(head) }.cast::<u64>();
    for i in 0..words {
        // SAFETY: word i lies inside [head, tail_start) of the caller's range, aligned.
        unsafe { ptr::write_volatile(wide.add(i), 0) };
    }
    for i in tail_start..len {
        // SAFETY: i < len, inside the caller's range.
        unsafe { ptr::write_volatile(ptr.add(i), 0) };
    }
    compiler_fence(Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_powers_of_two() {
        assert_eq!(class_of(0), 0);
        assert_eq!(class_of(16), 0);
        assert_eq!(class_of(17), 1);
        assert_eq!(class_of(64), 2);
        assert_eq!(class_of(4096), NUM_CLASSES - 1);
        assert_eq!(class_size(NUM_CLASSES - 1), MAX_CLASS);
        assert_eq!(MAX_CLASS, 4096);
        for class in 0..NUM_CLASSES {
            assert_eq!(stride(class) % 16, 0);
        }
    }

    #[test]
    fn wipe_clears_unaligned_ranges() {
        let mut bytes = [0xAAu8; 67];
        // SAFETY: bytes[3..64] is inside the array.
        unsafe { wipe(bytes.as_mut_ptr().add(3), 61) };
        assert!(bytes[..3].iter().all(|&b| b == 0xAA));
        assert!(bytes[3..64].iter().all(|&b| b == 0));
        assert!(bytes[64..].iter().all(|&b| b == 0xAA));
    }
}
