//! The chunks the write logs of this process let go of, wiped, kept for the next chunk of
//! their size ([`take`], [`give`]): what a heap does for small allocations, done for the
//! logs' large ones.
//!
//! A log's chunks are larger than the allocator keeps for reuse (glibc maps every block
//! over its `mmap` threshold afresh and unmaps it when freed), so each log dropped (a
//! store dropped, or one whose contents a save replaced with the file it wrote) gave its
//! pages back to the kernel, and the next log faulted in fresh ones: 2.5-4 us per 4 KiB
//! page on the virtual machines measured (BENCHMARKS.md), more than sealing a 4 KiB value
//! takes. Maps of small allocations (the 0.3 design) reused the heap's freed blocks.
//!
//! What is kept: at most [`SPARE_MAX`] bytes of capacity, of which only the pages a log
//! wrote are resident, every byte written wiped before it is kept ([`super::buf::Buf`]'s
//! drop and compaction wipe them). A chunk is taken only at its exact size.
#![forbid(unsafe_code)]

use alloc::vec::Vec;

use crate::sync::Mutex;

/// The most capacity kept: one largest store file's worth ([`crate::MAX_STORE_LEN`]).
pub(super) const SPARE_MAX: usize = 1 << 30;

/// The chunks kept (each empty, its capacity a power of two) and their capacity in all.
static SPARE: Mutex<(Vec<Vec<u8>>, usize)> = Mutex::new((Vec::new(), 0));

/// A kept chunk of capacity `size` (empty), if there is one.
pub(super) fn take(size: usize) -> Option<Vec<u8>> {
    let mut spare = SPARE.lock();
    let (chunks, bytes) = &mut *spare;
    let at = chunks.iter().position(|c| c.capacity() == size)?;
    *bytes -= size;
    Some(chunks.swap_remove(at))
}

/// Keeps `chunk` (its written bytes wiped already) if there is room; frees it if not.
pub(super) fn give(mut chunk: Vec<u8>) {
    let size = chunk.capacity();
    let mut spare = SPARE.lock();
    let (chunks, bytes) = &mut *spare;
    if size == 0 || *bytes + size > SPARE_MAX {
        return;
    }
    chunk.clear();
    *bytes += size;
    chunks.push(chunk);
}

#[cfg(test)]
mod tests {
    use super::{give, take, SPARE_MAX};
    use alloc::vec::Vec;

    /// A chunk given is taken back whole at its own size (and at no other), empty; one
    /// past the bound is freed, not kept. (Sizes no log's chunk has, not powers of two,
    /// so that no other test's logs take them.)
    #[test]
    fn a_chunk_given_is_taken_back_at_its_size_and_none_past_the_bound() {
        let size = 3 * 4096 + 8;
        let mut chunk = Vec::with_capacity(size);
        chunk.extend_from_slice(&[0u8; 100]);
        let at = chunk.as_ptr();
        give(chunk);
        assert!(take(size + 1).is_none());
        let back = take(size).expect("kept");
        assert_eq!((back.as_ptr(), back.len(), back.capacity()), (at, 0, size));
        assert!(take(size).is_none(), "taken once");
        // Reserved, never touched: no page of it is faulted in.
        let huge: Vec<u8> = Vec::with_capacity(SPARE_MAX + 8);
        give(huge);
        assert!(take(SPARE_MAX + 8).is_none());
    }
}
