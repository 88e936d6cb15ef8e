//! A block's canaries and where its payload lies: a damaged canary, a block wiped
//! whole, a large payload's end.

use super::*;

#[test]
fn blocks_carry_canaries_around_the_payload() {
    let arena = Arena::new(Arc::new(HeapPages), MemoryPolicy::BestEffort);
    let secret = arena.secret.unwrap();
    let buf = arena.alloc(20).unwrap();
    let p = buf.ptr.as_ptr();
    // SAFETY: a 32-byte class block has canary words right before and after its payload.
    unsafe {
        assert!(layout::check_canary(secret, p.sub(CANARY)));
        assert!(layout::check_canary(secret, p.add(class_size(1))));
    }
}

/// Flips every bit of the byte at `p` (a plain write could happen to store the same value).
///
/// # Safety
/// `p` is valid for reads and writes.
unsafe fn flip(p: *mut u8) {
    // SAFETY: guaranteed by the caller.
    unsafe { p.write(!p.read()) }
}

/// Allocates `len` bytes on heap pages, lets `corrupt` damage the block, and frees it
/// (the tests expect the free to panic).
fn free_after(len: usize, corrupt: impl FnOnce(&mut SecretBuf)) {
    let arena = Arena::new(Arc::new(HeapPages), MemoryPolicy::BestEffort);
    let mut buf = arena.alloc(len).unwrap();
    corrupt(&mut buf);
    drop(buf);
}

#[test]
#[should_panic(expected = "memory corruption detected")]
fn overwritten_head_canary_panics_on_free() {
    // SAFETY: deliberately corrupts the head canary, which lies inside the slab.
    free_after(64, |buf| unsafe { flip(buf.ptr.as_ptr().sub(1)) });
}

#[test]
#[should_panic(expected = "memory corruption detected")]
fn overwritten_tail_canary_panics_on_free() {
    free_after(10, |buf| {
        buf.resize(16).unwrap();
        // SAFETY: deliberately corrupts the tail canary, right after the 16-byte payload.
        unsafe { flip(buf.ptr.as_ptr().add(16)) }
    });
}

#[test]
#[should_panic(expected = "memory corruption detected")]
fn overwritten_large_canary_panics_on_free() {
    // SAFETY: deliberately corrupts the canary before the large payload, inside its region.
    free_after(5_000, |buf| unsafe { flip(buf.ptr.as_ptr().sub(CANARY)) });
}

#[test]
fn large_payload_ends_at_its_mapping_end() {
    let arena = Arena::new(Arc::new(HeapPages), MemoryPolicy::BestEffort);
    let buf = arena.alloc(8_192).unwrap();
    let Kind::Large(region) = &buf.kind else {
        panic!("8 KiB is a large allocation")
    };
    let end = region.ptr.as_ptr().addr() + region.len;
    assert_eq!(buf.as_ptr().addr() + buf.len(), end);
}

/// In the arena's own process a block wiped whole (canaries included) is corruption: the
/// only place whole blocks legitimately read as zeros is a forked child, where the arena
/// never looks (`process`).
#[test]
#[should_panic(expected = "memory corruption detected")]
fn a_block_wiped_whole_is_corruption_in_the_owning_process() {
    free_after(40, |buf| {
        let block_len = CANARY + buf.cap + CANARY;
        // SAFETY: zeroes the whole block, canaries included, inside its slab.
        unsafe { core::ptr::write_bytes(buf.ptr.as_ptr().sub(CANARY), 0, block_len) }
    });
}

#[test]
#[should_panic(expected = "memory corruption detected")]
fn one_wiped_canary_is_still_corruption() {
    let arena = Arena::new(Arc::new(HeapPages), MemoryPolicy::BestEffort);
    let buf = arena.alloc(64).unwrap();
    // SAFETY: deliberately zeroes only the head canary, inside the slab.
    unsafe { core::ptr::write_bytes(buf.ptr.as_ptr().sub(CANARY), 0, CANARY) };
    drop(buf);
}
